package layers

// AveragePooling2D is keras.layers.AveragePooling2D: the mean over each
// window of an image, per channel. With same padding, a window at the
// border averages only the values inside the image (TensorFlow's AvgPool,
// which Keras uses), as InceptionV3's 3×3, stride 1 branch pools do.
type AveragePooling2D struct {
	PoolSize [2]int // [height, width]
	Strides  [2]int // default: PoolSize
	Padding  string // valid or same
}

func init() {
	register(func() Layer {
		return &AveragePooling2D{PoolSize: [2]int{2, 2}, Strides: [2]int{2, 2}, Padding: "valid"}
	})
}

func (*AveragePooling2D) Kind() string       { return "average_pooling2d" }
func (*AveragePooling2D) KerasClass() string { return "AveragePooling2D" }

func (a *AveragePooling2D) Fields() []Field {
	return []Field{
		{Key: "pool_size", Value: &a.PoolSize},
		{Key: "strides", Doc: "default pool_size", Value: &a.Strides},
		{Key: "padding", OneOf: paddings, Value: &a.Padding},
	}
}

// Complete sets the strides to the pool size unless they were given, as
// Keras does.
func (a *AveragePooling2D) Complete(given func(string) bool) {
	if !given("strides") {
		a.Strides = a.PoolSize
	}
}

func (a *AveragePooling2D) Check() []Problem {
	return append(positivePair("pool_size", a.PoolSize), positivePair("strides", a.Strides)...)
}

func (a *AveragePooling2D) Output(in Shape, _ int) (Shape, error) {
	if err := needImage(a.Kind(), in); err != nil {
		return nil, err
	}
	h, w, err := window(in, a.PoolSize, a.Strides, a.Padding)
	if err != nil {
		return nil, err
	}
	return Shape{h, w, in[2]}, nil
}

func (*AveragePooling2D) Weights(Shape, int) []Weight { return nil }

func (a *AveragePooling2D) Forward(g Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	return g.AvgPool(x, a.PoolSize, a.Strides, a.Padding)
}
