package experiment

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/download"
	"github.com/gotransfer/gotransfer/pipeline/pixels"
)

// ensureData makes sure data.dir exists, downloading it when the config
// names a dataset to download and the machine is online.
func ensureData(ctx context.Context, cfg *config.Config, logf func(string, ...any)) error {
	if _, err := os.Stat(cfg.Data.Dir); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data.dir: %w", err)
	}
	if cfg.Data.Download == config.Caltech101 {
		return download.Caltech101(ctx, cfg.Data.Dir, logf)
	}
	return fmt.Errorf("data.dir %s does not exist: %s", cfg.Data.Dir, dataHint(cfg))
}

// dataHint says how to get a config's data.
func dataHint(cfg *config.Config) string {
	switch cfg.Data.Download {
	case config.Caltech101:
		return "the run downloads Caltech-101 when online; offline, check and unpack 101_ObjectCategories.tar.gz there (data/README.md)"
	case config.FashionMNIST:
		return "make it with `make setup` (scripts/prepare_fashion_mnist.py, from Debian's dataset-fashion-mnist)"
	}
	return "create it (one folder of images per class) or point data.dir at yours: -set data.dir=PATH"
}

// imageSource serves a scratch model's splits from the pixel cache.
type imageSource struct {
	store *pixels.Store
	ds    *dataset.Dataset
	cfg   *config.Config
}

// cachePixels decodes and resizes every image of ds not yet in the pixel
// cache, at scratch job j's input size.
func (r *runner) cachePixels(ctx context.Context, j *job, ds *dataset.Dataset) (*imageSource, error) {
	in := j.plan.Input
	store := pixels.Open(r.cfg.Features.CacheDir, in.Height, in.Width, r.cfg.Images.Resize)
	// Every image was checked before (checkImages): no skipping here.
	rep, err := store.Prepare(ctx, ds.Examples, r.cfg.Images.Workers, false, r.prog)
	if err != nil {
		return nil, err
	}
	r.logf("pixels %dx%d: %d cached, %d recomputed (bad entry), %d decoded in %s", in.Height, in.Width, rep.Hits, rep.Bad, rep.Computed-rep.Bad, store.Dir)
	j.out.Cache = CacheCounts{Cached: rep.Hits, Recomputed: rep.Bad, Computed: rep.Computed - rep.Bad}
	return &imageSource{store: store, ds: ds, cfg: r.cfg}, nil
}

func (s *imageSource) split(name string) *pixels.Split {
	return s.store.Split(s.ds.Split(name), s.cfg.Images.Preprocess, s.cfg.Images.DivideBy255)
}
