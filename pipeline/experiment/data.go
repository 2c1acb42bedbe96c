package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// newImageSource decodes and resizes every image not yet in the pixel cache.
func newImageSource(ctx context.Context, cfg *config.Config, size [2]int, ds *dataset.Dataset, prog io.Writer,
	logf func(string, ...any)) (*imageSource, error) {
	store := pixels.Open(cfg.Features.CacheDir, size[0], size[1], cfg.Images.Resize)
	// Every image was checked before (checkImages): no skipping here.
	r, err := store.Prepare(ctx, ds.Examples, cfg.Images.Workers, false, prog)
	if err != nil {
		return nil, err
	}
	logf("pixels %dx%d: %d cached, %d recomputed (bad entry), %d decoded in %s", size[0], size[1], r.Hits, r.Bad, r.Computed-r.Bad, store.Dir)
	return &imageSource{store: store, ds: ds, cfg: cfg}, nil
}

func (s *imageSource) split(name string) *pixels.Split {
	return s.store.Split(s.ds.Split(name), s.cfg.Images.Preprocess, s.cfg.Images.DivideBy255)
}
