package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// full sets every key, most of them away from their defaults.
const full = `name: vgg16-caltech101
seed: 7
runs_dir: out/runs
data:
  dir: data/caltech101/101_ObjectCategories
  download: caltech101
  exclude: [BACKGROUND_Google, Motorbikes, 0]
  extensions: [.JPG, .png]
  split: {train: 0.8, val: 0.1, test: 0.1}
  stratify: true
  max_per_class: 40
  on_bad_image: skip
images:
  size: [200, 180]
  resize: bilinear
  preprocess: tf
  divide_by_255: true
  workers: 3
features:
  cache_dir: /tmp/features
  batch_size: 16
  precision: bfloat16
train:
  optimizer:
    adam: {learning_rate: 0.0005, beta_1: 0.8, beta_2: 0.99, epsilon: 1.0e-8}
  loss: categorical_crossentropy
  batch_size: 64
  epochs: 20
  shuffle: false
  early_stopping:
    monitor: val_accuracy
    patience: 3
    min_delta: 0.01
    restore_best_weights: true
evaluate:
  top_k: 3
predict:
  top_k: 2
export:
  savedmodel: false
models:
  - name: vgg16_transfer
    backbone:
      savedmodel: savedmodels/vgg16
      endpoint: block5_pool
    layers:
      - flatten: {}
      - dense: {units: 256, activation: relu, use_bias: false}
      - dropout: {rate: 0.5}
      - dense: {units: classes, activation: softmax}
  - name: scratch
    image_size: [64, 48]
    layers:
      - conv2d: {filters: 32, kernel_size: 3, strides: [2, 1], padding: same, activation: relu}
      - max_pool: {pool_size: [3, 2]}
      - max_pool: {pool_size: 2, strides: 1, padding: same}
      - flatten:
      - dense: {units: classes, activation: softmax}
`

// fullWant is what full decodes to.
func fullWant() *Config {
	return &Config{
		Path:    "full.yaml",
		Name:    "vgg16-caltech101",
		Seed:    7,
		RunsDir: "out/runs",
		Data: Data{
			Dir:           "data/caltech101/101_ObjectCategories",
			Download:      "caltech101",
			Exclude:       []string{"BACKGROUND_Google", "Motorbikes", "0"},
			Extensions:    []string{".jpg", ".png"},
			Split:         Split{Train: 0.8, Val: 0.1, Test: 0.1},
			Stratify:      true,
			MaxPerClass:   40,
			OnBadImage:    "skip",
			NearDuplicate: 0.98, OnDuplicate: DuplicateWarn,
		},
		Images:   Images{Size: [2]int{200, 180}, Resize: "bilinear", Preprocess: "tf", DivideBy255: true, Workers: 3},
		Features: Features{CacheDir: "/tmp/features", BatchSize: 16, MemoryBudgetMiB: 1024, Precision: "bfloat16"},
		Train: Train{
			Optimizer: Optimizer{Adam: &Adam{LearningRate: 0.0005, Beta1: 0.8, Beta2: 0.99, Epsilon: 1e-8}},
			Loss:      Loss{Name: "categorical_crossentropy"}, Sampling: SampleAll,
			BatchSize: 64,
			Epochs:    20,
			Shuffle:   false,
			EarlyStopping: &EarlyStopping{
				Monitor: "val_accuracy", Patience: 3, MinDelta: 0.01, RestoreBestWeights: true,
			},
		},
		Evaluate: Evaluate{TopK: 3},
		Predict:  Predict{TopK: 2},
		Report:   Report{TopLosses: 16},
		Models: []Model{
			{
				Name:     "vgg16_transfer",
				Backbone: &Backbone{SavedModel: "savedmodels/vgg16", Endpoint: "block5_pool"},
				Layers: []layers.Layer{
					&layers.Flatten{},
					&layers.Dense{Units: 256, Activation: "relu", UseBias: false},
					&layers.Dropout{Rate: 0.5},
					&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
				},
			},
			{
				Name:      "scratch",
				ImageSize: [2]int{64, 48},
				Layers: []layers.Layer{
					&layers.Conv2D{Filters: 32, KernelSize: [2]int{3, 3}, Strides: [2]int{2, 1}, Padding: "same", Activation: "relu", UseBias: true, Groups: 1},
					&layers.MaxPool{PoolSize: [2]int{3, 2}, Strides: [2]int{3, 2}, Padding: "valid"},
					&layers.MaxPool{PoolSize: [2]int{2, 2}, Strides: [2]int{1, 1}, Padding: "same"},
					&layers.Flatten{},
					&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
				},
			},
		},
	}
}

// minimal has only the required keys. Its data section comes last so that
// tests can append keys to it.
const minimal = `name: t
models:
  - name: m
    layers:
      - dense: {units: classes, activation: softmax}
data:
  dir: d
`

func TestParseFull(t *testing.T) {
	got, err := Parse("full.yaml", []byte(full), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := fullWant(); !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(full) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, src string }{{"full", full}, {"minimal", minimal}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("a.yaml", []byte(tc.src), nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			back, err := Load(path, nil)
			if err != nil {
				t.Fatalf("Load(Marshal()) failed: %v\n%s", err, out)
			}
			if back.Path != path {
				t.Errorf("Path = %q, want %q", back.Path, path)
			}
			back.Path = c.Path
			if !reflect.DeepEqual(back, c) {
				t.Errorf("config changed through Marshal and Load:\n%+v\nwant\n%+v\nYAML:\n%s", back, c, out)
			}
			again, err := back.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(out) {
				t.Errorf("Marshal is not stable:\n%s\nthen\n%s", out, again)
			}
		})
	}
}

