package experiment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/features"
	"github.com/gotransfer/gotransfer/pipeline/inspect"
	"github.com/gotransfer/gotransfer/pipeline/inspect/tfops"
	"github.com/gotransfer/gotransfer/pipeline/pixels"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// spaces are the feature spaces of a run's transfer models: one per
// backbone and endpoint, read from the feature cache of the first model
// that caches them (a fine-tuned model caches its cut's input instead, and
// uses a frozen sibling's space when there is one; when no model is
// frozen, the first fine-tuned model's cut features, averaged over
// positions, are the run's space).
type spaces struct {
	byKey   map[string]*inspect.Space
	ofModel map[string]*inspect.Space // by model name
	first   *inspect.Space            // the run's: duplicates, suspects
	order   []*inspect.Space
}

func spaceKey(m config.Model) string { return m.Backbone.SavedModel + "\x00" + m.Backbone.Endpoint }

// loadSpaces caches (if need be) and reads the features of examples for
// every backbone endpoint of the run's frozen transfer models.
func (r *runner) loadSpaces(ctx context.Context, examples []dataset.Example) (*spaces, error) {
	sp := &spaces{byKey: map[string]*inspect.Space{}, ofModel: map[string]*inspect.Space{}}
	frozen := slices.ContainsFunc(r.cfg.Models, func(m config.Model) bool { return m.Transfer() && !m.FineTuned() })
	for _, j := range r.jobs {
		m := j.m
		// Only fine-tuned models: the first one's features at its cut,
		// averaged over positions, stand in for its backbone's.
		if !m.Transfer() || (m.FineTuned() && (frozen || sp.first != nil)) || sp.byKey[spaceKey(m)] != nil {
			continue
		}
		if err := r.featureBatch(j); err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		store, err := r.cacheFeatures(ctx, j, examples)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		s, err := readSpace(m.Name, store, examples)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		sp.byKey[spaceKey(m)] = s
		sp.order = append(sp.order, s)
		if sp.first == nil {
			sp.first = s
		}
	}
	for _, m := range r.cfg.Models {
		if m.Transfer() {
			if s := sp.byKey[spaceKey(m)]; s != nil {
				sp.ofModel[m.Name] = s
			}
		}
	}
	return sp, nil
}

// readSpace reads the cached features of examples, averaged over the
// positions of a spatial endpoint (global average pooling), so that a row
// is one vector per image.
func readSpace(model string, store *features.Store, examples []dataset.Example) (*inspect.Space, error) {
	split := store.Split(examples)
	if split.Len() != len(examples) {
		return nil, fmt.Errorf("inspect: %d of %d images have no cached features", len(examples)-split.Len(), len(examples))
	}
	shape := store.Key.Shape
	ch := int(shape[len(shape)-1])
	pos := store.Dim / ch
	x := make([]float32, len(examples)*ch)
	row := make([]float32, store.Dim)
	for i := range examples {
		if err := split.Read([]int{i}, row); err != nil {
			return nil, err
		}
		out := x[i*ch : (i+1)*ch]
		for p := range pos {
			for c, v := range row[p*ch : (p+1)*ch] {
				out[c] += v / float32(pos)
			}
		}
	}
	return inspect.NewSpace(model, ch, x)
}

// inspectData reads the run's feature spaces (caching features that are
// missing), finds the duplicates and acts on them (checkDuplicates);
// when test images were dropped, the manifest is written again.
func (r *runner) inspectData(ctx context.Context) (*spaces, *inspect.Checks, error) {
	if r.sh != nil {
		return r.inspectShared(ctx)
	}
	return r.inspectOwn(ctx)
}

// inspection is what a sweep's trials share of inspectData: the spaces,
// the duplicate checks as they were before the end of the run completed
// them, the examples before and after any duplicates were dropped, and
// what was logged.
type inspection struct {
	sp            *spaces
	checks        inspect.Checks
	before, after []dataset.Example
	logs          []string
}

