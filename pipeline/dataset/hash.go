package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/workers"
)

// HashFiles reads every example's file and sets Example.Hash to the hex
// SHA-256 of its bytes, using at most workers goroutines (all CPUs when
// workers <= 0). The hashes let a later run check that the files behind a
// manifest have not changed.
//
// It hashes all files even when some fail, and then returns the error of
// the first failed file in Examples order (naming it) with the number of
// other failures. When ctx is cancelled it stops hashing and returns why.
func (d *Dataset) HashFiles(ctx context.Context, nworkers int) error {
	errs := make([]error, len(d.Examples))
	err := workers.Each(ctx, len(d.Examples), nworkers, func(i int) {
		d.Examples[i].Hash, errs[i] = hashFile(d.Examples[i].Path)
	})
	if err != nil {
		return fmt.Errorf("dataset: hashing: %w", err)
	}
	var first error
	failed := 0
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			failed++
		}
	}
	if failed > 1 {
		return fmt.Errorf("%w (and %d more files could not be read)", first, failed-1)
	}
	return first
}

// hashFile returns the hex SHA-256 of the file at path.
func hashFile(path string) (string, error) {
	f, err := fsutil.OpenRegular(path)
	if err != nil {
		return "", fmt.Errorf("dataset: hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("dataset: hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
