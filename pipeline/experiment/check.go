package experiment

import (
	"context"
	"fmt"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/workers"
)

// maxListed caps how many bad files one error lists.
const maxListed = 20

// checkImages decodes every image of ds (workers goroutines, 0: one per
// CPU) and returns the ones that cannot be used, in example order, each
// with why: not an image, empty or truncated, over the pixel limit,
// unreadable. It runs before any model work, so that one policy
// (data.on_bad_image) applies to every model kind and every bad file is
// known at once.
func checkImages(ctx context.Context, ds *dataset.Dataset, nworkers int) ([]report.Skip, error) {
	errs := make([]error, len(ds.Examples))
	err := workers.Each(ctx, len(ds.Examples), nworkers, func(i int) {
		_, errs[i] = images.Decode(ds.Examples[i].Path)
	})
	if err != nil {
		return nil, fmt.Errorf("data: checking images: %w", err)
	}
	var bad []report.Skip
	for i, err := range errs {
		if err != nil {
			p := ds.Examples[i].Path
			bad = append(bad, report.Skip{Path: p, Reason: strings.TrimPrefix(err.Error(), "image "+p+": ")})
		}
	}
	return bad, nil
}

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