// inspectShared is inspectData for a sweep's trial: the first trial over
// the same examples, feature spaces and duplicate settings looks, the
// others take what it found and write the same files.
func (r *runner) inspectShared(ctx context.Context) (*spaces, *inspect.Checks, error) {
	key := fmt.Sprintf("inspect %s %v %q", examplesKey(r.ds.Examples), r.cfg.Data.NearDuplicate, r.cfg.Data.OnDuplicate)
	for _, m := range r.cfg.Models {
		key += fmt.Sprintf(" %q %t", m.Name, m.Transfer())
		if m.Transfer() {
			key += fmt.Sprintf(" %#v %#v %#v", *m.Backbone, r.cfg.Images, r.cfg.Features)
		}
	}
	made := false
	in, err := once(r.sh, key, func() (*inspection, error) {
		made = true
		before := slices.Clone(r.ds.Examples)
		logf := r.logf
		var logs []string
		r.logf = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)); logf(f, a...) }
		defer func() { r.logf = logf }()
		sp, c, err := r.inspectOwn(ctx)
		if err != nil {
			return nil, err
		}
		r.spaces, r.checks = sp, c
		return &inspection{sp: sp, checks: snapshot(c), before: before, after: slices.Clone(r.ds.Examples), logs: logs}, nil
	})
	if err != nil || made {
		return r.spaces, r.checks, err
	}
	for _, l := range in.logs {
		r.logf("%s", l)
	}
	c := snapshot(&in.checks)
	if err := c.Write(r.dir, in.before); err != nil {
		return nil, nil, err
	}
	r.ds.Examples = slices.Clone(in.after)
	if len(c.Findings.Dropped) > 0 {
		if err := dataset.WriteManifest(filepath.Join(r.dir, rundir.ManifestFile), r.ds); err != nil {
			return nil, nil, err
		}
	}
	return in.sp, &c, nil
}

// snapshot is a copy of c that the end of a run can complete (its
// findings' models, suspects and notes) without changing c.
func snapshot(c *inspect.Checks) inspect.Checks {
	f := *c.Findings
	f.Notes = slices.Clip(f.Notes)
	out := *c
	out.Findings = &f
	return out
}

// inspectOwn is inspectData looking at the data itself.
func (r *runner) inspectOwn(ctx context.Context) (*spaces, *inspect.Checks, error) {
	sp, err := r.loadSpaces(ctx, r.ds.Examples)
	if err != nil {
		return nil, nil, err
	}
	c, err := r.checkDuplicates(sp)
	if err != nil {
		return nil, nil, err
	}
	if len(c.Findings.Dropped) > 0 {
		if err := dataset.WriteManifest(filepath.Join(r.dir, rundir.ManifestFile), r.ds); err != nil {
			return nil, nil, err
		}
	}
	return sp, c, nil
}

// checkDuplicates finds the duplicates of ds (exact by hash, near in the
// run's first feature space) and acts on test images that duplicate train
// or val ones as data.on_duplicate says: stop, warn, or leave them out of
// ds. It returns the checks, which the end of the run completes.
func (r *runner) checkDuplicates(sp *spaces) (*inspect.Checks, error) {
	cfg, dir, ds, logf := r.cfg, r.dir, r.ds, r.logf
	c, err := inspect.CheckDuplicates(ds.Examples, sp.first, cfg.Data.NearDuplicate, tfops.Products)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	c.Thumbs = pixels.Thumbs(cfg.Features.CacheDir)
	if err := c.Write(dir, ds.Examples); err != nil {
		return nil, err
	}
	c.Findings.OnDuplicate = string(cfg.Data.OnDuplicate)
	if len(c.Leaks) == 0 {
		return c, nil
	}
	var b strings.Builder
	for i, p := range c.Findings.Leaks {
		if i == maxListed {
			fmt.Fprintf(&b, "\n  ... and %d more (%s)", len(c.Leaks)-maxListed, rundir.DuplicatesFile)
			break
		}
		kind := fmt.Sprintf("near, cosine %.4f", p.Cosine)
		if p.Exact {
			kind = "exact"
		}
		fmt.Fprintf(&b, "\n  %s (test) = %s (%s): %s", p.B, p.A, p.ASplit, kind)
	}
	switch cfg.Data.OnDuplicate {
	case config.DuplicateError:
		return nil, fmt.Errorf("data: %d test images duplicate training or validation images (data.on_duplicate: error):%s\nremove them, or set data.on_duplicate: drop_from_test to leave them out of the test split",
			len(inspect.LeakedTest(c.Leaks)), b.String())
	case config.DuplicateDrop:
		n := len(ds.Examples)
		var kept []int
		ds.Examples, kept = c.Drop(ds.Examples)
		logf("data.on_duplicate: drop_from_test: left %d test images out, duplicates of training or validation images:%s", n-len(ds.Examples), b.String())
		for _, s := range sp.order {
			s.Keep(kept)
		}
		if len(ds.Split(dataset.Test)) == 0 {
			return nil, errors.New("data: no test image is left after dropping the duplicates of training and validation images")
		}
	default:
		logf("warning: %d test/train-or-val duplicate pairs: the test split partly measures memory (data.on_duplicate: warn; drop_from_test leaves them out):%s", len(c.Leaks), b.String())
	}
	return c, nil
}

