// Package pixels caches decoded, resized images for models trained from
// scratch on images, so each epoch reads small raw files instead of decoding
// JPEGs again. The cache holds 8-bit RGB pixels (the resize is the costly,
// deterministic part); preprocessing to float32 happens per batch, which
// keeps one cache valid for every preprocessing mode.
//
// Layout: <cache>/pixels-<H>x<W>-<resize>-v2/<aa>/<sha256 of image bytes>.rgb
// (v2: entries carry a checksum, see package cache).
package pixels

import (
	"context"
	"fmt"
	"image"
	"io"
	"path/filepath"
	"sync"

	"github.com/gotransfer/gotransfer/pipeline/augment"
	"github.com/gotransfer/gotransfer/pipeline/cache"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/progress"
	"github.com/gotransfer/gotransfer/pipeline/workers"
)

// Store is the pixel cache for one size and resize method.
type Store struct {
	cache.Store
	H, W   int
	Resize string
}

// Open returns the store under cacheDir for images resized to h×w.
func Open(cacheDir string, h, w int, resize string) *Store {
	dir := filepath.Join(cacheDir, fmt.Sprintf("pixels-%dx%d-%s-v2", h, w, resize))
	return &Store{Store: cache.Store{Dir: dir, Ext: ".rgb", Size: 3 * h * w}, H: h, W: w, Resize: resize}
}

// Report says what Prepare did.
type Report struct {
	Hits, Computed int
	Bad            int // cached but corrupt: recomputed (counted in Computed too)
	Skipped        []images.Skipped
}

// Prepare decodes and resizes every example not yet cached, in parallel
// (workers goroutines, 0: one per CPU). With skipBad, images that cannot be
// loaded (not an image, truncated, over the pixel limit, unreadable) are
// reported and left out; otherwise the first one (in example order) is
// returned as the error, naming the file.
func (s *Store) Prepare(ctx context.Context, examples []dataset.Example, nworkers int, skipBad bool, prog io.Writer) (*Report, error) {
	todo, hits, bad, err := s.Missing(examples)
	if err != nil {
		return nil, fmt.Errorf("pixels: %w", err)
	}
	r := &Report{Hits: hits, Bad: bad}
	if len(todo) == 0 {
		return r, nil
	}
	bar := progress.New(prog, len(todo), fmt.Sprintf("pixels %dx%d", s.H, s.W), "images")
	defer bar.Finish()
	errs := make([]error, len(todo))
	var mu sync.Mutex
	err = workers.Each(ctx, len(todo), nworkers, func(i int) {
		img, err := images.Load(todo[i].Path, s.H, s.W, s.Resize)
		if err == nil {
			err = s.Put(todo[i].Hash, img.Pix)
		}
		errs[i] = err
		mu.Lock()
		bar.Add(1)
		mu.Unlock()
	})
	if err != nil {
		return r, fmt.Errorf("pixels: interrupted; rerun to continue: %w", err)
	}
	for i, err := range errs {
		switch {
		case err == nil:
			r.Computed++
		case skipBad: // every per-image failure, as images.Stream skips for features
			r.Skipped = append(r.Skipped, images.Skipped{Index: i, Path: todo[i].Path, Err: err})
		default:
			return r, fmt.Errorf("pixels: %w", err)
		}
	}
	return r, nil
}

// Split is a cached split as training data: Read loads each batch's pixels
// and preprocesses them, so memory holds one batch.
type Split struct {
	cache.Examples
	store     *Store
	mode      string
	divide255 bool
	// With a viewer, example i reads view pick[i] of its image, made from
	// the cached pixels on the fly (a scratch model has no features to
	// cache); k > 0: drawn anew each epoch from seed.
	viewer augment.Viewer
	pick   []int
	k      int
	seed   int64
}

// Split returns the cached examples (skipped images are left out), to be
// preprocessed with mode (see images.Preprocess).
func (s *Store) Split(examples []dataset.Example, mode string, divide255 bool) *Split {
	return &Split{Examples: s.Cached(examples), store: s, mode: mode, divide255: divide255}
}

// Augmented returns s.Split(examples, mode, divide255) reading one of
// views 0..k-1 (v's) of each image, drawn anew each epoch (Epoch) as
// features' augmented splits draw theirs; before the first Epoch, view 0.
func (s *Store) Augmented(examples []dataset.Example, mode string, divide255 bool, v augment.Viewer, k int, seed int64) *Split {
	d := s.Split(examples, mode, divide255)
	d.viewer, d.pick, d.k, d.seed = v, make([]int, len(d.Examples)), k, seed
	return d
}

// Fixed returns s.Split(examples, mode, divide255) reading view view (v's)
// of each image.
func (s *Store) Fixed(examples []dataset.Example, mode string, divide255 bool, v augment.Viewer, view int) *Split {
	d := s.Split(examples, mode, divide255)
	d.viewer, d.pick = v, make([]int, len(d.Examples))
	for i := range d.pick {
		d.pick[i] = view
	}
	return d
}

// Epoch draws the views of epoch epoch (1-based) of an Augmented split.
func (d *Split) Epoch(epoch int) {
	if d.k > 0 {
		augment.Pick(d.pick, d.k, d.seed, epoch)
	}
}

// Read fills x with the preprocessed pixels of examples idx (NHWC).
func (d *Split) Read(idx []int, x []float32) error {
	per := 3 * d.store.H * d.store.W
	if len(x) != len(idx)*per {
		return fmt.Errorf("pixels: buffer of %d values for %d images of %d", len(x), len(idx), per)
	}
	img, view := images.NewRGB(d.store.H, d.store.W), images.NewRGB(d.store.H, d.store.W)
	for j, i := range idx {
		e := d.Examples[i]
		if err := d.store.Get(e, img.Pix); err != nil {
			return fmt.Errorf("pixels: %w", err)
		}
		src := img
		if d.viewer != nil && !d.viewer.Identity(d.pick[i]) {
			p := d.viewer.View(e.Hash, d.pick[i], image.Rect(0, 0, img.W, img.H))
			if err := augment.ApplyRGB(view, img, p, d.store.Resize); err != nil {
				return fmt.Errorf("pixels: %s: %w", e.Path, err)
			}
			src = view
		}
		if err := images.Preprocess(x[j*per:(j+1)*per], src, d.mode, d.divide255); err != nil {
			return err
		}
	}
	return nil
}
