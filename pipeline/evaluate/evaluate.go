// Package evaluate scores a classifier on a split from its predicted
// probabilities: top-1 and top-k accuracy, per-class precision, recall and
// F1, their macro averages (mean class recall is the metric the VGG paper
// reports for Caltech-101, where classes are unbalanced) and the confusion
// matrix. It replaces the single model.evaluate accuracy of ml4a's
// transfer-learning notebook, which hides how a model fails on small
// classes.
package evaluate

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/num"
)

// Metrics of a classifier on a split, computed from its probabilities.
//
// Macro averages (MeanClassRecall, MacroPrecision, MacroF1) are taken over
// the classes with at least one example in the split (Support > 0): a
// class absent from the split has no recall to average, and counting it as
// 0 would penalise a model for the split rather than for its predictions.
//
// Metrics encode to JSON with the names in the field tags; a non-finite
// Loss (a diverged model) is written as null, which is valid JSON, and read
// back as NaN.
type Metrics struct {
	N               int     `json:"examples"`
	Loss            float64 `json:"loss"`           // given by the caller (mean categorical cross-entropy)
	Accuracy        float64 `json:"accuracy"`       // top-1
	K               int     `json:"k"`              // the k of TopK
	TopK            float64 `json:"top_k_accuracy"` // fraction of examples whose class is among the k most probable
	MeanClassRecall float64 `json:"mean_class_recall"`
	MacroPrecision  float64 `json:"macro_precision"`
	MacroF1         float64 `json:"macro_f1"`
	PerClass        []Class `json:"per_class"` // in class index order
	Confusion       [][]int `json:"confusion"` // [true][predicted] counts
	// NonFinite counts the examples whose probabilities hold NaN or an
	// infinity (a diverged model): each is a miss for every metric, and
	// has no cell in Confusion, since it predicts no class.
	NonFinite int `json:"non_finite"`
}

// Class holds the metrics of one class. Precision is 0 for a class never
// predicted and Recall 0 for a class with no example (scikit-learn's
// zero_division=0); F1 is 0 when both are 0.
type Class struct {
	Name      string  `json:"name"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`   // examples of the class in the split
	Predicted int     `json:"predicted"` // examples predicted as the class
}

// Compute scores the predictions of a classifier: probs holds one row of
// len(classes) probabilities per example (row-major), labels the true class
// index of each example, loss the mean loss the caller measured, and k the
// k of top-k accuracy. The predicted class of an example is the first most
// probable one (argmax), and an example is a top-k hit when
// Rank(row, label) < k (Accuracy), as in training's validation pass.
//
// It returns an error if the lengths disagree, a label is out of range, k
// is below 1 or there are no examples (no metric is defined then).
func Compute(probs []float32, labels []int32, classes []string, loss float64, k int) (*Metrics, error) {
	c, n := len(classes), len(labels)
	switch {
	case c == 0:
		return nil, errors.New("evaluate: no classes")
	case k < 1:
		return nil, fmt.Errorf("evaluate: top-k with k = %d; want k >= 1", k)
	case len(probs) != n*c:
		return nil, fmt.Errorf("evaluate: %d probabilities for %d examples of %d classes; want %d", len(probs), n, c, n*c)
	case n == 0:
		return nil, errors.New("evaluate: no examples to score; the split is empty")
	}
	m := &Metrics{N: n, Loss: loss, K: k, Confusion: make([][]int, c), PerClass: make([]Class, c)}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, c)
	}
	for i, y := range labels {
		if y < 0 || int(y) >= c {
			return nil, fmt.Errorf("evaluate: example %d has label %d, outside the %d classes [0, %d)", i, y, c, c)
		}
		row := probs[i*c : (i+1)*c]
		m.PerClass[y].Support++
		if !num.AllFinite(row) {
			m.NonFinite++
			continue
		}
		m.Confusion[y][argmax(row)]++
	}
	m.Accuracy, m.TopK = Accuracy(probs, labels, c, k)

	var present int
	for j, name := range classes {
		cl := Class{Name: name, Support: m.PerClass[j].Support}
		for i := range c {
			cl.Predicted += m.Confusion[i][j]
		}
		tp := float64(m.Confusion[j][j])
		if cl.Predicted > 0 {
			cl.Precision = tp / float64(cl.Predicted)
		}
		if cl.Support > 0 {
			cl.Recall = tp / float64(cl.Support)
		}
		if s := cl.Precision + cl.Recall; s > 0 {
			cl.F1 = 2 * cl.Precision * cl.Recall / s
		}
		m.PerClass[j] = cl
		if cl.Support > 0 {
			present++
			m.MeanClassRecall += cl.Recall
			m.MacroPrecision += cl.Precision
			m.MacroF1 += cl.F1
		}
	}
	// present >= 1 since n > 0.
	m.MeanClassRecall /= float64(present)
	m.MacroPrecision /= float64(present)
	m.MacroF1 /= float64(present)
	return m, nil
}

// argmax returns the index of the first largest value of p, the class
// Keras' argmax predicts.
func argmax(p []float32) int {
	best := 0
	for j, v := range p {
		if v > p[best] {
			best = j
		}
	}
	return best
}