// finishInspect completes the checks (r.checks, in r.spaces) at the end
// of a run: a kNN baseline per feature space (added to run.Baselines),
// suspect labels, each model's misclassified test images, its PCA scatter
// and Projector files (run.Inspect).
func (r *runner) finishInspect(run *report.Run) error {
	cfg, dir, ds, sp, checks, logf := r.cfg, r.dir, r.ds, r.spaces, r.checks, r.logf
	in := inspect.Input{Dir: dir, Examples: ds.Examples, Classes: ds.Classes, Space: sp.first, Products: tfops.Products,
		Fit: tfops.LinearTop, Seed: cfg.Seed, TopLosses: cfg.Report.TopLosses, Thumbs: pixels.Thumbs(cfg.Features.CacheDir)}
	if r.sh != nil {
		in.Memo = &r.sh.memo
	}
	for _, m := range run.Models {
		// A scratch model's mistakes are looked at in the run's first
		// feature space (Input.Space); a fine-tuned one's in its
		// backbone's, drawn with the frozen model that owns it.
		im := inspect.Model{Name: m.Name, Probs: m.TestProbs, Space: sp.ofModel[m.Name]}
		if im.Space != nil && im.Space.Model == m.Name {
			im.Views, im.TensorBoard = true, rundir.TensorBoard(dir, m.Name)
		}
		in.Models = append(in.Models, im)
	}
	// The kNN baselines are fitted while the checks finish.
	baselines := make([]*report.Model, len(sp.order))
	knnDone := make(chan error, 1)
	go func() {
		for i, s := range sp.order {
			b, err := knnBaseline(cfg, ds, s, run, r.sh)
			if err != nil {
				knnDone <- err
				return
			}
			baselines[i] = b
		}
		knnDone <- nil
	}()
	err := checks.Finish(in)
	if kerr := <-knnDone; err == nil {
		err = kerr
	}
	if err != nil {
		return err
	}
	run.Inspect = checks.Findings
	for _, b := range baselines {
		run.Baselines = append(run.Baselines, *b)
		logf("%s: test accuracy %.2f%% (%s)", b.Name, 100*b.Test.Accuracy, b.Weights)
	}
	f := checks.Findings
	pairs := 0
	for _, n := range f.Duplicates {
		pairs += n.Exact + n.Near
	}
	msg := fmt.Sprintf("inspect: %d duplicate pairs, %d of them test/train-or-val (%s)", pairs, len(f.Leaks), filepath.Join(dir, rundir.InspectDir, rundir.DuplicatesFile))
	if f.Suspects != nil {
		msg += fmt.Sprintf("; %d suspect labels of %d train and val images (%s)", len(f.Suspects), f.Checked, filepath.Join(dir, rundir.InspectDir, rundir.SuspectsFile))
	}
	logf("%s", msg)
	return nil
}

// knnBaseline is a cosine kNN on space s as one more row of the models
// table; a sweep's trials (sh not nil) share each fit on the same space.
func knnBaseline(cfg *config.Config, ds *dataset.Dataset, s *inspect.Space, run *report.Run, sh *shared) (*report.Model, error) {
	fit := func() (*knnResult, error) { return knnFit(cfg, ds, s) }
	var k *knnResult
	var err error
	if sh != nil {
		k, err = once(sh, fmt.Sprintf("knn %p %d %d", s, len(ds.Examples), cfg.Evaluate.TopK), fit)
	} else {
		k, err = fit()
	}
	if err != nil {
		return nil, err
	}
	b := report.Model{Name: "knn_" + s.Model, Kind: report.KindKNN, Test: k.met, BestEpoch: 0}
	for _, m := range run.Models {
		if m.Name == s.Model {
			b.Backbone, b.Precision, b.Weights, b.RandomWeights = m.Backbone, m.Precision, m.Weights, m.RandomWeights
		}
	}
	b.Weights = fmt.Sprintf("%s; k=%d (chosen on %s, accuracy %.2f%%)", b.Weights, k.k, cmpSplit(ds), 100*k.valAccuracy)
	return &b, nil
}

// knnResult is a kNN baseline's fit and test metrics.
type knnResult struct {
	met         *evaluate.Metrics
	k           int
	valAccuracy float64
}

