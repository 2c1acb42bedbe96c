package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// Table is a comparison of runs: named columns and rows of cells, as
// strings ready to print.
type Table struct {
	Columns []string
	Rows    [][]string
	// Unfinished lists the folders given that hold no finished run
	// (interrupted, failed, or not a run folder), with why; they have no
	// rows.
	Unfinished []Unfinished
}

// Unfinished is a folder Compare could not tabulate, and why.
type Unfinished struct {
	Dir string
	Why string
}

// FixedColumns are the columns every comparison starts with. In Rows (and
// the CSV) ratios are fractions and every number has full precision: the
// shortest decimal that reads back as the same float64, NaN as "NaN". A
// model without test metrics has those cells empty. Markdown rounds them as
// results.md does (see markdownColumns) and shows a missing number (an
// empty cell, a ratio stored as null) as "—", never as a number. status is "finished", or "failed" for a model
// whose training failed (diverged; its run's results.md says why).
// When some run's model was tested with test-time augmentation
// (evaluate.tta), TTAColumns come before status (empty for the models
// without it).
var FixedColumns = []string{
	"run", "model", "kind", "weights", "params", "epochs",
	"test_accuracy", "top_k_accuracy", "test_loss", "mean_class_recall", "macro_f1", "status",
}

// TTAColumns are the test metrics with test-time augmentation.
var TTAColumns = []string{"tta_accuracy", "tta_mean_class_recall"}

// Missing is how Table.Markdown shows a number that is not there.
const Missing = "—"

// markdownColumns formats the numeric columns for Markdown in results.md's
// units and rounding: percentages with two decimals, losses with four,
// counts with thousands separators.
var markdownColumns = map[string]func(float64) string{
	"params":                func(v float64) string { return thousands(int(v)) },
	"epochs":                func(v float64) string { return thousands(int(v)) },
	"test_accuracy":         percent,
	"top_k_accuracy":        percent,
	"test_loss":             loss,
	"mean_class_recall":     percent,
	"macro_f1":              percent,
	"tta_accuracy":          percent,
	"tta_mean_class_recall": percent,
}

// ignoredKeys are config keys that differ between runs without changing
// what is computed.
var ignoredKeys = map[string]bool{"name": true, "runs_dir": true}

// loadedRun is one run folder read by Compare.
type loadedRun struct {
	base string
	run  *Run
	keys map[string]string // config keys, model keys by model name
}

// Compare loads the runs in dirs (their config.yaml and metrics.json) and
// tabulates them: one row per run and model, in the order given, with
// FixedColumns then one column per config key whose value differs between
// the runs (a key some run lacks differs too), sorted by key. The run name
// and runs_dir are left out, as they always differ. Folders holding no
// finished run are listed in Table.Unfinished; it is an error only when no
// folder holds one.
//
// Model settings are compared by model name, not by position: the key
// models.<i>.<rest> of the model named n becomes models[n].<rest>, and a
// row shows only the keys of its own model (other models' cells are
// empty). models[n].name is left out: it is the model column.
func Compare(dirs []string) (*Table, error) {
	if len(dirs) == 0 {
		return nil, errors.New("compare: no run folders given")
	}
	var runs []loadedRun
	var unfinished []Unfinished
	var errs []error
	for _, dir := range dirs {
		lr, err := loadRun(dir)
		if err != nil {
			why := strings.TrimPrefix(err.Error(), dir+": ")
			unfinished = append(unfinished, Unfinished{Dir: dir, Why: why})
			errs = append(errs, err)
			continue
		}
		runs = append(runs, *lr)
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("compare: no finished run among the folders given:\n%w", errors.Join(errs...))
	}

	// A key differs if some run lacks it or has another value.
	union := make(map[string]bool)
	for _, r := range runs {
		for k := range r.keys {
			union[k] = true
		}
	}
	var diff []string
	for k := range union {
		v, ok := runs[0].keys[k]
		for _, r := range runs[1:] {
			if w, has := r.keys[k]; has != ok || w != v {
				diff = append(diff, k)
				break
			}
		}
	}
	sort.Strings(diff)

	tta := slices.ContainsFunc(runs, func(r loadedRun) bool {
		return slices.ContainsFunc(r.run.Models, func(m Model) bool { return m.TTA != nil })
	})
	fixed := slices.Clone(FixedColumns)
	if tta {
		fixed = slices.Insert(fixed, len(fixed)-1, TTAColumns...)
	}
	t := &Table{Columns: append(fixed, diff...), Unfinished: unfinished}
	for _, r := range runs {
		for _, m := range r.run.Models {
			row := []string{
				r.base, m.Name, m.Kind, m.Weights, strconv.Itoa(m.Params), strconv.Itoa(len(m.History)),
			}
			if tm := m.Test; tm != nil {
				row = append(row, fullFloat(tm.Accuracy), fullFloat(tm.TopK),
					fullFloat(tm.Loss), fullFloat(tm.MeanClassRecall), fullFloat(tm.MacroF1))
			} else {
				row = append(row, "", "", "", "", "")
			}
			if tm := m.TTA; tm != nil {
				row = append(row, fullFloat(tm.Accuracy), fullFloat(tm.MeanClassRecall))
			} else if tta {
				row = append(row, "", "")
			}
			switch {
			case m.Failed != "":
				row = append(row, "failed")
			case m.Test == nil:
				row = append(row, "not evaluated")
			default:
				row = append(row, "finished")
			}
			own := "models[" + m.Name + "]."
			for _, k := range diff {
				if strings.HasPrefix(k, "models[") && !strings.HasPrefix(k, own) {
					row = append(row, "")
					continue
				}
				row = append(row, r.keys[k])
			}
			t.Rows = append(t.Rows, row)
		}
	}
	return t, nil
}

