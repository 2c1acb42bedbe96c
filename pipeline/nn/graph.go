package nn

import (
	"fmt"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// graph implements layers.Graph with TensorFlow ops in one layer's scope.
// Tensors are tf.Output values.
type graph struct {
	s        *op.Scope
	seed     tf.Output // dropout seed, fed with each batch
	layer    int       // index of the layer, so each dropout draws its own mask
	training bool
}

func out(t layers.Tensor) tf.Output { return t.(tf.Output) }

func (g *graph) MatMul(x, w layers.Tensor) layers.Tensor {
	return op.MatMul(at(g.s, "MatMul"), out(x), out(w))
}

func (g *graph) BiasAdd(x, b layers.Tensor) layers.Tensor {
	return op.BiasAdd(at(g.s, "BiasAdd"), out(x), out(b))
}

func (g *graph) Activation(x layers.Tensor, name string) layers.Tensor {
	switch name {
	case "relu":
		return op.Relu(at(g.s, "Relu"), out(x))
	case "relu6":
		return op.Relu6(at(g.s, "Relu6"), out(x))
	case "softmax":
		return op.Softmax(at(g.s, "Softmax"), out(x))
	case "sigmoid":
		return op.Sigmoid(at(g.s, "Sigmoid"), out(x))
	case "tanh":
		return op.Tanh(at(g.s, "Tanh"), out(x))
	case "linear":
		return x
	}
	g.s.UpdateErr("Activation", fmt.Errorf("unknown activation %q", name))
	return x
}

func (g *graph) Conv2D(x, kernel layers.Tensor, strides [2]int, padding string) layers.Tensor {
	return op.Conv2D(at(g.s, "Conv2D"), out(x), out(kernel), []int64{1, int64(strides[0]), int64(strides[1]), 1}, strings.ToUpper(padding))
}

func (g *graph) DepthwiseConv2D(x, kernel layers.Tensor, strides [2]int, padding string) layers.Tensor {
	return op.DepthwiseConv2dNative(at(g.s, "DepthwiseConv2dNative"), out(x), out(kernel), []int64{1, int64(strides[0]), int64(strides[1]), 1}, strings.ToUpper(padding))
}

func (g *graph) Add(x, y layers.Tensor) layers.Tensor {
	return op.AddV2(at(g.s, "AddV2"), out(x), out(y))
}
func (g *graph) Sub(x, y layers.Tensor) layers.Tensor { return op.Sub(at(g.s, "Sub"), out(x), out(y)) }
func (g *graph) Mul(x, y layers.Tensor) layers.Tensor { return op.Mul(at(g.s, "Mul"), out(x), out(y)) }
func (g *graph) Div(x, y layers.Tensor) layers.Tensor {
	return op.RealDiv(at(g.s, "RealDiv"), out(x), out(y))
}
func (g *graph) Rsqrt(x layers.Tensor) layers.Tensor { return op.Rsqrt(at(g.s, "Rsqrt"), out(x)) }
func (g *graph) Erf(x layers.Tensor) layers.Tensor   { return op.Erf(at(g.s, "Erf"), out(x)) }
func (g *graph) Scalar(v float64) layers.Tensor      { return op.Const(at(g.s, "Const"), float32(v)) }

func (g *graph) MaxPool(x layers.Tensor, size, strides [2]int, padding string) layers.Tensor {
	return op.MaxPool(at(g.s, "MaxPool"), out(x), []int64{1, int64(size[0]), int64(size[1]), 1},
		[]int64{1, int64(strides[0]), int64(strides[1]), 1}, strings.ToUpper(padding))
}

func (g *graph) AvgPool(x layers.Tensor, size, strides [2]int, padding string) layers.Tensor {
	return op.AvgPool(at(g.s, "AvgPool"), out(x), []int64{1, int64(size[0]), int64(size[1]), 1},
		[]int64{1, int64(strides[0]), int64(strides[1]), 1}, strings.ToUpper(padding))
}

func (g *graph) Pad(x layers.Tensor, pad [2][2]int) layers.Tensor {
	p := [][]int32{{0, 0}, {int32(pad[0][0]), int32(pad[0][1])}, {int32(pad[1][0]), int32(pad[1][1])}, {0, 0}}
	return op.Pad(at(g.s, "Pad"), out(x), op.Const(at(g.s, "Const"), p))
}

func (g *graph) Reshape(x layers.Tensor, s layers.Shape) layers.Tensor {
	shape := []int32{-1}
	for _, d := range s {
		shape = append(shape, int32(d))
	}
	return op.Reshape(at(g.s, "Reshape"), out(x), op.Const(at(g.s, "Const"), shape))
}

func (g *graph) Mean(x layers.Tensor, axes []int) layers.Tensor {
	ax := make([]int32, len(axes))
	for i, a := range axes {
		ax[i] = int32(a + 1) // after the batch axis
	}
	return op.Mean(at(g.s, "Mean"), out(x), op.Const(at(g.s, "Const"), ax))
}

// Dropout draws its mask from StatelessRandomUniform seeded by the batch's
// seed plus the layer index, so runs repeat and a resumed run draws what
// an uninterrupted one would.
func (g *graph) Dropout(x layers.Tensor, rate float64) layers.Tensor {
	if !g.training {
		return x
	}
	s, h := g.s, out(x)
	seed := op.AddV2(at(s, "AddV2"), g.seed, op.Const(at(s, "Const"), []int64{0, int64(g.layer)}))
	u := op.StatelessRandomUniform(at(s, "StatelessRandomUniform"), op.Shape(at(s, "Shape"), h), seed)
	keep := op.Cast(at(s, "Cast"), op.GreaterEqual(at(s, "GreaterEqual"), u, op.Const(at(s, "Const"), float32(rate))), tf.Float)
	return op.Mul(at(s, "Mul"), op.Mul(at(s, "Mul"), h, keep), op.Const(at(s, "Const"), float32(1/(1-rate))))
}

func (g *graph) Concat(xs []layers.Tensor, axis int) layers.Tensor {
	outs := make([]tf.Output, len(xs))
	for i, x := range xs {
		outs[i] = out(x)
	}
	return op.ConcatV2(at(g.s, "ConcatV2"), outs, op.Const(at(g.s, "Const"), int32(axis+1)))
}
