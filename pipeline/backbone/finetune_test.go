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
		{"conv_pw_99", "global_pool", `fine-tuning cannot start from "conv_pw_99": not a cut the export offers`},
		{"conv_pw_99", "global_pool", "valid cuts: conv_pw_13, conv_dw_13"},
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

// graphMeta is the metadata of a residual block above a cut: a 1×1
// convolution added to the cut's input, pooled, then a classifier; and a
// second cut below it whose first layer no kind reproduces.
func graphMeta() Metadata {
	dim := func(n int64) *int64 { return &n }
	conv := func(name string, in ...string) CutLayer {
		return CutLayer{Name: name, Class: "Conv2D", Config: map[string]any{"filters": 8.0, "kernel_size": []any{1.0, 1.0}, "use_bias": false},
			Weights: []CutWeight{{Name: "kernel", Key: name + "/k", Shape: []int{1, 1, 8, 8}, Trainable: true}}, Inputs: in}
	}
	top := []CutLayer{
		conv("b2_conv", "b1_out"),
		{Name: "b2_add", Class: "Add", Config: map[string]any{}, Inputs: []string{"b1_out", "b2_conv"}},
		{Name: "pool", Class: "GlobalAveragePooling2D", Config: map[string]any{}, Inputs: []string{"b2_add"}},
		{Name: "predictions", Class: "Dense", Config: map[string]any{"units": 10.0, "use_bias": false},
			Weights: []CutWeight{{Name: "kernel", Key: "p/k", Shape: []int{8, 10}, Trainable: true}}, Inputs: []string{"pool"}},
	}
	below := append([]CutLayer{
		{Name: "b1_odd", Class: "Oddity", Config: map[string]any{}, Inputs: []string{"b0_out"}},
		{Name: "b1_out", Class: "Add", Config: map[string]any{}, Inputs: []string{"b0_out", "b1_odd"}},
	}, top...)
	return Metadata{
		Endpoints: map[string]EndpointInfo{
			"b0_out": {Layer: "b0_out", Shape: []*int64{nil, dim(4), dim(4), dim(8)}},
			"b1_out": {Layer: "b1_out", Shape: []*int64{nil, dim(4), dim(4), dim(8)}},
			"pool":   {Layer: "pool", Shape: []*int64{nil, dim(8)}},
		},
		Cuts: []string{"b2_conv", "b1_odd"},
		FineTune: map[string]Cut{
			"b2_conv": {InputEndpoint: "b1_out", Layers: top},
			"b1_odd":  {InputEndpoint: "b0_out", Layers: below},
		},
	}
}

// TestGraphTail rebuilds a graph above a cut: auto picks the first cut,
// the layers the endpoint does not depend on are left out, and the wiring
// names the cut's input and earlier layers by index.
func TestGraphTail(t *testing.T) {
	tail, err := graphMeta().TailFor(Auto, "pool")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, l := range tail.Layers {
		kinds = append(kinds, l.Kind())
	}
	want := layers.Inputs{{layers.Input}, {layers.Input, 0}, {1}}
	if tail.From != "b2_conv" || tail.Input != "b1_out" || !slices.Equal(tail.Shape, []int{4, 4, 8}) ||
		!slices.Equal(tail.Names, []string{"b2_conv", "b2_add", "pool"}) || !slices.Equal(kinds, []string{"conv2d", "add", "global_average_pooling2d"}) ||
		len(tail.Inputs) != len(want) || !slices.Equal(tail.Inputs[1], want[1]) || !slices.Equal(tail.Inputs[2], want[2]) {
		t.Errorf("auto to pool: from %s, input %s %v, layers %v %v, inputs %v", tail.From, tail.Input, tail.Shape, tail.Names, kinds, tail.Inputs)
	}
	if tail.Keys["b2_conv/kernel"] != "b2_conv/k" || len(tail.Keys) != 1 {
		t.Errorf("weight keys %v", tail.Keys)
	}
}

// TestGraphTailErrors: a layer inside a block's branches is not a cut (the
// error lists the valid ones), and a layer no kind reproduces names its
// class and the cuts fine-tuning works from.
func TestGraphTailErrors(t *testing.T) {
	meta := graphMeta()
	for _, tc := range []struct{ from, want string }{
		{"b2_add", `fine-tuning cannot start from "b2_add": not a cut the export offers`},
		{"b2_add", "valid cuts: b2_conv, b1_odd"},
		{"b1_odd", "layer b1_odd: keras.layers.Oddity: no layer kind of this package reproduces it"},
		{"b1_odd", "fine-tuning up to pool works from b2_conv"},
	} {
		if _, err := meta.TailFor(tc.from, "pool"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TailFor(%s): %v, want it to say %q", tc.from, err, tc.want)
		}
	}
	meta.Cuts = nil
	if _, err := meta.TailFor(Auto, "pool"); err == nil || !strings.Contains(err.Error(), "fine_tune_from: auto: metadata.json offers no cuts") {
		t.Errorf("auto without cuts: %v", err)
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
