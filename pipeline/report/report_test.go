package report

import (
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// testMetrics scores four examples of three classes, worked by hand:
//
//	probs         true  predicted  rank of true
//	.8 .1 .1      a     a          0
//	.2 .7 .1      b     b          0
//	.1 .2 .7      c     c          0
//	.6 .3 .1      b     a          1
//
// Accuracy 3/4, top-2 4/4. Recall a 1, b 1/2, c 1 (mean 5/6); precision
// a 1/2, b 1, c 1; F1 a 2/3, b 2/3, c 1 (macro 7/9).
func testMetrics(t *testing.T, loss float64) *evaluate.Metrics {
	t.Helper()
	probs := []float32{.8, .1, .1, .2, .7, .1, .1, .2, .7, .6, .3, .1}
	m, err := evaluate.Compute(probs, []int32{0, 1, 2, 1}, []string{"a", "b", "c"}, loss, 2)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sampleRun has a transfer model with imagenet weights that stopped early
// and one with random weights whose history has no val metrics (NaN) and
// whose test loss diverged (NaN).
func sampleRun(t *testing.T) *Run {
	nan := math.NaN()
	return &Run{
		Name: "caltech",
		Seed: 7,
		Dataset: Dataset{
			Dir: "data/caltech", Classes: []string{"a", "b", "c"},
			Train: 10, Val: 2, Test: 4, Skipped: []Skip{{Path: "data/caltech/a/bad.jpg", Reason: "not a decodable image"}},
		},
		Models: []Model{
			{
				Name: "vgg", Kind: KindTransfer, Backbone: "savedmodels/vgg16 @ fc2",
				Weights: "imagenet weights (sha256 0123456789ab)", Params: 1234567, Loss: "label smoothing 0.1",
				History: []history.Epoch{
					{Epoch: 1, Loss: 1.25, Accuracy: 0.5, ValLoss: 1.1, ValAccuracy: 0.6, LearningRate: 1e-3, Seconds: 3.25},
					{Epoch: 2, Loss: 0.875, Accuracy: 0.75, ValLoss: 1.2, ValAccuracy: 0.55, LearningRate: 1e-4, Seconds: 2.5},
				},
				BestEpoch: 1, StoppedEarly: true, RestoredBest: true,
				Test: testMetrics(t, 0.81234),
			},
			{
				Name: "rnd", Kind: KindTransfer, Backbone: "savedmodels/vgg16 @ fc2",
				Weights: "RANDOM weights (seed 0, not pretrained)", RandomWeights: true, Params: 1000,
				History:   []history.Epoch{{Epoch: 1, Loss: 2, Accuracy: 0.25, ValLoss: nan, ValAccuracy: nan, Seconds: 9}},
				BestEpoch: 1,
				Test:      testMetrics(t, nan),
			},
		},
	}
}

// readTree returns every file under dir by its slash path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := make(map[string]string)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, sampleRun(t)); err != nil {
		t.Fatal(err)
	}
	files := readTree(t, dir)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	want := []string{
		"metrics.json", "models/rnd/confusion.csv", "models/rnd/history.csv", "models/rnd/per_class.csv",
		"models/vgg/confusion.csv", "models/vgg/history.csv", "models/vgg/per_class.csv", "results.md",
	}
	if len(names) != len(want) {
		t.Errorf("files %v, want %v", names, want)
	}
	for _, n := range want {
		if _, ok := files[n]; !ok {
			t.Errorf("no %s among %v", n, names)
		}
	}

	if got, want := files["models/vgg/history.csv"], "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate\n"+
		"1,1.250000,0.500000,1.100000,0.600000,0.001\n"+
		"2,0.875000,0.750000,1.200000,0.550000,0.0001\n"; got != want {
		t.Errorf("vgg history.csv =\n%s\nwant\n%s", got, want)
	}
	// A run from before the history held the learning rate: unknown,
	// an empty cell, never a 0.
	if got, want := files["models/rnd/history.csv"], "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate\n"+
		"1,2.000000,0.250000,,,\n"; got != want {
		t.Errorf("rnd history.csv =\n%s\nwant\n%s", got, want)
	}
	if got, want := files["models/vgg/confusion.csv"], "true\\predicted,a,b,c\na,1,0,0\nb,1,1,0\nc,0,0,1\n"; got != want {
		t.Errorf("confusion.csv =\n%s\nwant\n%s", got, want)
	}
	if got, want := files["models/vgg/per_class.csv"], "class,precision,recall,f1,support,predicted\n"+
		"a,0.500000,1.000000,0.666667,1,2\nb,1.000000,0.500000,0.666667,2,1\nc,1.000000,1.000000,1.000000,1,1\n"; got != want {
		t.Errorf("per_class.csv =\n%s\nwant\n%s", got, want)
	}

	js := files["metrics.json"]
	if !json.Valid([]byte(js)) {
		t.Fatalf("metrics.json is not valid JSON:\n%s", js)
	}
	if strings.Contains(js, "seconds") || strings.Contains(js, "3.25") {
		t.Errorf("metrics.json holds epoch timings:\n%s", js)
	}
	for _, s := range []string{`"val_loss": null`, `"val_accuracy": null`, `"loss": null`, `"loss": 0.81234`,
		`"name": "caltech"`, `"seed": 7`, `"skipped": [`, `"best_epoch": 1`, `"restored_best": true`,
		`"top_k_accuracy": 1`, `"params": 1234567`, `"loss": "label smoothing 0.1"`, `"learning_rate": 0.0001`} {
		if !strings.Contains(js, s) {
			t.Errorf("metrics.json lacks %s:\n%s", s, js)
		}
	}
	if !strings.HasPrefix(js, "{\n  \"name\"") || !strings.HasSuffix(js, "}\n") {
		t.Errorf("metrics.json is not indented by 2 and newline-terminated:\n%s", js)
	}
}

