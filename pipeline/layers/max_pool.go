package layers

// MaxPool is keras.layers.MaxPooling2D: the maximum over each window of an
// image, per channel.
type MaxPool struct {
	PoolSize [2]int // [height, width]
	Strides  [2]int // default: PoolSize
	Padding  string // valid or same
}

func init() {
	register(func() Layer { return &MaxPool{PoolSize: [2]int{2, 2}, Strides: [2]int{2, 2}, Padding: "valid"} })
}

func (*MaxPool) Kind() string       { return "max_pool" }
func (*MaxPool) KerasClass() string { return "MaxPooling2D" }

func (m *MaxPool) Fields() []Field {
	return []Field{
		{Key: "pool_size", Value: &m.PoolSize},
		{Key: "strides", Doc: "default pool_size", Value: &m.Strides},
		{Key: "padding", OneOf: paddings, Value: &m.Padding},
	}
}

// Complete sets the strides to the pool size unless they were given, as
// Keras does.
func (m *MaxPool) Complete(given func(string) bool) {
	if !given("strides") {
		m.Strides = m.PoolSize
	}
}

func (m *MaxPool) Check() []Problem {
	return append(positivePair("pool_size", m.PoolSize), positivePair("strides", m.Strides)...)
}

func (m *MaxPool) Output(in Shape, _ int) (Shape, error) {
	if err := needImage(m.Kind(), in); err != nil {
		return nil, err
	}
	h, w, err := window(in, m.PoolSize, m.Strides, m.Padding)
	if err != nil {
		return nil, err
	}
	return Shape{h, w, in[2]}, nil
}

func (m *MaxPool) Weights(Shape, int) []Weight { return nil }

func (m *MaxPool) Forward(g Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	return g.MaxPool(x, m.PoolSize, m.Strides, m.Padding)
}
