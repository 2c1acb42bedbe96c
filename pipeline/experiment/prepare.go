package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/cpuinfo"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/inspect"
	"github.com/gotransfer/gotransfer/pipeline/plan"
	"github.com/gotransfer/gotransfer/pipeline/plot"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/tensorboard"
	"github.com/gotransfer/gotransfer/pipeline/train"
	"github.com/gotransfer/gotransfer/pipeline/tune"
)

// runner carries what every stage of Run and Features shares: the
// config, the scanned data, one job per model, and what it found.
type runner struct {
	cfg    *config.Config
	logf   func(string, ...any)
	prog   io.Writer
	ds     *dataset.Dataset
	jobs   []*job
	res    *Result
	sh     *shared     // shared with a sweep's other trials; nil: none
	dir    string      // the run folder (Run only)
	run    *rundir.Run // its lock and identity (Run only)
	timing Timing
	// What Run's inspection found before training, for the report.
	spaces *spaces
	checks *inspect.Checks
	// folds are cross-validation's folds (data.folds) of the train and
	// val examples: each the examples of one fold, in the run's order.
	folds [][]dataset.Example
}

// job is one model of the run: its plan, its loaded backbone (nil for a
// scratch model), and what its stages produce.
type job struct {
	m    config.Model
	plan *plan.Plan
	bb   *backbone.Model
	// checked is the check of bb (one image through its features
	// endpoint), running from startBackbones until backbonesChecked.
	checked *pending
	out     *ModelResult  // its entry in the runner's Result
	rep     *report.Model // its entry in the report (Run only)
	tb      *tensorboard.Model
	// The splits it trains, validates and tests on, and the rate its
	// features were computed at (images/s; 0 when all were cached).
	train, val, test train.Data
	rate             float64
	// data serves any examples of the run as training data from the
	// same cache (cross-validation's folds).
	data func([]dataset.Example) train.Data
	// Test-time augmentation (evaluate.tta): the test split through each
	// view, whose probabilities are averaged (tta), or, when the
	// features are averaged, the test split as it is (plainTest); nil
	// without it.
	tta       []train.Data
	plainTest train.Data
	// The time spent computing views' features, and how many.
	viewSeconds   float64
	viewsComputed int
}