// knnFit fits the kNN of knnBaseline and scores it on the test split.
func knnFit(cfg *config.Config, ds *dataset.Dataset, s *inspect.Space) (*knnResult, error) {
	idx := func(split string) []int {
		var out []int
		for i, e := range ds.Examples {
			if e.Split == split {
				out = append(out, i)
			}
		}
		return out
	}
	labels := make([]int32, len(ds.Examples))
	for i, e := range ds.Examples {
		labels[i] = int32(e.Label)
	}
	test := idx(dataset.Test)
	k, err := inspect.FitKNN(s, labels, len(ds.Classes), idx(dataset.Train), idx(dataset.Val), test, tfops.Products)
	if err != nil {
		return nil, err
	}
	tl := make([]int32, len(test))
	for i, e := range test {
		tl[i] = labels[e]
	}
	met, err := evaluate.Compute(k.Probs, tl, ds.Classes, math.NaN(), cfg.Evaluate.TopK)
	if err != nil {
		return nil, fmt.Errorf("kNN: %w", err)
	}
	return &knnResult{met: met, k: k.K, valAccuracy: k.ValAccuracy}, nil
}

func cmpSplit(ds *dataset.Dataset) string {
	if len(ds.Split(dataset.Val)) > 0 {
		return "validation"
	}
	return "train, leave-one-out"
}

// InspectResult is what Inspect found, and where it wrote it.
type InspectResult struct {
	Dir       string // the run folder
	Findings  *report.Findings
	Baselines []report.Model // a kNN per feature space
	Classes   []string
}

// Inspect looks at a run's data without training: the run folder dir
// (its config.yaml and manifest.csv) when dir is not "", else cfg's data,
// scanned as Run scans it. It caches features that are missing (a run
// stopped before its features were done), then finds duplicates, suspect
// labels and the kNN baseline, and writes their files, each model's PCA
// scatter and Projector files into the run folder (rundir.InspectDir).
// It acts on no duplicate (data.on_duplicate is the run's business) and
// writes no misclassified gallery: that needs a model's test predictions,
// which only the run has. A run without a transfer model has no
// features: it gets exact duplicates only, and notes that say so.
func Inspect(ctx context.Context, cfg *config.Config, dir string, opts Options) (*InspectResult, error) {
	var manifest *dataset.Dataset
	if dir != "" {
		c, err := config.Load(filepath.Join(dir, rundir.ConfigFile), nil)
		if err != nil {
			return nil, fmt.Errorf("%s is not a run folder (pipeline inspect takes runs/NAME-HASH): %w", dir, err)
		}
		cfg = c
		if manifest, err = dataset.ReadManifest(filepath.Join(dir, rundir.ManifestFile)); err != nil {
			return nil, fmt.Errorf("%s: the run stopped before its data stage ended (no manifest): rerun it, or inspect its -config: %w", dir, err)
		}
		for _, e := range manifest.Examples {
			if e.Hash == "" {
				return nil, fmt.Errorf("%s: manifest.csv has no sha256 for %s: rerun the run to write one", dir, e.Path)
			}
		}
	}
	r, err := prepare(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	defer r.closeBackbones()
	if manifest != nil {
		r.ds = manifest // the run's images, as it split them
	} else {
		if dir, _, err = rundir.For(cfg); err != nil {
			return nil, err
		}
		if _, err := r.admit(ctx, r.ds); err != nil {
			return nil, err
		}
	}
	ds := r.ds
	sp, err := r.loadSpaces(ctx, ds.Examples)
	if err != nil {
		return nil, err
	}
	c, err := inspect.CheckDuplicates(ds.Examples, sp.first, cfg.Data.NearDuplicate, tfops.Products)
	if err != nil {
		return nil, err
	}
	c.Thumbs = pixels.Thumbs(cfg.Features.CacheDir)
	c.Findings.OnDuplicate = string(cfg.Data.OnDuplicate)
	if err := c.Write(dir, ds.Examples); err != nil {
		return nil, err
	}
	run := &report.Run{}
	for _, m := range cfg.Models {
		run.Models = append(run.Models, report.Model{Name: m.Name})
	}
	if _, err := os.Stat(filepath.Join(dir, rundir.MetricsFile)); err != nil {
		c.Findings.Notes = append(c.Findings.Notes, "the run has not finished (no "+rundir.MetricsFile+"): no model has test predictions to look at")
	} else if r, err := report.Read(dir); err == nil {
		run.Models = r.Models // for the kNN row's backbone text
		for i := range run.Models {
			run.Models[i].TestProbs = nil
		}
	}
	r.dir, r.spaces, r.checks = dir, sp, c
	if err := r.finishInspect(run); err != nil {
		return nil, err
	}
	return &InspectResult{Dir: dir, Findings: c.Findings, Baselines: run.Baselines, Classes: ds.Classes}, nil
}
