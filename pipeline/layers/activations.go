package layers

import "slices"

// activations are the Keras activations this package computes, by the
// name Keras' get_config() writes (and its aliases), each as Keras 3.8's
// TensorFlow backend computes it (keras/src/backend/tensorflow/nn.py), so
// that values match Keras'. The activation kind and the activation
// setting of conv2d, dense and depthwise_conv2d all apply them through
// activate. Every op used has a gradient in TensorFlow's C++ registry.
var activations = map[string]func(g Graph, x Tensor) Tensor{
	"linear": func(_ Graph, x Tensor) Tensor { return x },
	"relu":   func(g Graph, x Tensor) Tensor { return g.Activation(x, "relu") },
	"relu6":  func(g Graph, x Tensor) Tensor { return g.Activation(x, "relu6") },
	// softmax over the last axis.
	"softmax": func(g Graph, x Tensor) Tensor { return g.Activation(x, "softmax") },
	"sigmoid": func(g Graph, x Tensor) Tensor { return g.Activation(x, "sigmoid") },
	"tanh":    func(g Graph, x Tensor) Tensor { return g.Activation(x, "tanh") },
	// silu (Keras' swish): tf.nn.silu, x * sigmoid(x).
	"silu": silu,
	// hard_sigmoid: relu6(x + 3) / 6.
	"hard_sigmoid": hardSigmoid,
	// hard_silu (Keras' hard_swish): x * hard_sigmoid(x).
	"hard_silu": func(g Graph, x Tensor) Tensor { return g.Mul(x, hardSigmoid(g, x)) },
	// gelu is Keras' default, approximate=False: tf.nn.gelu's
	// 0.5 * x * (1 + erf(x / sqrt(2))).
	"gelu": func(g Graph, x Tensor) Tensor {
		erf := g.Erf(g.Div(x, g.Scalar(1.4142135623730951)))
		return g.Mul(g.Mul(g.Scalar(0.5), x), g.Add(g.Scalar(1), erf))
	},
}

// activationAliases are other names Keras takes for the same activations.
var activationAliases = map[string]string{"swish": "silu", "hard_swish": "hard_silu"}

func silu(g Graph, x Tensor) Tensor { return g.Mul(x, g.Activation(x, "sigmoid")) }

func hardSigmoid(g Graph, x Tensor) Tensor {
	return g.Div(g.Activation(g.Add(x, g.Scalar(3)), "relu6"), g.Scalar(6))
}

// activationNames lists the activation names a setting takes.
func activationNames() []string {
	var out []string
	for k := range activations {
		out = append(out, k)
	}
	for k := range activationAliases {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// activate applies the activation name (one of activationNames) to x.
func activate(g Graph, x Tensor, name string) Tensor {
	if a, ok := activationAliases[name]; ok {
		name = a
	}
	if f, ok := activations[name]; ok {
		return f(g, x)
	}
	return g.Activation(x, name) // unknown: the graph reports it
}
