package layers

// Activation is keras.layers.Activation: an activation function applied
// to each value (softmax: over the last axis), such as the swish of
// EfficientNet's blocks, the hard_silu of MobileNetV3's and the gelu of
// ConvNeXt's. With linear it is the identity, which is also what a
// backbone's Dropout (or StochasticDepth) becomes when fine-tuning
// rebuilds it (see FromKeras).
type Activation struct {
	Activation string
}

func init() { register(func() Layer { return &Activation{Activation: "linear"} }) }

func (*Activation) Kind() string       { return "activation" }
func (*Activation) KerasClass() string { return "Activation" }

func (a *Activation) Fields() []Field {
	return []Field{{Key: "activation", Required: true, OneOf: activationNames(), Value: &a.Activation}}
}

func (*Activation) Check() []Problem { return nil }

func (*Activation) Output(in Shape, _ int) (Shape, error) { return in, nil }

func (*Activation) Weights(Shape, int) []Weight { return nil }

func (a *Activation) Forward(g Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	return activate(g, x, a.Activation)
}
