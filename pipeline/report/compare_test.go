package report

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// configA is a minimal valid config with the two models of sampleRun.
const configA = `name: a
runs_dir: runs_a
models:
  - name: vgg
    backbone: {savedmodel: sm, endpoint: fc2}
    layers:
      - dense: {units: 256, activation: relu}
      - dense: {units: classes, activation: softmax}
  - name: rnd
    backbone: {savedmodel: sm, endpoint: fc2}
    layers:
      - dense: {units: classes, activation: softmax}
train:
  epochs: 10
data:
  dir: d
`

// configB differs from configA in its name and runs_dir (ignored),
// train.epochs and vgg's first dense units, and lists the models in the
// other order, which must not count as a difference.
const configB = `name: b
runs_dir: runs_b
models:
  - name: rnd
    backbone: {savedmodel: sm, endpoint: fc2}
    layers:
      - dense: {units: classes, activation: softmax}
  - name: vgg
    backbone: {savedmodel: sm, endpoint: fc2}
    layers:
      - dense: {units: 128, activation: relu}
      - dense: {units: classes, activation: softmax}
train:
  epochs: 20
data:
  dir: d
`

// makeRun writes a finished run folder named base with the given config.
func makeRun(t *testing.T, parent, base, cfg string) string {
	t.Helper()
	dir := filepath.Join(parent, base)
	if err := fsutil.WriteFile(filepath.Join(dir, rundir.ConfigFile), []byte(cfg)); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, sampleRun(t)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCompare(t *testing.T) {
	parent := t.TempDir()
	a := makeRun(t, parent, "run-a", configA)
	b := makeRun(t, parent, "run-b", configB)
	tab, err := Compare([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	wantCols := append(append([]string{}, FixedColumns...), "models[vgg].layers.0.dense.units", "train.epochs")
	if !reflect.DeepEqual(tab.Columns, wantCols) {
		t.Errorf("columns = %q\nwant %q", tab.Columns, wantCols)
	}
	vggW, rndW := "imagenet weights (sha256 0123456789ab)", "RANDOM weights (seed 0, not pretrained)"
	// vgg: accuracy 3/4, top-2 1, loss 0.81234, mean class recall 5/6,
	// macro F1 7/9; rnd has the same metrics with a NaN loss. Rows and CSV
	// have full precision.
	vgg := []string{"vgg", "transfer", vggW, "1234567", "2", "0.75", "1", "0.81234", "0.8333333333333334", "0.7777777777777777", "finished"}
	rnd := []string{"rnd", "transfer", rndW, "1000", "1", "0.75", "1", "NaN", "0.8333333333333334", "0.7777777777777777", "finished"}
	row := func(run string, m []string, rest ...string) []string {
		return append(append([]string{run}, m...), rest...)
	}
	wantRows := [][]string{
		row("run-a", vgg, "256", "10"),
		row("run-a", rnd, "", "10"),
		row("run-b", vgg, "128", "20"),
		row("run-b", rnd, "", "20"),
	}
	if !reflect.DeepEqual(tab.Rows, wantRows) {
		t.Errorf("rows =\n%q\nwant\n%q", tab.Rows, wantRows)
	}
	// Full precision: each cell reads back as the very value computed.
	m := testMetrics(t, 0.81234)
	for i, v := range []float64{m.Accuracy, m.TopK, m.Loss, m.MeanClassRecall, m.MacroF1} {
		cell := tab.Rows[0][6+i]
		if f, err := strconv.ParseFloat(cell, 64); err != nil || f != v {
			t.Errorf("column %s: %q reads back as %v, want exactly %v", tab.Columns[6+i], cell, f, v)
		}
	}

	csv, err := tab.CSV()
	if err != nil {
		t.Fatal(err)
	}
	wantCSV := "run,model,kind,weights,params,epochs,test_accuracy,top_k_accuracy,test_loss,mean_class_recall,macro_f1,status," +
		"models[vgg].layers.0.dense.units,train.epochs\n" +
		"run-a,vgg,transfer," + vggW + ",1234567,2,0.75,1,0.81234,0.8333333333333334,0.7777777777777777,finished,256,10\n" +
		`run-a,rnd,transfer,"RANDOM weights (seed 0, not pretrained)",1000,1,0.75,1,NaN,0.8333333333333334,0.7777777777777777,finished,,10` + "\n" +
		"run-b,vgg,transfer," + vggW + ",1234567,2,0.75,1,0.81234,0.8333333333333334,0.7777777777777777,finished,128,20\n" +
		`run-b,rnd,transfer,"RANDOM weights (seed 0, not pretrained)",1000,1,0.75,1,NaN,0.8333333333333334,0.7777777777777777,finished,,20` + "\n"
	if string(csv) != wantCSV {
		t.Errorf("CSV =\n%s\nwant\n%s", csv, wantCSV)
	}

	// Markdown: results.md's units and rounding (percentages with two
	// decimals, losses with four, thousands separators), numbers
	// right-aligned.
	md := tab.Markdown()
	lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
	if len(lines) != 2+len(wantRows) {
		t.Fatalf("Markdown has %d lines, want %d:\n%s", len(lines), 2+len(wantRows), md)
	}
	if want := "| run | model | kind | weights | params | epochs | test_accuracy | top_k_accuracy | test_loss | " +
		"mean_class_recall | macro_f1 | status | models[vgg].layers.0.dense.units | train.epochs |"; lines[0] != want {
		t.Errorf("header = %s\nwant %s", lines[0], want)
	}
	if want := "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|"; lines[1] != want {
		t.Errorf("separator = %s, want %s", lines[1], want)
	}
	if want := "| run-b | vgg | transfer | " + vggW + " | 1,234,567 | 2 | 75.00% | 100.00% | 0.8123 | 83.33% | 77.78% | finished | 128 | 20 |"; lines[4] != want {
		t.Errorf("row 3 = %s\nwant %s", lines[4], want)
	}
	if want := "| run-b | rnd | transfer | " + rndW + " | 1,000 | 1 | 75.00% | 100.00% | NaN | 83.33% | 77.78% | finished |  | 20 |"; lines[5] != want {
		t.Errorf("last row = %s\nwant %s", lines[5], want)
	}
	// The same cells in results.md of the same run.
	results, err := os.ReadFile(filepath.Join(b, rundir.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range []string{" 1,234,567 |", " 75.00% |", " 100.00% |", " 0.8123 |", " 83.33% |", " 77.78% |", " NaN |"} {
		if !strings.Contains(string(results), cell) {
			t.Errorf("results.md has no cell %q: the units differ from report's", cell)
		}
	}

	// A run compared with itself has no differing keys.
	tab, err = Compare([]string{a, a})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tab.Columns, FixedColumns) || len(tab.Rows) != 4 {
		t.Errorf("self-comparison: columns %q, %d rows", tab.Columns, len(tab.Rows))
	}
}

// A key that some run lacks differs and is empty where it is missing.
func TestCompareMissingKeys(t *testing.T) {
	parent := t.TempDir()
	a := makeRun(t, parent, "a", configA)
	withES := strings.Replace(configA, "  epochs: 10\n", "  epochs: 10\n  early_stopping: {monitor: val_accuracy}\n", 1)
	c := makeRun(t, parent, "c", withES)
	tab, err := Compare([]string{a, c})
	if err != nil {
		t.Fatal(err)
	}
	extra := tab.Columns[len(FixedColumns):]
	want := []string{"train.early_stopping", "train.early_stopping.min_delta", "train.early_stopping.monitor",
		"train.early_stopping.patience", "train.early_stopping.restore_best_weights"}
	if !reflect.DeepEqual(extra, want) {
		t.Fatalf("differing columns = %q, want %q", extra, want)
	}
	col := func(name string) int {
		for i, c := range tab.Columns {
			if c == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	es, mon := col("train.early_stopping"), col("train.early_stopping.monitor")
	if got := tab.Rows[0][es] + "/" + tab.Rows[0][mon]; got != "null/" {
		t.Errorf("run a: early_stopping/monitor = %q, want null/", got)
	}
	if got := tab.Rows[2][es] + "/" + tab.Rows[2][mon]; got != "/val_accuracy" {
		t.Errorf("run c: early_stopping/monitor = %q, want /val_accuracy", got)
	}
}

func TestCompareErrors(t *testing.T) {
	parent := t.TempDir()
	unfinished := filepath.Join(parent, "unfinished")
	if err := fsutil.WriteFile(filepath.Join(unfinished, rundir.ConfigFile), []byte(configA)); err != nil {
		t.Fatal(err)
	}
	noConfig := filepath.Join(parent, "noconfig")
	if err := Write(noConfig, sampleRun(t)); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(parent, "bad")
	if err := fsutil.WriteFile(filepath.Join(badConfig, rundir.ConfigFile), []byte("name: x\n")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dirs []string
		want string
	}{
		{nil, "no run folders"},
		{[]string{unfinished}, unfinished + ": no metrics.json: the run has not finished; rerun it"},
		{[]string{noConfig, badConfig}, noConfig + ": no config.yaml"},
		{[]string{noConfig, badConfig}, filepath.Join(badConfig, rundir.ConfigFile)},
	} {
		_, err := Compare(c.dirs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compare(%q): err = %v, want it to contain %q", c.dirs, err, c.want)
		}
	}
}

// TestReportShowsFinishedRuns (issue 8, item 8): one unfinished, failed or
// foreign folder among the runs does not stop the comparison: the finished
// runs are tabulated and the others listed with why.
func TestReportShowsFinishedRuns(t *testing.T) {
	parent := t.TempDir()
	a := makeRun(t, parent, "run-a", configA)
	unfinished := filepath.Join(parent, "unfinished")
	if err := fsutil.WriteFile(filepath.Join(unfinished, rundir.ConfigFile), []byte(configA)); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(parent, "notes")
	if err := fsutil.WriteFile(filepath.Join(stray, "x.txt"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(parent, "NOTES.txt")
	if err := fsutil.WriteFile(file, []byte("x")); err != nil {
		t.Fatal(err)
	}
	b := makeRun(t, parent, "run-b", configB)
	tab, err := Compare([]string{a, unfinished, stray, file, b})
	if err != nil {
		t.Fatalf("Compare with one finished run among unfinished ones: %v", err)
	}
	if len(tab.Rows) != 4 || tab.Rows[0][0] != "run-a" || tab.Rows[3][0] != "run-b" {
		t.Errorf("rows %v; want run-a's and run-b's two models each", tab.Rows)
	}
	if len(tab.Unfinished) != 3 || tab.Unfinished[0].Dir != unfinished || !strings.Contains(tab.Unfinished[0].Why, "not finished") ||
		tab.Unfinished[1].Dir != stray || !strings.Contains(tab.Unfinished[1].Why, "not a run folder") ||
		tab.Unfinished[2].Dir != file || !strings.Contains(tab.Unfinished[2].Why, "not a run folder") {
		t.Errorf("unfinished %+v; want %s (not finished), %s and %s (not a run folder)", tab.Unfinished, unfinished, stray, file)
	}
}

// TestCompareTTAColumns: when a run's model was tested with test-time
// augmentation, its accuracy and mean class recall with it come before
// status, empty for the models without it; results.md says both.
func TestCompareTTAColumns(t *testing.T) {
	parent := t.TempDir()
	a := makeRun(t, parent, "run-a", configA)
	run := sampleRun(t)
	tta := *run.Models[0].Test
	tta.Accuracy, tta.MeanClassRecall = 0.875, 0.625
	run.Models[0].TTA, run.Models[0].TTAViews, run.Models[0].Augment = &tta, "2 views (scales 1, each flipped too), probabilities averaged", "4 views: flip"
	b := filepath.Join(parent, "run-b")
	if err := fsutil.WriteFile(filepath.Join(b, rundir.ConfigFile), []byte(configB)); err != nil {
		t.Fatal(err)
	}
	if err := Write(b, run); err != nil {
		t.Fatal(err)
	}
	tab, err := Compare([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	n := len(FixedColumns)
	if got := tab.Columns[n-2 : n+1]; !reflect.DeepEqual(got, []string{"macro_f1", "tta_accuracy", "tta_mean_class_recall"}) {
		t.Fatalf("columns %q", tab.Columns)
	}
	for _, row := range tab.Rows {
		want := []string{"", ""}
		if row[0] == "run-b" && row[1] == run.Models[0].Name {
			want = []string{"0.875", "0.625"}
		}
		if got := row[n-1 : n+1]; !reflect.DeepEqual(got, want) || row[n+1] != "finished" {
			t.Errorf("row %q: TTA cells %q, want %q then finished", row, got, want)
		}
	}
	md, err := os.ReadFile(filepath.Join(b, rundir.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| "+run.Models[0].Name+" | 4 views: flip | 2 views (scales 1, each flipped too), probabilities averaged | ") ||
		!strings.Contains(string(md), "| 87.50% | ") {
		t.Errorf("results.md lacks the augmentation table:\n%s", md)
	}
}
