package experiment

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// TestCrossValidation: data.folds: 3 trains each model 3 more times and
// reports the folds' validation accuracy and loss, their mean and
// standard deviation, in metrics.json and results.md; the model itself
// and its test numbers are those of the run without folds.
func TestCrossValidation(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	plain, log, err := run(t, testConfig(t, root, "export.savedmodel=false"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	folded, log, err := run(t, testConfig(t, root, "export.savedmodel=false", "data.folds=3"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if plain == folded {
		t.Fatal("data.folds did not change the run folder")
	}
	a, err := report.Read(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := report.Read(folded)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(folded, rundir.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range b.Models {
		if a.Models[i].CrossValidation != nil {
			t.Errorf("%s: cross-validation without data.folds", m.Name)
		}
		if m.Test.Accuracy != a.Models[i].Test.Accuracy {
			t.Errorf("%s: test accuracy %v with folds, %v without: the folds touched the model", m.Name, m.Test.Accuracy, a.Models[i].Test.Accuracy)
		}
		if m.Test.Loss != a.Models[i].Test.Loss {
			t.Errorf("%s: test loss %v with folds, %v without", m.Name, m.Test.Loss, a.Models[i].Test.Loss)
		}
		cv := m.CrossValidation
		if cv == nil || cv.Folds != 3 || len(cv.ValAccuracy) != 3 || len(cv.ValLoss) != 3 || len(cv.Epochs) != 3 {
			t.Fatalf("%s: cross-validation %+v", m.Name, cv)
		}
		mean := (cv.ValAccuracy[0] + cv.ValAccuracy[1] + cv.ValAccuracy[2]) / 3
		sd := 0.0
		for _, v := range cv.ValAccuracy {
			sd += (v - mean) * (v - mean) / 2
		}
		if math.Abs(cv.MeanAccuracy-mean) > 1e-12 || math.Abs(cv.StdAccuracy-math.Sqrt(sd)) > 1e-12 {
			t.Errorf("%s: mean ± std %v ± %v, want %v ± %v", m.Name, cv.MeanAccuracy, cv.StdAccuracy, mean, math.Sqrt(sd))
		}
		for f := range 3 {
			if cv.ValLoss[f] <= 0 || cv.Epochs[f] != 3 {
				t.Errorf("%s fold %d: loss %v, %d epochs", m.Name, f+1, cv.ValLoss[f], cv.Epochs[f])
			}
		}
		want := fmt.Sprintf("Validation accuracy **%.2f%% ± %.2f%%**", 100*cv.MeanAccuracy, 100*cv.StdAccuracy)
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	if !strings.Contains(string(md), "### Cross-validation") {
		t.Error("results.md has no cross-validation section")
	}
}

// TestFoldsBadInput: folds: 1 is the config's error; more folds than the
// smallest class has train+val images stops the run before model work.
func TestFoldsBadInput(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	_, err := config.Parse("test.yaml", []byte("name: x\ndata: {dir: d, folds: 1}\nmodels: [{name: m, layers: [{dense: {units: classes, activation: softmax}}]}]\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "data.folds: want 0 (no cross-validation) or at least 2 folds, got 1") {
		t.Errorf("folds: 1: %v", err)
	}
	res, _, err := runResult(t, testConfig(t, root, "data.folds=9"))
	if err == nil || !strings.Contains(err.Error(), "data.folds: 9 folds, but class") || !strings.Contains(err.Error(), "train+val images") {
		t.Errorf("9 folds of 8 train+val images a class: %v", err)
	}
	noModelWork(t, res)
}
