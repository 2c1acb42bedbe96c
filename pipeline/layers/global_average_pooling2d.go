package layers

// GlobalAveragePooling2D is keras.layers.GlobalAveragePooling2D: the mean
// of each channel over an image's height and width, so a backbone's
// spatial features (such as MobileNet's conv_pw_13_relu, 7×7×1024) become
// a vector a dense layer takes, with far fewer values than a flatten.
type GlobalAveragePooling2D struct{}

func init() { register(func() Layer { return &GlobalAveragePooling2D{} }) }

func (*GlobalAveragePooling2D) Kind() string       { return "global_average_pooling2d" }
func (*GlobalAveragePooling2D) KerasClass() string { return "GlobalAveragePooling2D" }
func (*GlobalAveragePooling2D) Fields() []Field    { return nil }
func (*GlobalAveragePooling2D) Check() []Problem   { return nil }

func (g *GlobalAveragePooling2D) Output(in Shape, _ int) (Shape, error) {
	if in == nil {
		return Shape{-1}, nil // a backbone's spatial features: checked when it is loaded
	}
	if len(in) != 3 {
		return nil, needImage(g.Kind(), in)
	}
	return Shape{in[2]}, nil
}

func (*GlobalAveragePooling2D) Weights(Shape, int) []Weight { return nil }

func (*GlobalAveragePooling2D) Forward(g Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	return g.Mean(x, []int{0, 1})
}
