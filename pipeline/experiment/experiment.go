// Package experiment runs a config's stages in order: data (scan, split,
// manifest), features (frozen backbone, cached), train, evaluate, report,
// export (each model as a SavedModel, unless export.savedmodel is off).
// Each stage reads the previous stage's output and writes its own into the
// run folder, runs/<name>-<hash of the effective config>, so rerunning the
// same config on the same data and backbones resumes or reuses it, and any
// other config or other inputs get a folder of their own (rundir.Open),
// which one process at a time uses.
package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/cpuinfo"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/export"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/plot"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/tensorboard"
	"github.com/gotransfer/gotransfer/pipeline/train"
	"github.com/gotransfer/gotransfer/pipeline/tune"
)

// Options control Run.
type Options struct {
	Log      io.Writer // stage log lines (nil: os.Stdout)
	Progress io.Writer // progress bars (nil: os.Stderr)
	// Shards, when not 0, says that Features cached the features in
	// this many shards: Run then trains only when every entry is there,
	// and otherwise returns a *MissingError naming the shards to rerun.
	Shards int
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
}

// Run runs every stage of cfg and returns the run folder.
func Run(ctx context.Context, cfg *config.Config, opts Options) (string, error) {
	logf, prog := opts.writers()
	timing := Timing{Stages: map[string]float64{}, Models: map[string]ModelTiming{}}
	stage := func(name string, start time.Time) { timing.Stages[name] += time.Since(start).Seconds() }

	// Everything cheap that can be wrong is checked before any heavy work.
	t0 := time.Now()
	ds, metas, tails, err := scan(ctx, cfg, logf)
	if err != nil {
		return "", err
	}
	specs, err := buildSpecs(cfg, ds.NumClasses(), metas, tails)
	if err != nil {
		return "", err
	}
	models, err := loadBackbones(cfg, logf)
	if err != nil {
		return "", err
	}
	defer closeBackbones(models)

	if err := ds.HashFiles(cfg.Images.Workers); err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	bad, err := checkImages(ctx, ds, cfg.Images.Workers)
	if err != nil {
		return "", err
	}
	if len(bad) > 0 && cfg.Data.OnBadImage != config.BadImageSkip {
		return "", badImagesError(bad, len(ds.Examples))
	}
	for _, s := range bad {
		logf("skipped %s: %s", s.Path, s.Reason)
	}
	if err := dropBad(ds, bad); err != nil {
		return "", err
	}
	rd, err := openRun(cfg, ds, models, logf)
	if err != nil {
		return "", err
	}
	defer rd.Close()
	dir := rd.Dir
	logf("run %s: %d classes, %d images (%s)", dir, ds.NumClasses(), len(ds.Examples), splitCounts(ds))
	if err := dataset.WriteManifest(filepath.Join(dir, rundir.ManifestFile), ds); err != nil {
		return "", err
	}
	if opts.Shards > 0 {
		if err := checkShards(cfg, ds, models, opts.Shards, logf); err != nil {
			return dir, err
		}
		logf("features of %d shards: all cached", opts.Shards)
	}
	stage("data", t0)
	t0 = time.Now()
	sp, checks, err := inspectData(ctx, cfg, dir, ds, models, prog, logf)
	if err != nil {
		return dir, err
	}
	stage("inspect", t0)

	run := &report.Run{Name: cfg.Name, Seed: cfg.Seed, Dataset: report.Dataset{
		Dir: cfg.Data.Dir, Classes: ds.Classes,
		Train: len(ds.Split(dataset.Train)), Val: len(ds.Split(dataset.Val)), Test: len(ds.Split(dataset.Test)),
		Skipped: append(unread(ds), bad...),
	}}
	var failed []error
	var boards []*tensorboard.Model
	for i, m := range cfg.Models {
		tb, err := openTensorBoard(cfg, dir, m.Name)
		if err != nil {
			return dir, fmt.Errorf("model %s: %w", m.Name, err)
		}
		defer tb.Close()
		boards = append(boards, tb)
		var bb *backbone.Model
		if m.Transfer() {
			bb = models[m.Name]
		}
		res, err := runModel(ctx, cfg, m, specs[i], bb, tails[m.Name], ds, dir, prog, logf, &timing, tb)
		var div *train.DivergedError
		if errors.As(err, &div) {
			// The other models still train, and the report says
			// what happened; the run then ends with the error.
			logf("%s: %v", m.Name, err)
			failed = append(failed, fmt.Errorf("model %s: %w", m.Name, err))
			res.Failed = err.Error()
		} else if err != nil {
			return dir, fmt.Errorf("model %s: %w", m.Name, err)
		}
		run.Models = append(run.Models, *res)
	}

	t0 = time.Now()
	// Plots first: results.md links them and TensorBoard shows them;
	// metrics.json, written last by report.Write, marks a finished run.
	if err := plots(dir, run, ds, cfg.Seed); err != nil {
		return dir, err
	}
	stage("report", t0)
	if err := endTensorBoard(dir, run, boards); err != nil {
		return dir, err
	}
	t0 = time.Now()
	if err := finishInspect(cfg, dir, ds, sp, checks, run, logf); err != nil {
		return dir, err
	}
	stage("inspect", t0)
	t0 = time.Now()
	if err := report.Write(dir, run); err != nil {
		return dir, err
	}
	stage("report", t0)
	if cfg.Export.SavedModel {
		t0 = time.Now()
		if err := exportModels(dir, cfg, logf); err != nil {
			return dir, err
		}
		stage("export", t0)
	}
	// Summaries are written during training too: their time is counted
	// here, not in the train stage, so the stages add up to the run.
	for _, tb := range boards {
		timing.Stages["tensorboard"] += tb.Spent().Seconds()
	}
	if b, err := json.MarshalIndent(timing, "", "  "); err == nil {
		fsutil.WriteFile(filepath.Join(dir, rundir.TimingFile), append(b, '\n'))
	}
	for _, m := range run.Models {
		if m.Test == nil {
			logf("%s: no results (%s)", m.Name, m.Failed)
			continue
		}
		logf("%s: test accuracy %.2f%%, top-%d %.2f%%, loss %.4f (%s)", m.Name, 100*m.Test.Accuracy, m.Test.K, 100*m.Test.TopK, m.Test.Loss, m.Weights)
	}
	logf("results: %s", filepath.Join(dir, rundir.ResultsFile))
	logf("tensorboard: %s (view: .venv/bin/tensorboard --logdir %s)", filepath.Join(dir, rundir.TensorBoardDir), cfg.RunsDir)
	return dir, errors.Join(failed...)
}

