package layers

// UnitNormalization is keras.layers.UnitNormalization: each example's
// values scaled to unit L2 norm along the last axis, x * rsqrt(sum(x²)).
// On a transfer model's features it is the L2 normalisation of the VGG
// paper's frozen-feature protocol. Keras caps rsqrt at 1/1e-12; here a
// 1e-24 under the root does the same for an all-zero example.
type UnitNormalization struct{}

func init() { register(func() Layer { return &UnitNormalization{} }) }

func (*UnitNormalization) Kind() string       { return "unit_normalization" }
func (*UnitNormalization) KerasClass() string { return "UnitNormalization" }
func (*UnitNormalization) Fields() []Field    { return nil }
func (*UnitNormalization) Check() []Problem   { return nil }

func (*UnitNormalization) Output(in Shape, _ int) (Shape, error) { return in, nil }

func (*UnitNormalization) Weights(Shape, int) []Weight { return nil }

func (*UnitNormalization) Forward(g Graph, x Tensor, in Shape, _ []Tensor, _ bool) Tensor {
	last := len(in) - 1
	keep := append(Shape{}, in...)
	keep[last] = 1
	ss := g.Reshape(g.Mean(g.Mul(x, x), []int{last}), keep)
	norm := g.Add(g.Mul(ss, g.Scalar(float64(in[last]))), g.Scalar(1e-24))
	return g.Mul(x, g.Rsqrt(norm))
}