func TestWriteDeterministic(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	if err := Write(d1, sampleRun(t)); err != nil {
		t.Fatal(err)
	}
	r := sampleRun(t)
	for i := range r.Models { // timings differ between identical runs
		for j := range r.Models[i].History {
			r.Models[i].History[j].Seconds *= 3
		}
	}
	if err := Write(d2, r); err != nil {
		t.Fatal(err)
	}
	first := readTree(t, d1)
	if got := readTree(t, d2); !reflect.DeepEqual(got, first) {
		t.Errorf("two writes of the same run differ:\n%v\n%v", first, got)
	}
	// Rewriting in place gives the same files and leaves no temporary ones.
	if err := Write(d1, sampleRun(t)); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, d1); !reflect.DeepEqual(got, first) {
		t.Errorf("rewriting changed the files:\n%v\n%v", first, got)
	}
}

// denan replaces NaN in the float fields that may hold it, so that
// reflect.DeepEqual can compare runs.
func denan(r *Run) {
	fix := func(v *float64) {
		if math.IsNaN(*v) {
			*v = -12345
		}
	}
	for i := range r.Models {
		m := &r.Models[i]
		for j := range m.History {
			e := &m.History[j]
			fix(&e.Loss)
			fix(&e.Accuracy)
			fix(&e.ValLoss)
			fix(&e.ValAccuracy)
		}
		if m.Test != nil {
			fix(&m.Test.Loss)
		}
	}
}

func TestReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, sampleRun(t)); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	rnd := got.Models[1]
	if !math.IsNaN(rnd.History[0].ValLoss) || !math.IsNaN(rnd.History[0].ValAccuracy) || !math.IsNaN(rnd.Test.Loss) {
		t.Errorf("NaN read back as %+v, test loss %v", rnd.History[0], rnd.Test.Loss)
	}
	want := sampleRun(t)
	for i := range want.Models {
		for j := range want.Models[i].History {
			want.Models[i].History[j].Seconds = 0
		}
	}
	denan(got)
	denan(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read =\n%+v\nwant\n%+v", got, want)
	}

	// Empty lists: written as [], read back as nil.
	empty := &Run{Name: "e", Models: []Model{{Name: "m", Kind: KindScratch}}}
	if err := Write(dir, empty); err != nil {
		t.Fatal(err)
	}
	js, _ := os.ReadFile(filepath.Join(dir, rundir.MetricsFile))
	if !strings.Contains(string(js), `"classes": []`) || !strings.Contains(string(js), `"history": []`) ||
		!strings.Contains(string(js), `"test": null`) {
		t.Errorf("metrics.json of an empty run:\n%s", js)
	}
	back, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, empty) {
		t.Errorf("Read = %+v, want %+v", back, empty)
	}
}

func TestReadErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x")
	_, err := Read(dir)
	if want := dir + ": no metrics.json: the run has not finished; rerun it"; err == nil || err.Error() != want {
		t.Errorf("missing: err = %v, want %q", err, want)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, rundir.MetricsFile)
	if err := os.WriteFile(path, []byte(`{"name": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad JSON: err = %v, want one naming %s", err, path)
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		run  *Run
		want string
	}{
		{"nil", nil, "no run"},
		{"escaping name", &Run{Models: []Model{{Name: "../x"}}}, `model name "../x"`},
		{"empty name", &Run{Models: []Model{{Name: ""}}}, `model name ""`},
		{"duplicate", &Run{Models: []Model{{Name: "m"}, {Name: "m"}}}, `two models named "m"`},
		{"classes", &Run{Models: []Model{{Name: "m", Test: testMetrics(t, 0)}}}, "tested on 3 classes but the dataset has 0"},
	} {
		err := Write(dir, c.run)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: err = %v, want one naming %s and containing %q", c.name, err, dir, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left %d entries", len(entries))
	}
}

func TestMarkdown(t *testing.T) {
	md := string(Markdown(sampleRun(t)))
	for _, s := range []string{
		"# Results: caltech (seed 7)\n",
		"3 classes; 10 train, 2 val, 4 test images.",
		"Classes: a, b, c.",
		"Skipped 1 file:\n\n- `data/caltech/a/bad.jpg`: not a decodable image\n",
		"| model | kind | backbone and weights | trainable params | epochs | best epoch | test loss | test accuracy | top-2 accuracy | mean class recall | macro F1 |",
		"| vgg | transfer | `savedmodels/vgg16 @ fc2`, imagenet weights (sha256 0123456789ab) | 1,234,567 | 2 (early stop) | 1 (restored) | 0.8123 | 75.00% | 100.00% | 83.33% | 77.78% |",
		"| rnd | transfer | `savedmodels/vgg16 @ fc2`, **RANDOM weights (seed 0, not pretrained)** | 1,000 | 1 | 1 | NaN | 75.00% |",
		"**Warning: the backbone of rnd has RANDOM weights",
		"## vgg\n\nTransfer model, `savedmodels/vgg16 @ fc2`, imagenet weights (sha256 0123456789ab); 1,234,567 trainable parameters. " +
			"Trained 2 epochs, stopped early; best epoch 1, whose weights were restored.\n",
		"| 1 (best) | 1.2500 | 50.00% | 1.1000 | 60.00% |",
		"| 2 | 0.8750 | 75.00% | 1.2000 | 55.00% |\n\nThe loss is categorical cross-entropy with label smoothing 0.1, as Keras' fit computes it.\n",
		"| 1 (best) | 2.0000 | 25.00% | - | - |",
		"Classes: a, b, c.\n\n![Sample training images with their labels](samples.png)\n\n",
		"![Validation loss and accuracy per epoch, every model](history.png)\n\n## vgg\n",
		"![Confusion matrix of vgg on the test split](models/vgg/confusion.png)\n\n### Worst classes",
		"![Confusion matrix of rnd on the test split](models/rnd/confusion.png)\n",
		"### Worst classes by test recall (3 of 3)\n\n| class | precision | recall | support |\n|---|--:|--:|--:|\n" +
			"| b | 100.00% | 50.00% | 2 |\n| a | 50.00% | 100.00% | 1 |\n| c | 100.00% | 100.00% | 1 |\n",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("results.md lacks %q:\n%s", s, md)
		}
	}
	if strings.Contains(md, "3.25") || strings.Contains(md, "seconds") {
		t.Errorf("results.md holds timings:\n%s", md)
	}

	// Untested model, mixed k, a model name that is not a plain URL path.
	r := sampleRun(t)
	r.Models[1].Test = nil
	r.Models = append(r.Models, Model{Name: "k3 (v[2])", Kind: KindScratch, Test: testMetrics(t, 1)})
	r.Models[2].Test.K = 3
	md = string(Markdown(r))
	for _, s := range []string{"| top-k accuracy |", "| 100.00% (k=2) |", "| 100.00% (k=3) |",
		"| rnd | transfer |", "| not tested |", "Not evaluated on the test split.", "none (trained from scratch)",
		"![Confusion matrix of k3 (v\\[2\\]) on the test split](models/k3%20%28v%5B2%5D%29/confusion.png)\n"} {
		if !strings.Contains(md, s) {
			t.Errorf("results.md lacks %q:\n%s", s, md)
		}
	}
	if strings.Contains(md, "models/rnd/confusion.png") {
		t.Errorf("results.md links a confusion matrix of the untested model rnd:\n%s", md)
	}
}

func TestWorstClassesLimit(t *testing.T) {
	var cs []evaluate.Class
	for i, r := range []float64{.9, .1, .5, .1, .7, .3, .2, 0} {
		cs = append(cs, evaluate.Class{Name: string(rune('a' + i)), Recall: r, Support: 1})
	}
	cs[7].Support = 0 // no test example: not a worst class
	var names []string
	for _, c := range worstClasses(cs, 5) {
		names = append(names, c.Name)
	}
	if got, want := strings.Join(names, ","), "b,d,g,f,c"; got != want {
		t.Errorf("worst = %s, want %s", got, want)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %s, want %s", n, got, want)
		}
	}
}
