package experiment

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/cache"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/features"
	"github.com/gotransfer/gotransfer/pipeline/pixels"
	"github.com/gotransfer/gotransfer/pipeline/plan"
	"github.com/gotransfer/gotransfer/pipeline/shard"
)

// Features runs the data and feature stages of cfg for one shard of its
// examples: it hashes and checks the shard's images and caches what every
// model trains on (a transfer model's backbone features, a scratch model's
// decoded pixels). N copies started at once, one per shard, cover the
// run; Run with Options.Shards = N then trains on the caches. Features
// writes only cache entries, each atomically, never the run folder, so
// shards share nothing else and a failed one is rerun alone.
func Features(ctx context.Context, cfg *config.Config, sh shard.Shard, opts Options) error {
	if err := sh.Check(); err != nil {
		return err
	}
	logf, prog := opts.writers()
	ds, plans, err := scan(ctx, cfg, logf)
	if err != nil {
		return err
	}
	if err := checkPlans(plans, ds.Classes); err != nil {
		return err
	}
	models, err := loadBackbones(cfg, plans, logf)
	if err != nil {
		return err
	}
	defer closeBackbones(models)
	lo, hi := sh.Range(len(ds.Examples))
	part := &dataset.Dataset{Dir: ds.Dir, Classes: ds.Classes, Examples: slices.Clone(ds.Examples[lo:hi])}
	logf("shard %s: images %d to %d of %d", sh, lo, hi-1, len(ds.Examples))
	if err := part.HashFiles(cfg.Images.Workers); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// The same policy as Run's: every bad file named at once, or each
	// left out and said; Run checks the whole data set again.
	bad, err := checkImages(ctx, part, cfg.Images.Workers)
	if err != nil {
		return err
	}
	if len(bad) > 0 && cfg.Data.OnBadImage != config.BadImageSkip {
		return badImagesError(bad, len(part.Examples))
	}
	skip := map[string]bool{}
	for _, b := range bad {
		logf("skipped %s: %s", b.Path, b.Reason)
		skip[b.Path] = true
	}
	part.Examples = slices.DeleteFunc(part.Examples, func(e dataset.Example) bool { return skip[e.Path] })
	for i, m := range cfg.Models {
		if m.Transfer() {
			bb, p := models[m.Name], plans[i]
			if p.Backbone.FeatureBatch, err = featureBatch(cfg, m, bb, logf); err == nil {
				p.Backbone.Precision = bb.Precision
				_, _, err = extractFeatures(ctx, cfg, p, bb, part.Examples, prog, logf)
			}
		} else {
			_, err = newImageSource(ctx, cfg, m.InputSize(cfg.Images), part, prog, logf)
		}
		if err != nil {
			return fmt.Errorf("shard %s: model %s: %w", sh, m.Name, err)
		}
	}
	logf("shard %s: done", sh)
	return nil
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

// extractFeatures makes sure the features of transfer model p (backbone
// bb, loaded and checked, run in batches of p's feature batch) are cached
// for examples.
func extractFeatures(ctx context.Context, cfg *config.Config, p *plan.Plan, bb *backbone.Model, examples []dataset.Example,
	prog io.Writer, logf func(string, ...any)) (*features.Store, *features.Report, error) {
	store, err := openFeatures(cfg, p, bb)
	if err != nil {
		return nil, nil, err
	}
	// Every image was checked before; one failing now (changed since)
	// stops the run rather than change the counts.
	r, err := store.Extract(ctx, examples, features.Options{Workers: cfg.Images.Workers, Progress: prog})
	if err != nil {
		return nil, nil, err
	}
	logf("%s: features %s: %d cached, %d recomputed (bad entry), %d computed (%.1f images/s) in %s",
		p.Name, store.Key.Endpoint, r.Hits, r.Bad, r.Computed-r.Bad, r.Rate, store.Dir)
	return store, r, nil
}

// openFeatures opens the feature cache of transfer model p (backbone bb),
// at its features endpoint and feature batch.
func openFeatures(cfg *config.Config, p *plan.Plan, bb *backbone.Model) (*features.Store, error) {
	return features.Open(cfg.Features.CacheDir, bb, p.Backbone.Features, cfg.Images.Resize, cfg.Images.DivideBy255, p.Backbone.FeatureBatch)
}

// MissingError is Run's refusal to train on features that shards have not
// all computed: it names the shards to rerun.
type MissingError struct {
	Count   int      // shards the features were computed in
	Shards  []int    // the shards with missing entries, to rerun
	Missing int      // images with at least one entry missing
	Images  int      // images in the run
	Models  []string // "model: N missing", for each model with missing entries
}

func (e *MissingError) Error() string {
	how := fmt.Sprintf("pipeline features -shard %d/%d with the same -config and -set", e.Shards[0], e.Count)
	if len(e.Shards) > 1 {
		how = fmt.Sprintf("pipeline features -shard I/%d for each, with the same -config and -set", e.Count)
	}
	return fmt.Sprintf("features are missing for %d of %d images (%s): shard%s %s of %d did not finish; rerun %s alone (%s), then train again",
		e.Missing, e.Images, strings.Join(e.Models, ", "), plural(len(e.Shards)), e.List(), e.Count, pronoun(len(e.Shards)), how)
}

// List is the shards to rerun as Slurm's --array takes them: "1,3".
func (e *MissingError) List() string {
	s := make([]string, len(e.Shards))
	for i, k := range e.Shards {
		s[i] = strconv.Itoa(k)
	}
	return strings.Join(s, ",")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// checkShards makes sure every example of ds has the cache entries each
// model trains on (models are the loaded backbones by model name), and
// otherwise returns a *MissingError naming the shards (of count, as
// Features splits the scanned examples) that owe them.
func checkShards(cfg *config.Config, plans []*plan.Plan, ds *dataset.Dataset, models map[string]*backbone.Model, count int, logf func(string, ...any)) error {
	all, err := dataset.Scan(scanOptions(cfg))
	if err != nil {
		return fmt.Errorf("data.dir: %w", err)
	}
	owner := make(map[string]int, len(all.Examples))
	for i, e := range all.Examples {
		owner[e.Path] = shard.Of(i, len(all.Examples), count)
	}
	e := &MissingError{Count: count, Images: len(ds.Examples)}
	missing := map[string]bool{}
	shards := map[int]bool{}
	for i, m := range cfg.Models {
		var store *cache.Store
		if m.Transfer() {
			bb, p := models[m.Name], plans[i]
			batch, err := featureBatch(cfg, m, bb, logf)
			if err != nil {
				return fmt.Errorf("model %s: %w", m.Name, err)
			}
			p.Backbone.Precision, p.Backbone.FeatureBatch = bb.Precision, batch
			fs, err := openFeatures(cfg, p, bb)
			if err != nil {
				return fmt.Errorf("model %s: %w", m.Name, err)
			}
			store = &fs.Store
		} else {
			size := m.InputSize(cfg.Images)
			store = &pixels.Open(cfg.Features.CacheDir, size[0], size[1], cfg.Images.Resize).Store
		}
		n := 0
		for _, x := range ds.Examples {
			if !store.Has(x.Hash) {
				n++
				missing[x.Path] = true
				shards[owner[x.Path]] = true
			}
		}
		if n > 0 {
			e.Models = append(e.Models, fmt.Sprintf("%s: %d", m.Name, n))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	e.Missing = len(missing)
	for k := range shards {
		e.Shards = append(e.Shards, k)
	}
	slices.Sort(e.Shards)
	return e
}
