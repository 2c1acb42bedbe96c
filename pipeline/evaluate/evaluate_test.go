package evaluate

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sample is six examples of four classes; class d has no example and is
// never predicted. Worked by hand:
//
//	ex  probs (a, b, c, d)   true  predicted  rank of true
//	0   .7 .2 .1 0           a     a          0
//	1   .4 .4 .2 0           b     a (tie)    1 (a ties and comes first)
//	2   .1 .3 .6 0           b     c          1
//	3   .2 .5 .3 0           b     b          0
//	4   .5 .3 .2 0           c     a          2
//	5   .3 .3 .4 0           a     c          1 (b ties but comes after)
//
// Confusion [true][predicted]: a: 1 0 1 0, b: 1 1 1 0, c: 1 0 0 0, d: 0.
// Accuracy 2/6; top-2 5/6 (only example 4 misses).
// a: P 1/3, R 1/2, F1 2/5; b: P 1, R 1/3, F1 1/2; c: P 0, R 0, F1 0;
// d: all 0, support 0, left out of the macro averages.
// Mean class recall (1/2+1/3+0)/3 = 5/18; macro P (1/3+1+0)/3 = 4/9;
// macro F1 (2/5+1/2+0)/3 = 3/10.
func sample() ([]float32, []int32, []string) {
	probs := []float32{
		.7, .2, .1, 0,
		.4, .4, .2, 0,
		.1, .3, .6, 0,
		.2, .5, .3, 0,
		.5, .3, .2, 0,
		.3, .3, .4, 0,
	}
	return probs, []int32{0, 1, 1, 1, 2, 0}, []string{"a", "b", "c", "d"}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestCompute(t *testing.T) {
	probs, labels, classes := sample()
	m, err := Compute(probs, labels, classes, 0.75, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.N != 6 || m.Loss != 0.75 || m.K != 2 {
		t.Errorf("N, Loss, K = %d, %v, %d; want 6, 0.75, 2", m.N, m.Loss, m.K)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"accuracy", m.Accuracy, 2.0 / 6},
		{"top-2", m.TopK, 5.0 / 6},
		{"mean class recall", m.MeanClassRecall, 5.0 / 18},
		{"macro precision", m.MacroPrecision, 4.0 / 9},
		{"macro F1", m.MacroF1, 3.0 / 10},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	wantConf := [][]int{{1, 0, 1, 0}, {1, 1, 1, 0}, {1, 0, 0, 0}, {0, 0, 0, 0}}
	if !reflect.DeepEqual(m.Confusion, wantConf) {
		t.Errorf("confusion = %v, want %v", m.Confusion, wantConf)
	}
	wantClasses := []Class{
		{Name: "a", Precision: 1.0 / 3, Recall: 0.5, F1: 0.4, Support: 2, Predicted: 3},
		{Name: "b", Precision: 1, Recall: 1.0 / 3, F1: 0.5, Support: 3, Predicted: 1},
		{Name: "c", Precision: 0, Recall: 0, F1: 0, Support: 1, Predicted: 2},
		{Name: "d", Precision: 0, Recall: 0, F1: 0, Support: 0, Predicted: 0},
	}
	if len(m.PerClass) != len(wantClasses) {
		t.Fatalf("%d classes, want %d", len(m.PerClass), len(wantClasses))
	}
	for i, w := range wantClasses {
		g := m.PerClass[i]
		if g.Name != w.Name || g.Support != w.Support || g.Predicted != w.Predicted ||
			!near(g.Precision, w.Precision) || !near(g.Recall, w.Recall) || !near(g.F1, w.F1) {
			t.Errorf("class %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestComputeTopK(t *testing.T) {
	probs, labels, classes := sample()
	for k, want := range map[int]float64{1: 2.0 / 6, 2: 5.0 / 6, 3: 1, 4: 1, 10: 1} {
		m, err := Compute(probs, labels, classes, 0, k)
		if err != nil {
			t.Fatal(err)
		}
		if !near(m.TopK, want) {
			t.Errorf("top-%d = %v, want %v", k, m.TopK, want)
		}
	}
}

func TestComputeErrors(t *testing.T) {
	probs, labels, classes := sample()
	for _, c := range []struct {
		name    string
		probs   []float32
		labels  []int32
		classes []string
		k       int
		want    string
	}{
		{"short probs", probs[:len(probs)-1], labels, classes, 1, "23 probabilities for 6 examples of 4 classes"},
		{"extra label", probs, append(append([]int32{}, labels...), 0), classes, 1, "24 probabilities for 7 examples"},
		{"label high", probs, []int32{0, 1, 1, 1, 4, 0}, classes, 1, "example 4 has label 4"},
		{"label negative", probs, []int32{0, -1, 1, 1, 2, 0}, classes, 1, "example 1 has label -1"},
		{"k zero", probs, labels, classes, 0, "k = 0"},
		{"no classes", nil, nil, nil, 1, "no classes"},
		{"no examples", nil, nil, classes, 1, "no examples"},
	} {
		_, err := Compute(c.probs, c.labels, c.classes, 0, c.k)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	probs, labels, _ := sample()
	classes := []string{"a", "b,c", `say "d"`, "d"}
	m, err := Compute(probs, labels, classes, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "sub", "confusion.csv")
	if err := WriteConfusionCSV(conf, m, classes); err != nil {
		t.Fatal(err)
	}
	wantConf := `true\predicted,a,"b,c","say ""d""",d
a,1,0,1,0
"b,c",1,1,1,0
"say ""d""",1,0,0,0
d,0,0,0,0
`
	if got, _ := os.ReadFile(conf); string(got) != wantConf {
		t.Errorf("confusion.csv =\n%s\nwant\n%s", got, wantConf)
	}
	per := filepath.Join(dir, "per_class.csv")
	if err := WritePerClassCSV(per, m); err != nil {
		t.Fatal(err)
	}
	wantPer := `class,precision,recall,f1,support,predicted
a,0.333333,0.500000,0.400000,2,3
"b,c",1.000000,0.333333,0.500000,3,1
"say ""d""",0.000000,0.000000,0.000000,1,2
d,0.000000,0.000000,0.000000,0,0
`
	if got, _ := os.ReadFile(per); string(got) != wantPer {
		t.Errorf("per_class.csv =\n%s\nwant\n%s", got, wantPer)
	}
	if err := WriteConfusionCSV(conf, m, classes[:3]); err == nil || !strings.Contains(err.Error(), conf) {
		t.Errorf("3 names for 4 classes: err = %v, want one naming %s", err, conf)
	}
	if err := WritePerClassCSV(per, nil); err == nil {
		t.Error("nil metrics: no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d entries in %s, want 2 (no temporary files left)", len(entries), dir)
	}
}

func TestJSON(t *testing.T) {
	probs, labels, classes := sample()
	m, err := Compute(probs, labels, classes, 0.5, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"examples":6`, `"loss":0.5`, `"k":2`, `"top_k_accuracy":`,
		`"mean_class_recall":`, `"macro_precision":`, `"macro_f1":`, `"per_class":[{"name":"a",`, `"confusion":[[1,0,1,0],`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	var back Metrics
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, m) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, *m)
	}

	for _, loss := range []float64{math.NaN(), math.Inf(1)} {
		m.Loss = loss
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("loss %v: %v", loss, err)
		}
		if !strings.Contains(string(b), `"loss":null`) {
			t.Errorf("loss %v written as %s, want null", loss, b)
		}
		var back Metrics
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !math.IsNaN(back.Loss) || back.Accuracy != m.Accuracy {
			t.Errorf("loss %v read back as %v (accuracy %v)", loss, back.Loss, back.Accuracy)
		}
	}
}

func TestRank(t *testing.T) {
	p := []float32{0.1, 0.5, 0.5, 0.2}
	for y, want := range []int{3, 0, 1, 2} {
		if got := Rank(p, y); got != want {
			t.Errorf("Rank(%v, %d) = %d, want %d", p, y, got, want)
		}
	}
}

// TestNaNNeverCorrect (issue 8, item 1): a row of NaN probabilities is a
// miss for top-1, top-k, its class's recall and the confusion matrix,
// whatever its true class, and is counted as non-finite.
func TestNaNNeverCorrect(t *testing.T) {
	nan := float32(math.NaN())
	probs := []float32{
		.9, .1,
		nan, nan, // true class a: argmax of NaN is index 0
		.2, .8,
	}
	m, err := Compute(probs, []int32{0, 0, 1}, []string{"a", "b"}, math.NaN(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.Accuracy != 2.0/3 || m.TopK != 2.0/3 {
		t.Errorf("accuracy %v, top-2 %v; want 2/3, 2/3 (the NaN row is a miss)", m.Accuracy, m.TopK)
	}
	if m.NonFinite != 1 {
		t.Errorf("NonFinite = %d; want 1", m.NonFinite)
	}
	if m.Confusion[0][0] != 1 {
		t.Errorf("confusion[a][a] = %d; want 1 (the NaN row is not a correct a)", m.Confusion[0][0])
	}
	if a := m.PerClass[0]; a.Support != 2 || a.Recall != 0.5 || a.Precision != 1 {
		t.Errorf("class a: %+v; want support 2, recall 1/2, precision 1", a)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Metrics
	if err := json.Unmarshal(b, &back); err != nil || back.NonFinite != 1 {
		t.Errorf("JSON round trip: %v, %+v", err, back)
	}
}

// TestAccuracyIsCompute: the validation pass's Accuracy and Compute score
// the same predictions alike, ties going to the first class and a NaN row
// never a hit.
func TestAccuracyIsCompute(t *testing.T) {
	nan := float32(math.NaN())
	probs := []float32{
		0.5, 0.5, 0, // tie: class 0 predicted
		0.5, 0.5, 0, // the same row, labelled 1: a top-1 miss, a top-2 hit
		0.1, 0.2, 0.7,
		nan, 0.5, 0.5, // non-finite: never a hit
	}
	labels := []int32{0, 1, 2, 1}
	top1, top2 := Accuracy(probs, labels, 3, 2)
	if top1 != 0.5 || top2 != 0.75 {
		t.Errorf("Accuracy = %v, %v; want 0.5, 0.75", top1, top2)
	}
	m, err := Compute(probs, labels, []string{"a", "b", "c"}, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.Accuracy != top1 || m.TopK != top2 {
		t.Errorf("Compute = %v, %v; Accuracy = %v, %v", m.Accuracy, m.TopK, top1, top2)
	}
}
