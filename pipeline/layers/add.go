package layers

// Add is keras.layers.Add: the element-wise sum of its inputs, as a
// residual connection joins a block's input to its output (ResNet,
// MobileNetV2, EfficientNet, ConvNeXt).
type Add struct{}

func init() { register(func() Layer { return &Add{} }) }

func (*Add) Kind() string       { return "add" }
func (*Add) KerasClass() string { return "Add" }
func (*Add) Fields() []Field    { return nil }
func (*Add) Check() []Problem   { return nil }

func (a *Add) Output(Shape, int) (Shape, error)                            { return nil, joinOnly(a.Kind()) }
func (*Add) Weights(Shape, int) []Weight                                   { return nil }
func (*Add) Forward(_ Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor { return x }

func (a *Add) JoinOutput(ins []Shape) (Shape, error) { return broadcast(a.Kind(), ins) }

// Join sums in Keras' order: ((x0 + x1) + x2) + ...
func (*Add) Join(g Graph, xs []Tensor, _ []Shape) Tensor {
	h := xs[0]
	for _, x := range xs[1:] {
		h = g.Add(h, x)
	}
	return h
}