// scan checks every backbone's metadata, makes sure the data is there
// (downloading it when the config says how) and scans and splits it: the
// start of every command that reads a config's data.
func scan(ctx context.Context, cfg *config.Config, logf func(string, ...any)) (*dataset.Dataset, map[string]backbone.Metadata, map[string]*backbone.Tail, error) {
	metas, tails, err := checkBackbones(cfg)
	if err != nil {
		// Say what else is missing too, so one message lists all to fix.
		if _, serr := os.Stat(cfg.Data.Dir); serr != nil {
			err = errors.Join(err, fmt.Errorf("data.dir %s does not exist (%s)", cfg.Data.Dir, dataHint(cfg)))
		}
		return nil, nil, nil, err
	}
	if err := ensureData(ctx, cfg, logf); err != nil {
		return nil, nil, nil, err
	}
	ds, err := dataset.Scan(scanOptions(cfg))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("data.dir: %w", err)
	}
	for _, m := range ds.Missing {
		logf("warning: data.exclude names %q, which is not a class folder in %s", m, cfg.Data.Dir)
	}
	if ds.Loose > 0 {
		logf("warning: data.dir %s: %d image file(s) directly in it are not used: only those in class folders are", cfg.Data.Dir, ds.Loose)
	}
	if hint := dataset.IgnoredHint(ds.Ignored); hint != "" {
		logf("warning: data.dir %s: %s", cfg.Data.Dir, hint)
	}
	for _, u := range ds.Unread {
		logf("skipped %s: %s", u.Path, u.Why)
	}
	if hint := dataset.AlikeHint(ds.Alike); hint != "" {
		logf("warning: data.dir %s: %s", cfg.Data.Dir, hint)
	}
	for _, c := range ds.Classes {
		if drawn, ok := plot.Drawable(c); !ok {
			logf("warning: class %s: the plots' font has no glyph for some of its characters; the plots show it as %s", c, drawn)
		}
	}
	return ds, metas, tails, nil
}