// loadRun reads the config and results of the run in dir and flattens its
// config, model keys by model name.
func loadRun(dir string) (*loadedRun, error) {
	cpath := filepath.Join(dir, rundir.ConfigFile)
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("%s: not a folder: not a run folder", dir)
	}
	if _, err := os.Stat(cpath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s: not a run folder", dir, rundir.ConfigFile)
	}
	cfg, err := config.Load(cpath, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	run, err := Read(dir)
	if err != nil {
		return nil, err
	}
	keys, err := ConfigKeys(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpath, err)
	}
	return &loadedRun{base: filepath.Base(filepath.Clean(dir)), run: run, keys: keys}, nil
}

// ConfigKeys flattens cfg into the keys Compare compares: dotted paths
// with their YAML values, models.<i>.<rest> renamed models[<name>].<rest>
// (models[<name>].name left out), and without the run name and runs_dir.
func ConfigKeys(cfg *config.Config) (map[string]string, error) {
	keys := make(map[string]string)
	for k, v := range cfg.Flatten() {
		if ignoredKeys[k] {
			continue
		}
		if rest, ok := strings.CutPrefix(k, "models."); ok {
			idx, sub, _ := strings.Cut(rest, ".")
			i, err := strconv.Atoi(idx)
			if err != nil || i < 0 || i >= len(cfg.Models) {
				return nil, fmt.Errorf("config key %s names no model", k)
			}
			if sub == "name" {
				continue
			}
			k = "models[" + cfg.Models[i].Name + "]." + sub
		}
		keys[k] = v
	}
	return keys, nil
}

// fullFloat formats v with full precision: the shortest decimal that
// parses back to v, without an exponent; NaN and infinities as Go and
// pandas spell them (NaN, +Inf, -Inf).
func fullFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// Markdown returns t as a Markdown table, its numbers rounded and in the
// units of results.md (percentages, losses with four decimals); numeric
// columns are right-aligned.
func (t *Table) Markdown() string {
	var b bytes.Buffer
	writeRow(&b, t.Columns...)
	b.WriteString("|")
	for _, c := range t.Columns {
		if markdownColumns[c] != nil {
			b.WriteString("--:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	cells := make([]string, len(t.Columns))
	for _, r := range t.Rows {
		for i, v := range r {
			cells[i] = v
			if format := markdownColumns[t.Columns[i]]; format != nil {
				// A loss may be NaN (a diverged model) and shows so; a
				// ratio cannot, so NaN there is a number not stored.
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || (math.IsNaN(f) && t.Columns[i] != "test_loss") {
					cells[i] = Missing
				} else {
					cells[i] = format(f)
				}
			}
		}
		writeRow(&b, cells[:len(r)]...)
	}
	return b.String()
}

// CSV returns t as CSV, the header first.
func (t *Table) CSV() ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(t.Columns); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if err := w.WriteAll(t.Rows); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	return b.Bytes(), nil
}
