package layers

import "fmt"

// Dense is keras.layers.Dense: a fully connected layer on a vector.
type Dense struct {
	Units      Units  // > 0, or Classes
	Activation string // linear, relu or softmax
	UseBias    bool
}

func init() { register(func() Layer { return &Dense{Activation: "linear", UseBias: true} }) }

func (*Dense) Kind() string       { return "dense" }
func (*Dense) KerasClass() string { return "Dense" }

func (d *Dense) Fields() []Field {
	return []Field{
		{Key: "units", Required: true, Doc: `> 0 or "classes"`, Value: &d.Units},
		{Key: "activation", OneOf: []string{"linear", "relu", "softmax"}, Value: &d.Activation},
		{Key: "use_bias", Value: &d.UseBias},
	}
}

func (d *Dense) Check() []Problem { return nil } // units are checked as they decode

func (d *Dense) Output(in Shape, classes int) (Shape, error) {
	if in != nil && len(in) != 1 {
		return nil, fmt.Errorf("gets a %s input; add `- flatten: {}` before it: a Keras Dense would act on the last axis only", in)
	}
	return Shape{d.Units.Resolve(classes)}, nil
}

func (d *Dense) Weights(in Shape, classes int) []Weight {
	units := d.Units.Resolve(classes)
	w := []Weight{{Name: "kernel", Shape: []int{in[0], units}, Glorot: true, FanIn: in[0], FanOut: units}}
	if d.UseBias {
		w = append(w, Weight{Name: "bias", Shape: []int{units}})
	}
	return w
}

func (d *Dense) Forward(g Graph, x Tensor, _ Shape, w []Tensor, last bool) Tensor {
	h := g.MatMul(x, w[0])
	if d.UseBias {
		h = g.BiasAdd(h, w[1])
	}
	if last {
		return h // logits: the loss applies the softmax
	}
	return g.Activation(h, d.Activation)
}