// scanOptions are the dataset options of cfg.
func scanOptions(cfg *config.Config) dataset.Options {
	return dataset.Options{
		Dir: cfg.Data.Dir, Exclude: cfg.Data.Exclude, Extensions: cfg.Data.Extensions,
		Split:    dataset.Split{Train: cfg.Data.Split.Train, Val: cfg.Data.Split.Val, Test: cfg.Data.Split.Test},
		Stratify: cfg.Data.Stratify, MaxPerClass: cfg.Data.MaxPerClass, Seed: cfg.Seed,
	}
}

// runModel trains and evaluates one model of the config.
// bb is its backbone, loaded and checked (nil for a scratch model), and
// tail the backbone's layers it fine-tunes (nil if it does not).
func runModel(ctx context.Context, cfg *config.Config, m config.Model, spec nn.Spec, bb *backbone.Model, tail *backbone.Tail, ds *dataset.Dataset, dir string,
	prog io.Writer, logf func(string, ...any), timing *Timing, tb *tensorboard.Model) (*report.Model, error) {
	res := &report.Model{Name: m.Name, Kind: report.KindScratch, Weights: "none (trained from scratch)"}
	var trainD, valD, testD train.Data
	t0 := time.Now()
	var rate float64
	if m.Transfer() {
		batch, err := featureBatch(cfg, m, bb, logf)
		if err != nil {
			return nil, err
		}
		res.Kind = report.KindTransfer
		res.Precision, res.FeatureBatch = bb.Precision.String(), batch
		res.Backbone = m.Backbone.SavedModel + " @ " + m.Backbone.Endpoint
		res.Weights = bb.Meta.Weights.String()
		res.RandomWeights = !bb.Meta.Weights.Pretrained()
		if res.RandomWeights {
			logf("warning: %s has RANDOM weights: its features are not pretrained", bb.Dir)
		}
		if tail != nil {
			res.Backbone += fmt.Sprintf(", fine-tuned from %s", tail.From)
		}
		store, r, err := extractFeatures(ctx, cfg, m, bb, batch, ds.Examples, prog, logf)
		if err != nil {
			return nil, err
		}
		rate = r.Rate
		trainD, valD, testD = store.Split(ds.Split(dataset.Train)), store.Split(ds.Split(dataset.Val)), store.Split(ds.Split(dataset.Test))
	} else {
		size := m.InputSize(cfg.Images)
		src, err := newImageSource(ctx, cfg, size, ds, prog, logf)
		if err != nil {
			return nil, err
		}
		trainD, valD, testD = src.split(dataset.Train), src.split(dataset.Val), src.split(dataset.Test)
	}
	timing.Stages["features"] += time.Since(t0).Seconds()

	net, err := nn.Build(spec)
	if err != nil {
		return nil, err
	}
	defer func() {
		if net != nil { // fineTune replaces it
			net.Close()
		}
	}()
	res.Params = net.Params()
	mdir := rundir.Model(dir, m.Name)
	init := net.InitialWeights(ModelSeed(cfg.Seed, m.Name))
	if tail != nil {
		pre, err := backbone.ReadTail(bb.Dir, tail)
		if err != nil {
			return nil, err
		}
		maps.Copy(init, pre)
	}
	if err := net.SetWeights(init); err != nil {
		return nil, err
	}
	logf("%s:\n%s", m.Name, strings.TrimRight(net.Summary(), "\n"))
	logf("%s: %d trainable parameters; training %d epochs, batch %d, on %d examples (val %d)",
		m.Name, res.Params, cfg.Train.Epochs, cfg.Train.BatchSize, trainD.Len(), valD.Len())
	t0 = time.Now()
	tbBefore := tb.Spent()
	st, err := train.Fit(ctx, net, trainD, valD, train.Options{
		BatchSize: cfg.Train.BatchSize, Epochs: cfg.Train.Epochs, Shuffle: cfg.Train.Shuffle,
		Seed: ModelSeed(cfg.Seed, m.Name), EarlyStopping: cfg.Train.EarlyStopping,
		Dir: filepath.Join(mdir, rundir.TrainDir), Log: func(f string, a ...any) { logf(m.Name+": "+f, a...) },
		Callbacks: []train.Callback{tb},
	})
	if err != nil {
		if st != nil {
			res.History, res.BestEpoch = st.History, st.BestEpoch
		}
		return res, err
	}
	if m.FineTuned() {
		if net, st, err = fineTune(ctx, cfg, m, net, st, trainD, valD, mdir, logf, tb); err != nil {
			if st != nil {
				res.History, res.BestEpoch = st.History, st.BestEpoch
			}
			return res, err
		}
		res.Params = net.Params()
	}
	timing.Stages["train"] += time.Since(t0).Seconds() - (tb.Spent() - tbBefore).Seconds()
	if err := net.Save(filepath.Join(mdir, rundir.Weights)); err != nil {
		return nil, err
	}
	res.History, res.BestEpoch, res.StoppedEarly, res.RestoredBest = st.History, st.BestEpoch, st.StoppedEarly, st.Restored

	t0 = time.Now()
	ev, err := train.Evaluate(net, testD, cfg.Train.BatchSize, cfg.Evaluate.TopK)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if res.Test, err = evaluate.Compute(ev.Probs, ev.Labels, ds.Classes, ev.Loss, cfg.Evaluate.TopK); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	res.TestProbs = ev.Probs
	timing.Stages["evaluate"] += time.Since(t0).Seconds()

	entry := ModelTiming{FeatureImagesPerSecond: rate}
	for _, e := range st.History {
		entry.EpochSeconds = append(entry.EpochSeconds, e.Seconds)
	}
	timing.Models[m.Name] = entry
	return res, nil
}

