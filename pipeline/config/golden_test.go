package config

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/errors.golden from today's messages")

// badConfigs are configs with every kind of mistake a user makes: unknown
// keys, values of the wrong type for every leaf type of the keys and of
// the layer settings, values out of range, bad layers and bad overrides.
// TestErrorsGolden keeps their messages exactly as recorded.
var badConfigs = []struct {
	name string
	src  string
	set  []string
}{
	{"unknown top key", minimal + "epocs: 3\n", nil},
	{"unknown section key", minimal + "images: {sise: [1, 2]}\n", nil},
	{"unknown adam key", minimal + "train:\n  optimizer:\n    adam: {lr: 0.1}\n", nil},
	{"unknown early stopping key", minimal + "train:\n  early_stopping: {monitr: loss}\n", nil},
	{"unknown model key", strings.Replace(minimal, "  - name: m\n", "  - name: m\n    backbon: {}\n", 1), nil},
	{"unknown backbone key", strings.Replace(minimal, "  - name: m\n", "  - name: m\n    backbone: {savedmodel: s, endpoint: e, cut: x}\n", 1), nil},
	{"unknown fine_tune key", strings.Replace(minimal, "  - name: m\n", "  - name: m\n    fine_tune: {epoch: 3}\n", 1), nil},
	{"string wants scalar", minimal + "runs_dir: [a]\n", nil},
	{"int64 wants integer", minimal + "seed: x\n", nil},
	{"int wants integer", minimal + "  max_per_class: 1.5\n", nil},
	{"float wants number", minimal + "  split: {train: a, val: 0.1, test: 0.1}\n", nil},
	{"bool wants bool", minimal + "images: {divide_by_255: 1}\n", nil},
	{"strings want list", minimal + "  extensions: .jpg\n", nil},
	{"strings item", minimal + "  exclude: [a, [b]]\n", nil},
	{"size wants pair", minimal + "images: {size: 3}\n", nil},
	{"size list of 3", minimal + "images: {size: [1, 2, 3]}\n", nil},
	{"size item", minimal + "images: {size: [1, 2.5]}\n", nil},
	{"size zero", minimal + "images: {size: [0, 2]}\n", nil},
	{"batch size", minimal + "features: {batch_size: -1}\n", nil},
	{"batch size map", minimal + "features: {batch_size: {a: 1}}\n", nil},
	{"image size", strings.Replace(minimal, "  - name: m\n", "  - name: m\n    image_size: 32\n", 1), nil},
	{"image size zero", strings.Replace(minimal, "  - name: m\n", "  - name: m\n    image_size: [0, 32]\n", 1), nil},
	{"layer int", minimal + "", []string{"models.0.layers.0={conv2d: {filters: x, kernel_size: 3}}"}},
	{"layer float", minimal, []string{"models.0.layers.0={dropout: {rate: high}}"}},
	{"layer string", minimal, []string{"models.0.layers.0.dense.activation=[relu]"}},
	{"layer bool", minimal, []string{"models.0.layers.0.dense.use_bias=yes"}},
	{"layer pair", minimal, []string{"models.0.layers.0={max_pool: {pool_size: [2, x]}}"}},
	{"layer pair map", minimal, []string{"models.0.layers.0={max_pool: {pool_size: {a: 1}}}"}},
	{"layer units", minimal, []string{"models.0.layers.0.dense.units=all"}},
	{"layer enum", minimal, []string{"models.0.layers.0.dense.activation=elu"}},
	{"layer settings not a map", minimal, []string{"models.0.layers.0.dense=3"}},
	{"layer range", "name: t\ndata: {dir: d}\nmodels:\n  - name: m\n    layers:\n" +
		"      - conv2d: {filters: 0, kernel_size: [0, 3], strides: -1}\n" +
		"      - depthwise_conv2d: {kernel_size: 3, depth_multiplier: 0}\n" +
		"      - batch_normalization: {epsilon: 0}\n" +
		"      - relu: {max_value: 5}\n" +
		"      - max_pool: {pool_size: 0}\n" +
		"      - global_average_pooling2d:\n" +
		"      - dense: {units: classes, activation: softmax}\n", nil},
	{"layer shapes", "name: t\ndata: {dir: d}\nimages: {size: [8, 8]}\nmodels:\n  - name: m\n    layers:\n" +
		"      - conv2d: {filters: 4, kernel_size: 9}\n      - flatten:\n      - dense: {units: classes, activation: softmax}\n", nil},
	{"unknown layer", minimal, []string{"models.0.layers.0={dens: {}}"}},
	{"out of range", minimal + "seed: 1\ntrain:\n  epochs: 0\n  batch_size: 0\n  optimizer:\n    adam: {learning_rate: -1, beta_1: 1, beta_2: 2, epsilon: 0}\n" +
		"  early_stopping: {monitor: loss, patience: -1, min_delta: -0.5}\nevaluate: {top_k: 0}\npredict: {top_k: 0}\n" +
		"features: {memory_budget_mib: 0, cache_dir: \"\"}\nimages: {workers: -2}\n", nil},
	{"enums", minimal + "  download: imagenet\n  on_bad_image: ignore\nimages: {preprocess: keras}\ntrain: {loss: mse}\n", nil},
	{"fine tune without backbone", strings.Replace(minimal, "  - name: m\n", "  - name: m\n    fine_tune: {epochs: 2}\n", 1), nil},
	{"fine tune without from", strings.Replace(minimal, "  - name: m\n", "  - name: m\n    backbone: {savedmodel: s, endpoint: e}\n    fine_tune: {epochs: 0}\n", 1), nil},
	{"from without fine tune", strings.Replace(minimal, "  - name: m\n", "  - name: m\n    backbone: {savedmodel: s, endpoint: e, fine_tune_from: b}\n", 1), nil},
	{"backbone preprocess", strings.Replace(minimal, "  - name: m\n", "  - name: m\n    backbone: {savedmodel: s, endpoint: e, preprocess: bgr}\n", 1), nil},
	{"optimizer not a map", minimal + "train: {optimizer: adam}\n", nil},
	{"export wants bool", minimal + "export: {savedmodel: no}\n", nil},
	{"set no equals", minimal, []string{"seed"}},
	{"set bad value", minimal, []string{"seed={"}},
	{"set several", minimal, []string{"train.epochs=x", "images.size=[1]", "models.0.layers.0.dense.units=-3"}},
	{"file and set", minimal + "seed: x\n", []string{"evaluate.top_k=0", "data.split.val=2"}},
}