// metricsJSON is the JSON form of Metrics: Loss is a pointer so that a
// non-finite loss is written as null instead of failing the encoding.
type metricsJSON struct {
	N               int       `json:"examples"`
	Loss            num.Float `json:"loss"`
	Accuracy        float64   `json:"accuracy"`
	K               int       `json:"k"`
	TopK            float64   `json:"top_k_accuracy"`
	MeanClassRecall float64   `json:"mean_class_recall"`
	MacroPrecision  float64   `json:"macro_precision"`
	MacroF1         float64   `json:"macro_f1"`
	PerClass        []Class   `json:"per_class"`
	Confusion       [][]int   `json:"confusion"`
	NonFinite       int       `json:"non_finite"`
}

// MarshalJSON encodes m with a non-finite Loss written as null, since NaN
// and infinities are not valid JSON.
func (m Metrics) MarshalJSON() ([]byte, error) {
	j := metricsJSON{
		N: m.N, Accuracy: m.Accuracy, K: m.K, TopK: m.TopK,
		MeanClassRecall: m.MeanClassRecall, MacroPrecision: m.MacroPrecision, MacroF1: m.MacroF1,
		PerClass: m.PerClass, Confusion: m.Confusion, NonFinite: m.NonFinite, Loss: num.Float(m.Loss),
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON writes; a null loss becomes NaN.
func (m *Metrics) UnmarshalJSON(data []byte) error {
	j := metricsJSON{Loss: num.Float(math.NaN())} // also when missing
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*m = Metrics{
		N: j.N, Loss: float64(j.Loss), Accuracy: j.Accuracy, K: j.K, TopK: j.TopK,
		MeanClassRecall: j.MeanClassRecall, MacroPrecision: j.MacroPrecision, MacroF1: j.MacroF1,
		PerClass: j.PerClass, Confusion: j.Confusion, NonFinite: j.NonFinite,
	}
	return nil
}

// WriteConfusionCSV writes the confusion matrix of m to path, atomically:
// a header "true\predicted,<class>..." and one row per true class, its
// name then the counts per predicted class. classes names the rows and
// columns and must have one name per row of the matrix.
func WriteConfusionCSV(path string, m *Metrics, classes []string) error {
	if m == nil {
		return fmt.Errorf("evaluate: %s: no metrics to write", path)
	}
	if len(classes) != len(m.Confusion) {
		return fmt.Errorf("evaluate: %s: %d class names for a %d×%d confusion matrix", path, len(classes), len(m.Confusion), len(m.Confusion))
	}
	rows := make([][]string, 0, len(classes)+1)
	rows = append(rows, append([]string{`true\predicted`}, classes...))
	for i, counts := range m.Confusion {
		if len(counts) != len(classes) {
			return fmt.Errorf("evaluate: %s: confusion row %d has %d columns for %d classes", path, i, len(counts), len(classes))
		}
		row := make([]string, 0, len(counts)+1)
		row = append(row, classes[i])
		for _, v := range counts {
			row = append(row, strconv.Itoa(v))
		}
		rows = append(rows, row)
	}
	return writeCSV(path, rows)
}

// WritePerClassCSV writes the per-class metrics of m to path, atomically:
// "class,precision,recall,f1,support,predicted", one row per class in
// class index order, ratios with 6 decimals.
func WritePerClassCSV(path string, m *Metrics) error {
	if m == nil {
		return fmt.Errorf("evaluate: %s: no metrics to write", path)
	}
	rows := make([][]string, 0, len(m.PerClass)+1)
	rows = append(rows, []string{"class", "precision", "recall", "f1", "support", "predicted"})
	for _, c := range m.PerClass {
		rows = append(rows, []string{
			c.Name, FormatFloat(c.Precision), FormatFloat(c.Recall), FormatFloat(c.F1),
			strconv.Itoa(c.Support), strconv.Itoa(c.Predicted),
		})
	}
	return writeCSV(path, rows)
}

// FormatFloat formats v with 6 decimals, the fixed format of every CSV
// file of a run, so that the same numbers give the same bytes.
func FormatFloat(v float64) string {
	return strconv.FormatFloat(v, 'f', 6, 64)
}

// writeCSV writes rows to path atomically with encoding/csv, which quotes
// class names holding commas or quotes.
func writeCSV(path string, rows [][]string) error {
	err := fsutil.Write(path, func(f *os.File) error {
		w := csv.NewWriter(f)
		if err := w.WriteAll(rows); err != nil {
			return err
		}
		return w.Error()
	})
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	return nil
}

// Accuracy is the top-1 and top-k accuracy of probs (one row of c
// probabilities per example, row-major) against labels: the share of
// examples with Rank(row, label) == 0, and < k. Compute and training's
// validation pass both score with it, so the two never disagree. With no
// examples both are 0.
func Accuracy(probs []float32, labels []int32, c, k int) (top1, topk float64) {
	if len(labels) == 0 {
		return 0, 0
	}
	var hits, hitsK int
	for i, y := range labels {
		rank := Rank(probs[i*c:(i+1)*c], int(y))
		if rank == 0 {
			hits++
		}
		if rank < k {
			hitsK++
		}
	}
	n := float64(len(labels))
	return float64(hits) / n, float64(hitsK) / n
}

// Rank is the number of classes scored strictly higher than class y (0 =
// top-1); ties count in y's favour, as argmax picks the first maximum. A
// row holding a non-finite value ranks y last (len(p)): NaN compares false
// with everything, so without this a diverged model's NaN row would rank
// every class first and count as a hit.
func Rank(p []float32, y int) int {
	if !num.AllFinite(p) {
		return len(p)
	}
	rank := 0
	for j, v := range p {
		if v > p[y] || (v == p[y] && j < y) {
			rank++
		}
	}
	return rank
}