// export.savedmodel, added in form 1, is written only when off (away from
// its default), so configs written before the key existed keep their hash
// (and run folder).
func TestMarshalExportOnlyWhenOff(t *testing.T) {
	for _, set := range []string{"export.savedmodel=true", "export.savedmodel=false"} {
		c, err := Parse("m.yaml", []byte(minimal), []string{set})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Contains(string(out), "export:\n  savedmodel: false\n"), strings.HasSuffix(set, "false"); got != want {
			t.Errorf("%s: marshalled config mentions export.savedmodel: %v, want %v:\n%s", set, got, want, out)
		}
		if strings.HasSuffix(set, "true") && strings.Contains(string(out), "export") {
			t.Errorf("%s: the default is written:\n%s", set, out)
		}
	}
}

// The inspection keys (data.near_duplicate, data.on_duplicate,
// report.top_losses) are written only away from their defaults, so that a
// config written before they existed keeps its hash and run folder.
func TestMarshalInspectKeysOnlyAwayFromDefault(t *testing.T) {
	base, err := Parse("m.yaml", []byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := base.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"data.near_duplicate=0.98", "data.on_duplicate=warn", "report.top_losses=16"} {
		c, err := Parse("m.yaml", []byte(minimal), []string{set})
		if err != nil {
			t.Fatal(err)
		}
		if out, _ := c.Marshal(); string(out) != string(want) {
			t.Errorf("-set %s (the default) changes the marshalled config:\n%s", set, out)
		}
	}
	if strings.Contains(string(want), "near_duplicate") || strings.Contains(string(want), "report:") {
		t.Errorf("defaults written:\n%s", want)
	}
	for set, line := range map[string]string{
		"data.near_duplicate=0.95":         "  near_duplicate: 0.95\n",
		"data.on_duplicate=drop_from_test": "  on_duplicate: drop_from_test\n",
		"report.top_losses=4":              "report:\n  top_losses: 4\n",
	} {
		c, err := Parse("m.yaml", []byte(minimal), []string{set})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := c.Marshal()
		if !strings.Contains(string(out), line) {
			t.Errorf("-set %s: marshalled config lacks %q:\n%s", set, line, out)
		}
		back, err := Parse("back.yaml", out, nil)
		if err != nil {
			t.Fatalf("-set %s: %v", set, err)
		}
		if again, _ := back.Marshal(); string(again) != string(out) {
			t.Errorf("-set %s: does not round-trip", set)
		}
	}
}

func TestInspectKeysBadValues(t *testing.T) {
	for set, want := range map[string]string{
		"data.near_duplicate=0":    "data.near_duplicate: want a number in (0, 1], got 0",
		"data.near_duplicate=1.5":  "data.near_duplicate: want a number in (0, 1], got 1.5",
		"data.near_duplicate=-0.2": "data.near_duplicate: want a number in (0, 1], got -0.2",
		"data.near_duplicate=.nan": "data.near_duplicate: want a number in (0, 1], got NaN",
		"report.top_losses=-1":     "report.top_losses: want an integer >= 0, got -1",
		"data.on_duplicate=ignore": "data.on_duplicate: ",
	} {
		_, err := Parse("m.yaml", []byte(minimal), []string{set})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-set %s: error %v, want one containing %q", set, err, want)
		}
	}
	c, err := Parse("m.yaml", []byte(minimal), []string{"data.near_duplicate=1", "report.top_losses=0"})
	if err != nil || c.Data.NearDuplicate != 1 || c.Report.TopLosses != 0 {
		t.Errorf("the bounds 1 and 0: %v, %+v", err, c)
	}
}

func TestMarshalWritesEveryKey(t *testing.T) {
	c, err := Parse("m.yaml", []byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"seed: 42\n",
		"  extensions: [.jpg, .jpeg, .png]\n",
		"  split: {train: 0.7, val: 0.15, test: 0.15}\n",
		"      epsilon: 1e-07\n",
		"  early_stopping: null\n",
		"    backbone: null\n",
		"      - dense: {units: classes, activation: softmax, use_bias: true}\n",
	} {
		if !strings.Contains(string(out), line) {
			t.Errorf("Marshal output lacks %q:\n%s", line, out)
		}
	}
	if strings.Contains(string(out), "Path") || strings.Contains(string(out), "m.yaml") {
		t.Errorf("Marshal wrote Path:\n%s", out)
	}
}

