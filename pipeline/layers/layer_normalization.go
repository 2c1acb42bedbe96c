package layers

import "fmt"

// LayerNormalization is keras.layers.LayerNormalization over the last
// axis: each example's values at one position (each pixel's channels,
// ConvNeXt's) normalised by their own mean and variance, then scaled by
// gamma and shifted by beta, as Keras 3.8's TensorFlow backend computes it
// (tf.nn.moments, then tf.nn.batch_normalization's formula).
type LayerNormalization struct {
	Epsilon float64
	Center  bool // beta: a learned shift
	Scale   bool // gamma: a learned scale
}

func init() {
	register(func() Layer { return &LayerNormalization{Epsilon: 1e-3, Center: true, Scale: true} })
}

func (*LayerNormalization) Kind() string       { return "layer_normalization" }
func (*LayerNormalization) KerasClass() string { return "LayerNormalization" }

func (l *LayerNormalization) Fields() []Field {
	return []Field{
		{Key: "epsilon", Doc: "> 0, added to the variance", Value: &l.Epsilon},
		{Key: "center", Doc: "a learned shift, beta", Value: &l.Center},
		{Key: "scale", Doc: "a learned scale, gamma", Value: &l.Scale},
	}
}

func (l *LayerNormalization) Check() []Problem {
	if !(l.Epsilon > 0) {
		return []Problem{{"epsilon", fmt.Sprintf("want a number > 0, got %g", l.Epsilon)}}
	}
	return nil
}

func (l *LayerNormalization) Output(in Shape, _ int) (Shape, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("only on a known input shape (after a backbone's cut, or in a model without backbone)")
	}
	return in, nil
}

// Weights are Keras', in its order: gamma (with scale), beta (with
// center), one per value of the last axis.
func (l *LayerNormalization) Weights(in Shape, _ int) []Weight {
	c := []int{in[len(in)-1]}
	var w []Weight
	if l.Scale {
		w = append(w, Weight{Name: "gamma", Shape: c, Ones: true})
	}
	if l.Center {
		w = append(w, Weight{Name: "beta", Shape: c})
	}
	return w
}

func (l *LayerNormalization) Forward(g Graph, x Tensor, in Shape, w []Tensor, _ bool) Tensor {
	last := len(in) - 1
	keep := append(Shape{}, in...)
	keep[last] = 1
	mean := g.Reshape(g.Mean(x, []int{last}), keep)
	d := g.Sub(x, mean)
	variance := g.Reshape(g.Mean(g.Mul(d, d), []int{last}), keep)
	var gamma, beta Tensor
	if l.Scale {
		gamma, w = w[0], w[1:]
	}
	if l.Center {
		beta = w[0]
	}
	return normalize(g, x, mean, variance, gamma, beta, l.Epsilon)
}
