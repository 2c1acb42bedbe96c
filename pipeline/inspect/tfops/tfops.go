// Package tfops gives package inspect the two heavy computations it takes
// as functions, run by TensorFlow: Products (a matrix product; on this
// project's 2-core machines TensorFlow's MatMul is about a hundred times
// faster than plain Go, which makes all-pairs cosines of thousands of
// images take a fraction of a second) and LinearTop (a softmax layer built
// and trained by packages nn and train's Keras-shaped code).
package tfops

import (
	"fmt"
	"math/rand/v2"
	"sync"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/tensors"
)

// matmul is one session computing a · bᵀ, built once per process.
type matmul struct {
	once sync.Once
	err  error
	sess *tf.Session
	a, b tf.Output
	out  tf.Output
}

var mm matmul

func (m *matmul) build() {
	s := op.NewScope()
	m.a = op.Placeholder(s.SubScope("a"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, -1)))
	m.b = op.Placeholder(s.SubScope("b"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, -1)))
	m.out = op.MatMul(s, m.a, m.b, op.MatMulTransposeB(true))
	g, err := s.Finalize()
	if err != nil {
		m.err = fmt.Errorf("tfops: building the matrix product: %w", err)
		return
	}
	if m.sess, err = tf.NewSession(g, nil); err != nil {
		m.err = fmt.Errorf("tfops: %w", err)
	}
}

// Products is inspect.Products by TensorFlow's MatMul: every dot product
// of the rows of a with the rows of b (d values a row).
func Products(a, b []float32, d int) ([]float32, error) {
	if d <= 0 || len(a)%d != 0 || len(b)%d != 0 {
		return nil, fmt.Errorf("tfops: products of %d and %d values in rows of %d", len(a), len(b), d)
	}
	mm.once.Do(mm.build)
	if mm.err != nil {
		return nil, mm.err
	}
	ta, err := tensors.FromFloat32(a, int64(len(a)/d), int64(d))
	if err != nil {
		return nil, err
	}
	tb, err := tensors.FromFloat32(b, int64(len(b)/d), int64(d))
	if err != nil {
		return nil, err
	}
	res, err := mm.sess.Run(map[tf.Output]*tf.Tensor{mm.a: ta, mm.b: tb}, []tf.Output{mm.out}, nil)
	if err != nil {
		return nil, fmt.Errorf("tfops: matrix product: %w", err)
	}
	return tensors.Float32s(res[0])
}

// Linear top training: Adam at Keras' defaults, batches of 32, a fixed
// number of epochs (no validation split inside a fold to stop on), and at
// least linearSteps updates, so that a small data set trains as long as
// the default one (960 images a fold: 30 epochs of 30 batches).
const (
	linearEpochs = 30
	linearBatch  = 32
	linearSteps  = 900
)

// LinearTop is inspect.LinearTop: a Dense(classes, softmax) layer on d
// features, the notebook's new top, trained on x and y from Keras'
// initialisation (seeded), then run on test.
func LinearTop(x []float32, y []int32, test []float32, d, classes int, seed int64) ([]float32, error) {
	spec := nn.Spec{
		Input:   layers.Shape{d},
		Layers:  []layers.Layer{&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true}},
		Classes: classes,
		Adam:    nn.Adam{LearningRate: 0.001, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
	}
	net, err := nn.Build(spec)
	if err != nil {
		return nil, fmt.Errorf("tfops: linear top: %w", err)
	}
	defer net.Close()
	if err := net.SetWeights(net.InitialWeights(seed)); err != nil {
		return nil, fmt.Errorf("tfops: linear top: %w", err)
	}
	n := len(y)
	r := rand.New(rand.NewPCG(uint64(seed), 0x6c696e))
	bx := make([]float32, 0, linearBatch*d)
	by := make([]int32, 0, linearBatch)
	step := int64(0)
	batches := (n + linearBatch - 1) / linearBatch
	epochs := max(linearEpochs, (linearSteps+batches-1)/max(batches, 1))
	for range epochs {
		order := r.Perm(n)
		for lo := 0; lo < n; lo += linearBatch {
			bx, by = bx[:0], by[:0]
			for _, i := range order[lo:min(lo+linearBatch, n)] {
				bx = append(bx, x[i*d:(i+1)*d]...)
				by = append(by, y[i])
			}
			if _, _, err := net.TrainBatch(bx, by, step, [2]int64{seed, step}); err != nil {
				return nil, fmt.Errorf("tfops: linear top: %w", err)
			}
			step++
		}
	}
	var probs []float32
	for lo := 0; lo < len(test)/d; lo += 256 {
		hi := min(lo+256, len(test)/d)
		p, _, err := net.Predict(test[lo*d:hi*d], make([]int32, hi-lo))
		if err != nil {
			return nil, fmt.Errorf("tfops: linear top: %w", err)
		}
		probs = append(probs, p...)
	}
	return probs, nil
}