// exportModels writes each model of the finished run in dir as a
// SavedModel into models/<name>/savedmodel/, unless it is there already
// (a rerun of a finished run). A model without usable weights (diverged)
// is skipped with a log line; the run reports it already.
func exportModels(dir string, cfg *config.Config, logf func(string, ...any)) error {
	targets, err := export.ParseTargets(cfg.Export.Formats)
	if err != nil {
		return fmt.Errorf("export.formats: %w", err)
	}
	for _, m := range cfg.Models {
		out := filepath.Join(rundir.Model(dir, m.Name), rundir.SavedModelDir)
		var em export.Model
		if _, err := os.Stat(out); err == nil {
			logf("%s: already exported to %s", m.Name, out)
		} else {
			t0 := time.Now()
			if em, err = export.FromRun(dir, m.Name); errors.Is(err, export.ErrUntrained) {
				logf("%s: not exported: %v", m.Name, err)
				continue
			} else if err != nil {
				return err
			}
			if err := export.Write(out, em, export.Options{}); err != nil {
				return err
			}
			logf("%s: exported as a SavedModel to %s (%.1fs)", m.Name, out, time.Since(t0).Seconds())
		}
		// Conversions go beside the SavedModel, which a failed one leaves
		// as it is; a rerun converts what is missing.
		var missing []export.Target
		for _, t := range targets {
			if f := export.TargetFile(t); f != "" {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					missing = append(missing, t)
				}
			}
		}
		if len(missing) == 0 {
			continue
		}
		conv, err := export.FindConverter()
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := export.Convert(context.Background(), out, missing, filepath.Join(dir, rundir.ManifestFile), conv); err != nil {
			return fmt.Errorf("%s: %w (the SavedModel is complete; drop the format from export.formats or fix the cause and rerun)", m.Name, err)
		}
		logf("%s: converted to %v in %s (%.1fs)", m.Name, missing, out, time.Since(t0).Seconds())
	}
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
func openTensorBoard(cfg *config.Config, dir, model string) (*tensorboard.Model, error) {
	hp, err := hparams(cfg, model)
	if err != nil {
		return nil, err
	}
	return tensorboard.Open(tensorboard.Options{
		Dir: rundir.TensorBoard(dir, model), LearningRate: cfg.Train.Optimizer.Adam.LearningRate, HParams: hp,
	})
}

