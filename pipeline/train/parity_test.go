package train_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/features"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/reference"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// cachedSplits extracts the tiny backbone's fc2 features of a generated
// dataset and returns the train and val splits as read from the cache.
func cachedSplits(t *testing.T) (*features.Split, *features.Split, int) {
	t.Helper()
	m, err := backbone.Load(testenv.SavedModel(t, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	data := filepath.Join(t.TempDir(), "data")
	testenv.ImageDataset(t, data, 3, 20, 7)
	ds, err := dataset.Scan(dataset.Options{Dir: data, Split: dataset.Split{Train: .6, Val: .2, Test: .2}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.HashFiles(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	store, err := features.Open(filepath.Join(t.TempDir(), "cache"), m, "fc2", "nearest", false, 16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Extract(context.Background(), ds.Examples, features.Options{}); err != nil {
		t.Fatal(err)
	}
	return store.Split(ds.Split(dataset.Train)), store.Split(ds.Split(dataset.Val)), store.Dim
}

// TestKerasParity trains the same new top in Go and in Keras on the same
// cached features, from the same initial weights, in the same batch order,
// and compares the per-epoch history.
func TestKerasParity(t *testing.T) {
	trainSplit, valSplit, dim := cachedSplits(t)
	spec := nn.Spec{
		Input: []int{dim},
		Layers: []layers.Layer{
			&layers.Dense{Units: 16, Activation: "relu", UseBias: true},
			&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
		},
		Classes: 3,
		Adam:    nn.Adam{LearningRate: 1e-2, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
	}
	const epochs, batch, seed = 4, 8, 11
	net, err := nn.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	init := net.InitialWeights(seed)
	if err := net.SetWeights(init); err != nil {
		t.Fatal(err)
	}
	st, err := train.Fit(context.Background(), net, trainSplit, valSplit, train.Options{BatchSize: batch, Epochs: epochs, Shuffle: true, Seed: seed, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var orders [][]int
	for e := 1; e <= epochs; e++ {
		orders = append(orders, train.Order(trainSplit.Len(), seed, e, true))
	}
	if err := reference.Write(dir, reference.Run{Spec: spec, Init: init, Train: trainSplit, Val: valSplit, Orders: orders, BatchSize: batch}); err != nil {
		t.Fatal(err)
	}
	var keras struct{ Loss, Accuracy, ValLoss, ValAccuracy []float64 }
	var raw map[string][]float64
	if err := reference.Keras(testenv.Python(t), filepath.Join(testenv.Root(t), "scripts", "keras_reference.py"), dir, &raw); err != nil {
		t.Fatal(err)
	}
	keras.Loss, keras.Accuracy, keras.ValLoss, keras.ValAccuracy = raw["loss"], raw["accuracy"], raw["val_loss"], raw["val_accuracy"]
	if len(keras.Loss) != epochs {
		t.Fatalf("Keras history %v", raw)
	}
	for i, e := range st.History {
		t.Logf("epoch %d: loss Go %.6f Keras %.6f | val_loss Go %.6f Keras %.6f | acc Go %.4f Keras %.4f",
			e.Epoch, e.Loss, keras.Loss[i], e.ValLoss, keras.ValLoss[i], e.Accuracy, keras.Accuracy[i])
		if d := math.Abs(e.Loss - keras.Loss[i]); d > 1e-4 {
			t.Errorf("epoch %d: loss Go %.6f, Keras %.6f (|diff| %.2g > 1e-4)", e.Epoch, e.Loss, keras.Loss[i], d)
		}
		if d := math.Abs(e.ValLoss - keras.ValLoss[i]); d > 1e-4 {
			t.Errorf("epoch %d: val_loss Go %.6f, Keras %.6f (|diff| %.2g > 1e-4)", e.Epoch, e.ValLoss, keras.ValLoss[i], d)
		}
		if math.Abs(e.Accuracy-keras.Accuracy[i]) > 1e-6 || math.Abs(e.ValAccuracy-keras.ValAccuracy[i]) > 1e-6 {
			t.Errorf("epoch %d: accuracy Go %.4f/%.4f, Keras %.4f/%.4f", e.Epoch, e.Accuracy, e.ValAccuracy, keras.Accuracy[i], keras.ValAccuracy[i])
		}
	}
	if !(st.History[epochs-1].Loss < st.History[0].Loss) {
		t.Errorf("loss did not fall: %v", st.History)
	}
}
