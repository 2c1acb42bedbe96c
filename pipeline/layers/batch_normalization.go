package layers

import "fmt"

// BatchNormalization is keras.layers.BatchNormalization in inference mode:
// each channel normalised with its frozen moving mean and variance, then
// scaled by gamma and shifted by beta. This is how the transfer-learning
// guides fine-tune a pretrained backbone (the base model called with
// training=False): gamma and beta train, the statistics never change. On a
// model trained from scratch it is therefore only a learned per-channel
// scale and shift. Without scale (InceptionV3's) there is no gamma;
// without center, no beta.
type BatchNormalization struct {
	Epsilon float64
	Center  bool // beta: a learned shift
	Scale   bool // gamma: a learned scale
}

func init() {
	register(func() Layer { return &BatchNormalization{Epsilon: 1e-3, Center: true, Scale: true} })
}

func (*BatchNormalization) Kind() string       { return "batch_normalization" }
func (*BatchNormalization) KerasClass() string { return "BatchNormalization" }

func (b *BatchNormalization) Fields() []Field {
	return []Field{
		{Key: "epsilon", Doc: "> 0, added to the variance", Value: &b.Epsilon},
		{Key: "center", Doc: "a learned shift, beta", Value: &b.Center, Since: 5},
		{Key: "scale", Doc: "a learned scale, gamma", Value: &b.Scale, Since: 5},
	}
}

func (b *BatchNormalization) Check() []Problem {
	if !(b.Epsilon > 0) {
		return []Problem{{"epsilon", fmt.Sprintf("want a number > 0, got %g", b.Epsilon)}}
	}
	return nil
}

func (b *BatchNormalization) Output(in Shape, _ int) (Shape, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("only on a known input shape (after a backbone's cut, or in a model without backbone)")
	}
	return in, nil
}

// Weights are Keras', in its order: gamma (with scale) and beta (with
// center) train; the moving statistics are frozen.
func (b *BatchNormalization) Weights(in Shape, _ int) []Weight {
	c := []int{in[len(in)-1]}
	var w []Weight
	if b.Scale {
		w = append(w, Weight{Name: "gamma", Shape: c, Ones: true})
	}
	if b.Center {
		w = append(w, Weight{Name: "beta", Shape: c})
	}
	return append(w,
		Weight{Name: "moving_mean", Shape: c, Frozen: true},
		Weight{Name: "moving_variance", Shape: c, Ones: true, Frozen: true})
}

// Forward computes what tf.nn.batch_normalization (Keras' TensorFlow
// backend) computes, in its order: inv = rsqrt(variance + epsilon) [*
// gamma], x * inv + (beta - mean * inv) (without beta: -mean * inv).
func (b *BatchNormalization) Forward(g Graph, x Tensor, _ Shape, w []Tensor, _ bool) Tensor {
	var gamma, beta Tensor
	if b.Scale {
		gamma, w = w[0], w[1:]
	}
	if b.Center {
		beta, w = w[0], w[1:]
	}
	return normalize(g, x, w[0], w[1], gamma, beta, b.Epsilon)
}

// normalize is tf.nn.batch_normalization's formula, which Keras' layer
// normalization also follows: gamma and beta may be nil.
func normalize(g Graph, x, mean, variance, gamma, beta Tensor, epsilon float64) Tensor {
	inv := g.Rsqrt(g.Add(variance, g.Scalar(epsilon)))
	if gamma != nil {
		inv = g.Mul(inv, gamma)
	}
	shift := g.Mul(mean, inv)
	if beta != nil {
		shift = g.Sub(beta, shift)
	} else {
		shift = g.Sub(g.Scalar(0), shift)
	}
	return g.Add(g.Mul(x, inv), shift)
}
