package layers

// Rescaling is keras.layers.Rescaling: x * scale + offset, as Keras
// computes it. A backbone's exporter also records the arithmetic of
// MobileNetV3's hard sigmoid (x + 3, x * (1/6), Keras ops rather than
// layers) as Rescaling.
type Rescaling struct {
	Scale  float64
	Offset float64
}

func init() { register(func() Layer { return &Rescaling{Scale: 1} }) }

func (*Rescaling) Kind() string       { return "rescaling" }
func (*Rescaling) KerasClass() string { return "Rescaling" }

func (r *Rescaling) Fields() []Field {
	return []Field{
		{Key: "scale", Required: true, Value: &r.Scale},
		{Key: "offset", Value: &r.Offset},
	}
}

func (*Rescaling) Check() []Problem { return nil }

func (*Rescaling) Output(in Shape, _ int) (Shape, error) { return in, nil }

func (*Rescaling) Weights(Shape, int) []Weight { return nil }

// Forward leaves out a multiplication by 1 and an addition of 0, which
// change no value.
func (r *Rescaling) Forward(g Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	if r.Scale != 1 {
		x = g.Mul(x, g.Scalar(r.Scale))
	}
	if r.Offset != 0 {
		x = g.Add(x, g.Scalar(r.Offset))
	}
	return x
}
