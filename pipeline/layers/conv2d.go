package layers

import "fmt"

// Conv2D is keras.layers.Conv2D: a 2-D convolution over an image, with a
// bias per filter. With groups equal to the input's channels and to
// filters, it convolves each channel with its own filter, as ConvNeXt's
// 7×7 depthwise convolutions (Conv2D(groups=C)) do.
type Conv2D struct {
	Filters    int
	KernelSize [2]int // [height, width]
	Strides    [2]int
	Padding    string // valid or same
	Activation string // one of activations
	UseBias    bool
	Groups     int // 1, or the input's channels = filters
}

func init() {
	register(func() Layer {
		return &Conv2D{Strides: [2]int{1, 1}, Padding: "valid", Activation: "linear", UseBias: true, Groups: 1}
	})
}

func (*Conv2D) Kind() string       { return "conv2d" }
func (*Conv2D) KerasClass() string { return "Conv2D" }

func (c *Conv2D) Fields() []Field {
	return []Field{
		{Key: "filters", Required: true, Doc: "> 0", Value: &c.Filters},
		{Key: "kernel_size", Required: true, Value: &c.KernelSize},
		{Key: "strides", Value: &c.Strides},
		{Key: "padding", OneOf: paddings, Value: &c.Padding},
		{Key: "activation", OneOf: activationNames(), Value: &c.Activation},
		{Key: "use_bias", Value: &c.UseBias},
		{Key: "groups", Doc: "1, or input channels = filters (depthwise)", Value: &c.Groups, Since: 5},
	}
}

func (c *Conv2D) Check() []Problem {
	var ps []Problem
	if c.Filters < 1 {
		ps = append(ps, Problem{"filters", fmt.Sprintf("want an integer >= 1, got %d", c.Filters)})
	}
	if c.Groups < 1 {
		ps = append(ps, Problem{"groups", fmt.Sprintf("want an integer >= 1, got %d", c.Groups)})
	}
	ps = append(ps, positivePair("kernel_size", c.KernelSize)...)
	return append(ps, positivePair("strides", c.Strides)...)
}

func (c *Conv2D) Output(in Shape, _ int) (Shape, error) {
	if err := needImage(c.Kind(), in); err != nil {
		return nil, err
	}
	if c.groups() != 1 && (c.Groups != in[2] || c.Groups != c.Filters) {
		return nil, fmt.Errorf("groups = %d on %d input channels and %d filters is not supported: only groups = 1, or groups = input channels = filters (a depthwise convolution)", c.Groups, in[2], c.Filters)
	}
	h, w, err := window(in, c.KernelSize, c.Strides, c.Padding)
	if err != nil {
		return nil, err
	}
	return Shape{h, w, c.Filters}, nil
}

// Weights are Keras': the kernel is [height, width, input channels /
// groups, filters].
func (c *Conv2D) Weights(in Shape, _ int) []Weight {
	kh, kw, ch := c.KernelSize[0], c.KernelSize[1], in[2]/c.groups()
	w := []Weight{{Name: "kernel", Shape: []int{kh, kw, ch, c.Filters}, Glorot: true, FanIn: kh * kw * ch, FanOut: kh * kw * c.Filters}}
	if c.UseBias {
		w = append(w, Weight{Name: "bias", Shape: []int{c.Filters}})
	}
	return w
}

func (c *Conv2D) Forward(g Graph, x Tensor, _ Shape, w []Tensor, _ bool) Tensor {
	var h Tensor
	if c.groups() == 1 {
		h = g.Conv2D(x, w[0], c.Strides, c.Padding)
	} else {
		// A [kh, kw, 1, C] grouped kernel holds the values of a [kh, kw,
		// C, 1] depthwise kernel in the same order. (Reshape infers the
		// first axis: here the kernel's height.)
		k := g.Reshape(w[0], Shape{c.KernelSize[1], c.Filters, 1})
		h = g.DepthwiseConv2D(x, k, c.Strides, c.Padding)
	}
	if c.UseBias {
		h = g.BiasAdd(h, w[1])
	}
	return activate(g, h, c.Activation)
}

// groups is Groups, with 0 (a Conv2D written as a Go literal without it)
// meaning Keras' default, 1.
func (c *Conv2D) groups() int { return max(c.Groups, 1) }
