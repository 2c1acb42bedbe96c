package train

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
)

// TestNaNNeverCorrect (issue 8, item 1): an example whose input is NaN gets
// NaN probabilities from the real network, and must count as wrong for
// top-1 and top-k, however its true class ranks.
func TestNaNNeverCorrect(t *testing.T) {
	net, err := nn.Build(nn.Spec{
		Input:   []int{6},
		Layers:  []layers.Layer{&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true}},
		Classes: 3,
		Adam:    nn.Adam{LearningRate: 0.001, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := net.SetWeights(net.InitialWeights(5)); err != nil {
		t.Fatal(err)
	}
	d := blobs(6, 6, 3, 3)
	for j := 0; j < 6; j++ {
		d.x[2*6+j] = float32(math.NaN()) // example 2
	}
	r, err := Evaluate(net, d, 4, 3) // k = 3 = every class
	if err != nil {
		t.Fatal(err)
	}
	row := r.Probs[2*3 : 3*3]
	if !math.IsNaN(float64(row[0])) {
		t.Fatalf("probabilities of a NaN input are %v; the test needs NaN", row)
	}
	if evaluate.Rank(row, int(d.y[2])) == 0 {
		t.Errorf("Rank puts a NaN row's class first")
	}
	if r.TopK > 5.0/6 {
		t.Errorf("top-3 of 3 classes is %v with one NaN row; want at most 5/6", r.TopK)
	}
	if r.Accuracy > 5.0/6 {
		t.Errorf("accuracy %v counts the NaN row as a hit", r.Accuracy)
	}
	for y := 0; y < 3; y++ {
		if evaluate.Rank([]float32{float32(math.NaN()), 0.5, 0.5}, y) < 3 {
			t.Errorf("Rank of class %d in a row with NaN is a hit", y)
		}
		if evaluate.Rank([]float32{float32(math.Inf(1)), 0, 0}, y) < 3 {
			t.Errorf("Rank of class %d in a row with +Inf is a hit", y)
		}
	}
}

// TestDivergenceStopsClearly (issue 8, item 3): a learning rate that makes
// the loss non-finite stops Fit with an error naming the epoch, the batch
// and the learning rate; the state on disk stays readable, and a rerun
// stops the same way instead of failing on its own files.
func TestDivergenceStopsClearly(t *testing.T) {
	build := func() *nn.Network {
		net, err := nn.Build(nn.Spec{
			Input: []int{6},
			Layers: []layers.Layer{
				&layers.Dense{Units: 12, Activation: "relu", UseBias: true},
				&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
			},
			Classes: 3,
			Adam:    nn.Adam{LearningRate: 1e20, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := net.SetWeights(net.InitialWeights(5)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { net.Close() })
		return net
	}
	tr, val := blobs(96, 6, 3, 1), blobs(30, 6, 3, 2)
	opts := Options{BatchSize: 16, Epochs: 5, Shuffle: true, Seed: 9, Dir: t.TempDir()}
	for try := range 2 {
		_, err := Fit(context.Background(), build(), tr, val, opts)
		var d *DivergedError
		if !errors.As(err, &d) {
			t.Fatalf("try %d: Fit gave %v; want a DivergedError", try, err)
		}
		for _, want := range []string{"epoch", "batch", "learning rate 1e+20", "lower"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("try %d: %q does not say %q", try, err, want)
			}
		}
		if _, err := loadState(opts.Dir); err != nil {
			t.Errorf("try %d: state left unreadable: %v", try, err)
		}
	}
}