func TestDefaults(t *testing.T) {
	got, err := Parse("min.yaml", []byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:    "min.yaml",
		Name:    "t",
		Seed:    42,
		RunsDir: "runs",
		Data: Data{
			Dir:        "d",
			Exclude:    []string{},
			Extensions: []string{".jpg", ".jpeg", ".png"},
			Split:      Split{Train: 0.70, Val: 0.15, Test: 0.15},
			OnBadImage: "error", NearDuplicate: 0.98, OnDuplicate: DuplicateWarn,
		},
		Images:   Images{Size: [2]int{224, 224}, Resize: "nearest", Preprocess: "caffe"},
		Features: Features{CacheDir: "cache/features", BatchSize: 8, MemoryBudgetMiB: 1024, Precision: "float32"},
		Train: Train{
			Optimizer: Optimizer{Adam: &Adam{LearningRate: 0.001, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}},
			Loss:      Loss{Name: "categorical_crossentropy"}, Sampling: SampleAll,
			BatchSize: 128,
			Epochs:    10,
			Shuffle:   true,
		},
		Evaluate: Evaluate{TopK: 5},
		Predict:  Predict{TopK: 5},
		Report:   Report{TopLosses: 16},
		Export:   Export{SavedModel: true},
		Models: []Model{{
			Name:   "m",
			Layers: []layers.Layer{&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true}},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestPartialDefaults(t *testing.T) {
	src := minimal + `  split:
train:
  optimizer:
    adam: {learning_rate: 0.01}
  early_stopping: {patience: 2}
`
	c, err := Parse("p.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Adam{LearningRate: 0.01, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}); *c.Train.Optimizer.Adam != want {
		t.Errorf("adam = %+v, want %+v", *c.Train.Optimizer.Adam, want)
	}
	if want := (EarlyStopping{Monitor: "val_loss", Patience: 2}); c.Train.EarlyStopping == nil || *c.Train.EarlyStopping != want {
		t.Errorf("early_stopping = %+v, want %+v", c.Train.EarlyStopping, want)
	}
	if want := (Split{Train: 0.70, Val: 0.15, Test: 0.15}); c.Data.Split != want {
		t.Errorf("null split = %+v, want the default %+v", c.Data.Split, want)
	}
}

func TestOverrides(t *testing.T) {
	const src = `name: t
models:
  - name: m
    layers:
      - dense: {units: 256, activation: relu}
      - dense: {units: classes, activation: softmax}
data:
  dir: d
  exclude: [x]
train:
  early_stopping: null
`
	tests := []struct {
		set   []string
		check func(c *Config) bool
	}{
		{[]string{"train.epochs=3"}, func(c *Config) bool { return c.Train.Epochs == 3 }},
		{[]string{"seed=-5"}, func(c *Config) bool { return c.Seed == -5 }},
		{[]string{"models.0.layers.0.dense.units=64"}, func(c *Config) bool { return c.Models[0].Layers[0].(*layers.Dense).Units == 64 }},
		{[]string{"data.exclude=[a,b]"}, func(c *Config) bool { return reflect.DeepEqual(c.Data.Exclude, []string{"a", "b"}) }},
		{[]string{"data.exclude=[]"}, func(c *Config) bool { return len(c.Data.Exclude) == 0 && c.Data.Exclude != nil }},
		{[]string{"data.download="}, func(c *Config) bool { return c.Data.Download == "" }},
		// Keys absent from the file, and sections that are null, are created.
		{[]string{"images.size=[32, 32]"}, func(c *Config) bool { return c.Images.Size == [2]int{32, 32} }},
		{[]string{"train.optimizer.adam.beta_1=0.5"}, func(c *Config) bool {
			return *c.Train.Optimizer.Adam == Adam{LearningRate: 0.001, Beta1: 0.5, Beta2: 0.999, Epsilon: 1e-7}
		}},
		{[]string{"train.early_stopping.monitor=loss"}, func(c *Config) bool {
			return c.Train.EarlyStopping != nil && *c.Train.EarlyStopping == EarlyStopping{Monitor: "loss"}
		}},
		{[]string{"models.0.backbone={savedmodel: s, endpoint: fc2}"}, func(c *Config) bool {
			return c.Models[0].Transfer() && *c.Models[0].Backbone == Backbone{SavedModel: "s", Endpoint: "fc2"}
		}},
		{[]string{"models.0.layers.0={dropout: {rate: 0.25}}"}, func(c *Config) bool {
			return reflect.DeepEqual(c.Models[0].Layers[0], &layers.Dropout{Rate: 0.25})
		}},
		// Later overrides win.
		{[]string{"train.epochs=3", "train.epochs=4"}, func(c *Config) bool { return c.Train.Epochs == 4 }},
	}
	for _, tc := range tests {
		c, err := Parse("o.yaml", []byte(src), tc.set)
		if err != nil {
			t.Errorf("%q: %v", tc.set, err)
			continue
		}
		if !tc.check(c) {
			t.Errorf("%q: override not applied: %+v", tc.set, c)
		}
	}
}

func TestAliasesAreCopied(t *testing.T) {
	const src = `name: t
models:
  - name: a
    layers: &head
      - dense: {units: classes, activation: softmax}
  - name: b
    layers: *head
data: {dir: d}
`
	c, err := Parse("a.yaml", []byte(src), []string{"models.1.layers.0.dense.use_bias=false"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Models[0].Layers[0].(*layers.Dense), c.Models[1].Layers[0].(*layers.Dense)
	if !a.UseBias || b.UseBias {
		t.Errorf("override of models.1 through an alias: use_bias = %v, %v; want true, false", a.UseBias, b.UseBias)
	}
}

func TestErrors(t *testing.T) {
	stack := func(ls ...string) string {
		return "name: t\nmodels:\n  - name: m\n    layers:\n" + // lines 1-4
			"      - " + strings.Join(ls, "\n      - ") + "\n" + // lines 5...
			"data: {dir: d}\n"
	}
	const last = "dense: {units: classes, activation: softmax}"
	tests := []struct {
		name string
		src  string
		set  []string
		want string // the whole error, or its start when it ends in "..."
	}{
		{"unknown top key", minimal + "epocs: 3\n", nil,
			"t.yaml:8: epocs: unknown key (known: augment, data, evaluate, export, features, images, models, name, predict, report, runs_dir, seed, train)"},
		{"unknown nested key", minimal + "train:\n  epocs: 3\n", nil,
			"t.yaml:9: train.epocs: unknown key (known: batch_size, class_weight, early_stopping, epochs, loss, optimizer, reduce_lr_on_plateau, sampling, shuffle)"},
		{"unknown deep key", minimal + "  split: {train: 0.7, val: 0.15, test: 0.15, tset: 0}\n", nil,
			"t.yaml:8: data.split.tset: unknown key (known: test, train, val)"},
		{"unknown layer key", stack("dense: {units: classes, activation: softmax, unit: 3}"), nil,
			"t.yaml:5: models.0.layers.0.dense.unit: unknown key (known: activation, units, use_bias)"},
		{"unknown flatten key", stack("flatten: {x: 1}", last), nil,
			"t.yaml:5: models.0.layers.0.flatten.x: unknown key (none allowed here)"},
		{"want integer", minimal + "train:\n  epochs: ten\n", nil,
			`t.yaml:9: train.epochs: want an integer, got "ten"`},
		{"quoted integer", minimal + "train:\n  epochs: \"10\"\n", nil,
			`t.yaml:9: train.epochs: want an integer, got "10"`},
		{"float for integer", minimal + "seed: 1.5\n", nil,
			`t.yaml:8: seed: want an integer, got "1.5"`},
		{"want bool", minimal + "  stratify: yes\n", nil,
			`t.yaml:8: data.stratify: want true or false, got "yes"`},
		{"want number", minimal + "train:\n  optimizer:\n    adam: {learning_rate: fast}\n", nil,
			`t.yaml:10: train.optimizer.adam.learning_rate: want a number, got "fast"`},
		{"want list", minimal + "  exclude: Faces\n", nil,
			`t.yaml:8: data.exclude: want a list of strings, got "Faces"`},
		{"want string", minimal + "runs_dir: {a: 1}\n", nil,
			`t.yaml:8: runs_dir: want a string, got a map`},
		{"want map", minimal + "train: 3\n", nil,
			`t.yaml:8: train: want a map, got "3"`},
		{"bad pair", stack("conv2d: {filters: 8, kernel_size: [3, 3, 3]}", "flatten:", last), nil,
			"t.yaml:5: models.0.layers.0.conv2d.kernel_size: want an integer or [height, width], got a list of 3"},
		{"bad pair item", minimal + "images:\n  size: [224, x]\n", nil,
			`t.yaml:9: images.size.1: want an integer, got "x"`},
		{"size is not square", minimal + "images:\n  size: 224\n", nil,
			`t.yaml:9: images.size: want [height, width], got "224"`},
		{"bad units", stack("dense: {units: 0}", last), nil,
			`t.yaml:5: models.0.layers.0.dense.units: want a positive integer or "classes", got "0"`},
		{"duplicate key", minimal + "seed: 1\nseed: 2\n", nil,
			"t.yaml:9: seed: duplicate key (first at line 8)"},
		{"duplicate layer key", stack("dense: {units: classes, units: 3, activation: softmax}"), nil,
			"t.yaml:5: models.0.layers.0.dense.units: duplicate key (first at line 5)"},
		{"missing name", "models:\n  - name: m\n    layers:\n      - " + last + "\ndata: {dir: d}\n", nil,
			"t.yaml:1: name: required"},
		{"null is missing", strings.Replace(minimal, "name: t", "name:", 1), nil,
			"t.yaml:1: name: required"},
		{"missing data dir", "name: t\nmodels:\n  - name: m\n    layers:\n      - " + last + "\ndata:\n  stratify: true\n", nil,
			"t.yaml:6: data.dir: required"},
		{"missing layer key", stack("dropout: {}", last), nil,
			"t.yaml:5: models.0.layers.0.dropout.rate: required"},
		{"missing backbone key", "name: t\nmodels:\n  - name: m\n    backbone: {savedmodel: s}\n    layers:\n      - " + last + "\ndata: {dir: d}\n", nil,
			"t.yaml:4: models.0.backbone.endpoint: required"},
		{"split sum", minimal + "  split: {train: 0.5, val: 0.2, test: 0.2}\n", nil,
			"t.yaml:8: data.split: train + val + test must be 1, got 0.9"},
		{"split partial", minimal + "  split: {train: 0.8, test: 0.2}\n", nil,
			"t.yaml:8: data.split.val: required"},
		{"split range", minimal + "  split: {train: 1.5, val: -0.5, test: 0}\n", nil,
			"t.yaml:8: data.split.train: want a fraction in [0, 1], got 1.5"},
		{"split no test", minimal + "  split: {train: 0.9, val: 0.1, test: 0}\n", nil,
			"t.yaml:8: data.split.test: must be > 0"},
		{"bad enum", minimal + "images: {resize: cubic}\n", nil,
			`t.yaml:8: images.resize: want one of nearest, bilinear; got "cubic"`},
		{"batch size zero", minimal + "features: {batch_size: 0}\n", nil,
			`t.yaml:8: features.batch_size: want a positive integer or auto, got "0"`},
		{"batch size word", minimal + "features: {batch_size: big}\n", nil,
			`t.yaml:8: features.batch_size: want a positive integer or auto, got "big"`},
		{"bad precision", minimal + "features: {precision: fp16}\n", nil,
			`t.yaml:8: features.precision: want one of auto, float32, bfloat16; got "fp16"`},
		{"bad extension", minimal + "  extensions: [jpg]\n", nil,
			`t.yaml:8: data.extensions.0: want an extension starting with ".", such as .jpg, got "jpg"`},
		{"bad name", strings.Replace(minimal, "name: t", "name: my run", 1), nil,
			`t.yaml:1: name: want a name of letters, digits, '.', '_' and '-', got "my run"`},
		{"last layer not softmax", stack("dense: {units: classes, activation: relu}"), nil,
			"t.yaml:5: models.0.layers.0: the last layer must be dense with units: classes and activation: softmax, because the loss is categorical cross-entropy on class probabilities"},
		{"last layer not classes", stack("dense: {units: 10, activation: softmax}"), nil,
			"t.yaml:5: models.0.layers.0: the last layer must be dense with units: classes and activation: softmax, ..."},
		{"last layer dropout", stack(last, "dropout: {rate: 0.1}"), nil,
			"t.yaml:6: models.0.layers.1: the last layer must be dense ..."},
		{"unknown layer type", stack("dence: {units: 3}", last), nil,
			"t.yaml:5: models.0.layers.0.dence: unknown layer type (known: activation, average_pooling2d, batch_normalization, conv2d, dense, depthwise_conv2d, dropout, flatten, global_average_pooling2d, layer_normalization, layer_scale, max_pool, relu, rescaling, reshape, separable_conv2d, unit_normalization, zero_padding2d)"},
		{"two keys in layer", stack("dense: {units: 3}\n        dropout: {rate: 0.5}", last), nil,
			"t.yaml:6: models.0.layers.0: a layer has exactly one key naming its type, got dense, dropout"},
		{"layer not a map", stack("flatten", last), nil,
			`t.yaml:5: models.0.layers.0: want a map with one key naming the layer type (activation, average_pooling2d, batch_normalization, conv2d, dense, depthwise_conv2d, dropout, flatten, global_average_pooling2d, layer_normalization, layer_scale, max_pool, relu, rescaling, reshape, separable_conv2d, unit_normalization, zero_padding2d), got "flatten"`},
		{"no layers", "name: t\nmodels:\n  - name: m\n    layers: []\ndata: {dir: d}\n", nil,
			"t.yaml:4: models.0.layers: want at least one layer"},
		{"no models", "name: t\nmodels: []\ndata: {dir: d}\n", nil,
			"t.yaml:2: models: want at least one model"},
		{"dropout rate", stack("dropout: {rate: 1}", last), nil,
			"t.yaml:5: models.0.layers.0.dropout.rate: want a number in [0, 1), got 1"},
		{"conv in transfer model", "name: t\nmodels:\n  - name: m\n    backbone: {savedmodel: s, endpoint: block5_pool}\n    layers:\n" +
			"      - conv2d: {filters: 8, kernel_size: 3}\n      - flatten:\n      - " + last + "\ndata: {dir: d}\n", nil,
			"t.yaml:6: models.0.layers.0.conv2d: only for models without backbone: backbone features are not images"},
		{"image size in transfer model", "name: t\nmodels:\n  - name: m\n    backbone: {savedmodel: s, endpoint: fc2}\n    image_size: [32, 32]\n    layers:\n" +
			"      - " + last + "\ndata: {dir: d}\n", nil,
			"t.yaml:5: models.0.image_size: only for models without backbone; a backbone's input size is images.size"},
		{"no flatten", stack("conv2d: {filters: 8, kernel_size: 3}", "max_pool:", last), nil,
			"t.yaml:7: models.0.layers.2.dense: gets a 111×111×8 input; add `- flatten: {}` before it: a Keras Dense would act on the last axis only"},
		{"conv after flatten", stack("flatten:", "conv2d: {filters: 8, kernel_size: 3}", last), nil,
			"t.yaml:6: models.0.layers.1.conv2d: gets a 150528 input, not an image (height×width×channels): conv2d goes before any flatten, on images or a backbone's spatial endpoint (such as block5_pool)"},
		{"duplicate model name", "name: t\nmodels:\n  - name: m\n    layers: [" + last + "]\n  - name: m\n    layers: [" + last + "]\ndata: {dir: d}\n", nil,
			`t.yaml:5: models.1.name: duplicate model name "m" (also models.0)`},
		{"monitor needs val", minimal + "  split: {train: 0.8, val: 0, test: 0.2}\ntrain:\n  early_stopping: {monitor: val_loss}\n", nil,
			"t.yaml:10: train.early_stopping.monitor: val_loss needs validation data, but data.split.val is 0"},
		{"unknown optimizer", minimal + "train:\n  optimizer: {sgd: {}}\n", nil,
			"t.yaml:9: train.optimizer.sgd: unknown optimizer (known: adam)"},
		{"two optimizers", minimal + "train:\n  optimizer: {adam: {}, sgd: {}}\n", nil,
			"t.yaml:9: train.optimizer: want exactly one key naming the optimizer (adam), got 2"},
		{"override unknown key", minimal, []string{"train.epocs=3"},
			"-set train.epocs=3: train.epocs: unknown key (known: batch_size, class_weight, early_stopping, epochs, loss, optimizer, reduce_lr_on_plateau, sampling, shuffle)"},
		{"override unknown top key", minimal, []string{"epochs=3"},
			"-set epochs=3: epochs: unknown key (known: augment, data, evaluate, ..."},
		{"override unknown layer key", minimal, []string{"models.0.layers.0.dense.unit=3"},
			"-set models.0.layers.0.dense.unit=3: models.0.layers.0.dense.unit: unknown key (known: activation, units, use_bias)"},
		{"override missing item", minimal, []string{"models.1.name=x"},
			"-set models.1.name=x: models.1: no such item; models has 1"},
		{"override bad index", minimal, []string{"models.first.name=x"},
			`-set models.first.name=x: models: is a list; want an item number, got "first"`},
		{"override through scalar", minimal, []string{"name.x=1"},
			`-set name.x=1: name: is "t", not a map or list, so it has no key "x"`},
		{"override without value", minimal, []string{"train.epochs"},
			"-set train.epochs: want path.to.key=value"},
		{"override empty key", minimal, []string{"train..epochs=3"},
			"-set train..epochs=3: train..epochs: empty key in path"},
		{"override bad yaml", minimal, []string{"data.exclude=[a"},
			"-set data.exclude=[a: data.exclude: bad value: yaml: ..."},
		{"override type", minimal, []string{"train.epochs=ten"},
			`-set train.epochs=ten: train.epochs: want an integer, got "ten"`},
		{"override rule", minimal, []string{"train.epochs=0"},
			"-set train.epochs=0: train.epochs: want an integer >= 1, got 0"},
		{"override of existing key", minimal + "train:\n  epochs: 5\n", []string{"train.epochs=[1]"},
			"-set train.epochs=[1]: train.epochs: want an integer, got a list"},
		{"override makes two layer keys", minimal, []string{"models.0.layers.0.dropout.rate=0.5"},
			"-set models.0.layers.0.dropout.rate=0.5: models.0.layers.0: a layer has exactly one key naming its type, got dense, dropout"},
		{"syntax error", minimal + "train: [1, 2\n", nil, "t.yaml: yaml: line ..."},
		{"empty file", "", nil, "t.yaml: empty config"},
		{"not a map", "- a\n", nil, "t.yaml:1: want a map of keys, got a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.src), tc.set)
			if err == nil {
				t.Fatalf("no error; got %+v", c)
			}
			if c != nil {
				t.Errorf("got a config with the error")
			}
			msg := err.Error()
			if prefix, ok := strings.CutSuffix(tc.want, "..."); ok {
				if !strings.HasPrefix(msg, prefix) {
					t.Errorf("error\n%s\ndoes not start with\n%s", msg, prefix)
				}
			} else if msg != tc.want {
				t.Errorf("error\n%s\nwant\n%s", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("want one error, got:\n%s", msg)
			}
		})
	}
}

func TestErrorsJoinedByLine(t *testing.T) {
	src := `name: t
models:
  - name: m
    layers:
      - dense: {units: classes, activation: softmax, bias: 1}
data:
  dir: d
  stratify: maybe
train:
  epochs: x
seed: 1
seed: 2
`
	_, err := Parse("j.yaml", []byte(src), []string{"train.nope=1", "images.size=3"})
	if err == nil {
		t.Fatal("no error")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error is not joined: %v", err)
	}
	var prefixes []string
	for _, e := range joined.Unwrap() {
		prefixes = append(prefixes, strings.SplitN(e.Error(), ": ", 3)[0]+": "+strings.SplitN(e.Error(), ": ", 3)[1])
	}
	want := []string{
		"j.yaml:5: models.0.layers.0.dense.bias",
		"j.yaml:8: data.stratify",
		"j.yaml:10: train.epochs",
		"j.yaml:12: seed",
		"-set train.nope=1: train.nope",
		"-set images.size=3: images.size",
	}
	if !reflect.DeepEqual(prefixes, want) {
		t.Errorf("errors:\n%s\nwant, in order:\n%s", strings.Join(prefixes, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}

func TestFlatten(t *testing.T) {
	c, err := Parse("full.yaml", []byte(full), nil)
	if err != nil {
		t.Fatal(err)
	}
	flat := c.Flatten()
	for k, v := range map[string]string{
		"name":                               "vgg16-caltech101",
		"seed":                               "7",
		"data.exclude":                       `[BACKGROUND_Google, Motorbikes, "0"]`,
		"data.split.val":                     "0.1",
		"data.download":                      "caltech101",
		"images.size":                        "[200, 180]",
		"train.epochs":                       "20",
		"train.optimizer.adam.epsilon":       "1e-08",
		"train.early_stopping.min_delta":     "0.01",
		"models.0.backbone.endpoint":         "block5_pool",
		"models.0.image_size":                "null",
		"models.0.layers.0.flatten":          "{}",
		"models.0.layers.2.dropout.rate":     "0.5",
		"models.0.layers.3.dense.units":      "classes",
		"models.1.backbone":                  "null",
		"models.1.layers.1.max_pool.strides": "[3, 2]",
	} {
		if flat[k] != v {
			t.Errorf("Flatten()[%q] = %q, want %q", k, flat[k], v)
		}
	}
	if len(flat) != 71 { // 64, export.savedmodel (written because it is off), features.precision and memory_budget_mib, conv2d use_bias, fine_tune_from, fine_tune ×2
		t.Errorf("Flatten() has %d leaves, want 71", len(flat))
	}

	// Each leaf, given back as an override, leaves the config unchanged.
	src, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range flat {
		got, err := Parse("full.yaml", src, []string{k + "=" + v})
		if err != nil {
			t.Errorf("override %s=%s: %v", k, v, err)
			continue
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("override %s=%s changed the config", k, v)
		}
	}

	// A changed setting shows up as exactly one differing leaf.
	c2, err := Parse("full.yaml", []byte(full), []string{"models.1.layers.0.conv2d.filters=64"})
	if err != nil {
		t.Fatal(err)
	}
	var diff []string
	for k, v := range c2.Flatten() {
		if flat[k] != v {
			diff = append(diff, k)
		}
	}
	if !reflect.DeepEqual(diff, []string{"models.1.layers.0.conv2d.filters"}) {
		t.Errorf("leaves that differ: %v", diff)
	}
}

func TestMethods(t *testing.T) {
	c, err := Parse("full.yaml", []byte(full), nil)
	if err != nil {
		t.Fatal(err)
	}
	transfer, scratch := c.Models[0], c.Models[1]
	if !transfer.Transfer() || scratch.Transfer() {
		t.Errorf("Transfer() = %v, %v; want true, false", transfer.Transfer(), scratch.Transfer())
	}
	if got := transfer.InputSize(c.Images); got != [2]int{200, 180} {
		t.Errorf("transfer InputSize = %v, want images.size", got)
	}
	if got := scratch.InputSize(c.Images); got != [2]int{64, 48} {
		t.Errorf("scratch InputSize = %v, want image_size", got)
	}
	if got := transfer.Layers[1].(*layers.Dense).Units.Resolve(101); got != 256 {
		t.Errorf("Resolve(units: 256) = %d", got)
	}
	if got := transfer.Layers[3].(*layers.Dense).Units.Resolve(101); got != 101 {
		t.Errorf("Resolve(units: classes) = %d, want 101", got)
	}
	if got := c.Train.Optimizer.Name(); got != "adam" {
		t.Errorf("Optimizer.Name() = %q", got)
	}
}

// TestDocListsEveryLayerKind keeps doc.go's list of layer kinds equal to
// what the kinds themselves declare (layerDoc), so a new kind, key or
// default cannot go undocumented.
func TestDocListsEveryLayerKind(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "// Layer types and their keys:\n//\n", "//\n"
	src := string(b)
	i := strings.Index(src, start)
	if i < 0 {
		t.Fatalf("doc.go has no %q section", strings.TrimSpace(start))
	}
	body := src[i+len(start):]
	body = body[:strings.Index(body, end)]
	var want strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(layerDoc(), "\n"), "\n") {
		want.WriteString("//\t" + line + "\n")
	}
	if body != want.String() {
		t.Errorf("doc.go's layer list is out of date; replace it with:\n%s", want.String())
	}
}

func TestGlobalAveragePooling2D(t *testing.T) {
	const src = `name: gap
data: {dir: d}
images: {size: [32, 32]}
models:
  - name: mobilenet_pool
    backbone: {savedmodel: savedmodels/mobilenet, endpoint: conv_pw_13_relu}
    layers:
      - global_average_pooling2d:
      - dense: {units: classes, activation: softmax}
  - name: scratch
    layers:
      - conv2d: {filters: 8, kernel_size: 3}
      - global_average_pooling2d: {}
      - dense: {units: classes, activation: softmax}
`
	c, err := Parse("g.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range c.Models {
		if _, ok := m.Layers[i].(*layers.GlobalAveragePooling2D); !ok {
			t.Errorf("models.%d.layers.%d = %T, want global_average_pooling2d", i, i, m.Layers[i])
		}
	}
	y, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "- global_average_pooling2d: {}\n") {
		t.Errorf("Marshal does not write the layer as `- global_average_pooling2d: {}`:\n%s", y)
	}
	again, err := Parse("again.yaml", y, nil)
	if err != nil {
		t.Fatal(err)
	}
	again.Path = c.Path
	if !reflect.DeepEqual(again, c) {
		t.Errorf("Marshal then Parse changed the config")
	}
	if got := c.Flatten()["models.1.layers.1.global_average_pooling2d"]; got != "{}" {
		t.Errorf("Flatten: %q, want {}", got)
	}

	for _, tc := range []struct{ set, want string }{
		{"models.0.layers.0.global_average_pooling2d.keepdims=true",
			"g.yaml:9: models.0.layers.1.dense: gets a 1×1×? input; add `- flatten: {}` before it: a Keras Dense would act on the last axis only"},
		{"models.1.layers.0={flatten: {}}",
			"g.yaml:13: models.1.layers.1.global_average_pooling2d: gets a 3072 input, not an image (height×width×channels): global_average_pooling2d goes before any flatten, on images or a backbone's spatial endpoint (such as block5_pool)"},
	} {
		_, err := Parse("g.yaml", []byte(src), []string{tc.set})
		if err == nil || err.Error() != tc.want {
			t.Errorf("-set %s: error\n%v\nwant\n%s", tc.set, err, tc.want)
		}
	}
}

// TestDocShowsTheSchema keeps doc.go's schema equal to the one the
// decoder, the checks and Marshal use (schemaDoc), so a new key, default
// or allowed value cannot go undocumented.
func TestDocShowsTheSchema(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	const start, end = "// defaults.go). Keys marked \"required\" have no default.\n//\n", "//\n"
	src := string(b)
	i := strings.Index(src, start)
	if i < 0 {
		t.Fatalf("doc.go has no schema section starting %q", start)
	}
	body := src[i+len(start):]
	body = body[:strings.Index(body, end)]
	var want strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(schemaDoc(), "\n"), "\n") {
		want.WriteString("//\t" + line + "\n")
	}
	if body != want.String() {
		t.Errorf("doc.go's schema is out of date; replace it with:\n%s", want.String())
	}
}

// batch_size takes a positive integer (8 by default) or "auto", and writes
// back what it read.
func TestBatchSizeAuto(t *testing.T) {
	for _, c := range []struct {
		set  []string
		want int
		text string
	}{{nil, 8, "batch_size: 8"}, {[]string{"features.batch_size=32"}, 32, "batch_size: 32"}, {[]string{"features.batch_size=auto"}, AutoBatch, "batch_size: auto"}} {
		cfg, err := Parse("t.yaml", []byte(minimal), c.set)
		if err != nil {
			t.Fatal(err)
		}
		b, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse("again.yaml", b, nil)
		if cfg.Features.BatchSize != c.want || !strings.Contains(string(b), c.text) || err != nil || again.Features.BatchSize != c.want {
			t.Errorf("%v: batch %d, marshalled %q, reparsed %v (%v)", c.set, cfg.Features.BatchSize, c.text, again, err)
		}
	}
}

// TestFineTune: a fine-tuned model's settings decode with their defaults,
// survive Marshal, and the
// three ways of half-configuring fine-tuning each fail at their key.
func TestFineTune(t *testing.T) {
	const head = "name: t\ndata: {dir: d}\ntrain: {early_stopping: {patience: 3}}\nmodels:\n  - name: m\n" // lines 1-5
	const top = "    layers:\n      - dense: {units: classes, activation: softmax}\n"
	src := head + "    backbone: {savedmodel: s, endpoint: global_pool, fine_tune_from: conv_pw_13}\n" +
		"    fine_tune: {epochs: 4, optimizer: {adam: {learning_rate: 1.0e-4}}}\n" + top
	c, err := Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Models[0]
	if !m.FineTuned() || m.Backbone.FineTuneFrom != "conv_pw_13" || m.FineTune.Epochs != 4 ||
		m.FineTune.Optimizer.Adam.LearningRate != 1e-4 || m.FineTune.Optimizer.Adam.Beta1 != 0.9 {
		t.Fatalf("fine-tuned model decoded as %+v %+v", m.Backbone, m.FineTune)
	}
	y, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("again.yaml", y, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	again.Path = c.Path
	if !reflect.DeepEqual(again, c) {
		t.Errorf("Marshal then Parse changed the config:\n%s", y)
	}

	for _, tc := range []struct{ src, want string }{
		{head + "    fine_tune: {epochs: 4}\n" + top,
			"t.yaml:6: models.0.fine_tune: only for a model with a backbone"},
		{head + "    backbone: {savedmodel: s, endpoint: global_pool}\n    fine_tune: {epochs: 4}\n" + top,
			"t.yaml:6: models.0.backbone: fine_tune needs backbone.fine_tune_from"},
		{head + "    backbone: {savedmodel: s, endpoint: global_pool, fine_tune_from: conv_pw_13}\n" + top,
			"t.yaml:6: models.0.backbone.fine_tune_from: needs the model's fine_tune settings"},
		{head + "    backbone: {savedmodel: s, endpoint: global_pool, fine_tune_from: conv_pw_13}\n    fine_tune: {epochs: 0}\n" + top,
			"t.yaml:7: models.0.fine_tune.epochs: want an integer >= 1, got 0"},
	} {
		_, err := Parse("t.yaml", []byte(tc.src), nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("error %v\nwant it to start %q", err, tc.want)
		}
	}
}

// export.formats is written only when set, so configs without it keep
// their hash and run folder. An unknown format is refused at its path.
func TestExportFormats(t *testing.T) {
	base, err := Parse("m.yaml", []byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("m.yaml", []byte(minimal), []string{"export.formats=[tflite, onnx]"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Export.Formats, []string{"tflite", "onnx"}) {
		t.Errorf("export.formats = %q, want [tflite onnx]", c.Export.Formats)
	}
	a, _ := base.Marshal()
	b, _ := c.Marshal()
	if bytes.Contains(a, []byte("formats")) || !bytes.Contains(b, []byte("formats: [tflite, onnx]")) && !bytes.Contains(b, []byte("formats:\n")) {
		t.Errorf("export.formats: marshalled at its default:\n%s\nset:\n%s", a, b)
	}
	_, err = Parse("m.yaml", []byte(minimal), []string{"export.formats=[tflite, coreml]"})
	if err == nil || !strings.Contains(err.Error(), `export.formats.1: want one of savedmodel, tflite, onnx, got "coreml"`) {
		t.Errorf("unknown format: %v", err)
	}
}

// TestTailLayerSettings: the kinds and settings fine-tuning rebuilds from
// modern backbones read from YAML in Keras' forms, and the settings added
// to existing kinds in form 5 are written only away from their defaults,
// so that configs without them keep their canonical form and hash.
func TestTailLayerSettings(t *testing.T) {
	const src = `name: tail
data: {dir: d}
models:
  - name: m
    image_size: [16, 16]
    layers:
      - zero_padding2d: {padding: 1}
      - zero_padding2d: {padding: [1, 2]}
      - zero_padding2d: {padding: [[0, 1], [2, 3]]}
      - conv2d: {filters: 3, kernel_size: 3, groups: 3, activation: gelu}
      - conv2d: {filters: 4, kernel_size: 1, groups: 1, activation: swish}
      - batch_normalization: {scale: false}
      - batch_normalization: {center: true}
      - layer_normalization: {epsilon: 1.0e-6}
      - dense: {units: 6, activation: hard_silu}
      - average_pooling2d: {pool_size: 3, strides: 1, padding: same}
      - global_average_pooling2d: {keepdims: true}
      - reshape: {target_shape: [-1]}
      - rescaling: {scale: 0.5, offset: 3}
      - layer_scale: {init_values: 1.0e-6, projection_dim: 6}
      - activation: {activation: sigmoid}
      - dense: {units: classes, activation: softmax}
`
	c, err := Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	ls := c.Models[0].Layers
	for i, want := range [][2][2]int{{{1, 1}, {1, 1}}, {{1, 1}, {2, 2}}, {{0, 1}, {2, 3}}} {
		if got := ls[i].(*layers.ZeroPadding2D).Padding; got != want {
			t.Errorf("zero_padding2d %d: padding %v, want %v", i, got, want)
		}
	}
	if bn := ls[5].(*layers.BatchNormalization); bn.Scale || !bn.Center {
		t.Errorf("batch_normalization {scale: false} = %+v", bn)
	}
	y, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"- zero_padding2d: {padding: [[1, 1], [2, 2]]}\n",
		"- conv2d: {filters: 3, kernel_size: [3, 3], strides: [1, 1], padding: valid, activation: gelu, use_bias: true, groups: 3}\n",
		"- conv2d: {filters: 4, kernel_size: [1, 1], strides: [1, 1], padding: valid, activation: swish, use_bias: true}\n",
		"- batch_normalization: {epsilon: 0.001, scale: false}\n",
		"- batch_normalization: {epsilon: 0.001}\n",
		"- global_average_pooling2d: {keepdims: true}\n",
		"- reshape: {target_shape: [-1]}\n",
	} {
		if !strings.Contains(string(y), want) {
			t.Errorf("Marshal: want %q in\n%s", want, y)
		}
	}
	again, err := Parse("again.yaml", y, nil)
	if err != nil {
		t.Fatal(err)
	}
	again.Path = c.Path
	if !reflect.DeepEqual(again, c) {
		t.Errorf("Marshal then Parse changed the config")
	}

	for _, tc := range []struct{ set, want string }{
		{"models.0.layers.3.conv2d.groups=2", "-set models.0.layers.3.conv2d.groups=2: models.0.layers.3.conv2d: groups = 2 on 3 input channels and 3 filters is not supported: only groups = 1, or groups = input channels = filters (a depthwise convolution)"},
		{"models.0.layers.0.zero_padding2d.padding=[[1]]", "-set models.0.layers.0.zero_padding2d.padding=[[1]]: models.0.layers.0.zero_padding2d.padding: want [[top, bottom], [left, right]], [rows, columns] or an integer, got a list"},
		{"models.0.layers.11.reshape.target_shape=[5]", "-set models.0.layers.11.reshape.target_shape=[5]: models.0.layers.11.reshape: gets a 1×1×6 input (6 values), which target_shape [5] cannot hold"},
		{"models.0.layers.13.layer_scale.projection_dim=4", "-set models.0.layers.13.layer_scale.projection_dim=4: models.0.layers.13.layer_scale: gets a 6 input; projection_dim 4 must be its last axis"},
		{"models.0.layers.14.activation.activation=elu", "-set models.0.layers.14.activation.activation=elu: models.0.layers.14.activation.activation: want one of gelu, hard_sigmoid, hard_silu, hard_swish, linear, relu, relu6, sigmoid, silu, softmax, swish, tanh; got \"elu\""},
	} {
		_, err := Parse("t.yaml", []byte(src), []string{tc.set})
		if err == nil || err.Error() != tc.want {
			t.Errorf("-set %s: error\n%v\nwant\n%s", tc.set, err, tc.want)
		}
	}
}
