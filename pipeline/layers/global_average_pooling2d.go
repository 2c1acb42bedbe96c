package layers

// GlobalAveragePooling2D is keras.layers.GlobalAveragePooling2D: the mean
// of each channel over an image's height and width, so a backbone's
// spatial features (such as MobileNet's conv_pw_13_relu, 7×7×1024) become
// a vector a dense layer takes, with far fewer values than a flatten.
// With keepdims, the means stay a 1×1×channels image (the squeeze of
// MobileNetV3's squeeze-and-excitation blocks).
type GlobalAveragePooling2D struct {
	Keepdims bool
}

func init() { register(func() Layer { return &GlobalAveragePooling2D{} }) }

func (*GlobalAveragePooling2D) Kind() string       { return "global_average_pooling2d" }
func (*GlobalAveragePooling2D) KerasClass() string { return "GlobalAveragePooling2D" }

func (p *GlobalAveragePooling2D) Fields() []Field {
	return []Field{{Key: "keepdims", Doc: "a 1×1×channels output instead of a vector", Value: &p.Keepdims, Since: 5}}
}

func (*GlobalAveragePooling2D) Check() []Problem { return nil }

func (p *GlobalAveragePooling2D) Output(in Shape, _ int) (Shape, error) {
	c := -1 // a backbone's spatial features: checked when it is loaded
	if in != nil {
		if len(in) != 3 {
			return nil, needImage(p.Kind(), in)
		}
		c = in[2]
	}
	if p.Keepdims {
		return Shape{1, 1, c}, nil
	}
	return Shape{c}, nil
}

func (*GlobalAveragePooling2D) Weights(Shape, int) []Weight { return nil }

func (p *GlobalAveragePooling2D) Forward(g Graph, x Tensor, in Shape, _ []Tensor, _ bool) Tensor {
	m := g.Mean(x, []int{0, 1})
	if p.Keepdims {
		return g.Reshape(m, Shape{1, 1, in[2]})
	}
	return m
}
