package layers

import "fmt"

// Dropout is keras.layers.Dropout: in training, zeroes a fraction of its
// input and scales the rest up; in inference, passes it through. (A
// backbone's own Dropout, in the layers fine-tuning rebuilds, is the
// identity instead: see FromKeras.)
type Dropout struct {
	Rate float64 // fraction dropped, in [0, 1)
}

func init() { register(func() Layer { return &Dropout{} }) }

func (*Dropout) Kind() string       { return "dropout" }
func (*Dropout) KerasClass() string { return "Dropout" }

func (d *Dropout) Fields() []Field {
	return []Field{{Key: "rate", Required: true, Doc: "in [0, 1)", Value: &d.Rate}}
}

func (d *Dropout) Check() []Problem {
	if !(d.Rate >= 0 && d.Rate < 1) {
		return []Problem{{"rate", fmt.Sprintf("want a number in [0, 1), got %v", d.Rate)}}
	}
	return nil
}

func (d *Dropout) Output(in Shape, _ int) (Shape, error) { return in, nil }

func (d *Dropout) Weights(Shape, int) []Weight { return nil }

func (d *Dropout) Forward(g Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	if d.Rate == 0 {
		return x
	}
	return g.Dropout(x, d.Rate)
}
