package experiment

import (
	"context"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/augment"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/features"
	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// runModel trains and evaluates job j: its inputs (cached features or
// pixels), each training phase, its final weights and plan (model.json),
// and its test metrics into j.rep. On a training error j.rep keeps the
// history so far.
func (r *runner) runModel(ctx context.Context, j *job) error {
	t0 := time.Now()
	if err := r.inputs(ctx, j); err != nil {
		return err
	}
	r.timing.Stages["features"] += time.Since(t0).Seconds()

	t0, tbBefore := time.Now(), j.tb.Spent()
	net, st, err := r.fit(ctx, j)
	if net != nil {
		defer net.Close()
	}
	if err != nil {
		if st != nil {
			j.rep.History, j.rep.BestEpoch = st.History, st.BestEpoch
		}
		return err
	}
	j.rep.Params = net.Params()
	r.timing.Stages["train"] += time.Since(t0).Seconds() - (j.tb.Spent() - tbBefore).Seconds()
	if err := net.Save(filepath.Join(rundir.Model(r.dir, j.m.Name), rundir.Weights)); err != nil {
		return err
	}
	if err := j.plan.Write(r.dir); err != nil {
		return err
	}
	j.rep.History, j.rep.BestEpoch, j.rep.StoppedEarly, j.rep.RestoredBest = st.History, st.BestEpoch, st.StoppedEarly, st.Restored

	t0 = time.Now()
	if err := r.evaluate(j, net); err != nil {
		return err
	}
	r.timing.Stages["evaluate"] += time.Since(t0).Seconds()
	entry := ModelTiming{FeatureImagesPerSecond: j.rate, ViewSeconds: j.viewSeconds, ViewsComputed: j.viewsComputed}
	for _, e := range st.History {
		entry.EpochSeconds = append(entry.EpochSeconds, e.Seconds)
	}
	r.timing.Models[j.m.Name] = entry
	return nil
}

// inputs makes sure j's inputs are cached, a transfer model's features or
// a scratch model's pixels, and sets its splits; for a transfer model it
// also says in the report what the backbone is.
func (r *runner) inputs(ctx context.Context, j *job) error {
	if !j.plan.Transfer() {
		src, err := r.cachePixels(ctx, j, r.ds)
		if err != nil {
			return err
		}
		j.train, j.val, j.test = src.split(dataset.Train), src.split(dataset.Val), src.split(dataset.Test)
		j.data = func(e []dataset.Example) train.Data {
			return src.store.Split(e, r.cfg.Images.Preprocess, r.cfg.Images.DivideBy255)
		}
		r.pixelViews(j, src)
		return nil
	}
	if err := r.featureBatch(j); err != nil {
		return err
	}
	b, rep := j.plan.Backbone, j.rep
	rep.Kind = report.KindTransfer
	rep.Precision, rep.FeatureBatch = b.Precision.String(), b.FeatureBatch
	rep.Backbone = b.SavedModel + " @ " + b.Endpoint
	rep.Weights = j.bb.Meta.Weights.String()
	rep.RandomWeights = !j.bb.Meta.Weights.Pretrained()
	if rep.RandomWeights {
		r.logf("warning: %s has RANDOM weights: its features are not pretrained", j.bb.Dir)
	}
	if j.plan.FineTuned() {
		rep.Backbone += fmt.Sprintf(", fine-tuned from %s", b.FineTuneFrom)
	}
	store, err := r.cacheFeatures(ctx, j, r.ds.Examples)
	if err != nil {
		return err
	}
	if table, err := r.table(store); err != nil {
		return err
	} else if table != nil {
		j.data = func(e []dataset.Example) train.Data { return table.Split(e) }
	} else {
		j.data = func(e []dataset.Example) train.Data { return store.Split(e) }
	}
	j.train, j.val, j.test = j.data(r.ds.Split(dataset.Train)), j.data(r.ds.Split(dataset.Val)), j.data(r.ds.Split(dataset.Test))
	return r.featureViews(ctx, j, store)
}

// tableBudget bounds the features a sweep holds in memory per store:
// above it (a fine-tuning cut's 7×7×1024 features of thousands of
// images), its trials read them from the cache as a run alone does.
const tableBudget = 512 << 20

// table is the features of the run's examples in memory, read once for
// all of a sweep's trials; nil for a run alone, or above tableBudget.
func (r *runner) table(store *features.Store) (*features.Table, error) {
	if r.sh == nil || int64(len(r.ds.Examples))*int64(store.Dim)*4 > tableBudget {
		return nil, nil
	}
	return once(r.sh, "table "+store.Dir+" "+examplesKey(r.ds.Examples), func() (*features.Table, error) {
		return store.Load(r.ds.Examples)
	})
}

// featureViews sets transfer job j's augmented training split (augment)
// and test-time augmentation's splits (evaluate.tta), computing the
// features of the views not cached yet (once: a rerun finds them all).
func (r *runner) featureViews(ctx context.Context, j *job, store *features.Store) error {
	seed, trainEx := r.cfg.Seed, r.ds.Split(dataset.Train)
	if aug := r.cfg.Augmentation(j.m); aug != nil {
		vs, err := store.Views(augment.Seeded{Spec: aug, Seed: seed})
		if err != nil {
			return err
		}
		if j.out.Views, err = r.extractViews(ctx, j, vs, trainEx, count(aug.Views), "augmented views"); err != nil {
			return err
		}
		j.train = vs.Augmented(store, trainEx, aug.Views, seed)
		j.rep.Augment = aug.String()
	}
	tta := r.cfg.Evaluate.TTA
	if tta == nil {
		return nil
	}
	views := tta.Views()
	vs, err := store.Views(views)
	if err != nil {
		return err
	}
	all, testEx := count(views.Views()), r.ds.Split(dataset.Test)
	j.rep.TTAViews = describeTTA(tta)
	if tta.Average == config.AverageFeatures {
		if j.out.TTAViews, err = r.extractViews(ctx, j, vs, r.ds.Examples, all, "test-time views"); err != nil {
			return err
		}
		j.plainTest = j.test
		j.train, j.val, j.test = vs.Mean(store, trainEx, all), vs.Mean(store, r.ds.Split(dataset.Val), all), vs.Mean(store, testEx, all)
		j.rep.Augment = "features averaged over " + views.String()
		return nil
	}
	if j.out.TTAViews, err = r.extractViews(ctx, j, vs, testEx, all, "test-time views"); err != nil {
		return err
	}
	for _, v := range all {
		j.tta = append(j.tta, vs.Fixed(store, testEx, v))
	}
	return nil
}

// extractViews makes sure the features of views of examples are cached
// in vs, and says what it found.
func (r *runner) extractViews(ctx context.Context, j *job, vs *features.Store, examples []dataset.Example, views []int, what string) (CacheCounts, error) {
	rep, err := vs.Extract(ctx, vs.ViewExamples(examples, views), features.Options{Workers: r.cfg.Images.Workers, Progress: r.prog})
	if err != nil {
		return CacheCounts{}, err
	}
	r.logf("%s: %s (%d per image): %d cached, %d recomputed (bad entry), %d computed (%.1f images/s) in %s",
		j.m.Name, what, len(views), rep.Hits, rep.Bad, rep.Computed-rep.Bad, rep.Rate, vs.Dir)
	j.viewSeconds += rep.Seconds
	j.viewsComputed += rep.Computed
	return CacheCounts{Cached: rep.Hits, Recomputed: rep.Bad, Computed: rep.Computed - rep.Bad}, nil
}

// pixelViews sets scratch job j's augmented training split and
// test-time augmentation's splits: views made on the fly from the
// cached pixels, as a model from scratch has no features to cache.
// Averaging features means averaging probabilities for it.
func (r *runner) pixelViews(j *job, src *imageSource) {
	seed, mode, div := r.cfg.Seed, r.cfg.Images.Preprocess, r.cfg.Images.DivideBy255
	if aug := r.cfg.Augmentation(j.m); aug != nil {
		j.train = src.store.Augmented(r.ds.Split(dataset.Train), mode, div, augment.Seeded{Spec: aug, Seed: seed}, aug.Views, seed)
		j.rep.Augment = aug.String() + ", on the fly"
	}
	if tta := r.cfg.Evaluate.TTA; tta != nil {
		views := tta.Views()
		for _, v := range count(views.Views()) {
			j.tta = append(j.tta, src.store.Fixed(r.ds.Split(dataset.Test), mode, div, views, v))
		}
		j.rep.TTAViews = tta.Views().String() + ", probabilities averaged"
	}
}

// count is 0..n-1.
func count(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// describeTTA says in words what test-time augmentation averages over.
func describeTTA(t *config.TTA) string {
	return fmt.Sprintf("%s, %s averaged", t.Views(), t.Average)
}

// cacheFeatures makes sure the features of transfer job j (its backbone
// loaded and checked, its feature batch chosen) are cached for examples.
func (r *runner) cacheFeatures(ctx context.Context, j *job, examples []dataset.Example) (*features.Store, error) {
	store, err := r.openFeatures(j)
	if err != nil {
		return nil, err
	}
	// Every image was checked before; one failing now (changed since)
	// stops the run rather than change the counts.
	extract := func() (*features.Report, error) {
		return store.Extract(ctx, examples, features.Options{Workers: r.cfg.Images.Workers, Progress: r.prog})
	}
	var rep *features.Report
	if r.sh != nil {
		// A sweep's trials share each pass over the same cache and images.
		rep, err = once(r.sh, "features "+store.Dir+" "+examplesKey(examples), extract)
	} else {
		rep, err = extract()
	}
	if err != nil {
		return nil, err
	}
	r.logf("%s: features %s: %d cached, %d recomputed (bad entry), %d computed (%.1f images/s) in %s",
		j.m.Name, store.Key.Endpoint, rep.Hits, rep.Bad, rep.Computed-rep.Bad, rep.Rate, store.Dir)
	if j.out.Features == "" {
		// The first pass over the cache says what it held; a second
		// (training after the inspection computed them) finds them all.
		j.out.Features = store.Key.Endpoint
		j.out.Cache = CacheCounts{Cached: rep.Hits, Recomputed: rep.Bad, Computed: rep.Computed - rep.Bad}
		j.rate = rep.Rate
	}
	return store, nil
}

// openFeatures opens the feature cache of transfer job j, at its plan's
// features endpoint and feature batch.
func (r *runner) openFeatures(j *job) (*features.Store, error) {
	b := j.plan.Backbone
	return features.Open(r.cfg.Features.CacheDir, j.bb, b.Features, r.cfg.Images.Resize, r.cfg.Images.DivideBy255, b.FeatureBatch)
}

// fit trains j's network through each phase of its plan in turn, each
// phase from the last one's weights, and returns the final network and a
// state whose history holds every phase's epochs, numbered on. On an
// error the network may be nil; the state holds the history so far.
func (r *runner) fit(ctx context.Context, j *job) (*nn.Network, *train.State, error) {
	var net *nn.Network
	var st *train.State
	for i, ph := range j.plan.Phases {
		next, err := r.build(j, i, net)
		if err != nil {
			return nil, st, err
		}
		net = next
		offset := 0
		var cb train.Callback = j.tb
		if st != nil {
			offset, cb = len(st.History), shifted{j.tb, len(st.History)}
		}
		rec := &resumed{}
		opts := ph.Options()
		opts.Dir, opts.Log = filepath.Join(rundir.Model(r.dir, j.m.Name), ph.Name), r.phaseLog(j, i)
		opts.Callbacks = []train.Callback{cb, rec}
		s, err := train.Fit(ctx, net, j.train, j.val, opts)
		st = merge(st, s, offset)
		if s != nil {
			j.out.Phases = append(j.out.Phases, PhaseResult{Name: ph.Name, Resumed: rec.done, Trained: len(s.History) - rec.done})
		}
		if err != nil {
			return net, st, err
		}
	}
	return net, st, nil
}

// build builds the network of phase i of j and sets its first weights:
// for the first phase drawn from the plan's seed (a fine-tuned model's
// backbone layers from the backbone), for a later one the trained layers
// of prev, which it closes, with fresh optimizer moments (as Keras' new
// compile gives).
func (r *runner) build(j *job, i int, prev *nn.Network) (*nn.Network, error) {
	var w map[string][]float32
	if prev != nil {
		var err error
		w, err = prev.Weights()
		prev.Close()
		if err != nil {
			return nil, err
		}
	}
	net, err := nn.Build(j.plan.Spec(i))
	if err != nil {
		return nil, err
	}
	if err := r.initialize(j, net, w); err != nil {
		net.Close()
		return nil, err
	}
	ph := j.plan.Phases[i]
	if i == 0 {
		j.rep.Params = net.Params()
		r.logf("%s:\n%s", j.m.Name, strings.TrimRight(net.Summary(), "\n"))
		r.logf("%s: %d trainable parameters; training %d epochs, batch %d, on %d examples (val %d)",
			j.m.Name, net.Params(), ph.Epochs, ph.BatchSize, j.train.Len(), j.val.Len())
	} else {
		rate := fmt.Sprintf("learning rate %g", ph.Adam.LearningRate)
		if ph.Schedule != nil {
			rate = "learning rate by " + ph.Schedule.Name()
		}
		r.logf("%s: fine-tuning %s and above with the top: %d trainable parameters; %d epochs, %s",
			j.m.Name, j.plan.Backbone.FineTuneFrom, net.Params(), ph.Epochs, rate)
	}
	return net, nil
}

// initialize sets net's first weights: w's layer weights when a phase
// before trained them (zero optimizer slots), else drawn from the plan's
// seed, with a fine-tuned model's backbone layers read from the backbone.
func (r *runner) initialize(j *job, net *nn.Network, w map[string][]float32) error {
	if w != nil {
		init := net.InitialWeights(0) // Adam's slots: zeros
		for _, v := range net.Vars {
			if !v.Slot {
				init[v.Name] = w[v.Name]
			}
		}
		return net.SetWeights(init)
	}
	init := net.InitialWeights(j.plan.Seed)
	pre, err := j.plan.PretrainedTail()
	if err != nil {
		return err
	}
	maps.Copy(init, pre)
	return net.SetWeights(init)
}

// phaseLog is the log of phase i of j: its lines prefixed with the
// model's name, and a later phase's also with its own.
func (r *runner) phaseLog(j *job, i int) func(string, ...any) {
	prefix := j.m.Name + ": "
	if i > 0 {
		prefix += strings.ReplaceAll(j.plan.Phases[i].Name, "_", "-") + ": "
	}
	return func(f string, a ...any) { r.logf(prefix+f, a...) }
}

// evaluate computes j's test metrics with net into its report entry.
func (r *runner) evaluate(j *job, net *nn.Network) error {
	ev, err := train.Evaluate(net, j.test, r.cfg.Train.BatchSize, r.cfg.Evaluate.TopK)
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	if j.rep.Test, err = evaluate.Compute(ev.Probs, ev.Labels, r.ds.Classes, ev.Loss, r.cfg.Evaluate.TopK); err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	j.rep.TestProbs = ev.Probs
	return r.evaluateTTA(j, net)
}

// evaluateTTA computes j's test metrics with test-time augmentation:
// the mean of its probabilities over the test views, or, when features
// are averaged (j.test holds their means), the test split as it is,
// which j.rep.Test then holds while j.rep.TTA takes the averaged one.
func (r *runner) evaluateTTA(j *job, net *nn.Network) error {
	k := r.cfg.Evaluate.TopK
	if j.plainTest != nil {
		ev, err := train.Evaluate(net, j.plainTest, r.cfg.Train.BatchSize, k)
		if err != nil {
			return fmt.Errorf("evaluate: %w", err)
		}
		m, err := evaluate.Compute(ev.Probs, ev.Labels, r.ds.Classes, ev.Loss, k)
		if err != nil {
			return fmt.Errorf("evaluate: %w", err)
		}
		j.rep.Test, j.rep.TTA, j.rep.TestProbs = m, j.rep.Test, ev.Probs
		r.logf("%s: test accuracy %.2f%% on the images as they are, %.2f%% on their averaged views", j.m.Name, 100*m.Accuracy, 100*j.rep.TTA.Accuracy)
		return nil
	}
	if len(j.tta) == 0 {
		return nil
	}
	var mean []float32
	var labels []int32
	for _, d := range j.tta {
		ev, err := train.Evaluate(net, d, r.cfg.Train.BatchSize, k)
		if err != nil {
			return fmt.Errorf("evaluate with test-time augmentation: %w", err)
		}
		if mean == nil {
			mean, labels = make([]float32, len(ev.Probs)), ev.Labels
		}
		for i, p := range ev.Probs {
			mean[i] += p / float32(len(j.tta))
		}
	}
	var loss float64
	c := len(r.ds.Classes)
	for i, y := range labels {
		loss -= math.Log(max(float64(mean[i*c+int(y)]), 1e-7)) // Keras' clipping of categorical cross-entropy
	}
	if len(labels) > 0 {
		loss /= float64(len(labels))
	}
	m, err := evaluate.Compute(mean, labels, r.ds.Classes, loss, k)
	if err != nil {
		return fmt.Errorf("evaluate with test-time augmentation: %w", err)
	}
	j.rep.TTA = m
	r.logf("%s: test accuracy %.2f%%, with test-time augmentation %.2f%%", j.m.Name, 100*j.rep.Test.Accuracy, 100*m.Accuracy)
	return nil
}

// shift numbers epoch e of a later training phase on from the epochs
// before it (offset) and marks it as fine-tuning, so that the phases form
// one series: in the merged history and for the callbacks alike.
func shift(e history.Epoch, offset int) history.Epoch {
	e.Epoch += offset
	e.Phase = history.FineTune
	return e
}

// merge is the state of the phases so far (prev; nil before the first)
// followed by phase state s, whose epochs come after offset epochs.
func merge(prev, s *train.State, offset int) *train.State {
	if prev == nil {
		return s
	}
	both := &train.State{BestEpoch: prev.BestEpoch, History: slices.Clone(prev.History)}
	if s != nil {
		for _, e := range s.History {
			both.History = append(both.History, shift(e, offset))
		}
		both.StoppedEarly, both.Restored, both.Done = s.StoppedEarly, s.Restored, s.Done
		if s.BestEpoch > 0 {
			both.BestEpoch = offset + s.BestEpoch
		}
	}
	return both
}

// shifted hands a later phase's epochs to a callback as shift numbers
// them.
type shifted struct {
	cb     train.Callback
	offset int
}

func (p shifted) OnTrainBegin(done []history.Epoch) error {
	out := make([]history.Epoch, len(done))
	for i, e := range done {
		out[i] = shift(e, p.offset)
	}
	return p.cb.OnTrainBegin(out)
}

func (p shifted) OnEpochEnd(e history.Epoch, net *nn.Network) error {
	return p.cb.OnEpochEnd(shift(e, p.offset), net)
}

// resumed records how many epochs of a phase an earlier run had done.
type resumed struct{ done int }

func (r *resumed) OnTrainBegin(done []history.Epoch) error     { r.done = len(done); return nil }
func (r *resumed) OnEpochEnd(history.Epoch, *nn.Network) error { return nil }
