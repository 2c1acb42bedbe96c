package train_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/pixels"
	"github.com/gotransfer/gotransfer/pipeline/reference"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// TestScratchCNNKerasParity runs the notebook's scratch CNN (dropout off)
// for a few Adam steps in Go and in Keras, from the same initial weights on
// the same batches of images, and compares each step's loss.
func TestScratchCNNKerasParity(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	testenv.ImageDataset(t, data, 4, 8, 9)
	ds, err := dataset.Scan(dataset.Options{Dir: data, Split: dataset.Split{Train: .75, Test: .25}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.HashFiles(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	const size = 48 // the smallest input the notebook's 4 conv/pool blocks take
	store := pixels.Open(filepath.Join(t.TempDir(), "cache"), size, size, "nearest")
	if _, err := store.Prepare(context.Background(), ds.Examples, 2, false, nil); err != nil {
		t.Fatal(err)
	}
	split := store.Split(ds.Split(dataset.Train), "caffe", false)

	conv := &layers.Conv2D{Filters: 32, KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "valid", Activation: "relu", UseBias: true, Groups: 1}
	pool := &layers.MaxPool{PoolSize: [2]int{2, 2}, Strides: [2]int{2, 2}, Padding: "valid"}
	drop := &layers.Dropout{Rate: 0}
	spec := nn.Spec{
		Input: []int{size, size, 3},
		Layers: []layers.Layer{conv, pool, conv, pool, drop, conv, pool, conv, pool, drop, &layers.Flatten{},
			&layers.Dense{Units: 256, Activation: "relu", UseBias: true}, drop,
			&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true}},
		Classes: 4,
		Adam:    nn.Adam{LearningRate: 1e-3, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
	}
	net, err := nn.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	init := net.InitialWeights(17)
	if err := net.SetWeights(init); err != nil {
		t.Fatal(err)
	}
	const steps, batch = 6, 8
	order := train.Order(split.Len(), 17, 1, true)
	orders := [][]int{order, train.Order(split.Len(), 17, 2, true)}
	flat := append(append([]int{}, orders[0]...), orders[1]...)
	var goLoss []float64
	x := make([]float32, batch*size*size*3)
	y := make([]int32, batch)
	for s := 0; s < steps; s++ {
		idx := flat[s*batch : (s+1)*batch]
		if err := split.Read(idx, x); err != nil {
			t.Fatal(err)
		}
		for j, i := range idx {
			y[j] = split.Label(i)
		}
		l, _, err := net.TrainBatch(x, y, int64(s), [2]int64{17, int64(s)})
		if err != nil {
			t.Fatal(err)
		}
		goLoss = append(goLoss, l)
	}

	dir := t.TempDir()
	if err := reference.Write(dir, reference.Run{Spec: spec, Init: init, Train: split, Orders: orders, BatchSize: batch}); err != nil {
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
	for s := range goLoss {
		t.Logf("step %d: loss Go %.6f Keras %.6f", s+1, goLoss[s], keras.BatchLoss[s])
		if d := math.Abs(goLoss[s] - keras.BatchLoss[s]); d > 1e-3 {
			t.Errorf("step %d: loss Go %.6f, Keras %.6f (|diff| %.2g > 1e-3)", s+1, goLoss[s], keras.BatchLoss[s], d)
		}
	}
}
