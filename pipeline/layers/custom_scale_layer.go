package layers

// CustomScaleLayer is InceptionResNetV2's residual join
// (keras.src.applications.inception_resnet_v2.CustomScaleLayer): its
// first input plus its second scaled, x0 + x1 · scale.
type CustomScaleLayer struct {
	Scale float64
}

func init() { register(func() Layer { return &CustomScaleLayer{Scale: 1} }) }

func (*CustomScaleLayer) Kind() string       { return "custom_scale_layer" }
func (*CustomScaleLayer) KerasClass() string { return "CustomScaleLayer" }

func (c *CustomScaleLayer) Fields() []Field {
	return []Field{{Key: "scale", Required: true, Doc: "the residual branch's factor", Value: &c.Scale}}
}

func (*CustomScaleLayer) Check() []Problem { return nil }

func (c *CustomScaleLayer) Output(Shape, int) (Shape, error) { return nil, joinOnly(c.Kind()) }
func (*CustomScaleLayer) Weights(Shape, int) []Weight        { return nil }
func (*CustomScaleLayer) Forward(_ Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	return x
}

func (c *CustomScaleLayer) JoinOutput(ins []Shape) (Shape, error) {
	if len(ins) != 2 {
		return nil, joinCount(c.Kind(), 2, len(ins))
	}
	return broadcast(c.Kind(), ins)
}

func (c *CustomScaleLayer) Join(g Graph, xs []Tensor, _ []Shape) Tensor {
	return g.Add(xs[0], g.Mul(xs[1], g.Scalar(c.Scale)))
}
