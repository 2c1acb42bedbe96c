package backbone

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
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

// TestCutsFromGraph reads the cuts every export offers (metadata.json's
// "cuts", found in Keras' graph by the exporter) and their tails: ResNet50
// and VGG16 offer the starts of their last one and two blocks; in every
// tail each layer takes only the cut's input or layers before it, the
// feature endpoint's layer is there, and trainable_params is the sum of
// the trainable weights the feature endpoint depends on.
func TestCutsFromGraph(t *testing.T) {
	want := map[string][]string{
		"ResNet50":     {"conv5_block3_1_conv", "conv5_block2_1_conv"},
		"vgg16-random": {"block5_conv1", "block4_conv1"},
		"tiny":         {"block5_conv1", "block4_conv1"},
		"mobilenet":    {"conv_pw_13", "conv_dw_13"},
		"user-cnn":     {"conv2", "bn1"},
	}
	dirs := map[string]string{}
	for _, name := range append(testenv.AppArchitectures(t), "user-cnn") {
		dirs[name] = testenv.App(t, name)
	}
	for _, name := range []string{"tiny", "vgg16-random", "mobilenet"} {
		dirs[name] = testenv.SavedModel(t, name)
	}
	for name, dir := range dirs {
		meta, err := ReadMetadata(dir)
		if err != nil {
			t.Fatal(err)
		}
		var extra struct {
			Feature string `json:"feature_endpoint"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &extra); err != nil {
			t.Fatal(err)
		}
		feature := map[string]string{"mobilenet": "global_pool", "user-cnn": "features"}[name]
		if feature == "" {
			feature = extra.Feature
		}
		if w, ok := want[name]; ok && !slices.Equal(meta.Cuts, w) || len(meta.Cuts) != 2 || len(meta.FineTune) != 2 {
			t.Errorf("%s: cuts %v, fine_tune for %d; want %v", name, meta.Cuts, len(meta.FineTune), want[name])
		}
		ep, ok := meta.Endpoints[feature]
		if !ok {
			t.Fatalf("%s: no feature endpoint %q", name, feature)
		}
		for _, from := range meta.Cuts {
			cut, ok := meta.FineTune[from]
			if !ok {
				t.Errorf("%s: cut %s has no fine_tune entry", name, from)
				continue
			}
			if _, ok := meta.Endpoints[cut.InputEndpoint]; !ok {
				t.Errorf("%s from %s: input %s is not an endpoint", name, from, cut.InputEndpoint)
			}
			if len(cut.Layers) == 0 || cut.Layers[0].Name != from || !slices.Equal(cut.Layers[0].Inputs, []string{cut.InputEndpoint}) {
				t.Errorf("%s from %s: the tail does not start with the cut taking %s", name, from, cut.InputEndpoint)
				continue
			}
			inputs := map[string][]string{}
			for _, l := range cut.Layers {
				if _, dup := inputs[l.Name]; dup || l.Name == cut.InputEndpoint || len(l.Inputs) == 0 || strings.HasPrefix(l.Class, "ops.") {
					t.Errorf("%s from %s: layer %s (%s) repeated, unnamed, without inputs or not a layer", name, from, l.Name, l.Class)
				}
				for _, in := range l.Inputs {
					if _, before := inputs[in]; !before && in != cut.InputEndpoint {
						t.Errorf("%s from %s: %s takes %s, neither the cut's input nor a layer before it", name, from, l.Name, in)
					}
				}
				inputs[l.Name] = l.Inputs
			}
			if _, ok := inputs[ep.Layer]; !ok {
				t.Errorf("%s from %s: the feature endpoint's layer %s is not in the tail", name, from, ep.Layer)
				continue
			}
			// The feature endpoint's layer and every layer it depends on.
			below := map[string]bool{}
			for todo := []string{ep.Layer}; len(todo) > 0; todo = todo[1:] {
				if n := todo[0]; !below[n] && n != cut.InputEndpoint {
					below[n] = true
					todo = append(todo, inputs[n]...)
				}
			}
			sum := 0
			for _, l := range cut.Layers {
				for _, w := range l.Weights {
					if below[l.Name] && w.Trainable {
						size := 1
						for _, d := range w.Shape {
							size *= d
						}
						sum += size
					}
				}
			}
			if sum == 0 || cut.TrainableParams != sum {
				t.Errorf("%s from %s: trainable_params %d, the trainable weights up to %s sum to %d", name, from, cut.TrainableParams, ep.Layer, sum)
			}
			t.Logf("%s from %s (input %s): %d layers, %d trainable params up to %s", name, from, cut.InputEndpoint, len(cut.Layers), cut.TrainableParams, ep.Layer)
		}
	}
}
