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

// spatial is an in-memory split of per-example [h, w, c] inputs.
type spatial struct {
	x   []float32
	y   []int32
	dim int
}

func (d *spatial) Len() int          { return len(d.y) }
func (d *spatial) Label(i int) int32 { return d.y[i] }
func (d *spatial) Read(idx []int, x []float32) error {
	for j, i := range idx {
		copy(x[j*d.dim:(j+1)*d.dim], d.x[i*d.dim:(i+1)*d.dim])
	}
	return nil
}

// TestGlobalAveragePoolingKerasParity trains global_average_pooling2d, a
// hidden dense layer and the softmax top on spatial features (the shape of
// a backbone's conv_pw_13_relu, scaled down) in Go and in Keras
// (keras.layers.GlobalAveragePooling2D, built from the kind's Keras class
// name alone).
func TestGlobalAveragePoolingKerasParity(t *testing.T) {
	layerParity(t, layers.Shape{5, 4, 6}, 1e-2, 1e-4,
		&layers.GlobalAveragePooling2D{},
		&layers.Dense{Units: 8, Activation: "relu", UseBias: true},
		&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true})
}

// TestUnitNormalizationKerasParity trains unit_normalization and the
// softmax top (the VGG paper's L2-normalised features and linear
// classifier) on feature vectors in Go and in Keras
// (keras.layers.UnitNormalization, built from the kind's Keras class name
// alone).
func TestUnitNormalizationKerasParity(t *testing.T) {
	layerParity(t, layers.Shape{24}, 1e-1, 1e-5,
		&layers.UnitNormalization{},
		&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true})
}

// layerParity trains ls on seeded inputs of shape in (3 classes, 32
// examples, batches of 8) for 6 Adam steps at learning rate lr in Go and
// in Keras, and wants the loss to fall and each step's loss within tol of
// Keras'.
func layerParity(t *testing.T, in layers.Shape, lr, tol float64, ls ...layers.Layer) {
	t.Helper()
	graphParity(t, in, nil, lr, tol, ls...)
}

// TestGraphKerasParity trains a graph (a residual add of the input, a
// multiply of two branches, a concatenate, as ResNet, EfficientNet and
// DenseNet join theirs) in Go and in Keras' functional API.
func TestGraphKerasParity(t *testing.T) {
	graphParity(t, layers.Shape{6, 5, 4}, layers.Inputs{{-1}, {0}, {-1, 1}, {2, 0}, {3, 1}, {4}, {5}}, 1e-2, 1e-4,
		&layers.Conv2D{Filters: 4, KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same", Activation: "relu", UseBias: true},
		&layers.Conv2D{Filters: 4, KernelSize: [2]int{1, 1}, Strides: [2]int{1, 1}, Padding: "valid", Activation: "linear", UseBias: false},
		&layers.Add{},
		&layers.Multiply{},
		&layers.Concatenate{Axis: 3},
		&layers.GlobalAveragePooling2D{},
		&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true})
}

// graphParity is layerParity for the graph ins wires (nil: a stack).
func graphParity(t *testing.T, in layers.Shape, ins layers.Inputs, lr, tol float64, ls ...layers.Layer) {
	t.Helper()
	const n, classes = 32, 3
	dim := 1
	for _, s := range in {
		dim *= s
	}
	c := in[len(in)-1]
	r := rand.New(rand.NewPCG(5, 0))
	d := &spatial{x: make([]float32, n*dim), y: make([]int32, n), dim: dim}
	for i := range d.y {
		d.y[i] = int32(i % classes)
		for j := 0; j < d.dim; j++ {
			d.x[i*d.dim+j] = float32(r.NormFloat64()) + float32(d.y[i]*int32(j%c)%3)
		}
	}
	spec := nn.Spec{
		Input:   in,
		Layers:  ls,
		Inputs:  ins,
		Classes: classes,
		Adam:    nn.Adam{LearningRate: lr, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
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
	var goLoss []float64
	for s := 0; s < steps; s++ {
		x, y, err := train.Batch(d, flat[s*batch:(s+1)*batch], net)
		if err != nil {
			t.Fatal(err)
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
		if diff := math.Abs(goLoss[s] - keras.BatchLoss[s]); diff > tol {
			t.Errorf("step %d: loss Go %.6f, Keras %.6f (|diff| %.2g > %g)", s+1, goLoss[s], keras.BatchLoss[s], diff, tol)
		}
	}
}