// endTensorBoard ends each model's TensorBoard session with its test
// metrics, confusion matrix and the sample strip (drawn by plots); a model
// that failed (diverged) ends its session as failed, without results.
func endTensorBoard(dir string, run *report.Run, boards []*tensorboard.Model) error {
	for i, m := range run.Models {
		f := tensorboard.Final{Epochs: len(m.History), Failed: m.Test == nil,
			Images: []tensorboard.Image{{Tag: "train/samples", Path: filepath.Join(dir, rundir.SamplesPlot)}}}
		if m.Test != nil {
			f.TestLoss, f.TestAccuracy = m.Test.Loss, m.Test.Accuracy
			f.Images = append(f.Images, tensorboard.Image{Tag: "test/confusion_matrix", Path: filepath.Join(rundir.Model(dir, m.Name), rundir.ConfusionPlot)})
		}
		err := boards[i].End(f)
		if err == nil {
			err = boards[i].Close()
		}
		if err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
	}
	return nil
}

// fineTune runs the second phase of a fine-tuned model, as Keras'
// transfer-learning guide does after the new top has trained on the frozen
// backbone: every layer of net (the backbone's above the cut, and the top)
// trains on, from phase 1's final weights, with the fine_tune optimizer
// (fresh moments, as Keras' new compile gives) and early stopping, in its
// own folder, so that it resumes like phase 1. TensorBoard gets its epochs
// numbered on from phase 1's. It closes net and returns the phase 2 network
// and a state whose history holds both phases.
func fineTune(ctx context.Context, cfg *config.Config, m config.Model, net *nn.Network, st1 *train.State, trainD, valD train.Data, mdir string,
	logf func(string, ...any), tb *tensorboard.Model) (*nn.Network, *train.State, error) {
	w, err := net.Weights()
	if err != nil {
		return net, st1, err
	}
	spec := nn.FineTuneSpec(net.Spec, m.FineTune)
	net.Close()
	net2, err := nn.Build(spec)
	if err != nil {
		return nil, st1, err
	}
	init := net2.InitialWeights(0) // Adam's slots: zeros
	for _, v := range net2.Vars {
		if !v.Slot {
			init[v.Name] = w[v.Name]
		}
	}
	if err := net2.SetWeights(init); err != nil {
		net2.Close()
		return nil, st1, err
	}
	logf("%s: fine-tuning %s and above with the top: %d trainable parameters; %d epochs, learning rate %g",
		m.Name, m.Backbone.FineTuneFrom, net2.Params(), m.FineTune.Epochs, spec.Adam.LearningRate)
	st2, err := train.Fit(ctx, net2, trainD, valD, train.Options{
		BatchSize: cfg.Train.BatchSize, Epochs: m.FineTune.Epochs, Shuffle: cfg.Train.Shuffle,
		Seed: ModelSeed(cfg.Seed, m.Name+"/"+rundir.FineTuneDir), EarlyStopping: cfg.Train.EarlyStopping,
		Dir: filepath.Join(mdir, rundir.FineTuneDir), Log: func(f string, a ...any) { logf(m.Name+": fine-tune: "+f, a...) },
		Callbacks: []train.Callback{phase2{tb, len(st1.History)}},
	})
	both := &train.State{BestEpoch: st1.BestEpoch}
	both.History = append(both.History, st1.History...)
	if st2 != nil {
		for _, e := range st2.History {
			e.Epoch += len(st1.History)
			e.Phase = history.FineTune
			both.History = append(both.History, e)
		}
		both.StoppedEarly, both.Restored, both.Done = st2.StoppedEarly, st2.Restored, st2.Done
		if st2.BestEpoch > 0 {
			both.BestEpoch = len(st1.History) + st2.BestEpoch
		}
	}
	return net2, both, err
}

// phase2 hands a fine-tuning phase's epochs to a callback numbered on
// from the first phase's (offset epochs) and marked as fine-tuning, so
// that both phases form one series.
type phase2 struct {
	cb     train.Callback
	offset int
}

