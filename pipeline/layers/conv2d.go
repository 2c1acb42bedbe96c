package layers

import "fmt"

// Conv2D is keras.layers.Conv2D: a 2-D convolution over an image, with a
// bias per filter.
type Conv2D struct {
	Filters    int
	KernelSize [2]int // [height, width]
	Strides    [2]int
	Padding    string // valid or same
	Activation string // linear or relu
	UseBias    bool
}

func init() {
	register(func() Layer {
		return &Conv2D{Strides: [2]int{1, 1}, Padding: "valid", Activation: "linear", UseBias: true}
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
		{Key: "activation", OneOf: []string{"linear", "relu"}, Value: &c.Activation},
		{Key: "use_bias", Value: &c.UseBias},
	}
}

func (c *Conv2D) Check() []Problem {
	var ps []Problem
	if c.Filters < 1 {
		ps = append(ps, Problem{"filters", fmt.Sprintf("want an integer >= 1, got %d", c.Filters)})
	}
	ps = append(ps, positivePair("kernel_size", c.KernelSize)...)
	return append(ps, positivePair("strides", c.Strides)...)
}

func (c *Conv2D) Output(in Shape, _ int) (Shape, error) {
	if err := needImage(c.Kind(), in); err != nil {
		return nil, err
	}
	h, w, err := window(in, c.KernelSize, c.Strides, c.Padding)
	if err != nil {
		return nil, err
	}
	return Shape{h, w, c.Filters}, nil
}

func (c *Conv2D) Weights(in Shape, _ int) []Weight {
	kh, kw := c.KernelSize[0], c.KernelSize[1]
	w := []Weight{{Name: "kernel", Shape: []int{kh, kw, in[2], c.Filters}, Glorot: true, FanIn: kh * kw * in[2], FanOut: kh * kw * c.Filters}}
	if c.UseBias {
		w = append(w, Weight{Name: "bias", Shape: []int{c.Filters}})
	}
	return w
}

func (c *Conv2D) Forward(g Graph, x Tensor, _ Shape, w []Tensor, _ bool) Tensor {
	h := g.Conv2D(x, w[0], c.Strides, c.Padding)
	if c.UseBias {
		h = g.BiasAdd(h, w[1])
	}
	return g.Activation(h, c.Activation)
}
