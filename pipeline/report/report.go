// Package report writes and reads the results of a run and compares runs.
//
// A run folder (its layout and file names are package rundir's) is written
// by the pipeline runner: config.yaml (the effective config), manifest.csv
// and, per model, models/<name>/. This package writes the results part:
//
//	metrics.json                   the whole Run, re-read by Read and Compare
//	results.md                     a Markdown report for people
//	models/<name>/history.csv      per-epoch loss and accuracy
//	models/<name>/confusion.csv    test confusion matrix
//	models/<name>/per_class.csv    test precision, recall and F1 per class
//
// results.md shows the run's plots (rundir.HistoryPlot, rundir.SamplesPlot
// and each model's rundir.ConfusionPlot, drawn by the pipeline runner
// before it) through relative links, so any Markdown viewer shows them
// with the tables.
//
// Every file is written atomically and deterministically: the same Run
// gives byte-identical files (no timestamps, no timings, no map order), so
// that reruns can be diffed and committed results do not churn.
package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/num"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// Model kinds.
const (
	KindTransfer = "transfer" // a head trained on the features of a frozen backbone
	KindScratch  = "scratch"  // a network trained from scratch on images
	KindKNN      = "knn"      // a k-nearest-neighbour baseline on a transfer model's features
)

// Dataset describes the images a run used.
type Dataset struct {
	Dir     string   `json:"dir"`
	Classes []string `json:"classes"`
	Train   int      `json:"train"` // examples per split
	Val     int      `json:"val"`
	Test    int      `json:"test"`
	Skipped []Skip   `json:"skipped"` // image files left out, with why
}

// Skip is an image file a run left out (data.on_bad_image: skip) and why.
type Skip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// UnmarshalJSON also reads the bare path that runs before reasons were
// recorded wrote.
func (s *Skip) UnmarshalJSON(b []byte) error {
	var path string
	if json.Unmarshal(b, &path) == nil {
		*s = Skip{Path: path}
		return nil
	}
	type plain Skip
	return json.Unmarshal(b, (*plain)(s))
}