func (p phase2) shift(e history.Epoch) history.Epoch {
	e.Epoch += p.offset
	e.Phase = history.FineTune
	return e
}

func (p phase2) OnTrainBegin(done []history.Epoch) error {
	shifted := make([]history.Epoch, len(done))
	for i, e := range done {
		shifted[i] = p.shift(e)
	}
	return p.cb.OnTrainBegin(shifted)
}

func (p phase2) OnEpochEnd(e history.Epoch, net *nn.Network) error {
	return p.cb.OnEpochEnd(p.shift(e), net)
}

// plots draws the notebook's figures: the models' validation curves on
// shared axes, each model's confusion matrix, and a strip of 8 training
// images with their labels.
func plots(dir string, run *report.Run, ds *dataset.Dataset, seed int64) error {
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
	return plot.Samples(filepath.Join(dir, rundir.SamplesPlot), ds.Split(dataset.Train), 8, seed, 96)
}

// buildSpecs checks that every model builds for numClasses classes before
// any heavy work, and returns their specs.
func buildSpecs(cfg *config.Config, numClasses int, metas map[string]backbone.Metadata, tails map[string]*backbone.Tail) ([]nn.Spec, error) {
	var specs []nn.Spec
	for _, m := range cfg.Models {
		var features []int
		if m.Transfer() {
			for _, d := range metas[m.Name].Endpoints[m.Backbone.Endpoint].Shape[1:] {
				features = append(features, int(*d))
			}
		}
		var tail *nn.Tail
		if t := tails[m.Name]; t != nil {
			tail = &nn.Tail{Input: t.Shape, Layers: t.Layers, Names: t.Names}
		}
		spec := nn.SpecFor(cfg, m, features, tail, numClasses)
		net, err := nn.Build(spec)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		net.Close()
		specs = append(specs, spec)
	}
	return specs, nil
}