// TestErrorsGolden parses each bad config and compares the whole error
// with the message recorded in testdata/errors.golden (go test -update
// rewrites it): a change to decoding that makes any message vaguer, or
// loses one, fails here.
func TestErrorsGolden(t *testing.T) {
	var b strings.Builder
	for _, tc := range badConfigs {
		_, err := Parse("bad.yaml", []byte(tc.src), tc.set)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		fmt.Fprintf(&b, "== %s\n%s\n", tc.name, err)
	}
	const golden = "testdata/errors.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("messages differ from %s:\n%s", golden, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines of want and got that differ, by position.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var x, y string
		if i < len(w) {
			x = w[i]
		}
		if i < len(g) {
			y = g[i]
		}
		if x != y {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, x, y)
		}
	}
	return b.String()
}

// hashOverrides are applied to each shipped config in TestRunFolderHashes,
// one at a time, besides none.
var hashOverrides = [][]string{
	nil,
	{"export.savedmodel=false"},
	{"export.savedmodel=true"},
	{"train.epochs=3", "seed=7"},
	{"features.batch_size=auto", "features.precision=auto"},
	{"train.early_stopping={monitor: loss}"},
	{"data.exclude=[a, b]", "data.max_per_class=20"},
	{"models.0.name=other", "evaluate.top_k=1"},
}

// everyLayer uses every layer kind with most settings away from their
// defaults.
const everyLayer = `name: layers
data: {dir: d}
images: {size: [32, 32]}
models:
  - name: m
    image_size: [40, 36]
    layers:
      - conv2d: {filters: 8, kernel_size: [3, 2], strides: 2, padding: same, activation: relu, use_bias: false}
      - batch_normalization: {epsilon: 0.01}
      - relu: {max_value: 6}
      - depthwise_conv2d: {kernel_size: 3, strides: [1, 2], padding: same, depth_multiplier: 2, activation: relu, use_bias: false}
      - max_pool: {pool_size: 2, strides: 1}
      - dropout: {rate: 0.2}
      - global_average_pooling2d:
      - dense: {units: 16, activation: relu, use_bias: false}
      - dense: {units: classes, activation: softmax}
  - name: n
    backbone: {savedmodel: s, endpoint: e, fine_tune_from: b}
    fine_tune: {epochs: 3, optimizer: {adam: {learning_rate: 0.0001, epsilon: 0.001}}}
    layers:
      - flatten:
      - dense: {units: classes, activation: softmax}
`

// TestRunFolderHashes pins the SHA-256 of the effective config (what names
// a run folder, see rundir.For) of every shipped config, alone and with
// overrides, and of the test configs: a change to Marshal that moves one
// would orphan existing run folders.
func TestRunFolderHashes(t *testing.T) {
	paths, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no shipped configs: %v", err)
	}
	var b strings.Builder
	sum := func(name string, cfg *Config) {
		y, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(y)
		fmt.Fprintf(&b, "%s %s\n", hex.EncodeToString(h[:]), name)
	}
	for _, p := range paths {
		for _, set := range hashOverrides {
			cfg, err := Load(p, set)
			if err != nil {
				t.Fatal(err)
			}
			sum(filepath.Base(p)+" "+strings.Join(set, " "), cfg)
		}
	}
	for _, tc := range []struct{ name, src string }{{"full", full}, {"minimal", minimal}, {"every layer", everyLayer}} {
		cfg, err := Parse("t.yaml", []byte(tc.src), nil)
		if err != nil {
			t.Fatal(err)
		}
		sum(tc.name, cfg)
	}
	const golden = "testdata/hashes.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("run-folder hashes moved (old run folders would be orphaned):\n%s", lineDiff(string(want), got))
	}
}
