package experiment

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/cache"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/workers"
)

// maxListed caps how many bad files one error lists.
const maxListed = 20

// verdictVersion changes when what makes an image usable changes (the
// decoders, images.MaxPixels): verdicts of another version are not read.
const verdictVersion = 1

// verdicts is the cache of the image check's good verdicts under
// cacheDir (features.cache_dir), beside the features: one checksummed
// entry per image content (package cache), so that a rerun decodes no
// image it has checked. An entry says "this content decodes"; a changed
// file has another hash and is checked again. Bad verdicts are not
// cached: a bad file is decoded on every run, so its message is always
// the file's own (bad files are few).
func verdicts(cacheDir string) *cache.Store {
	dir := filepath.Join(cacheDir, fmt.Sprintf("image-checks-v%d-max%d", verdictVersion, images.MaxPixels))
	return &cache.Store{Dir: dir, Ext: ".ok", Size: len(goodVerdict)}
}

// goodVerdict is the payload of a good verdict.
var goodVerdict = []byte{1}

// checkImages decodes every image of ds (workers goroutines, 0: one per
// CPU) that the verdict cache (nil: none) does not know as good, and
// returns the ones that cannot be used, in example order, each with why:
// not an image, empty or truncated, over the pixel limit, unreadable. It
// runs before any model work, so that one policy (data.on_bad_image)
// applies to every model kind and every bad file is known at once. The
// examples must carry their content hashes (dataset.HashFiles).
func checkImages(ctx context.Context, ds *dataset.Dataset, nworkers int, known *cache.Store) ([]report.Skip, error) {
	errs := make([]error, len(ds.Examples))
	err := workers.Each(ctx, len(ds.Examples), nworkers, func(i int) {
		e := ds.Examples[i]
		if known != nil && known.Valid(e.Hash) {
			return
		}
		if _, errs[i] = images.Decode(e.Path); errs[i] == nil && known != nil {
			if err := known.Put(e.Hash, goodVerdict); err != nil {
				errs[i] = cacheWriteError{err}
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("data: checking images: %w", err)
	}
	var bad []report.Skip
	for i, err := range errs {
		if cw, ok := err.(cacheWriteError); ok {
			return nil, fmt.Errorf("data: checking images: saving the verdict on %s: %w", ds.Examples[i].Path, cw.err)
		}
		if err != nil {
			p := ds.Examples[i].Path
			bad = append(bad, report.Skip{Path: p, Reason: strings.TrimPrefix(err.Error(), "image "+p+": ")})
		}
	}
	return bad, nil
}

// cacheWriteError is a verdict that could not be saved: the run stops
// (as when a feature cannot be), the image is not called bad.
type cacheWriteError struct{ err error }

func (e cacheWriteError) Error() string { return e.err.Error() }

// badImagesError lists bad files (at most maxListed) in one error.
func badImagesError(bad []report.Skip, total int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "data: %d of %d images cannot be used (data.on_bad_image: error):", len(bad), total)
	for i, s := range bad {
		if i == maxListed {
			fmt.Fprintf(&b, "\n  ... and %d more", len(bad)-maxListed)
			break
		}
		fmt.Fprintf(&b, "\n  %s: %s", s.Path, s.Reason)
	}
	b.WriteString("\nreplace or remove them, or set data.on_bad_image: skip to leave them out")
	return fmt.Errorf("%s", b.String())
}

// drop removes the bad files from ds.
func drop(ds *dataset.Dataset, bad []report.Skip) {
	if len(bad) == 0 {
		return
	}
	out := make(map[string]bool, len(bad))
	for _, s := range bad {
		out[s.Path] = true
	}
	kept := ds.Examples[:0:0]
	for _, e := range ds.Examples {
		if !out[e.Path] {
			kept = append(kept, e)
		}
	}
	ds.Examples = kept
}

// usable checks that every class of ds keeps a training image and the
// test split an image after nbad bad files were left out: a class with
// none cannot be learnt, and keeping it in the softmax would make every
// number about it meaningless. (A shard's slice of the data need not
// hold every class: Features leaves this check to Run, which sees all.)
func usable(ds *dataset.Dataset, nbad int) error {
	if nbad == 0 {
		return nil
	}
	train := ds.Counts()[dataset.Train]
	var empty []string
	for label, n := range train {
		if n == 0 {
			empty = append(empty, fmt.Sprintf("%q", ds.Classes[label]))
		}
	}
	if len(empty) > 0 {
		return fmt.Errorf("data: class %s has no usable training image after skipping %d bad files: add good images to it, remove its folder or add it to data.exclude",
			strings.Join(empty, ", "), nbad)
	}
	if len(ds.Split(dataset.Test)) == 0 {
		return fmt.Errorf("data: the test split has no usable image after skipping %d bad files: add good images", nbad)
	}
	return nil
}
