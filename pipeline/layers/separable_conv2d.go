package layers

import "fmt"

// SeparableConv2D is keras.layers.SeparableConv2D: a depthwise
// convolution (each channel with its own depth_multiplier filters), then a
// 1×1 convolution mixing the channels into filters, then a bias per
// filter, as tf.nn.separable_conv2d computes it (Xception's blocks).
type SeparableConv2D struct {
	Filters         int
	KernelSize      [2]int // [height, width]
	Strides         [2]int
	Padding         string // valid or same
	DepthMultiplier int
	Activation      string // one of activations
	UseBias         bool
}

func init() {
	register(func() Layer {
		return &SeparableConv2D{Strides: [2]int{1, 1}, Padding: "valid", DepthMultiplier: 1, Activation: "linear", UseBias: true}
	})
}

func (*SeparableConv2D) Kind() string       { return "separable_conv2d" }
func (*SeparableConv2D) KerasClass() string { return "SeparableConv2D" }

func (c *SeparableConv2D) Fields() []Field {
	return []Field{
		{Key: "filters", Required: true, Doc: "> 0", Value: &c.Filters},
		{Key: "kernel_size", Required: true, Value: &c.KernelSize},
		{Key: "strides", Value: &c.Strides},
		{Key: "padding", OneOf: paddings, Value: &c.Padding},
		{Key: "depth_multiplier", Doc: "> 0", Value: &c.DepthMultiplier},
		{Key: "activation", OneOf: activationNames(), Value: &c.Activation},
		{Key: "use_bias", Value: &c.UseBias},
	}
}

func (c *SeparableConv2D) Check() []Problem {
	var ps []Problem
	if c.Filters < 1 {
		ps = append(ps, Problem{"filters", fmt.Sprintf("want an integer >= 1, got %d", c.Filters)})
	}
	if c.DepthMultiplier < 1 {
		ps = append(ps, Problem{"depth_multiplier", fmt.Sprintf("want an integer >= 1, got %d", c.DepthMultiplier)})
	}
	ps = append(ps, positivePair("kernel_size", c.KernelSize)...)
	return append(ps, positivePair("strides", c.Strides)...)
}

func (c *SeparableConv2D) Output(in Shape, _ int) (Shape, error) {
	if err := needImage(c.Kind(), in); err != nil {
		return nil, err
	}
	h, w, err := window(in, c.KernelSize, c.Strides, c.Padding)
	if err != nil {
		return nil, err
	}
	return Shape{h, w, c.Filters}, nil
}

// Weights are Keras' three, in its order, with its fans for each kernel.
func (c *SeparableConv2D) Weights(in Shape, _ int) []Weight {
	kh, kw, ch, dm := c.KernelSize[0], c.KernelSize[1], in[2], c.DepthMultiplier
	w := []Weight{
		{Name: "depthwise_kernel", Shape: []int{kh, kw, ch, dm}, Glorot: true, FanIn: kh * kw * ch, FanOut: kh * kw * dm},
		{Name: "pointwise_kernel", Shape: []int{1, 1, ch * dm, c.Filters}, Glorot: true, FanIn: ch * dm, FanOut: c.Filters},
	}
	if c.UseBias {
		w = append(w, Weight{Name: "bias", Shape: []int{c.Filters}})
	}
	return w
}

func (c *SeparableConv2D) Forward(g Graph, x Tensor, _ Shape, w []Tensor, _ bool) Tensor {
	h := g.Conv2D(g.DepthwiseConv2D(x, w[0], c.Strides, c.Padding), w[1], [2]int{1, 1}, "valid")
	if c.UseBias {
		h = g.BiasAdd(h, w[2])
	}
	return activate(g, h, c.Activation)
}
