package predict

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

func TestPredictMatchesEvaluation(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 4)
	cfg, err := config.Parse("p.yaml", []byte(fmt.Sprintf(`
name: p
runs_dir: %[1]s/runs
data: {dir: %[1]s/data, split: {train: 0.6, val: 0.2, test: 0.2}}
features: {cache_dir: %[1]s/cache}
train: {batch_size: 8, epochs: 2}
models:
  - name: top
    backbone: {savedmodel: %[2]s, endpoint: fc2}
    layers: [{dense: {units: classes, activation: softmax}}]
  - name: scratch
    image_size: [12, 12]
    layers: [{flatten: {}}, {dense: {units: classes, activation: softmax}}]
`, root, testenv.SavedModel(t, "tiny"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res, err := experiment.Run(context.Background(), cfg, experiment.Options{Log: &log, Progress: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	dir := res.Dir
	run, err := report.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"top", "scratch"} {
		p, err := Open(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(root, "data", "class_1", "img_003.JPG")
		preds, err := p.Predict(img, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(preds) != 3 {
			t.Fatalf("%d predictions, want 3", len(preds))
		}
		sum := 0.0
		for i, pr := range preds {
			sum += pr.Prob
			if i > 0 && pr.Prob > preds[i-1].Prob {
				t.Errorf("predictions not sorted: %v", preds)
			}
		}
		if sum < 0.999 || sum > 1.001 {
			t.Errorf("%s: probabilities of all 3 classes sum to %v", name, sum)
		}
		// The single-image path agrees with the run's batch evaluation:
		// predicting every test image gives the same test accuracy.
		ds, err := dataset.ReadManifest(filepath.Join(dir, rundir.ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		hits, n := 0, 0
		for _, e := range ds.Split(dataset.Test) {
			pr, err := p.Predict(e.Path, 1)
			if err != nil {
				t.Fatal(err)
			}
			if pr[0].Class == e.Class {
				hits++
			}
			n++
		}
		var want float64
		for _, m := range run.Models {
			if m.Name == name {
				want = m.Test.Accuracy
			}
		}
		if got := float64(hits) / float64(n); got != want {
			t.Errorf("%s: accuracy of single-image predictions %.4f, run's test accuracy %.4f", name, got, want)
		}
		_, err = p.Predict(filepath.Join(root, "missing.png"), 3)
		if err == nil || !strings.Contains(err.Error(), "missing.png") {
			t.Errorf("missing image: %v", err)
		}
		bad := filepath.Join(root, "bad.jpg")
		os.WriteFile(bad, []byte("junk"), 0o644)
		if _, err = p.Predict(bad, 3); err == nil || !strings.Contains(err.Error(), "bad.jpg") {
			t.Errorf("undecodable image: %v", err)
		}
		// Issue 8, item 9: good, bad, good: every image is predicted,
		// each failure is reported, and the call fails at the end.
		var out, errs bytes.Buffer
		good := filepath.Join(root, "data", "class_0", "img_000.png")
		err = PredictAll(p, []string{good, bad, img}, 2, &out, &errs)
		if err == nil || !strings.Contains(err.Error(), "1 of 3") {
			t.Errorf("%s: good, bad, good: error %v; want one saying 1 of 3 failed", name, err)
		}
		if !strings.Contains(out.String(), good) || !strings.Contains(out.String(), img) {
			t.Errorf("%s: good images after a bad one were not predicted:\n%s", name, out.String())
		}
		if !strings.Contains(errs.String(), "bad.jpg") {
			t.Errorf("%s: the bad image's failure is not reported: %q", name, errs.String())
		}
		// Issue 8, item 1: diverged weights give NaN probabilities, which
		// predict refuses rather than rank.
		w, err := p.net.Weights()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range w {
			for i := range v {
				v[i] = float32(math.NaN())
			}
		}
		if err := p.net.SetWeights(w); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Predict(img, 3); err == nil || !strings.Contains(err.Error(), "non-finite") {
			t.Errorf("%s: NaN weights: Predict gave %v; want a non-finite error", name, err)
		}
		p.Close()
	}
	if _, err := Open(dir, "nope"); err == nil || !strings.Contains(err.Error(), "top") {
		t.Errorf("unknown model: %v", err)
	}
}
