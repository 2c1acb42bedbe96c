package report

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// A run's inspection findings and kNN baseline go to metrics.json and back,
// and results.md shows them: the kNN as a row of the models table, the
// duplicates per pair of splits, the leaks with their thumbnails and a
// warning, the suspects, and each model's gallery and scatter.
func TestFindingsRoundTripAndMarkdown(t *testing.T) {
	r := sampleRun(t)
	knn := r.Models[0]
	knn.Name, knn.Kind, knn.Params, knn.History, knn.BestEpoch, knn.StoppedEarly, knn.RestoredBest = "knn_vgg", KindKNN, 0, nil, 0, false, false
	tm := *knn.Test
	tm.Loss = math.NaN()
	knn.Test = &tm
	r.Baselines = []Model{knn}
	r.Inspect = &Findings{
		Features: "vgg", NearDuplicate: 0.98, OnDuplicate: "warn",
		Duplicates: map[string]DuplicateCount{"train/train": {}, "train/test": {Exact: 1, Near: 1}, "test/test": {Near: 2}},
		Leaks:      []PairRow{{A: "d/a.png", ASplit: "train", B: "d/b.png", BSplit: "test", Exact: true, Cosine: 1}},
		Suspects:   []SuspectRow{{Path: "d/c.png", Split: "val", Given: "cat", Suggested: "dog", PGiven: 0.01, PSuggest: 0.97}},
		Checked:    10, Folds: 5,
		Models: []ModelFindings{{Name: "vgg", Misclassified: 3, Shown: 3, PCA: true, Projector: true}},
	}
	dir := t.TempDir()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Inspect, r.Inspect) || len(got.Baselines) != 1 || got.Baselines[0].Kind != KindKNN || !math.IsNaN(got.Baselines[0].Test.Loss) {
		t.Errorf("read back %+v, %+v", got.Inspect, got.Baselines)
	}
	md, _ := os.ReadFile(filepath.Join(dir, rundir.ResultsFile))
	for _, want := range []string{
		"| knn_vgg | knn | ", " | none |  | n/a | ",
		"## Look at your data", "| train/test | 1 | 1 |", "| test/test | 0 | 2 |",
		"**Warning: 1 test image pair duplicate", "](inspect/leaks.png)", "| `d/b.png` | `d/a.png` | train | exact |",
		"1 of 10 train and val images", "(5 folds)", "](inspect/suspects.png)",
		"3 misclassified test images: [misclassified.csv](models/vgg/misclassified.csv)", "](models/vgg/top_losses.png)", "](models/vgg/pca.png)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	// Train/train comes before train/test, test/test last.
	if i, j := strings.Index(string(md), "| train/train"), strings.Index(string(md), "| test/test"); i < 0 || j < i {
		t.Errorf("split pairs out of order")
	}
	// Without findings: no section, no key.
	r.Inspect, r.Baselines = nil, nil
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	js, _ := os.ReadFile(filepath.Join(dir, rundir.MetricsFile))
	md, _ = os.ReadFile(filepath.Join(dir, rundir.ResultsFile))
	if strings.Contains(string(js), `"inspect"`) || strings.Contains(string(js), `"baselines"`) || strings.Contains(string(md), "Look at your data") {
		t.Error("a run without findings mentions them")
	}
}