// prepare is the start of Run and Features: everything cheap that can be
// wrong is checked before any heavy work. It plans every model from its
// backbone's metadata, makes sure the data is there, scans and splits it,
// builds every model for its classes, and loads and checks each backbone.
// The caller closes the backbones (closeBackbones).
func prepare(ctx context.Context, cfg *config.Config, opts Options) (*runner, error) {
	r, err := prepareData(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	return r, r.prepareBackbones()
}

// prepareData is prepare without the backbones: the caller loads those of
// the models it keeps in r.jobs (prepareBackbones).
func prepareData(ctx context.Context, cfg *config.Config, opts Options) (*runner, error) {
	logf, prog := opts.writers()
	r := &runner{cfg: cfg, logf: logf, prog: prog, res: &Result{}, sh: opts.sh,
		timing: Timing{Stages: map[string]float64{}, Models: map[string]ModelTiming{}}}
	plans, err := resolve(cfg)
	if err != nil {
		// Say what else is missing too, so one message lists all to fix.
		if _, serr := os.Stat(cfg.Data.Dir); serr != nil {
			err = errors.Join(err, fmt.Errorf("data.dir %s does not exist (%s)", cfg.Data.Dir, dataHint(cfg)))
		}
		return nil, err
	}
	if err := r.scan(ctx); err != nil {
		return nil, err
	}
	weights, err := cfg.ClassWeights(r.ds.Classes, r.ds.Counts()[dataset.Train])
	if err != nil {
		return nil, err
	}
	r.res.Models = make([]ModelResult, len(plans))
	for i, p := range plans {
		p.Classes, p.ClassWeights = r.ds.Classes, weights
		if err := p.Check(); err != nil {
			return nil, err
		}
		r.res.Models[i].Name = p.Name
		r.jobs = append(r.jobs, &job{m: cfg.Models[i], plan: p, out: &r.res.Models[i]})
	}
	return r, nil
}

// prepareBackbones loads and checks the backbones of r.jobs; on an error
// it closes those it loaded.
func (r *runner) prepareBackbones() error {
	if err := r.startBackbones(); err != nil {
		return err
	}
	return r.backbonesChecked()
}

// startBackbones prepares the backbones of r.jobs (their metadata and
// signatures checked) and starts loading and checking each one in the
// background: the run goes on with its data meanwhile, and
// backbonesChecked waits for them. On an error it closes those it
// prepared.
func (r *runner) startBackbones() error {
	t0 := time.Now()
	if err := r.loadBackbones(); err != nil {
		r.closeBackbones()
		return err
	}
	r.stage("backbones", t0)
	return nil
}

// backbonesChecked waits for the checks startBackbones started and
// returns the first one's error (the backbones closed), naming its model:
// a broken backbone stops the run before any model trains.
func (r *runner) backbonesChecked() error {
	t0 := time.Now()
	defer r.stage("backbones", t0)
	for _, j := range r.jobs {
		if j.checked == nil {
			continue
		}
		if err := j.checked.wait(); err != nil {
			r.closeBackbones()
			return fmt.Errorf("model %s: %w", j.m.Name, err)
		}
	}
	return nil
}

// closeBackbones closes the backbones loadBackbones loaded (one that two
// models share is closed once; Close again does nothing), once their
// checks have ended.
func (r *runner) closeBackbones() {
	if r.sh != nil {
		return // the sweep's, closed at its end
	}
	for _, j := range r.jobs {
		if j.checked != nil {
			j.checked.wait()
		}
		if j.bb != nil {
			j.bb.Close()
		}
	}
}

// pending is work running in the background: wait returns its error once
// it has ended.
type pending struct {
	done chan struct{}
	err  error
}

// start runs f in the background.
func start(f func() error) *pending {
	p := &pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = f()
	}()
	return p
}

// wait waits for the work to end and returns its error.
func (p *pending) wait() error {
	<-p.done
	return p.err
}

// resolve plans every model of cfg (see plan.For): from metadata alone,
// seconds, before any data work.
func resolve(cfg *config.Config) ([]*plan.Plan, error) {
	plans := make([]*plan.Plan, len(cfg.Models))
	for i, m := range cfg.Models {
		p, err := plan.For(cfg, m)
		if err != nil {
			return nil, err
		}
		plans[i] = p
	}
	return plans, nil
}

// scan makes sure the data is there (downloading it when the config says
// how) and scans and splits it, saying what it leaves out.
func (r *runner) scan(ctx context.Context) error {
	cfg := r.cfg
	ds, err := r.scanned(ctx)
	if err != nil {
		return err
	}
	for _, m := range ds.Missing {
		r.logf("warning: data.exclude names %q, which is not a class folder in %s", m, cfg.Data.Dir)
	}
	if ds.Loose > 0 {
		r.logf("warning: data.dir %s: %d image file(s) directly in it are not used: only those in class folders are", cfg.Data.Dir, ds.Loose)
	}
	if hint := dataset.IgnoredHint(ds.Ignored); hint != "" {
		r.logf("warning: data.dir %s: %s", cfg.Data.Dir, hint)
	}
	for _, u := range ds.Unread {
		r.logf("skipped %s: %s", u.Path, u.Why)
	}
	if hint := dataset.AlikeHint(ds.Alike); hint != "" {
		r.logf("warning: data.dir %s: %s", cfg.Data.Dir, hint)
	}
	for _, c := range ds.Classes {
		if drawn, ok := plot.Drawable(c); !ok {
			r.logf("warning: class %s: the plots' font has no glyph for some of its characters; the plots show it as %s", c, drawn)
		}
	}
	r.ds = ds
	r.res.Data = DataResult{Missing: ds.Missing, Ignored: ds.Ignored, Loose: ds.Loose}
	return nil
}

