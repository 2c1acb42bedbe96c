package layers

import "fmt"

// Dense is keras.layers.Dense: a fully connected layer on a vector, or on
// the last axis of a larger input (each pixel of an image, as ConvNeXt's
// pointwise layers).
type Dense struct {
	Units      Units  // > 0, or Classes
	Activation string // one of activations
	UseBias    bool
}

func init() { register(func() Layer { return &Dense{Activation: "linear", UseBias: true} }) }

func (*Dense) Kind() string       { return "dense" }
func (*Dense) KerasClass() string { return "Dense" }

func (d *Dense) Fields() []Field {
	return []Field{
		{Key: "units", Required: true, Doc: `> 0 or "classes"`, Value: &d.Units},
		{Key: "activation", OneOf: activationNames(), Value: &d.Activation},
		{Key: "use_bias", Value: &d.UseBias},
	}
}

func (d *Dense) Check() []Problem { return nil } // units are checked as they decode

func (d *Dense) Output(in Shape, classes int) (Shape, error) {
	units := d.Units.Resolve(classes)
	if in == nil {
		return Shape{units}, nil
	}
	if len(in) != 1 && d.Units == Classes {
		return nil, fmt.Errorf("gets a %s input; add `- flatten: {}` before it: a Keras Dense would act on the last axis only", in)
	}
	return append(append(Shape{}, in[:len(in)-1]...), units), nil
}

func (d *Dense) Weights(in Shape, classes int) []Weight {
	units, c := d.Units.Resolve(classes), in[len(in)-1]
	w := []Weight{{Name: "kernel", Shape: []int{c, units}, Glorot: true, FanIn: c, FanOut: units}}
	if d.UseBias {
		w = append(w, Weight{Name: "bias", Shape: []int{units}})
	}
	return w
}

// Forward multiplies by the kernel; on an input of more than one axis,
// every position's values (reshaped to rows of one matrix) at once.
func (d *Dense) Forward(g Graph, x Tensor, in Shape, w []Tensor, last bool) Tensor {
	nd := len(in) > 1
	if nd {
		x = g.Reshape(x, Shape{in[len(in)-1]}) // rows: every example's positions
	}
	h := g.MatMul(x, w[0])
	if d.UseBias {
		h = g.BiasAdd(h, w[1])
	}
	if nd {
		out, _ := d.Output(in, 0) // Units are not Classes here
		h = g.Reshape(h, out)
	}
	if last {
		return h // logits: the loss applies the softmax
	}
	return activate(g, h, d.Activation)
}