// checkBackbones makes sure each transfer model's SavedModel and endpoint
// exist, and that a fine-tuned model's layers above its cut can be
// rebuilt, from metadata alone (seconds, before any data work). It returns
// the metadata and the fine-tuned models' tails by model name.
func checkBackbones(cfg *config.Config) (map[string]backbone.Metadata, map[string]*backbone.Tail, error) {
	metas := map[string]backbone.Metadata{}
	tails := map[string]*backbone.Tail{}
	for _, m := range cfg.Models {
		if !m.Transfer() {
			continue
		}
		meta, err := backbone.ReadMetadata(m.Backbone.SavedModel)
		if err != nil {
			return nil, nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		if _, ok := meta.Endpoints[m.Backbone.Endpoint]; !ok {
			var have []string
			for n := range meta.Endpoints {
				have = append(have, n)
			}
			slices.Sort(have)
			return nil, nil, fmt.Errorf("model %s: backbone.endpoint %q: %s has no such endpoint (have %v)", m.Name, m.Backbone.Endpoint, m.Backbone.SavedModel, have)
		}
		metas[m.Name] = meta
		if m.FineTuned() {
			t, err := meta.TailFor(m.Backbone.FineTuneFrom, m.Backbone.Endpoint)
			if err != nil {
				return nil, nil, fmt.Errorf("model %s: backbone.fine_tune_from %q: %s: %w", m.Name, m.Backbone.FineTuneFrom, m.Backbone.SavedModel, err)
			}
			tails[m.Name] = t
		}
	}
	return metas, tails, nil
}

// loadBackbones loads every transfer model's SavedModel (each once per
// precision) in the precision features.precision resolves to for it (see
// tune.Choose; logged with the reason), and runs one image through each
// endpoint used, so that a broken backbone (no weights, a graph that does
// not run) stops the run before any model trains, not after the others
// have. It returns the models by transfer model name.
func loadBackbones(cfg *config.Config, logf func(string, ...any)) (_ map[string]*backbone.Model, err error) {
	loaded := map[string]*backbone.Model{}
	models := map[string]*backbone.Model{}
	defer func() {
		if err != nil {
			closeBackbones(loaded)
		}
	}()
	for _, m := range cfg.Models {
		if !m.Transfer() {
			continue
		}
		dir := m.Backbone.SavedModel
		batch := cfg.Features.BatchSize
		if batch == config.AutoBatch {
			batch = tune.BatchSizes[0] // the precision probe's; the batch is chosen in runModel, in that precision
		}
		choice, err := tune.Choose(tune.Request{
			Want: cfg.Features.Precision, SavedModel: dir, Endpoint: m.Backbone.Endpoint,
			Batch: batch, CPU: cpuinfo.Read(), MemoDir: probesDir(cfg),
		})
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		logf("%s: backbone in %s (%s)", m.Name, choice.Precision, choice.Why)
		key := dir + "\x00" + choice.Precision.String()
		bb, ok := loaded[key]
		if !ok {
			if bb, err = backbone.LoadPrecision(dir, choice.Precision); err != nil {
				return nil, fmt.Errorf("model %s: %w", m.Name, err)
			}
			loaded[key] = bb
		}
		models[m.Name] = bb
		h, w, c := bb.InputSize()
		ep, err := featureEndpoint(m, bb.Meta)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		if _, err := bb.Run(ep, make([]float32, h*w*c), 1); err != nil {
			return nil, fmt.Errorf("model %s: backbone check (one image through %s): %w; %s", m.Name, ep, err, backbone.ExportHint)
		}
	}
	return models, nil
}

// closeBackbones closes the backbones loadBackbones loaded (a backbone two
// models share is closed once; Close again does nothing).
func closeBackbones(models map[string]*backbone.Model) {
	for _, m := range models {
		m.Close()
	}
}

// openRun opens (finds, locks and claims) the run folder of cfg for
// dataset ds and backbones models: its identity is the config, the
// manifest and the backbones' fingerprints (rundir.Open).
func openRun(cfg *config.Config, ds *dataset.Dataset, models map[string]*backbone.Model, logf func(string, ...any)) (*rundir.Run, error) {
	_, effective, err := rundir.For(cfg)
	if err != nil {
		return nil, err
	}
	manifest, err := dataset.EncodeManifest(ds)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(manifest)
	in := rundir.Inputs{Manifest: hex.EncodeToString(h[:]), Backbones: map[string]string{}}
	for name, bb := range models {
		fp, err := backbone.Fingerprint(bb.Dir)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
		in.Backbones[name] = fp + " " + bb.Meta.Weights.SHA256
	}
	r, err := rundir.Open(cfg, effective, in)
	if err != nil {
		return nil, err
	}
	for _, p := range r.Removed {
		logf("removed %s, left by a process that was stopped while writing it", p)
	}
	return r, nil
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

// ModelSeed derives a model's seed from the run seed and its name, so
// adding a model to a config does not change the others' initialisation.
func ModelSeed(seed int64, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return seed ^ int64(h.Sum64()&0x7fffffffffffffff)
}

func splitCounts(ds *dataset.Dataset) string {
	return fmt.Sprintf("train %d, val %d, test %d", len(ds.Split(dataset.Train)), len(ds.Split(dataset.Val)), len(ds.Split(dataset.Test)))
}

// featureBatch is the backbone batch of transfer model m (backbone bb):
// features.batch_size, or when it is auto the one tune picks (logged).
func featureBatch(cfg *config.Config, m config.Model, bb *backbone.Model, logf func(string, ...any)) (int, error) {
	if cfg.Features.BatchSize != config.AutoBatch {
		return cfg.Features.BatchSize, nil
	}
	bc, err := tune.ChooseBatch(tune.BatchRequest{Model: bb, Endpoint: m.Backbone.Endpoint,
		BudgetMiB: cfg.Features.MemoryBudgetMiB, CPU: cpuinfo.Read(), MemoDir: probesDir(cfg)})
	if err != nil {
		return 0, err
	}
	logf("%s: backbone batch %d (%s)", m.Name, bc.Batch, bc.Why)
	return bc.Batch, nil
}

// probesDir is where tune remembers its measurements: beside the features
// they are about.
func probesDir(cfg *config.Config) string { return filepath.Join(cfg.Features.CacheDir, "probes") }
