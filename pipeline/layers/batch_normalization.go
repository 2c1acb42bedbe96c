package layers

import "fmt"

// BatchNormalization is keras.layers.BatchNormalization in inference mode:
// each channel normalised with its frozen moving mean and variance, then
// scaled by gamma and shifted by beta. This is how the transfer-learning
// guides fine-tune a pretrained backbone (the base model called with
// training=False): gamma and beta train, the statistics never change. On a
// model trained from scratch it is therefore only a learned per-channel
// scale and shift.
type BatchNormalization struct {
	Epsilon float64
}

func init() { register(func() Layer { return &BatchNormalization{Epsilon: 1e-3} }) }

func (*BatchNormalization) Kind() string       { return "batch_normalization" }
func (*BatchNormalization) KerasClass() string { return "BatchNormalization" }

func (b *BatchNormalization) Fields() []Field {
	return []Field{{Key: "epsilon", Doc: "> 0, added to the variance", Value: &b.Epsilon}}
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

// Weights are Keras' four, in its order: gamma and beta train; the moving
// statistics are frozen.
func (b *BatchNormalization) Weights(in Shape, _ int) []Weight {
	c := []int{in[len(in)-1]}
	return []Weight{
		{Name: "gamma", Shape: c, Ones: true},
		{Name: "beta", Shape: c},
		{Name: "moving_mean", Shape: c, Frozen: true},
		{Name: "moving_variance", Shape: c, Ones: true, Frozen: true},
	}
}

// Forward computes what tf.nn.batch_normalization (Keras' TensorFlow
// backend) computes, in its order: inv = rsqrt(variance + epsilon) * gamma,
// x * inv + (beta - mean * inv).
func (b *BatchNormalization) Forward(g Graph, x Tensor, _ Shape, w []Tensor, _ bool) Tensor {
	inv := g.Mul(g.Rsqrt(g.Add(w[3], g.Scalar(b.Epsilon))), w[0])
	return g.Add(g.Mul(x, inv), g.Sub(w[1], g.Mul(w[2], inv)))
}
