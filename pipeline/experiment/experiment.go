// Package experiment runs a config's stages in order: data (scan, split,
// manifest), features (frozen backbone, cached), train, evaluate, report,
// export (each model as a SavedModel, unless export.savedmodel is off).
// Each stage reads the previous stage's output and writes its own into the
// run folder, runs/<name>-<hash of the effective config>, so rerunning the
// same config on the same data and backbones resumes or reuses it, and any
// other config or other inputs get a folder of their own (rundir.Open),
// which one process at a time uses.
//
// Run and Features share one preparation (prepare: plans, data, image
// check, backbones) and carry each model as a job through the stages,
// methods of a runner; both return a Result, what they did in numbers.
package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/export"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/pixels"
	"github.com/gotransfer/gotransfer/pipeline/plot"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/tensorboard"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// Options control Run.
type Options struct {
	Log      io.Writer // stage log lines (nil: os.Stdout)
	Progress io.Writer // progress bars (nil: os.Stderr)
	// Shards, when not 0, says that Features cached the features in
	// this many shards: Run then trains only when every entry is there,
	// and otherwise returns a *MissingError naming the shards to rerun.
	Shards int
	// sh, when not nil, is what the run shares with the other trials of
	// a sweep (Sweep); such a trial exports nothing (the sweep exports
	// its best) and returns a finished trial's results as they are.
	sh *shared
}

// writers are the log function and progress writer of o.
func (o Options) writers() (func(string, ...any), io.Writer) {
	logw, prog := o.Log, o.Progress
	if logw == nil {
		logw = os.Stdout
	}
	if prog == nil {
		prog = os.Stderr
	}
	return func(format string, args ...any) { fmt.Fprintf(logw, format+"\n", args...) }, prog
}

// Timing records where a run spent its time.
type Timing struct {
	Stages map[string]float64     `json:"stages_seconds"`
	Models map[string]ModelTiming `json:"models"`
}

// ModelTiming is one model's share of Timing.
type ModelTiming struct {
	FeatureImagesPerSecond float64   `json:"feature_images_per_second,omitempty"`
	EpochSeconds           []float64 `json:"epoch_seconds"`
	// ViewSeconds is the time spent computing the features of augmented
	// training views and test-time views (0 when all were cached), and
	// ViewsComputed how many.
	ViewSeconds   float64 `json:"view_seconds,omitempty"`
	ViewsComputed int     `json:"views_computed,omitempty"`
}

