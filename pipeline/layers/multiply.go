package layers

// Multiply is keras.layers.Multiply: the element-wise product of its
// inputs, broadcast as NumPy does; a squeeze-and-excitation block
// (EfficientNet, MobileNetV3) scales an image's channels by a 1×1×C gate.
type Multiply struct{}

func init() { register(func() Layer { return &Multiply{} }) }

func (*Multiply) Kind() string       { return "multiply" }
func (*Multiply) KerasClass() string { return "Multiply" }
func (*Multiply) Fields() []Field    { return nil }
func (*Multiply) Check() []Problem   { return nil }

func (m *Multiply) Output(Shape, int) (Shape, error) { return nil, joinOnly(m.Kind()) }
func (*Multiply) Weights(Shape, int) []Weight        { return nil }
func (*Multiply) Forward(_ Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	return x
}

func (m *Multiply) JoinOutput(ins []Shape) (Shape, error) { return broadcast(m.Kind(), ins) }

// Join multiplies in Keras' order: ((x0 · x1) · x2) · ...
func (*Multiply) Join(g Graph, xs []Tensor, _ []Shape) Tensor {
	h := xs[0]
	for _, x := range xs[1:] {
		h = g.Mul(h, x)
	}
	return h
}
