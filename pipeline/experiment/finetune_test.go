package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/shard"
	"github.com/gotransfer/gotransfer/pipeline/tensorboard"
)

// fineTuneConfig is one model fine-tuned from the tiny backbone's
// block5_conv1 (block 5, fc1 and fc2 train in phase 2).
func fineTuneConfig(t *testing.T, root, savedmodel string, extra ...string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("ft.yaml", []byte(fmt.Sprintf(`
name: ft
seed: 3
runs_dir: %[1]s/runs
data: {dir: %[1]s/data, split: {train: 0.6, val: 0.2, test: 0.2}}
features: {cache_dir: %[1]s/cache}
train: {batch_size: 8, epochs: 2}
models:
  - name: tuned
    backbone: {savedmodel: %[2]s, endpoint: fc2, fine_tune_from: block5_conv1}
    fine_tune: {epochs: 3, optimizer: {adam: {learning_rate: 1.0e-4}}}
    layers: [{dense: {units: classes, activation: softmax}}]
`, root, savedmodel)), extra)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestFineTuneTwoPhasesAndResume: the new top trains on the frozen
// backbone layers first (they keep the SavedModel's weights), then the
// layers from the cut train with it; the history holds both phases; an
// interrupt in the second phase resumes there and ends byte-identical to
// an uninterrupted run.
func TestFineTuneTwoPhasesAndResume(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 4)
	tiny := testenv.SavedModel(t, "tiny")
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "fine-tune: epoch 2/3") {
			cancel()
		}
		return log.Write(p)
	})
	res, err := Run(ctx, fineTuneConfig(t, root, tiny), Options{Log: w, Progress: &log})
	if err == nil {
		t.Fatalf("interrupted run returned no error\n%s", log.String())
	}
	dir := res.Dir
	res2, log2, err := runResult(t, fineTuneConfig(t, root, tiny))
	if err != nil {
		t.Fatalf("%v\n%s", err, log2)
	}
	want := []PhaseResult{{Name: rundir.TrainDir, Resumed: 2}, {Name: rundir.FineTuneDir, Resumed: 2, Trained: 1}}
	if tuned := res2.Models[0]; res2.Dir != dir || !slices.Equal(tuned.Phases, want) {
		t.Errorf("did not resume the second phase: %+v, want %+v", tuned.Phases, want)
	}
	if f := res2.Models[0].Features; f != "block4_pool" {
		t.Errorf("features cached at %s, not at the cut's input (block4_pool)", f)
	}

	fresh := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(fresh, "data"), 3, 10, 4)
	dir3, _, err := run(t, fineTuneConfig(t, fresh, tiny))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := os.ReadFile(filepath.Join(dir, "models/tuned/history.csv"))
	h3, _ := os.ReadFile(filepath.Join(dir3, "models/tuned/history.csv"))
	if !bytes.Equal(h, h3) {
		t.Errorf("resumed history\n%s\nuninterrupted\n%s", h, h3)
	}
	var phases []string
	for _, line := range strings.Split(strings.TrimSpace(string(h)), "\n")[1:] {
		phases = append(phases, line[strings.LastIndex(line, ",")+1:])
	}
	if want := []string{"train", "train", "fine_tune", "fine_tune", "fine_tune"}; !slices.Equal(phases, want) {
		t.Errorf("history phases %v, want %v:\n%s", phases, want, h)
	}
	md, _ := os.ReadFile(filepath.Join(dir, rundir.ResultsFile))
	if !strings.Contains(string(md), "| 3 (fine-tune)") || !strings.Contains(string(md), "fine-tuned from block5_conv1") {
		t.Errorf("results.md does not show the fine-tuning phase:\n%s", md)
	}
	var metrics struct {
		Models []struct {
			History []struct {
				Phase        string  `json:"phase"`
				LearningRate float64 `json:"learning_rate"`
			} `json:"history"`
		} `json:"models"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, rundir.MetricsFile))
	if err := json.Unmarshal(b, &metrics); err != nil || len(metrics.Models[0].History) != 5 || metrics.Models[0].History[4].Phase != "fine_tune" {
		t.Errorf("metrics.json history: %v %+v", err, metrics)
	}
	// Each phase's own learning rate, per epoch, in the history and in
	// TensorBoard (which showed phase 1's during phase 2).
	tbTrain := filepath.Join(rundir.TensorBoard(dir, "tuned"), tensorboard.TrainDir)
	lr := map[int]float64{}
	for _, p := range testenv.TensorBoard(t, tbTrain)[tbTrain].Scalars[tensorboard.TagLearningRate] {
		lr[int(p[0])] = p[1]
	}
	for i, e := range metrics.Models[0].History {
		want := float64(float32(0.001))
		if e.Phase == "fine_tune" {
			want = float64(float32(1e-4))
		}
		if e.LearningRate != want {
			t.Errorf("epoch %d (%s): learning rate %v, want %v", i+1, e.Phase, e.LearningRate, want)
		}
		if got, ok := lr[i]; !ok || got != want {
			t.Errorf("epoch %d (%s): TensorBoard's epoch_learning_rate %v (written: %v), want %v", i+1, e.Phase, got, ok, want)
		}
	}

	// Phase 1 leaves the backbone's layers as the SavedModel has them;
	// phase 2 changes them (both the conv and fc layers).
	meta, _ := backbone.ReadMetadata(tiny)
	tail, err := meta.TailFor("block5_conv1", "fc2")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := backbone.ReadTail(tiny, tail)
	if err != nil {
		t.Fatal(err)
	}
	mdir := rundir.Model(dir, "tuned")
	for _, name := range []string{"block5_conv1/kernel", "fc1/bias", "fc2/kernel"} {
		read := func(prefix string) []float32 {
			v, err := backbone.ReadWeights(prefix, []string{name}, [][]int{nil})
			if err != nil {
				t.Fatalf("%s %s: %v", prefix, name, err)
			}
			return v[0]
		}
		p1 := read(filepath.Join(mdir, rundir.TrainDir, rundir.LastCheckpoint))
		p2 := read(filepath.Join(mdir, rundir.Weights))
		if !slices.Equal(p1, orig[name]) {
			t.Errorf("%s changed in phase 1 (the backbone's layers are frozen then)", name)
		}
		if slices.Equal(p2, orig[name]) {
			t.Errorf("%s did not change in phase 2", name)
		}
	}
}

// TestFineTuneBadInput: a layer the backbone does not allow, a cut at or
// above the endpoint, and an export from before fine-tuning each stop the
// run before any work, naming the model, the key and what to do.
func TestFineTuneBadInput(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	tiny := testenv.SavedModel(t, "tiny")
	old := copyBackbone(t, tiny, filepath.Join(root, "tiny-old"))
	var meta map[string]any
	b, _ := os.ReadFile(filepath.Join(old, "metadata.json"))
	json.Unmarshal(b, &meta)
	delete(meta, "fine_tune")
	b, _ = json.Marshal(meta)
	os.Chmod(filepath.Join(old, "metadata.json"), 0o644)
	if err := os.WriteFile(filepath.Join(old, "metadata.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		savedmodel string
		set        []string
		want       []string
	}{
		{tiny, []string{"models.0.backbone.fine_tune_from=block9_conv1"}, []string{"model tuned", "backbone.fine_tune_from \"block9_conv1\"", "not a cut the export offers", "valid cuts: block5_conv1, block4_conv1"}},
		// Inside a residual block's branch: not one tensor every path goes through.
		{testenv.App(t, "ResNet50"), []string{"models.0.backbone.endpoint=avg_pool", "models.0.backbone.fine_tune_from=conv5_block3_2_conv"},
			[]string{"model tuned", "not a cut the export offers", "a layer inside a block's branches is not", "valid cuts: conv5_block3_1_conv, conv5_block2_1_conv"}},
		{tiny, []string{"models.0.backbone.endpoint=block4_pool", "models.0.layers=[{flatten: {}}, {dense: {units: classes, activation: softmax}}]"},
			[]string{"model tuned", "fine_tune_from block5_conv1 is at or above endpoint block4_pool"}},
		{old, nil, []string{"model tuned", old, "no fine_tune section", "rerun set-up (make setup)"}},
	} {
		res, log, err := runResult(t, fineTuneConfig(t, root, tc.savedmodel, tc.set...))
		if err == nil {
			t.Errorf("%v: ran\n%s", tc.set, log)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not say %q", tc.set, err, w)
			}
		}
		noModelWork(t, res)
	}
}

// TestFineTuneShardedFeatures: shards cache a fine-tuned model's features
// at its cut's input, and a run with Options.Shards trains on them without
// computing any.
func TestFineTuneShardedFeatures(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 6)
	cfg := fineTuneConfig(t, root, testenv.SavedModel(t, "tiny"), "models.0.fine_tune.epochs=1", "train.epochs=1")
	for i := range 2 {
		var log bytes.Buffer
		res, err := Features(context.Background(), cfg, shard.Shard{Index: i, Count: 2}, Options{Log: &log, Progress: &log})
		if err != nil {
			t.Fatalf("shard %d/2: %v\n%s", i, err, log.String())
		}
		if m := res.Models[0]; m.Features != "block4_pool" || m.Cache.Computed != res.Data.Images || res.Data.Images != 15 {
			t.Errorf("shard %d/2: features %s %+v for %d images; want block4_pool (the cut's input), computed for the shard's 15", i, m.Features, m.Cache, res.Data.Images)
		}
	}
	var log bytes.Buffer
	res, err := Run(context.Background(), cfg, Options{Log: &log, Progress: &log, Shards: 2})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if m := res.Models[0]; res.Shards != 2 || m.Cache != (CacheCounts{Cached: 30}) {
		t.Errorf("the run did not train on the shards' features: %d shards checked, features %+v", res.Shards, m.Cache)
	}
}

// copyBackbone copies the export in dir to to, for a test that breaks
// the copy, and returns to.
func copyBackbone(t *testing.T, dir, to string) string {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return to
}