// scanned is cfg's data set, scanned and split (data.dir made first when
// it can be); a sweep's trials share each scan of the same options.
func (r *runner) scanned(ctx context.Context) (*dataset.Dataset, error) {
	cfg := r.cfg
	scan := func() (*dataset.Dataset, error) {
		if err := ensureData(ctx, cfg, r.logf); err != nil {
			return nil, err
		}
		ds, err := dataset.Scan(scanOptions(cfg))
		if err != nil {
			return nil, fmt.Errorf("data.dir: %w", err)
		}
		return ds, nil
	}
	if r.sh == nil {
		return scan()
	}
	ds, err := once(r.sh, fmt.Sprintf("scan %#v %q", scanOptions(cfg), cfg.Data.Download), scan)
	if err != nil {
		return nil, err
	}
	return cloneDataset(ds), nil
}

// scanOptions are the dataset options of cfg.
func scanOptions(cfg *config.Config) dataset.Options {
	return dataset.Options{
		Dir: cfg.Data.Dir, Exclude: cfg.Data.Exclude, Extensions: cfg.Data.Extensions,
		Split:    dataset.Split{Train: cfg.Data.Split.Train, Val: cfg.Data.Split.Val, Test: cfg.Data.Split.Test},
		Stratify: cfg.Data.Stratify, MaxPerClass: cfg.Data.MaxPerClass, Seed: cfg.Seed,
	}
}

// loadBackbones prepares every transfer model's SavedModel (each once per
// precision) in the precision features.precision resolves to for it (see
// tune.Choose; logged with the reason), and starts loading it and running
// one image through each endpoint used, so that a broken backbone (no
// weights, a graph that does not run) stops the run before any model
// trains, not after the others have (backbonesChecked).
func (r *runner) loadBackbones() error {
	loaded := map[string]*backbone.Model{}
	for _, j := range r.jobs {
		if !j.plan.Transfer() {
			continue
		}
		if err := r.loadBackbone(j, loaded); err != nil {
			return fmt.Errorf("model %s: %w", j.m.Name, err)
		}
	}
	return nil
}

// loadBackbone prepares j's backbone, or takes it from loaded (by folder
// and precision), and starts its check.
func (r *runner) loadBackbone(j *job, loaded map[string]*backbone.Model) error {
	b := j.plan.Backbone
	batch := r.cfg.Features.BatchSize
	if batch == config.AutoBatch {
		batch = tune.BatchSizes[0] // the precision probe's; the batch is chosen later, in that precision
	}
	choice, err := tune.Choose(tune.Request{
		Want: r.cfg.Features.Precision, SavedModel: b.SavedModel, Plain: b.Plain, Endpoint: b.Endpoint,
		Batch: batch, CPU: cpuinfo.Read(), MemoDir: probesDir(r.cfg),
	})
	if err != nil {
		return err
	}
	r.logf("%s: backbone in %s (%s)", j.m.Name, choice.Precision, choice.Why)
	j.out.Precision, j.out.PrecisionWhy = choice.Precision, choice.Why
	key := b.SavedModel + "\x00" + choice.Precision.String()
	if b.Plain != nil { // loaded with its one endpoint
		key += "\x00" + b.Plain.Endpoint
	}
	load := func() (*backbone.Model, error) { return backbone.Prepare(b.SavedModel, b.Plain, choice.Precision) }
	if r.sh != nil {
		j.bb, err = once(r.sh, "backbone "+key, load)
	} else if j.bb = loaded[key]; j.bb == nil {
		j.bb, err = load()
		loaded[key] = j.bb
	}
	if err != nil {
		return err
	}
	b.Precision = j.bb.Precision
	bb, features := j.bb, b.Features
	check := func() (*pending, error) {
		return start(func() error {
			h, w, c := bb.InputSize()
			if _, err := bb.Run(features, make([]float32, h*w*c), 1); err != nil {
				return fmt.Errorf("backbone check (one image through %s): %w; %s", features, err, backbone.ExportHint)
			}
			return nil
		}), nil
	}
	if r.sh != nil {
		// A sweep's trials share each check, started by the first.
		j.checked, _ = once(r.sh, "backbone check "+key+"\x00"+features, check)
	} else {
		j.checked, _ = check()
	}
	return nil
}

