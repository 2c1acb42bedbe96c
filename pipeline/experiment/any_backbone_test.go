package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/predict"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// anyBackboneChild marks the process TestAnyBackbone runs its work in.
const anyBackboneChild = "GOTRANSFER_TEST_ANY_BACKBONE_CHILD"

// anyBackboneConfig is a short run on 12 generated images with a frozen
// Dense top on each backbone given as YAML backbone maps.
func anyBackboneConfig(t *testing.T, root string, export bool, backbones map[string]string) *config.Config {
	t.Helper()
	var models strings.Builder
	for name, bb := range backbones {
		fmt.Fprintf(&models, "  - name: %s\n    backbone: %s\n    layers:\n      - dense: {units: classes, activation: softmax}\n", name, bb)
	}
	yaml := fmt.Sprintf(`
name: any-backbone
seed: 3
runs_dir: %[1]s/runs
data:
  dir: %[1]s/data
  split: {train: 0.5, val: 0.25, test: 0.25}
images: {size: [40, 48]}
features: {cache_dir: %[1]s/cache, batch_size: 4}
train: {batch_size: 4, epochs: 2}
export: {savedmodel: %[2]t}
models:
%[3]s`, root, export, models.String())
	cfg, err := config.Parse("any.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	return cfg
}

// TestAnyBackbone runs a frozen top on every backbone set-up exports for
// the tests: each keras.applications architecture of
// scripts/test_backbones.txt (random weights) at its pooled feature
// vector, a user's .keras file exported with --keras, Keras'
// model.export() of ResNet50 and a tf.saved_model.save module taking uint8
// pixels of a dynamic size (both without metadata.json). Every model
// computes its features and trains; results.md names each plain
// SavedModel's folder and its files' fingerprint. The uint8 model's
// export, at the end of its run, predicts what the run's model predicts.
//
// It runs in a process of its own: eleven models leave this one's resident
// memory at gigabytes (the allocator keeps what TensorFlow freed), which
// the tests after it that measure memory (TestAutoBatchChosen) would count.
func TestAnyBackbone(t *testing.T) {
	if os.Getenv(anyBackboneChild) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAnyBackbone$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), anyBackboneChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestAnyBackbone") {
			t.Fatalf("TestAnyBackbone in its own process: %v\n%s", err, out)
		}
		return
	}
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 4, 7)
	bbs := map[string]string{}
	for _, arch := range testenv.AppArchitectures(t) {
		dir := testenv.App(t, arch)
		var meta struct {
			Feature string `json:"feature_endpoint"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		if err != nil || meta.Feature == "" {
			t.Fatalf("%s: metadata.json: %v, feature_endpoint %q", dir, err, meta.Feature)
		}
		bbs[arch] = fmt.Sprintf("{savedmodel: %s, endpoint: %s}", dir, meta.Feature)
	}
	bbs["user-cnn"] = fmt.Sprintf("{savedmodel: %s, endpoint: features}", testenv.App(t, "user-cnn"))
	resnet := testenv.App(t, "resnet50-export")
	bbs["resnet50-export"] = fmt.Sprintf("{savedmodel: %s, endpoint: serving_default, preprocess: caffe}", resnet)

	// Without backbone.preprocess the run stops before any work, naming
	// the model, the key and its choices.
	_, _, err := runResult(t, anyBackboneConfig(t, root, false, map[string]string{
		"plain": fmt.Sprintf("{savedmodel: %s, endpoint: serving_default}", resnet)}))
	for _, want := range []string{"model plain", resnet, "backbone.preprocess: required", "caffe, tf, torch, none"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no backbone.preprocess: error %v does not mention %q", err, want)
		}
	}

	res, log, err := runResult(t, anyBackboneConfig(t, root, false, bbs))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if len(res.Models) != len(bbs) {
		t.Fatalf("%d models ran, want %d", len(res.Models), len(bbs))
	}
	for _, m := range res.Models {
		if m.Cache.Computed != 12 || len(m.Phases) != 1 || m.Phases[0].Trained != 2 {
			t.Errorf("model %s: cache %+v, phases %+v: want 12 images' features computed and 2 epochs", m.Name, m.Cache, m.Phases)
		}
	}
	results, err := os.ReadFile(filepath.Join(res.Dir, rundir.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(results), resnet) || !strings.Contains(string(results), "no metadata.json says where they came from; files sha256") {
		t.Errorf("results.md does not name %s and its files' fingerprint:\n%s", resnet, results)
	}

	// uint8 pixels, a dynamic size (images.size), an output named among
	// two; exported at the end of the run.
	u8 := testenv.App(t, "uint8-module")
	res, log, err = runResult(t, anyBackboneConfig(t, root, true, map[string]string{
		"uint8": fmt.Sprintf("{savedmodel: %s, endpoint: serving_default/features, preprocess: none}", u8),
	}))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	run, err := predict.Open(res.Dir, "uint8")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if pl := run.Plan; pl.Input.Height != 40 || pl.Input.Width != 48 || pl.Backbone.Plain == nil || pl.Backbone.Plain.Preprocess != "none" {
		t.Errorf("plan: input %+v, backbone %+v", pl.Input, pl.Backbone)
	}
	exp, err := predict.OpenSavedModel(filepath.Join(rundir.Model(res.Dir, "uint8"), rundir.SavedModelDir))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	paths, _, err := predict.ListImages([]string{filepath.Join(root, "data")}, []string{".png", ".jpg"})
	if err != nil || len(paths) != 12 {
		t.Fatalf("%d images, %v", len(paths), err)
	}
	worst := 0.0
	for _, p := range paths {
		a, err := run.Predict(p, 3)
		if err != nil {
			t.Fatal(err)
		}
		b, err := exp.Predict(p, 3)
		if err != nil {
			t.Fatal(err)
		}
		pb := map[string]float64{}
		for _, x := range b {
			pb[x.Class] = x.Prob
		}
		for _, x := range a {
			worst = max(worst, math.Abs(x.Prob-pb[x.Class]))
		}
	}
	if worst > 1e-5 {
		t.Errorf("uint8 backbone: run and export differ by %g, want ≤ 1e-5", worst)
	}
}
