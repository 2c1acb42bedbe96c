package experiment

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/cache"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/pixels"
	"github.com/gotransfer/gotransfer/pipeline/shard"
)

// Features runs the data and feature stages of cfg for one shard of its
// examples: it hashes and checks the shard's images and caches what every
// model trains on (a transfer model's backbone features, a scratch model's
// decoded pixels). N copies started at once, one per shard, cover the
// run; Run with Options.Shards = N then trains on the caches. Features
// writes only cache entries, each atomically, never the run folder, so
// shards share nothing else and a failed one is rerun alone.
func Features(ctx context.Context, cfg *config.Config, sh shard.Shard, opts Options) (*Result, error) {
	if err := sh.Check(); err != nil {
		return nil, err
	}
	r, err := prepare(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	defer r.closeBackbones()
	ds := r.ds
	lo, hi := sh.Range(len(ds.Examples))
	part := &dataset.Dataset{Dir: ds.Dir, Classes: ds.Classes, Examples: slices.Clone(ds.Examples[lo:hi])}
	r.logf("shard %s: images %d to %d of %d", sh, lo, hi-1, len(ds.Examples))
	// The same policy as Run's: every bad file named at once, or each
	// left out and said; Run checks the whole data set again.
	bad, err := r.admit(ctx, part)
	if err != nil {
		return nil, err
	}
	r.res.Data.Images, r.res.Data.Skipped = len(part.Examples), bad
	for _, j := range r.jobs {
		if j.plan.Transfer() {
			if err = r.featureBatch(j); err == nil {
				_, err = r.cacheFeatures(ctx, j, part.Examples)
			}
		} else {
			_, err = r.cachePixels(ctx, j, part)
		}
		if err != nil {
			return nil, fmt.Errorf("shard %s: model %s: %w", sh, j.m.Name, err)
		}
	}
	r.logf("shard %s: done", sh)
	return r.res, nil
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

// checkShards makes sure every example of the run has the cache entries
// each model trains on, and otherwise returns a *MissingError naming the
// shards (of count, as Features splits the scanned examples) that owe
// them.
func (r *runner) checkShards(count int) error {
	all, err := dataset.Scan(scanOptions(r.cfg))
	if err != nil {
		return fmt.Errorf("data.dir: %w", err)
	}
	owner := make(map[string]int, len(all.Examples))
	for i, e := range all.Examples {
		owner[e.Path] = shard.Of(i, len(all.Examples), count)
	}
	e := &MissingError{Count: count, Images: len(r.ds.Examples)}
	missing := map[string]bool{}
	shards := map[int]bool{}
	for _, j := range r.jobs {
		store, err := r.cache(j)
		if err != nil {
			return fmt.Errorf("model %s: %w", j.m.Name, err)
		}
		n := 0
		for _, x := range r.ds.Examples {
			if !store.Has(x.Hash) {
				n++
				missing[x.Path] = true
				shards[owner[x.Path]] = true
			}
		}
		if n > 0 {
			e.Models = append(e.Models, fmt.Sprintf("%s: %d", j.m.Name, n))
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

// cache is the store job j trains from: its features, or its pixels.
func (r *runner) cache(j *job) (*cache.Store, error) {
	if !j.plan.Transfer() {
		in := j.plan.Input
		return &pixels.Open(r.cfg.Features.CacheDir, in.Height, in.Width, r.cfg.Images.Resize).Store, nil
	}
	if err := r.featureBatch(j); err != nil {
		return nil, err
	}
	fs, err := r.openFeatures(j)
	if err != nil {
		return nil, err
	}
	return &fs.Store, nil
}
