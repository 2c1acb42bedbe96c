package layers

import "fmt"

// DepthwiseConv2D is keras.layers.DepthwiseConv2D: each input channel
// convolved with its own depth_multiplier filters (MobileNet's conv_dw_N
// layers), with an optional bias per output channel.
type DepthwiseConv2D struct {
	KernelSize      [2]int // [height, width]
	Strides         [2]int
	Padding         string // valid or same
	DepthMultiplier int
	Activation      string // one of activations
	UseBias         bool
}

func init() {
	register(func() Layer {
		return &DepthwiseConv2D{Strides: [2]int{1, 1}, Padding: "valid", DepthMultiplier: 1, Activation: "linear", UseBias: true}
	})
}

func (*DepthwiseConv2D) Kind() string       { return "depthwise_conv2d" }
func (*DepthwiseConv2D) KerasClass() string { return "DepthwiseConv2D" }

func (c *DepthwiseConv2D) Fields() []Field {
	return []Field{
		{Key: "kernel_size", Required: true, Value: &c.KernelSize},
		{Key: "strides", Value: &c.Strides},
		{Key: "padding", OneOf: paddings, Value: &c.Padding},
		{Key: "depth_multiplier", Doc: "> 0", Value: &c.DepthMultiplier},
		{Key: "activation", OneOf: activationNames(), Value: &c.Activation},
		{Key: "use_bias", Value: &c.UseBias},
	}
}

func (c *DepthwiseConv2D) Check() []Problem {
	var ps []Problem
	if c.DepthMultiplier < 1 {
		ps = append(ps, Problem{"depth_multiplier", fmt.Sprintf("want an integer >= 1, got %d", c.DepthMultiplier)})
	}
	ps = append(ps, positivePair("kernel_size", c.KernelSize)...)
	return append(ps, positivePair("strides", c.Strides)...)
}

func (c *DepthwiseConv2D) Output(in Shape, _ int) (Shape, error) {
	if err := needImage(c.Kind(), in); err != nil {
		return nil, err
	}
	h, w, err := window(in, c.KernelSize, c.Strides, c.Padding)
	if err != nil {
		return nil, err
	}
	return Shape{h, w, in[2] * c.DepthMultiplier}, nil
}

func (c *DepthwiseConv2D) Weights(in Shape, _ int) []Weight {
	kh, kw, ch := c.KernelSize[0], c.KernelSize[1], in[2]
	// Keras' fans for a [kh, kw, channels, multiplier] kernel.
	w := []Weight{{Name: "kernel", Shape: []int{kh, kw, ch, c.DepthMultiplier}, Glorot: true,
		FanIn: kh * kw * ch, FanOut: kh * kw * c.DepthMultiplier}}
	if c.UseBias {
		w = append(w, Weight{Name: "bias", Shape: []int{ch * c.DepthMultiplier}})
	}
	return w
}

func (c *DepthwiseConv2D) Forward(g Graph, x Tensor, _ Shape, w []Tensor, _ bool) Tensor {
	h := g.DepthwiseConv2D(x, w[0], c.Strides, c.Padding)
	if c.UseBias {
		h = g.BiasAdd(h, w[1])
	}
	return activate(g, h, c.Activation)
}
