package experiment

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// TestLRFindBothPhases: the range test of a fine-tuned model runs for the
// top and for the fine-tuning phase (after the top trained as
// configured), writes a plot and a CSV for each, and leaves the run
// folder alone; an unknown -model is named with the models there are.
func TestLRFindBothPhases(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 8, 1)
	cfg := fineTuneConfig(t, root, testenv.SavedModel(t, "tiny"))
	res, err := LRFind(context.Background(), cfg, "", 20, Options{Log: io.Discard, Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Phases) != 2 || res.Phases[0].Name != rundir.TrainDir || res.Phases[1].Name != rundir.FineTuneDir {
		t.Fatalf("phases %+v", res.Phases)
	}
	for _, p := range res.Phases {
		if len(p.Curve.Rates) == 0 || !(p.Curve.Steep > 0) || !(p.Curve.Minimum > 0) {
			t.Errorf("%s: curve of %d steps, suggestions %g, %g", p.Name, len(p.Curve.Rates), p.Curve.Steep, p.Curve.Minimum)
		}
		for _, f := range []string{p.Plot, p.CSV} {
			if st, err := os.Stat(f); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	if res.Phases[1].Configured != 1e-4 {
		t.Errorf("fine-tuning's configured rate %g, want 1e-4", res.Phases[1].Configured)
	}
	run, _, err := rundir.For(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(run); err == nil {
		t.Errorf("lr-find made the run folder %s", run)
	}
	_, err = LRFind(context.Background(), cfg, "nope", 20, Options{Log: io.Discard, Progress: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "-model nope") || !strings.Contains(err.Error(), "tuned") {
		t.Errorf("unknown model: %v", err)
	}
}

// TestLRFindLoadsOnlyItsBackbone: lr-find -model loads the backbone of
// that model alone. The config's other model has a backbone whose
// weights are missing (its metadata is fine, so the config plans; loading
// it fails): the range test of the first model runs, that of the other
// fails on its backbone.
func TestLRFindLoadsOnlyItsBackbone(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 8, 1)
	tiny := testenv.SavedModel(t, "tiny")
	broken := copyBackbone(t, tiny, filepath.Join(root, "broken"))
	if err := os.RemoveAll(filepath.Join(broken, "variables")); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("two.yaml", []byte(fmt.Sprintf(`
name: two
seed: 3
runs_dir: %[1]s/runs
data: {dir: %[1]s/data, split: {train: 0.6, val: 0.2, test: 0.2}}
features: {cache_dir: %[1]s/cache}
train: {batch_size: 8, epochs: 2}
models:
  - name: good
    backbone: {savedmodel: %[2]s, endpoint: fc2}
    layers: [{dense: {units: classes, activation: softmax}}]
  - name: other
    backbone: {savedmodel: %[3]s, endpoint: fc2}
    layers: [{dense: {units: classes, activation: softmax}}]
`, root, tiny, broken)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LRFind(context.Background(), cfg, "good", 20, Options{Log: io.Discard, Progress: io.Discard}); err != nil {
		t.Errorf("-model good: %v", err)
	}
	if _, err := LRFind(context.Background(), cfg, "other", 20, Options{Log: io.Discard, Progress: io.Discard}); err == nil || !strings.Contains(err.Error(), "model other") {
		t.Errorf("-model other (its backbone has no weights): %v, want its backbone's error", err)
	}
}