// Run runs every stage of cfg. Its Result, with the run folder, comes
// back with an error too once the folder exists (nil before).
func Run(ctx context.Context, cfg *config.Config, opts Options) (*Result, error) {
	t0 := time.Now()
	r, err := prepareData(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	// The backbones load while the images are hashed and checked.
	if err := r.startBackbones(); err != nil {
		return nil, err
	}
	defer r.closeBackbones()
	if err := r.data(ctx, opts.Shards); err != nil {
		if r.dir == "" {
			return nil, err
		}
		return r.res, err
	}
	defer r.run.Close()
	if r.sh != nil {
		if done, err := r.finished(); done || err != nil {
			return r.res, err
		}
	}
	r.stage("data", t0)
	// Loading and checking the backbones is a stage of its own.
	r.timing.Stages["data"] -= r.timing.Stages["backbones"]
	t0 = time.Now()
	if r.spaces, r.checks, err = r.inspectData(ctx); err != nil {
		return r.res, err
	}
	r.stage("inspect", t0)
	if err := r.backbonesChecked(); err != nil {
		return r.res, err
	}
	defer r.closeBoards()
	run, failed, err := r.models(ctx)
	if err != nil {
		return r.res, err
	}
	if err := r.finish(run); err != nil {
		return r.res, err
	}
	return r.res, errors.Join(failed...)
}

// stage adds the time since start to stage name.
func (r *runner) stage(name string, start time.Time) {
	r.timing.Stages[name] += time.Since(start).Seconds()
}

// data admits the images, opens (finds, locks and claims) the run folder
// for them, writes the manifest and, when the features were cached in
// shards, checks that they all are. The caller closes r.run when it is
// set.
func (r *runner) data(ctx context.Context, shards int) error {
	bad, err := r.admitAll(ctx)
	if err != nil {
		return err
	}
	if err := usable(r.ds, len(bad)); err != nil {
		return err
	}
	if k := r.cfg.Data.Folds; k > 0 {
		idx, err := r.ds.Folds(k, r.cfg.Seed)
		if err != nil {
			return err
		}
		for _, f := range idx {
			fold := make([]dataset.Example, len(f))
			for i, e := range f {
				fold[i] = r.ds.Examples[e]
			}
			r.folds = append(r.folds, fold)
		}
	}
	if r.run, err = r.openRun(); err != nil {
		return err
	}
	dir := r.run.Dir
	r.dir, r.res.Dir = dir, dir
	r.res.Data.Images, r.res.Data.Skipped = len(r.ds.Examples), bad
	r.logf("run %s: %d classes, %d images (%s)", dir, r.ds.NumClasses(), len(r.ds.Examples), splitCounts(r.ds))
	if err := dataset.WriteManifest(filepath.Join(dir, rundir.ManifestFile), r.ds); err != nil {
		return err
	}
	if shards > 0 {
		if err := r.checkShards(shards); err != nil {
			return err
		}
		r.logf("features of %d shards: all cached", shards)
		r.res.Shards = shards
	}
	return nil
}

// models trains and evaluates every model in turn and returns the report
// of the run so far. A model that diverges is reported as failed and the
// others still train: its error is returned in failed; any other error
// stops the run.
func (r *runner) models(ctx context.Context) (run *report.Run, failed []error, err error) {
	ds := r.ds
	run = &report.Run{Name: r.cfg.Name, Seed: r.cfg.Seed, Dataset: report.Dataset{
		Dir: r.cfg.Data.Dir, Classes: ds.Classes,
		Train: len(ds.Split(dataset.Train)), Val: len(ds.Split(dataset.Val)), Test: len(ds.Split(dataset.Test)),
		Skipped: append(unread(ds), r.res.Data.Skipped...),
	}}
	for _, j := range r.jobs {
		if j.tb, err = r.openTensorBoard(j.m.Name); err != nil {
			return nil, nil, fmt.Errorf("model %s: %w", j.m.Name, err)
		}
		j.rep = &report.Model{Name: j.m.Name, Kind: report.KindScratch, Weights: "none (trained from scratch)", Loss: lossNote(r.cfg.Train)}
		err := r.runModel(ctx, j)
		if err == nil && len(r.folds) > 0 {
			j.rep.CrossValidation, err = r.crossValidate(ctx, j)
		}
		if _, ok := errors.AsType[*train.DivergedError](err); ok {
			// The report says what happened; the run ends with the error.
			r.logf("%s: %v", j.m.Name, err)
			failed = append(failed, fmt.Errorf("model %s: %w", j.m.Name, err))
			j.rep.Failed = err.Error()
		} else if err != nil {
			return nil, nil, fmt.Errorf("model %s: %w", j.m.Name, err)
		}
		run.Models = append(run.Models, *j.rep)
	}
	return run, failed, nil
}

// finish draws the plots, ends the TensorBoard sessions, writes the
// report (metrics.json last of the results: it marks a finished run),
// exports the models and writes timing.json.
func (r *runner) finish(run *report.Run) error {
	t0 := time.Now()
	// Plots first: results.md links them and TensorBoard shows them.
	if err := plots(r.dir, run, r.ds, r.cfg); err != nil {
		return err
	}
	r.stage("report", t0)
	if err := r.endTensorBoard(run); err != nil {
		return err
	}
	t0 = time.Now()
	if err := r.finishInspect(run); err != nil {
		return err
	}
	r.stage("inspect", t0)
	t0 = time.Now()
	if err := report.Write(r.dir, run); err != nil {
		return err
	}
	r.stage("report", t0)
	if r.cfg.Export.SavedModel && r.sh == nil {
		t0 = time.Now()
		if err := r.exportModels(); err != nil {
			return err
		}
		r.stage("export", t0)
	}
	// Summaries are written during training too: their time is counted
	// here, not in the train stage, so the stages add up to the run.
	for _, j := range r.jobs {
		r.timing.Stages["tensorboard"] += j.tb.Spent().Seconds()
	}
	b, err := json.MarshalIndent(r.timing, "", "  ")
	if err == nil {
		err = fsutil.WriteFile(filepath.Join(r.dir, rundir.TimingFile), append(b, '\n'))
	}
	if err != nil {
		return fmt.Errorf("timing: %w", err)
	}
	r.summary(run)
	return nil
}

// summary logs each model's test results and where to look.
func (r *runner) summary(run *report.Run) {
	for _, m := range run.Models {
		if m.Test == nil {
			r.logf("%s: no results (%s)", m.Name, m.Failed)
			continue
		}
		r.logf("%s: test accuracy %.2f%%, top-%d %.2f%%, loss %.4f (%s)", m.Name, 100*m.Test.Accuracy, m.Test.K, 100*m.Test.TopK, m.Test.Loss, m.Weights)
	}
	r.logf("results: %s", filepath.Join(r.dir, rundir.ResultsFile))
	r.logf("tensorboard: %s (view: .venv/bin/tensorboard --logdir %s)", filepath.Join(r.dir, rundir.TensorBoardDir), r.cfg.RunsDir)
}

// exportModels writes each model of the finished run as a SavedModel
// into models/<name>/savedmodel/, unless it is there already (a rerun of a
// finished run), then converts it to each other format of export.formats
// whose file is missing there. A model without usable weights (diverged)
// is skipped with a log line; the run reports it already.
func (r *runner) exportModels() error {
	targets, err := export.ParseTargets(r.cfg.Export.Formats)
	if err != nil {
		return fmt.Errorf("export.formats: %w", err)
	}
	for _, j := range r.jobs {
		name := j.m.Name
		out := filepath.Join(rundir.Model(r.dir, name), rundir.SavedModelDir)
		if _, err := os.Stat(out); err == nil {
			r.logf("%s: already exported to %s", name, out)
			j.out.NotExported = "already exported"
		} else {
			t0 := time.Now()
			em, err := export.FromRun(r.dir, name)
			if errors.Is(err, export.ErrUntrained) {
				r.logf("%s: not exported: %v", name, err)
				j.out.NotExported = err.Error()
				continue
			}
			if err != nil {
				return err
			}
			if err := export.Write(out, em, export.Options{}); err != nil {
				return err
			}
			r.logf("%s: exported as a SavedModel to %s (%.1fs)", name, out, time.Since(t0).Seconds())
			j.out.Exported = out
		}
		if err := r.convert(name, out, targets); err != nil {
			return err
		}
	}
	return nil
}

// convert writes the files of targets missing beside the SavedModel out
// of model name. A failed conversion leaves the SavedModel as it is, and a
// rerun converts what is missing.
func (r *runner) convert(name, out string, targets []export.Target) error {
	var missing []export.Target
	for _, t := range targets {
		if f := export.TargetFile(t); f != "" {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				missing = append(missing, t)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	conv, err := export.FindConverter()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := export.Convert(context.Background(), out, missing, filepath.Join(r.dir, rundir.ManifestFile), conv); err != nil {
		return fmt.Errorf("%s: %w (the SavedModel is complete; drop the format from export.formats or fix the cause and rerun)", name, err)
	}
	r.logf("%s: converted to %v in %s (%.1fs)", name, missing, out, time.Since(t0).Seconds())
	return nil
}

// hparams are the run's config values for the HParams dashboard, as
// `pipeline report` compares them: the run's keys and the model's own.
func hparams(cfg *config.Config, model string) (map[string]string, error) {
	keys, err := report.ConfigKeys(cfg)
	if err != nil {
		return nil, err
	}
	own := "models[" + model + "]."
	for k := range keys {
		if strings.HasPrefix(k, "models[") && !strings.HasPrefix(k, own) {
			delete(keys, k)
		}
	}
	return keys, nil
}

// openTensorBoard opens the event files of a model of the run.
func (r *runner) openTensorBoard(model string) (*tensorboard.Model, error) {
	hp, err := hparams(r.cfg, model)
	if err != nil {
		return nil, err
	}
	return tensorboard.Open(tensorboard.Options{
		Dir: rundir.TensorBoard(r.dir, model), HParams: hp,
	})
}

// endTensorBoard ends each model's TensorBoard session with its test
// metrics, confusion matrix and the sample strip (drawn by plots); a model
// that failed (diverged) ends its session as failed, without results.
func (r *runner) endTensorBoard(run *report.Run) error {
	for i, m := range run.Models {
		f := tensorboard.Final{Epochs: len(m.History), Failed: m.Test == nil,
			Images: []tensorboard.Image{{Tag: "train/samples", Path: filepath.Join(r.dir, rundir.SamplesPlot)}}}
		if m.Test != nil {
			f.TestLoss, f.TestAccuracy = m.Test.Loss, m.Test.Accuracy
			f.Images = append(f.Images, tensorboard.Image{Tag: "test/confusion_matrix", Path: filepath.Join(rundir.Model(r.dir, m.Name), rundir.ConfusionPlot)})
		}
		tb := r.jobs[i].tb
		err := tb.End(f)
		if err == nil {
			err = tb.Close()
		}
		if err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
	}
	return nil
}

// closeBoards closes every TensorBoard session opened (a second Close
// of an ended one does nothing).
func (r *runner) closeBoards() {
	for _, j := range r.jobs {
		if j.tb != nil {
			j.tb.Close()
		}
	}
}

// plots draws the notebook's figures: the models' validation curves on
// shared axes, each model's confusion matrix, and a strip of 8 training
// images with their labels (thumbnails from the pixel cache: a rerun
// decodes none).
func plots(dir string, run *report.Run, ds *dataset.Dataset, cfg *config.Config) error {
	if report.HasHistory(run.Models) {
		if err := plot.History(filepath.Join(dir, rundir.HistoryPlot), run.Models); err != nil {
			return err
		}
	}
	for _, m := range run.Models {
		if m.Test == nil {
			continue
		}
		title := fmt.Sprintf("%s: test accuracy %.2f%%", m.Name, 100*m.Test.Accuracy)
		if err := plot.Confusion(filepath.Join(rundir.Model(dir, m.Name), rundir.ConfusionPlot), m.Test, run.Dataset.Classes, title); err != nil {
			return err
		}
	}
	return plot.SamplesWith(filepath.Join(dir, rundir.SamplesPlot), ds.Split(dataset.Train), 8, cfg.Seed, 96, pixels.Thumbs(cfg.Features.CacheDir))
}

// openRun opens (finds, locks and claims) the run folder of the config
// for the admitted data and the loaded backbones: its identity is the
// config, the manifest and the backbones' fingerprints (rundir.Open).
func (r *runner) openRun() (*rundir.Run, error) {
	_, effective, err := rundir.For(r.cfg)
	if err != nil {
		return nil, err
	}
	manifest, err := dataset.EncodeManifest(r.ds)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(manifest)
	in := rundir.Inputs{Manifest: hex.EncodeToString(h[:]), Backbones: map[string]string{}}
	for _, j := range r.jobs {
		if j.bb == nil {
			continue
		}
		fp, err := backbone.Fingerprint(j.bb.Dir)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", j.m.Name, err)
		}
		in.Backbones[j.m.Name] = fp + " " + j.bb.Meta.Weights.SHA256
	}
	run, err := rundir.Open(r.cfg, effective, in)
	if err != nil {
		return nil, err
	}
	for _, p := range run.Removed {
		r.logf("removed %s, left by a process that was stopped while writing it", p)
	}
	return run, nil
}

// unread are the files the scan of ds left out for not being regular
// files, as the report lists skipped files.
func unread(ds *dataset.Dataset) []report.Skip {
	var out []report.Skip
	for _, u := range ds.Unread {
		out = append(out, report.Skip{Path: u.Path, Reason: u.Why})
	}
	return out
}

func splitCounts(ds *dataset.Dataset) string {
	return fmt.Sprintf("train %d, val %d, test %d", len(ds.Split(dataset.Train)), len(ds.Split(dataset.Val)), len(ds.Split(dataset.Test)))
}

// lossNote says how the training loss of tr differs from plain
// categorical cross-entropy, for results.md; "" when it does not.
func lossNote(tr config.Train) string {
	var parts []string
	if s := tr.Loss.LabelSmoothing; s != 0 {
		parts = append(parts, fmt.Sprintf("label smoothing %g (loss, val_loss and the test loss alike, as Keras' compiled loss)", s))
	}
	switch w := tr.ClassWeight; {
	case w.Balanced:
		parts = append(parts, "each training example weighted by its class in loss (train.class_weight: balanced, n / (classes × class count)); val_loss and the test loss are not weighted")
	case w.Set():
		parts = append(parts, "each training example weighted by its class in loss (train.class_weight; classes left out weigh 1); val_loss and the test loss are not weighted")
	}
	return strings.Join(parts, "; ")
}
