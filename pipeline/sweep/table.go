package sweep

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/plot"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// Files of a sweep's folder.
const (
	TableFile = "results.md" // the trials' table, best first
	CSVFile   = "sweep.csv"  // the same, full precision
)

// Row is one model of one finished trial.
type Row struct {
	Trial  int // 1-based, in the order of the grid or the draws
	Dir    string
	Model  string
	Values []string // the swept keys' values
	// Monitor is the validation metric the rows are sorted by: early
	// stopping's monitor when it is a validation one, else val_loss;
	// Value its value at the model's best epoch (its last when there is
	// none), NaN when the run has no validation split.
	Monitor      string
	Value        float64
	ValLoss      float64
	ValAccuracy  float64
	TestAccuracy float64
	TestLoss     float64
	Epochs       int
}

// monitor is the validation metric of trial t's config.
func monitor(t Trial) string {
	if es := t.Config.Train.EarlyStopping; es != nil && strings.HasPrefix(es.Monitor, "val_") {
		return es.Monitor
	}
	return "val_loss"
}

// rows reads every finished trial's models into rows, sorted best
// first: lowest loss or highest accuracy, then trial order; rows without
// a validation value last.
func rows(entries []Entry, trials []Trial, runs []experiment.TrialResult) ([]Row, error) {
	var out []Row
	for i, r := range runs {
		if r.Err != nil || r.Result.Dir == "" {
			continue
		}
		run, err := report.Read(r.Result.Dir)
		if err != nil {
			return nil, err
		}
		mon := monitor(trials[i])
		for _, m := range run.Models {
			if m.Test == nil || len(m.History) == 0 {
				continue
			}
			best := len(m.History)
			if m.BestEpoch > 0 {
				best = m.BestEpoch
			}
			e := m.History[best-1]
			row := Row{Trial: i + 1, Dir: r.Result.Dir, Model: m.Name, Values: trials[i].Point.Values, Monitor: mon,
				ValLoss: e.ValLoss, ValAccuracy: e.ValAccuracy, TestAccuracy: m.Test.Accuracy, TestLoss: m.Test.Loss, Epochs: len(m.History)}
			row.Value = row.ValLoss
			if mon == "val_accuracy" {
				row.Value = row.ValAccuracy
			}
			out = append(out, row)
		}
	}
	slices.SortStableFunc(out, func(a, b Row) int {
		an, bn := math.IsNaN(a.Value), math.IsNaN(b.Value)
		switch {
		case an || bn:
			return cmp.Compare(boolInt(an), boolInt(bn))
		case a.Monitor == "val_accuracy":
			return cmp.Compare(b.Value, a.Value)
		}
		return cmp.Compare(a.Value, b.Value)
	})
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// write writes the sweep's table, CSV and plots into its folder.
func write(res *Result) error {
	var md bytes.Buffer
	keys := keysOf(res.Entries)
	mon := "val_loss"
	if len(res.Rows) > 0 {
		mon = res.Rows[0].Monitor
	}
	fmt.Fprintf(&md, "# Sweep: %d trials of %s\n\nSorted by %s at each model's best epoch (best first); test accuracy is shown, not used to choose.\n\n",
		len(res.Trials), strings.Join(keys, ", "), mon)
	md.WriteString("| rank | trial | model | " + strings.Join(keys, " | ") + " | val_loss | val_accuracy | test accuracy | test loss | epochs | run |\n")
	md.WriteString("|--:|--:|---|" + strings.Repeat("---|", len(keys)) + "--:|--:|--:|--:|--:|---|\n")
	var c bytes.Buffer
	w := csv.NewWriter(&c)
	w.Write(append(append([]string{"rank", "trial", "model"}, keys...), "monitor", "value", "val_loss", "val_accuracy", "test_accuracy", "test_loss", "epochs", "run"))
	for i, r := range res.Rows {
		fmt.Fprintf(&md, "| %d | %d | %s | %s | %s | %s | %s | %s | %d | %s |\n", i+1, r.Trial, r.Model, strings.Join(r.Values, " | "),
			metric("val_loss", r.ValLoss), metric("val_accuracy", r.ValAccuracy), pct(r.TestAccuracy), four(r.TestLoss), r.Epochs, filepath.Base(r.Dir))
		w.Write(append(append([]string{strconv.Itoa(i + 1), strconv.Itoa(r.Trial), r.Model}, r.Values...), r.Monitor, full(r.Value),
			full(r.ValLoss), full(r.ValAccuracy), full(r.TestAccuracy), full(r.TestLoss), strconv.Itoa(r.Epochs), r.Dir))
	}
	w.Flush()
	for i, t := range res.Runs {
		if t.Err != nil {
			fmt.Fprintf(&md, "\nTrial %d (%s) failed: %v\n", i+1, pointText(res.Entries, res.Trials[i].Point), t.Err)
		}
	}
	if len(res.Rows) > 0 {
		md.WriteString("\n")
		for i, e := range res.Entries {
			name := plotName(e.Key)
			if err := drawKey(filepath.Join(res.Dir, name), e, i, res.Rows); err != nil {
				return err
			}
			fmt.Fprintf(&md, "![%s against %s](%s)\n", mon, e.Key, name)
		}
	}
	if err := writeFile(res.Dir, CSVFile, c.Bytes()); err != nil {
		return err
	}
	return writeFile(res.Dir, TableFile, md.Bytes())
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// plotName is the file of the plot of key.
func plotName(key string) string { return unsafeName.ReplaceAllString(key, "_") + ".png" }

// drawKey plots each row's validation value against its value of entry
// i (numbers on their axis, on a log scale when they span 100× or more;
// other values in the order they were listed), one colour per model.
func drawKey(path string, e Entry, i int, rows []Row) error {
	var xs, ys []float64
	var models []string
	var lab []int
	numeric := true
	for _, r := range rows {
		if _, err := strconv.ParseFloat(r.Values[i], 64); err != nil {
			numeric = false
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		if math.IsNaN(r.Value) {
			continue
		}
		x := float64(slices.Index(e.Values, r.Values[i]))
		if numeric {
			x, _ = strconv.ParseFloat(r.Values[i], 64)
		}
		lo, hi = min(lo, x), max(hi, x)
		k := slices.Index(models, r.Model)
		if k < 0 {
			k = len(models)
			models = append(models, r.Model)
		}
		xs, ys, lab = append(xs, x), append(ys, r.Value), append(lab, k)
	}
	if len(xs) == 0 {
		return nil
	}
	xlabel := e.Key
	if numeric && lo > 0 && hi >= 100*lo {
		for j := range xs {
			xs[j] = math.Log10(xs[j])
		}
		xlabel = "log10(" + e.Key + ")"
	} else if !numeric {
		xlabel = e.Key + " (" + strings.Join(e.Values, ", ") + ")"
	}
	return plot.Scatter(path, fmt.Sprintf("%s against %s", rows[0].Monitor, e.Key), xlabel, rows[0].Monitor, xs, ys, lab, models)
}

// metric shows a validation value as results.md does: accuracy in
// percent, loss with four decimals, "—" when there is none.
func metric(name string, v float64) string {
	if strings.HasSuffix(name, "accuracy") {
		return pct(v)
	}
	return four(v)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return report.Missing
	}
	return fmt.Sprintf("%.2f%%", 100*v)
}

func four(v float64) string {
	if math.IsNaN(v) {
		return report.Missing
	}
	return fmt.Sprintf("%.4f", v)
}

func full(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
