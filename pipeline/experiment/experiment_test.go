package experiment

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/plan"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/tensorboard"
)

// testConfig is a small two-model experiment on generated images and the
// tiny backbone: the shape of the notebook's comparison in seconds.
func testConfig(t *testing.T, root string, extra ...string) *config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
name: small
seed: 5
runs_dir: %[1]s/runs
data:
  dir: %[1]s/data
  split: {train: 0.6, val: 0.2, test: 0.2}
features:
  cache_dir: %[1]s/cache
  batch_size: 8
train:
  batch_size: 8
  epochs: 3
models:
  - name: top
    backbone: {savedmodel: %[2]s, endpoint: fc2}
    layers:
      - dense: {units: 16, activation: relu}
      - dropout: {rate: 0.2}
      - dense: {units: classes, activation: softmax}
  - name: scratch
    image_size: [16, 16]
    layers:
      - conv2d: {filters: 4, kernel_size: 3, activation: relu}
      - max_pool: {pool_size: 2}
      - flatten: {}
      - dense: {units: classes, activation: softmax}
`, root, testenv.SavedModel(t, "tiny"))
	cfg, err := config.Parse("test.yaml", []byte(yaml), extra)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// run runs cfg and returns its run folder ("" when it got no folder) and log.
func run(t *testing.T, cfg *config.Config) (string, string, error) {
	t.Helper()
	res, log, err := runResult(t, cfg)
	return res.Dir, log, err
}

// noModelWork fails t if the run of res cached features or pixels or
// trained any model.
func noModelWork(t *testing.T, res *Result) {
	t.Helper()
	for _, m := range res.Models {
		if m.Cache != (CacheCounts{}) || m.Phases != nil {
			t.Errorf("model %s: cache %+v, phases %+v: model work ran before the check", m.Name, m.Cache, m.Phases)
		}
	}
}

// runResult runs cfg and returns its Result (never nil: empty when Run
// returned none) and log.
func runResult(t *testing.T, cfg *config.Config) (*Result, string, error) {
	t.Helper()
	var log bytes.Buffer
	res, err := Run(context.Background(), cfg, Options{Log: &log, Progress: &log})
	if res == nil {
		res = &Result{}
	}
	return res, log.String(), err
}

var metricsFiles = []string{
	rundir.MetricsFile, rundir.ResultsFile, rundir.ManifestFile,
	"models/top/history.csv", "models/top/confusion.csv", "models/top/per_class.csv",
	"models/scratch/history.csv", "models/scratch/confusion.csv",
	rundir.HistoryPlot, rundir.SamplesPlot, "models/top/" + rundir.ConfusionPlot,
}

func TestRunEndToEndAndDeterministic(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	res, log, err := runResult(t, testConfig(t, root))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	dir := res.Dir
	r, err := report.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Models) != 2 || len(r.Models[0].History) != 3 || r.Models[0].Test == nil || r.Models[1].Test == nil {
		t.Fatalf("report: %+v", r)
	}
	if r.Dataset.Train+r.Dataset.Val+r.Dataset.Test != 30 {
		t.Errorf("split sizes %+v do not add up to 30", r.Dataset)
	}
	// features.precision defaults to float32: the run says so and why,
	// metrics.json and model.json record it.
	top := res.Models[0]
	if p := r.Models[0].Precision; p != "float32" || top.Precision != backbone.Float32 || top.PrecisionWhy != "features.precision is float32" {
		t.Errorf("precision %q in metrics.json, %v (%s) in the result", p, top.Precision, top.PrecisionWhy)
	}
	if top.Cache != (CacheCounts{Computed: 30}) || res.Models[1].Cache != (CacheCounts{Computed: 30}) || res.Data.Images != 30 {
		t.Errorf("first run: caches %+v and %+v, %d images; want 30 computed each", top.Cache, res.Models[1].Cache, res.Data.Images)
	}
	if !strings.Contains(r.Models[0].Weights, "RANDOM") {
		t.Errorf("tiny's random weights not reported: %q", r.Models[0].Weights)
	}
	if !r.Models[0].RandomWeights {
		t.Error("tiny's random weights not flagged: results.md would not warn")
	}
	checkImageLinks(t, dir, 2)
	// Every model is exported at the end of the run (pipeline/export tests
	// what the exports compute).
	for _, m := range []string{"top", "scratch"} {
		if _, err := os.Stat(filepath.Join(rundir.Model(dir, m), rundir.SavedModelDir, "saved_model.pb")); err != nil {
			t.Errorf("model %s not exported: %v\n%s", m, err, log)
		}
	}
	first := map[string][]byte{}
	for _, f := range metricsFiles {
		if first[f], err = os.ReadFile(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}

	// Same config and seed, from scratch (the feature cache stays): the
	// metrics files are identical byte for byte, and the backbone does no
	// work the second time.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	res2, _, err := runResult(t, testConfig(t, root))
	if err != nil {
		t.Fatal(err)
	}
	if res2.Dir != dir {
		t.Fatalf("same config, different run folders: %s, %s", dir, res2.Dir)
	}
	for _, f := range metricsFiles {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if !bytes.Equal(b, first[f]) {
			t.Errorf("%s differs between two runs of the same config", f)
		}
	}
	if c := res2.Models[0].Cache; c != (CacheCounts{Cached: 30}) {
		t.Errorf("second run's features: %+v, want all 30 cached", c)
	}

	// Another top on the same data and backbone: cache hit, new run folder;
	// with export.savedmodel off, nothing is exported.
	res3, _, err := runResult(t, testConfig(t, root, "models.0.layers.0.dense.units=8", "export.savedmodel=false"))
	if err != nil {
		t.Fatal(err)
	}
	dir3 := res3.Dir
	if saved, _ := filepath.Glob(filepath.Join(dir3, rundir.ModelsDir, "*", rundir.SavedModelDir)); len(saved) > 0 {
		t.Errorf("export.savedmodel=false, yet the run exported %v", saved)
	}
	if dir3 == dir || res3.Models[0].Cache != (CacheCounts{Cached: 30}) || res3.Models[0].Exported != "" {
		t.Errorf("other top: run %s (first %s), result %+v", dir3, dir, res3.Models[0])
	}
	tab, err := report.Compare([]string{dir, dir3})
	if err != nil {
		t.Fatal(err)
	}
	if md := tab.Markdown(); !strings.Contains(md, "models[top].layers.0.dense.units") {
		t.Errorf("comparison table lacks the differing key:\n%s", md)
	}
}

func TestRunResumesAfterInterrupt(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 2)
	// float32, not auto: the uninterrupted run below has a cache of its own,
	// hence a probe of its own, which could choose the other precision.
	const prec = "features.precision=float32"
	cfg := testConfig(t, root, "train.epochs=4", prec)
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		// Stop during the first model's training, after its 2nd epoch.
		if strings.Contains(string(p), "top: epoch 2/4") {
			cancel()
		}
		return log.Write(p)
	})
	res, err := Run(ctx, cfg, Options{Log: w, Progress: &log})
	if err == nil {
		t.Fatal("interrupted run returned no error")
	}
	dir := res.Dir
	if _, err := os.Stat(filepath.Join(dir, rundir.MetricsFile)); !os.IsNotExist(err) {
		t.Fatalf("an interrupted run wrote %s", rundir.MetricsFile)
	}
	res2, log2, err := runResult(t, testConfig(t, root, "train.epochs=4", prec))
	if err != nil {
		t.Fatalf("%v\n%s", err, log2)
	}
	if want := []PhaseResult{{Name: rundir.TrainDir, Resumed: 2, Trained: 2}}; res2.Dir != dir || !slices.Equal(res2.Models[0].Phases, want) {
		t.Errorf("did not resume in %s: phases %+v, want %+v", dir, res2.Models[0].Phases, want)
	}
	// The resumed run equals an uninterrupted one.
	fresh := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(fresh, "data"), 3, 10, 2)
	dir3, _, err := run(t, testConfig(t, fresh, "train.epochs=4", prec))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"models/top/history.csv", "models/scratch/history.csv"} {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		b, _ := os.ReadFile(filepath.Join(dir3, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: resumed run\n%s\nuninterrupted run\n%s", f, a, b)
		}
	}
	// TensorBoard: the resume appended epochs 3 and 4, each step once.
	trainDir := filepath.Join(rundir.TensorBoard(dir, "top"), tensorboard.TrainDir)
	var steps []int
	for _, p := range testenv.TensorBoard(t, trainDir)[trainDir].Scalars[tensorboard.TagLoss] {
		steps = append(steps, int(p[0]))
	}
	slices.Sort(steps) // the two processes' files may sort either way within one second
	if !slices.Equal(steps, []int{0, 1, 2, 3}) {
		t.Errorf("resumed run's epoch_loss steps %v, want [0 1 2 3]", steps)
	}
	if files, _ := filepath.Glob(filepath.Join(trainDir, "events.out.tfevents.*")); len(files) != 2 {
		t.Errorf("event files %v, want 2: the interrupted run's and the resumed run's", files)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestBadInputs(t *testing.T) {
	check := func(name string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", name, err, w)
			}
		}
	}
	root := t.TempDir()
	_, _, err := run(t, testConfig(t, root))
	check("missing data dir", err, filepath.Join(root, "data"), "does not exist")

	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 3)
	empty := filepath.Join(root, "data", "class_empty")
	os.Mkdir(empty, 0o755)
	_, _, err = run(t, testConfig(t, root))
	check("empty class folder", err, empty)
	os.Remove(empty)

	_, _, err = run(t, testConfig(t, root, "models.0.backbone.endpoint=fc7"))
	check("unknown endpoint", err, "fc7", "block5_pool")

	_, _, err = run(t, testConfig(t, root, "models.0.backbone.savedmodel="+filepath.Join(root, "nope")))
	check("missing model", err, filepath.Join(root, "nope"), "export_backbone.py")

	_, _, err = run(t, testConfig(t, root, "data.exclude=[class_1, class_2]"))
	check("one class left", err, "class")

	_, _, err = run(t, testConfig(t, root, "train.class_weight={class_1: 2, cat: 3}"))
	check("class weight of no class", err, `train.class_weight.cat: no class "cat"`, "class_0, class_1, class_2")

	bad := filepath.Join(root, "data", "class_0", "broken.jpg")
	os.WriteFile(bad, []byte("not a jpeg"), 0o644)
	_, _, err = run(t, testConfig(t, root))
	check("broken image", err, bad)
	dir, log, err := run(t, testConfig(t, root, "data.on_bad_image=skip"))
	if err != nil {
		t.Fatalf("skip: %v\n%s", err, log)
	}
	r, _ := report.Read(dir)
	if len(r.Dataset.Skipped) != 1 || r.Dataset.Skipped[0].Path != bad {
		t.Errorf("skipped files %v, want [%s]", r.Dataset.Skipped, bad)
	}
	md, _ := os.ReadFile(filepath.Join(dir, rundir.ResultsFile))
	if !strings.Contains(string(md), "broken.jpg") {
		t.Errorf("results.md does not list the skipped file")
	}
}

// checkImageLinks checks that results.md in the run folder dir shows the
// history and sample plots and a confusion matrix per model, and that
// every image it links is a PNG file in the run folder.
func checkImageLinks(t *testing.T, dir string, models int) {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(dir, rundir.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(string(md), -1)
	confusions := 0
	seen := map[string]bool{}
	for _, l := range links {
		rel, err := url.PathUnescape(l[1])
		if err != nil || !filepath.IsLocal(rel) {
			t.Errorf("results.md links %q: not a path inside the run folder", l[1])
			continue
		}
		seen[rel] = true
		if path.Base(rel) == rundir.ConfusionPlot {
			confusions++
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Errorf("results.md links %s: %v", l[1], err)
		} else if !bytes.HasPrefix(b, []byte("\x89PNG\r\n")) {
			t.Errorf("results.md links %s, which is not a PNG", l[1])
		}
	}
	if !seen[rundir.HistoryPlot] || !seen[rundir.SamplesPlot] || confusions != models {
		t.Errorf("results.md shows %d images (%v); want %s, %s and %d confusion matrices",
			len(links), slices.Sorted(maps.Keys(seen)), rundir.HistoryPlot, rundir.SamplesPlot, models)
	}
}

// features.batch_size: auto measures the backbone at each candidate size
// and says every size's rate and peak RSS with the choice; the batch
// chosen is the one the features were computed at (model.json).
func TestAutoBatchChosen(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 4, 3)
	res, log, err := runResult(t, testConfig(t, root, "features.batch_size=auto", "features.precision=float32", "train.epochs=1"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	top := res.Models[0]
	if top.FeatureBatch <= 0 || !strings.Contains(top.BatchWhy, "32: ") || !strings.Contains(top.BatchWhy, "peak RSS") {
		t.Errorf("batch %d chosen because %q: want every size's measurements", top.FeatureBatch, top.BatchWhy)
	}
	if p, err := plan.Read(res.Dir, "top"); err != nil || p.Backbone.FeatureBatch != top.FeatureBatch {
		t.Errorf("model.json: %v, want feature batch %d", err, top.FeatureBatch)
	}
	if probes, _ := filepath.Glob(filepath.Join(root, "cache", "probes", "batch-probe-*.json")); len(probes) != 1 {
		t.Errorf("batch probes remembered: %v, want one", probes)
	}
}

// TestBrokenBackboneStopsBeforeTraining: the backbones load and are
// checked while the data stage runs, and a backbone TensorFlow cannot load
// stops the run before any model trains, naming the model and what to do,
// even when every feature it would compute is cached (the case where
// nothing else would run it before the export).
func TestBrokenBackboneStopsBeforeTraining(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	bb := copyBackbone(t, testenv.SavedModel(t, "tiny"), filepath.Join(root, "tiny"))
	set := []string{"models.0.backbone.savedmodel=" + bb}
	if _, log, err := run(t, testConfig(t, root, set...)); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	data := filepath.Join(bb, "variables", "variables.data-00000-of-00001")
	os.Chmod(data, 0o644)
	if err := os.WriteFile(data, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, log, err := runResult(t, testConfig(t, root, append(set, "runs_dir="+filepath.Join(root, "runs2"))...))
	if err == nil {
		t.Fatalf("a run with corrupt backbone weights succeeded\n%s", log)
	}
	for _, w := range []string{"model top", "backbone check", bb, "export_backbone.py"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	for _, m := range res.Models {
		if m.Phases != nil {
			t.Errorf("model %s trained before the backbone check stopped the run", m.Name)
		}
	}
	if top := res.Models[0]; top.Cache != (CacheCounts{Cached: 30}) {
		t.Errorf("top's features: %+v; want all 30 cached (the check, not the features, must stop this run)", top.Cache)
	}
}
