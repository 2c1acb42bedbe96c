package layers

// Flatten is keras.layers.Flatten: one example's values as a vector.
type Flatten struct{}

func init() { register(func() Layer { return &Flatten{} }) }

func (*Flatten) Kind() string       { return "flatten" }
func (*Flatten) KerasClass() string { return "Flatten" }
func (*Flatten) Fields() []Field    { return nil }
func (*Flatten) Check() []Problem   { return nil }

func (*Flatten) Output(in Shape, _ int) (Shape, error) {
	if in == nil || in.Size() < 0 {
		return Shape{-1}, nil
	}
	return Shape{in.Size()}, nil
}

func (*Flatten) Weights(Shape, int) []Weight { return nil }

func (*Flatten) Forward(g Graph, x Tensor, in Shape, _ []Tensor, _ bool) Tensor {
	return g.Reshape(x, Shape{in.Size()})
}