// Model is the outcome of one model of a run.
type Model struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`     // KindTransfer or KindScratch
	Backbone string `json:"backbone"` // "" for scratch, e.g. "savedmodels/vgg16 @ fc2"
	// Precision is what the backbone computed the features in ("float32"
	// or "bfloat16"); "" for scratch models and runs from before it was
	// recorded (float32). predict runs the backbone the same way.
	Precision string `json:"precision,omitempty"`
	// FeatureBatch is the backbone batch size the features were computed
	// at (the bits depend on it; features.batch_size may be auto); 0 for
	// scratch models and older runs.
	FeatureBatch int `json:"feature_batch,omitempty"`
	// Weights describes the backbone weights in words, e.g. "imagenet
	// weights (sha256 0123456789ab)" or "RANDOM weights (seed 0, not
	// pretrained; ...)".
	Weights string `json:"weights"`
	// RandomWeights is set when the backbone's weights were drawn at random
	// (backbone.Weights.Pretrained is false): results.md makes them stand
	// out. metrics.json leaves it out when false.
	RandomWeights bool `json:"random_weights,omitempty"`
	Params        int  `json:"params"` // trainable parameters
	// Loss says how the loss differs from plain categorical
	// cross-entropy, in words for results.md ("label smoothing 0.1
	// (...)"); "" when it does not.
	Loss         string            `json:"loss,omitempty"`
	History      []history.Epoch   `json:"history"`
	BestEpoch    int               `json:"best_epoch"` // 1-based; 0 if unknown
	StoppedEarly bool              `json:"stopped_early"`
	RestoredBest bool              `json:"restored_best"` // the best epoch's weights were restored
	Test         *evaluate.Metrics `json:"test"`          // nil if not evaluated
	// Augment says how the training images were augmented ("" for
	// none); TTAViews what test-time augmentation averaged over, and TTA
	// the test metrics with it (nil without it). Left out of
	// metrics.json when unset.
	Augment  string            `json:"augment,omitempty"`
	TTAViews string            `json:"tta_views,omitempty"`
	TTA      *evaluate.Metrics `json:"tta,omitempty"`
	// Failed says why the model has no results (such as a diverged
	// training); empty for a model that trained and was tested.
	Failed string `json:"failed,omitempty"`
	// CrossValidation is the model's k-fold cross-validation on the
	// train and val images (data.folds); nil when there was none.
	CrossValidation *CrossValidation `json:"cross_validation,omitempty"`
	// TestProbs are the test images' class probabilities (n×classes,
	// row-major, in the test split's order) while the run is in memory,
	// for package inspect; not stored (metrics.json has the metrics, each
	// model's misclassified.csv the images it got wrong).
	TestProbs []float32 `json:"-"`
}

// CrossValidation is k-fold cross-validation of a model: trained on all
// folds but one and validated on that one, for each fold in turn.
type CrossValidation struct {
	Folds int `json:"folds"`
	// Per fold, in order: the accuracy and loss on the held-out fold,
	// with the weights training ended with (the best epoch's when
	// restored), and the epochs trained.
	ValAccuracy []float64 `json:"val_accuracy"`
	ValLoss     []float64 `json:"val_loss"`
	Epochs      []int     `json:"epochs"`
	// Means and sample standard deviations (n-1) over the folds.
	MeanAccuracy float64 `json:"mean_val_accuracy"`
	StdAccuracy  float64 `json:"std_val_accuracy"`
	MeanLoss     float64 `json:"mean_val_loss"`
	StdLoss      float64 `json:"std_val_loss"`
}

// NewCrossValidation summarises the folds' validation accuracies and
// losses (as many of each, at least two).
func NewCrossValidation(acc, loss []float64, epochs []int) *CrossValidation {
	cv := &CrossValidation{Folds: len(acc), ValAccuracy: acc, ValLoss: loss, Epochs: epochs}
	cv.MeanAccuracy, cv.StdAccuracy = meanStd(acc)
	cv.MeanLoss, cv.StdLoss = meanStd(loss)
	return cv
}

// meanStd is the mean and sample standard deviation of x.
func meanStd(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	ss := 0.0
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1))
}

// HasHistory reports whether some model trained at least one epoch, so
// that there is a history plot to draw and link (models that diverged in
// their first epoch have none).
func HasHistory(models []Model) bool {
	return slices.ContainsFunc(models, func(m Model) bool { return len(m.History) > 0 })
}

// Run is the results of a run: its dataset and every model trained.
type Run struct {
	Name    string  `json:"name"`
	Seed    int64   `json:"seed"`
	Dataset Dataset `json:"dataset"`
	Models  []Model `json:"models"`
	// Baselines are classifiers that need no training, compared with the
	// models in the table (a kNN on a model's features, KindKNN).
	Baselines []Model `json:"baselines,omitempty"`
	// Inspect is what package inspect found in the data (duplicates,
	// suspect labels, misclassified images); nil for runs without.
	Inspect *Findings `json:"inspect,omitempty"`
}

// epochJSON is history.Epoch as metrics.json stores it: without Seconds,
// which would make the file differ between identical runs, and with
// non-finite values (val_loss without a val split is NaN) as null.
type epochJSON struct {
	Epoch       int       `json:"epoch"`
	Loss        num.Float `json:"loss"`
	Accuracy    num.Float `json:"accuracy"`
	ValLoss     num.Float `json:"val_loss"`
	ValAccuracy num.Float `json:"val_accuracy"`
	// LearningRate is the epoch's (history.Epoch); absent from runs
	// written before the history held it.
	LearningRate float64 `json:"learning_rate,omitempty"`
	Phase        string  `json:"phase,omitempty"` // history.FineTune for a fine-tuning epoch
}

// modelJSON is Model as metrics.json stores it.
type modelJSON struct {
	Name         string            `json:"name"`
	Kind         string            `json:"kind"`
	Backbone     string            `json:"backbone"`
	Precision    string            `json:"precision,omitempty"`
	FeatureBatch int               `json:"feature_batch,omitempty"`
	Weights      string            `json:"weights"`
	Random       bool              `json:"random_weights,omitempty"`
	Params       int               `json:"params"`
	Loss         string            `json:"loss,omitempty"`
	History      []epochJSON       `json:"history"`
	BestEpoch    int               `json:"best_epoch"`
	StoppedEarly bool              `json:"stopped_early"`
	RestoredBest bool              `json:"restored_best"`
	Test         *evaluate.Metrics `json:"test"`
	Augment      string            `json:"augment,omitempty"`
	TTAViews     string            `json:"tta_views,omitempty"`
	TTA          *evaluate.Metrics `json:"tta,omitempty"`
	Failed       string            `json:"failed,omitempty"`
	CV           *CrossValidation  `json:"cross_validation,omitempty"`
}

// runJSON is Run as metrics.json stores it.
type runJSON struct {
	Name      string      `json:"name"`
	Seed      int64       `json:"seed"`
	Dataset   Dataset     `json:"dataset"`
	Models    []modelJSON `json:"models"`
	Baselines []modelJSON `json:"baselines,omitempty"`
	Inspect   *Findings   `json:"inspect,omitempty"`
}

// toJSON converts r to its stored form; nil lists become empty ones so
// that readers of metrics.json always find a list.
func toJSON(r *Run) runJSON {
	out := runJSON{Name: r.Name, Seed: r.Seed, Dataset: r.Dataset, Models: modelsJSON(r.Models), Inspect: r.Inspect}
	if len(r.Baselines) > 0 {
		out.Baselines = modelsJSON(r.Baselines)
	}
	out.Dataset.Classes = nonNil(out.Dataset.Classes)
	if out.Dataset.Skipped == nil {
		out.Dataset.Skipped = []Skip{}
	}
	return out
}

// modelsJSON converts models to their stored form.
func modelsJSON(models []Model) []modelJSON {
	out := make([]modelJSON, len(models))
	for i, m := range models {
		mj := modelJSON{
			Name: m.Name, Kind: m.Kind, Backbone: m.Backbone, Precision: m.Precision, FeatureBatch: m.FeatureBatch, Weights: m.Weights, Random: m.RandomWeights, Params: m.Params, Loss: m.Loss,
			History:   make([]epochJSON, len(m.History)),
			BestEpoch: m.BestEpoch, StoppedEarly: m.StoppedEarly, RestoredBest: m.RestoredBest, Test: m.Test,
			Augment: m.Augment, TTAViews: m.TTAViews, TTA: m.TTA,
			Failed: m.Failed, CV: m.CrossValidation,
		}
		for j, e := range m.History {
			mj.History[j] = epochJSON{
				Epoch: e.Epoch, Loss: num.Float(e.Loss), Accuracy: num.Float(e.Accuracy),
				ValLoss: num.Float(e.ValLoss), ValAccuracy: num.Float(e.ValAccuracy), LearningRate: e.LearningRate, Phase: e.Phase,
			}
		}
		out[i] = mj
	}
	return out
}

// fromJSON converts the stored form back; empty lists become nil.
func fromJSON(j *runJSON) *Run {
	r := &Run{Name: j.Name, Seed: j.Seed, Dataset: j.Dataset, Models: modelsOf(j.Models), Baselines: modelsOf(j.Baselines), Inspect: j.Inspect}
	r.Dataset.Classes = nilIfEmpty(r.Dataset.Classes)
	if len(r.Dataset.Skipped) == 0 {
		r.Dataset.Skipped = nil
	}
	return r
}

// modelsOf converts stored models back.
func modelsOf(models []modelJSON) []Model {
	var out []Model
	for _, mj := range models {
		m := Model{
			Name: mj.Name, Kind: mj.Kind, Backbone: mj.Backbone, Precision: mj.Precision, FeatureBatch: mj.FeatureBatch, Weights: mj.Weights, RandomWeights: mj.Random, Params: mj.Params, Loss: mj.Loss,
			BestEpoch: mj.BestEpoch, StoppedEarly: mj.StoppedEarly, RestoredBest: mj.RestoredBest, Test: mj.Test,
			Augment: mj.Augment, TTAViews: mj.TTAViews, TTA: mj.TTA,
			Failed: mj.Failed, CrossValidation: mj.CV,
		}
		for _, e := range mj.History {
			m.History = append(m.History, history.Epoch{
				Epoch: e.Epoch, Loss: float64(e.Loss), Accuracy: float64(e.Accuracy),
				ValLoss: float64(e.ValLoss), ValAccuracy: float64(e.ValAccuracy), LearningRate: e.LearningRate, Phase: e.Phase,
			})
		}
		out = append(out, m)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Write writes the results of r into the run folder dir: metrics.json,
// results.md and, per model, history.csv, confusion.csv and per_class.csv
// (the last two only for a model with test metrics). Each file is written
// atomically and the same r always gives the same bytes; Epoch.Seconds is
// not written anywhere, since timings differ between identical runs.
// Model names must be unique folder names, as config names are.
func Write(dir string, r *Run) error {
	if r == nil {
		return fmt.Errorf("report: %s: no run to write", dir)
	}
	seen := make(map[string]bool, len(r.Models))
	for _, m := range r.Models {
		if err := checkName(m.Name); err != nil {
			return fmt.Errorf("report: %s: %w", dir, err)
		}
		if seen[m.Name] {
			return fmt.Errorf("report: %s: two models named %q", dir, m.Name)
		}
		seen[m.Name] = true
		if m.Test != nil && len(m.Test.Confusion) != len(r.Dataset.Classes) {
			return fmt.Errorf("report: %s: model %s was tested on %d classes but the dataset has %d",
				dir, m.Name, len(m.Test.Confusion), len(r.Dataset.Classes))
		}
	}
	for _, m := range r.Models {
		mdir := rundir.Model(dir, m.Name)
		if err := writeHistory(filepath.Join(mdir, rundir.HistoryFile), m.History); err != nil {
			return err
		}
		if m.Test == nil {
			continue
		}
		if err := evaluate.WriteConfusionCSV(filepath.Join(mdir, rundir.ConfusionFile), m.Test, r.Dataset.Classes); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := evaluate.WritePerClassCSV(filepath.Join(mdir, rundir.PerClassFile), m.Test); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	js, err := json.MarshalIndent(toJSON(r), "", "  ")
	if err != nil {
		return fmt.Errorf("report: encoding %s: %w", filepath.Join(dir, rundir.MetricsFile), err)
	}
	js = append(js, '\n')
	if err := fsutil.WriteFile(filepath.Join(dir, rundir.ResultsFile), Markdown(r)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	// metrics.json last: Compare takes its presence to mean the run is done.
	if err := fsutil.WriteFile(filepath.Join(dir, rundir.MetricsFile), js); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// checkName reports whether name can be a folder of its own under models/.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name || filepath.IsAbs(name) {
		return fmt.Errorf("model name %q is not a plain folder name", name)
	}
	for _, c := range name {
		if c == '/' || c == '\\' || c < ' ' {
			return fmt.Errorf("model name %q is not a plain folder name", name)
		}
	}
	return nil
}

// writeHistory writes "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate"
// with 6 decimals (the learning rate in full); a NaN (no val split) is an
// empty cell.
//
// A fine-tuned model's history has a last column, phase: "train" for the
// epochs that trained the new top on the frozen backbone, "fine_tune" for
// the second phase's.
func writeHistory(path string, epochs []history.Epoch) error {
	var b bytes.Buffer
	phases := slices.ContainsFunc(epochs, func(e history.Epoch) bool { return e.Phase != "" })
	b.WriteString("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate")
	if phases {
		b.WriteString(",phase")
	}
	b.WriteByte('\n')
	for _, e := range epochs {
		b.WriteString(strconv.Itoa(e.Epoch))
		for _, v := range []float64{e.Loss, e.Accuracy, e.ValLoss, e.ValAccuracy} {
			b.WriteByte(',')
			b.WriteString(csvFloat(v))
		}
		b.WriteByte(',')
		if e.LearningRate > 0 { // 0: a run from before the history held it
			b.WriteString(strconv.FormatFloat(e.LearningRate, 'g', -1, 32))
		}
		if phases {
			b.WriteString("," + cmp.Or(e.Phase, "train"))
		}
		b.WriteByte('\n')
	}
	if err := fsutil.WriteFile(path, b.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// csvFloat formats v for a CSV cell: 6 decimals, NaN empty, infinities as
// "inf" and "-inf", which spreadsheets and pandas read.
func csvFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return ""
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return evaluate.FormatFloat(v)
}

// Read reads the results of the run in dir from its metrics.json. Values
// written as null (NaN, infinities) are read back as NaN; Epoch.Seconds is
// 0 since Write does not store it.
func Read(dir string) (*Run, error) {
	path := filepath.Join(dir, rundir.MetricsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s: the run has not finished; rerun it", dir, rundir.MetricsFile)
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var j runJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	r := fromJSON(&j)
	if err := nullsAsNaN(data, r); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	return r, nil
}

// nullsAsNaN sets to NaN each test metric of r that data (its
// metrics.json) holds as null or lacks, where decoding left 0: a missing
// number must never read as 0%.
func nullsAsNaN(data []byte, r *Run) error {
	var j struct {
		Models []struct {
			Test map[string]json.RawMessage `json:"test"`
		} `json:"models"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	for i, mj := range j.Models {
		if i >= len(r.Models) || r.Models[i].Test == nil || mj.Test == nil {
			continue
		}
		t := r.Models[i].Test
		for key, f := range map[string]*float64{"loss": &t.Loss, "accuracy": &t.Accuracy, "top_k_accuracy": &t.TopK,
			"mean_class_recall": &t.MeanClassRecall, "macro_precision": &t.MacroPrecision, "macro_f1": &t.MacroF1} {
			if v, ok := mj.Test[key]; !ok || string(v) == "null" {
				*f = math.NaN()
			}
		}
	}
	return nil
}
