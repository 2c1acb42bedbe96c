package inspect

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// pairRows names pairs by path.
func pairRows(examples []dataset.Example, pairs []Pair) []report.PairRow {
	out := make([]report.PairRow, len(pairs))
	for i, p := range pairs {
		a, b := examples[p.A], examples[p.B]
		out[i] = report.PairRow{A: filepath.ToSlash(a.Path), ASplit: a.Split, B: filepath.ToSlash(b.Path), BSplit: b.Split, Exact: p.Exact, Cosine: round(p.Cosine)}
	}
	return out
}

// round keeps 6 decimals, so that metrics.json does not churn in the
// last bits of a cosine.
func round(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 6, 64), 64)
	return f
}

// writeCSV writes rows under header to path, atomically.
func writeCSV(path string, header []string, rows [][]string) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows)
	if err := w.Error(); err != nil {
		return fmt.Errorf("inspect: %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	if err := fsutil.WriteFile(path, b.Bytes()); err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	return nil
}

// Neighbours is how many nearest training images are listed per
// misclassified image.
const Neighbours = 3

// What results.md draws at most.
const (
	shownPairs    = 12 // leak pairs
	shownSuspects = 24 // suspects
)

func f6(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// writeDuplicates writes DuplicatesFile.
func writeDuplicates(path string, examples []dataset.Example, pairs []Pair) error {
	rows := make([][]string, len(pairs))
	for i, p := range pairRows(examples, pairs) {
		rows[i] = []string{p.ASplit + "/" + p.BSplit, p.A, p.B, strconv.FormatBool(p.Exact), f6(p.Cosine)}
	}
	return writeCSV(path, []string{"splits", "a", "b", "exact", "cosine"}, rows)
}

// writeSuspects writes SuspectsFile.
func writeSuspects(path string, rows []report.SuspectRow) error {
	out := make([][]string, len(rows))
	for i, s := range rows {
		out[i] = []string{s.Path, s.Split, s.Given, s.Suggested, f6(s.PGiven), f6(s.PSuggest)}
	}
	return writeCSV(path, []string{"path", "split", "given", "suggested", "p_given", "p_suggested"}, out)
}

// writeMisclassified writes a model's MisclassifiedFile: every
// misclassified test image, highest loss first, with its nearest
// training images where they were looked up.
func writeMisclassified(path string, examples []dataset.Example, classes []string, misses []Miss) error {
	header := []string{"path", "true", "predicted", "probability", "loss"}
	for k := range Neighbours {
		n := strconv.Itoa(k + 1)
		header = append(header, "nearest_"+n, "nearest_"+n+"_class", "nearest_"+n+"_cosine")
	}
	rows := make([][]string, len(misses))
	for i, m := range misses {
		row := []string{filepath.ToSlash(examples[m.Index].Path), classes[m.True], classes[m.Predicted], f6(m.Probability), f6(m.Loss)}
		for k := range Neighbours {
			if k < len(m.Nearest) {
				e := examples[m.Nearest[k].Index]
				row = append(row, filepath.ToSlash(e.Path), e.Class, f6(m.Nearest[k].Cosine))
			} else {
				row = append(row, "", "", "")
			}
		}
		rows[i] = row
	}
	return writeCSV(path, header, rows)
}

// indexes are the example indexes of split.
func indexes(examples []dataset.Example, split ...string) []int {
	var out []int
	for i, e := range examples {
		if slices.Contains(split, e.Split) {
			out = append(out, i)
		}
	}
	return out
}

// labelsOf are every example's label.
func labelsOf(examples []dataset.Example) []int32 {
	out := make([]int32, len(examples))
	for i, e := range examples {
		out[i] = int32(e.Label)
	}
	return out
}
