package train_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/reference"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// TestUnitNormalizationKerasParity trains unit_normalization and the
// softmax top (the VGG paper's L2-normalised features and linear
// classifier) on feature vectors for a few Adam steps in Go and in Keras
// (keras.layers.UnitNormalization, built from the kind's Keras class name
// alone), and compares the per-step losses.
func TestUnitNormalizationKerasParity(t *testing.T) {
	const h, w, c, n, classes = 1, 1, 24, 32, 3
	r := rand.New(rand.NewPCG(5, 0))
	d := &spatial{x: make([]float32, n*h*w*c), y: make([]int32, n), dim: h * w * c}
	for i := range d.y {
		d.y[i] = int32(i % classes)
		for j := 0; j < d.dim; j++ {
			d.x[i*d.dim+j] = float32(r.NormFloat64()) + float32(d.y[i]*int32(j%c)%3)
		}
	}
	spec := nn.Spec{
		Input: layers.Shape{c},
		Layers: []layers.Layer{
			&layers.UnitNormalization{},
			&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
		},
		Classes: classes,
		Adam:    nn.Adam{LearningRate: 1e-1, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
	}
	net, err := nn.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	init := net.InitialWeights(3)
	if err := net.SetWeights(init); err != nil {
		t.Fatal(err)
	}
	const steps, batch = 6, 8
	orders := [][]int{train.Order(n, 3, 1, true), train.Order(n, 3, 2, true)}
	flat := append(append([]int{}, orders[0]...), orders[1]...)
	x := make([]float32, batch*d.dim)
	y := make([]int32, batch)
	var goLoss []float64
	for s := 0; s < steps; s++ {
		idx := flat[s*batch : (s+1)*batch]
		if err := d.Read(idx, x); err != nil {
			t.Fatal(err)
		}
		for j, i := range idx {
			y[j] = d.y[i]
		}
		l, _, err := net.TrainBatch(x, y, int64(s), [2]int64{3, int64(s)})
		if err != nil {
			t.Fatal(err)
		}
		goLoss = append(goLoss, l)
	}

	dir := t.TempDir()
	if err := reference.Write(dir, reference.Run{Spec: spec, Init: init, Train: d, Orders: orders, BatchSize: batch}); err != nil {
		t.Fatal(err)
	}
	var keras struct {
		BatchLoss []float64 `json:"batch_loss"`
	}
	if err := reference.Keras(testenv.Python(t), filepath.Join(testenv.Root(t), "scripts", "keras_reference.py"), dir, &keras, "--steps", "6"); err != nil {
		t.Fatal(err)
	}
	if len(keras.BatchLoss) != steps {
		t.Fatalf("Keras returned %d losses", len(keras.BatchLoss))
	}
	if goLoss[steps-1] >= goLoss[0] {
		t.Errorf("loss did not fall: %v", goLoss)
	}
	for s := range goLoss {
		t.Logf("step %d: loss Go %.6f Keras %.6f", s+1, goLoss[s], keras.BatchLoss[s])
		if diff := math.Abs(goLoss[s] - keras.BatchLoss[s]); diff > 1e-5 {
			t.Errorf("step %d: loss Go %.6f, Keras %.6f (|diff| %.2g > 1e-5)", s+1, goLoss[s], keras.BatchLoss[s], diff)
		}
	}
}