// admit hashes and checks every image of ds and applies the bad-image
// policy: with data.on_bad_image: error every bad file is named at once;
// with skip each is left out of ds, logged, and returned.
func (r *runner) admit(ctx context.Context, ds *dataset.Dataset) ([]report.Skip, error) {
	workers := r.cfg.Images.Workers
	if err := ds.HashFiles(ctx, workers); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	bad, err := checkImages(ctx, ds, workers, verdicts(r.cfg.Features.CacheDir))
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 && r.cfg.Data.OnBadImage != config.BadImageSkip {
		return nil, badImagesError(bad, len(ds.Examples))
	}
	for _, s := range bad {
		r.logf("skipped %s: %s", s.Path, s.Reason)
	}
	drop(ds, bad)
	return bad, nil
}

// admitAll admits the run's images (admit); a sweep's trials share each
// admission of the same images.
func (r *runner) admitAll(ctx context.Context) ([]report.Skip, error) {
	if r.sh == nil {
		return r.admit(ctx, r.ds)
	}
	type admitted struct {
		examples []dataset.Example
		bad      []report.Skip
	}
	key := fmt.Sprintf("admit %s %q %q", examplesKey(r.ds.Examples), r.cfg.Data.OnBadImage, r.cfg.Features.CacheDir)
	a, err := once(r.sh, key, func() (*admitted, error) {
		ds := cloneDataset(r.ds)
		bad, err := r.admit(ctx, ds)
		return &admitted{ds.Examples, bad}, err
	})
	if err != nil {
		return nil, err
	}
	r.ds.Examples = slices.Clone(a.examples)
	return a.bad, nil
}

// featureBatch sets the backbone batch of transfer job j:
// features.batch_size, or when it is auto the one tune picks (logged).
func (r *runner) featureBatch(j *job) error {
	if j.out.FeatureBatch > 0 {
		return nil // chosen already (the inspection needed the features first)
	}
	b := j.plan.Backbone
	b.FeatureBatch = r.cfg.Features.BatchSize
	if b.FeatureBatch == config.AutoBatch {
		choose := func() (tune.BatchChoice, error) {
			return tune.ChooseBatch(tune.BatchRequest{Model: j.bb, Endpoint: b.Endpoint,
				BudgetMiB: r.cfg.Features.MemoryBudgetMiB, CPU: cpuinfo.Read(), MemoDir: probesDir(r.cfg)})
		}
		var bc tune.BatchChoice
		var err error
		if r.sh != nil {
			// One probe for a sweep's trials, never two at once.
			bc, err = once(r.sh, fmt.Sprintf("batch %p %q %d %q", j.bb, b.Endpoint, r.cfg.Features.MemoryBudgetMiB, probesDir(r.cfg)), choose)
		} else {
			bc, err = choose()
		}
		if err != nil {
			return err
		}
		r.logf("%s: backbone batch %d (%s)", j.m.Name, bc.Batch, bc.Why)
		b.FeatureBatch, j.out.BatchWhy = bc.Batch, bc.Why
	}
	j.out.FeatureBatch = b.FeatureBatch
	return nil
}

// probesDir is where tune remembers its measurements: beside the features
// they are about.
func probesDir(cfg *config.Config) string { return filepath.Join(cfg.Features.CacheDir, "probes") }
