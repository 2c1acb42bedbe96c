package backbone

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// TestTail rebuilds the layers above each exported cut from metadata.json,
// as fine-tuning does: names, kinds, the cut input endpoint and its shape.
func TestTail(t *testing.T) {
	for _, tc := range []struct {
		model, from, endpoint, input string
		shape                        []int
		names                        []string
		kinds                        []string
	}{
		{"tiny", "block5_conv1", "fc2", "block4_pool", []int{2, 2, 16},
			[]string{"block5_conv1", "block5_pool", "flatten", "fc1", "fc2"},
			[]string{"conv2d", "max_pool", "flatten", "dense", "dense"}},
		{"mobilenet", "conv_pw_13", "global_pool", "conv_dw_13_relu", []int{7, 7, 1024},
			[]string{"conv_pw_13", "conv_pw_13_bn", "conv_pw_13_relu", "global_pool"},
			[]string{"conv2d", "batch_normalization", "relu", "global_average_pooling2d"}},
		{"mobilenet", "conv_dw_13", "conv_pw_13_relu", "conv_pw_12_relu", []int{7, 7, 1024},
			[]string{"conv_dw_13", "conv_dw_13_bn", "conv_dw_13_relu", "conv_pw_13", "conv_pw_13_bn", "conv_pw_13_relu"},
			[]string{"depthwise_conv2d", "batch_normalization", "relu", "conv2d", "batch_normalization", "relu"}},
	} {
		dir := testenv.SavedModel(t, tc.model)
		meta, err := ReadMetadata(dir)
		if err != nil {
			t.Fatal(err)
		}
		tail, err := meta.TailFor(tc.from, tc.endpoint)
		if err != nil {
			t.Fatalf("%s from %s: %v", tc.model, tc.from, err)
		}
		var kinds []string
		for _, l := range tail.Layers {
			kinds = append(kinds, l.Kind())
		}
		if tail.Input != tc.input || !slices.Equal(tail.Shape, tc.shape) || !slices.Equal(tail.Names, tc.names) || !slices.Equal(kinds, tc.kinds) {
			t.Errorf("%s from %s to %s: input %s %v, layers %v %v; want %s %v, %v %v",
				tc.model, tc.from, tc.endpoint, tail.Input, tail.Shape, tail.Names, kinds, tc.input, tc.shape, tc.names, tc.kinds)
		}
		if tc.model == "mobilenet" {
			if r := tail.Layers[2].(*layers.ReLU); r.MaxValue != 6 {
				t.Errorf("%s: max_value %g, want MobileNet's ReLU6", tail.Names[2], r.MaxValue)
			}
		}
	}
}

// TestReadTail reads the pretrained weights above a cut from the
// SavedModel's checkpoint: every weight, with its shape's size, and (for
// MobileNet's batch normalisation) values a trained layer has.
func TestReadTail(t *testing.T) {
	dir := testenv.SavedModel(t, "mobilenet")
	meta, err := ReadMetadata(dir)
	if err != nil {
		t.Fatal(err)
	}
	tail, err := meta.TailFor("conv_pw_13", "global_pool")
	if err != nil {
		t.Fatal(err)
	}
	w, err := ReadTail(dir, tail)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{"conv_pw_13/kernel": 1024 * 1024, "conv_pw_13_bn/gamma": 1024, "conv_pw_13_bn/beta": 1024,
		"conv_pw_13_bn/moving_mean": 1024, "conv_pw_13_bn/moving_variance": 1024}
	if len(w) != len(sizes) {
		t.Errorf("read %d weights, want %d", len(w), len(sizes))
	}
	for name, n := range sizes {
		if len(w[name]) != n {
			t.Errorf("%s: %d values, want %d", name, len(w[name]), n)
		}
	}
	var meanAbs float64
	for i, v := range w["conv_pw_13_bn/moving_variance"] {
		if !(v > 0) {
			t.Fatalf("moving_variance[%d] = %g: a variance is positive", i, v)
		}
		meanAbs += math.Abs(float64(w["conv_pw_13_bn/moving_mean"][i])) / 1024
	}
	if meanAbs < 0.01 { // Keras' initial moving mean is 0
		t.Errorf("mean |moving_mean| %g: not trained statistics", meanAbs)
	}
}

// TestTailErrors: a layer fine-tuning cannot start from, a cut at or above
// the endpoint, and an export from before fine-tuning each say what to do.
func TestTailErrors(t *testing.T) {
	meta, err := ReadMetadata(testenv.SavedModel(t, "mobilenet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, endpoint, want string }{
		{"conv_pw_99", "global_pool", `fine-tuning cannot start from "conv_pw_99": not a layer the export allows (allowed: conv_dw_13, conv_pw_13)`},
		{"conv_pw_13", "conv_dw_13_relu", "fine_tune_from conv_pw_13 is at or above endpoint conv_dw_13_relu (layer conv_dw_13_relu)"},
		{"conv_pw_13", "conv_pw_12_relu", "is at or above endpoint conv_pw_12_relu"},
	} {
		_, err := meta.TailFor(tc.from, tc.endpoint)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TailFor(%s, %s): %v, want it to say %q", tc.from, tc.endpoint, err, tc.want)
		}
	}
	meta.FineTune = nil
	if _, err := meta.TailFor("conv_pw_13", "global_pool"); err == nil || !strings.Contains(err.Error(), "rerun set-up (make setup)") {
		t.Errorf("an export without fine_tune: %v, want it to say to rerun set-up", err)
	}
}
