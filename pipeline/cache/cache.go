// Package cache stores one fixed-size file per image, named by the sha256 of
// the image's bytes, under a folder that stands for everything else the
// entry depends on. The feature cache (backbone outputs) and the pixel cache
// (decoded, resized images) are both such stores: a changed image misses, a
// moved or renamed one hits.
//
// Layout: <Dir>/<first two hex digits>/<sha256><Ext>.
package cache

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// Store is a folder of equally sized entries.
type Store struct {
	Dir  string
	Ext  string // file name extension, such as ".f32"
	Size int    // bytes per entry
}

// Path is where the entry of the image with content hash h lives.
func (s *Store) Path(h string) string {
	if len(h) < 2 {
		return filepath.Join(s.Dir, "invalid-hash")
	}
	return filepath.Join(s.Dir, h[:2], h+s.Ext)
}

// Has reports whether a complete entry for h is there (an entry of the
// wrong size, say from a crash, counts as missing).
func (s *Store) Has(h string) bool {
	st, err := os.Stat(s.Path(h))
	return err == nil && st.Size() == int64(s.Size)
}

// Put writes h's entry atomically.
func (s *Store) Put(h string, b []byte) error {
	if len(b) != s.Size {
		return fmt.Errorf("cache %s: entry of %d bytes, want %d", s.Dir, len(b), s.Size)
	}
	return fsutil.WriteCache(s.Path(h), b)
}

// Get reads e's entry into b (len(b) == Size).
func (s *Store) Get(e dataset.Example, b []byte) error {
	f, err := os.Open(s.Path(e.Hash))
	if err != nil {
		return fmt.Errorf("cached entry of %s: %w (rerun to recompute)", e.Path, err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, b); err != nil {
		return fmt.Errorf("cached entry of %s: %s: %w (delete it and rerun)", e.Path, s.Path(e.Hash), err)
	}
	return nil
}

// Missing returns the examples whose entries are not cached, one per
// distinct image content, and how many examples hit.
func (s *Store) Missing(examples []dataset.Example) (todo []dataset.Example, hits int, err error) {
	seen := map[string]bool{}
	for _, e := range examples {
		if e.Hash == "" {
			return nil, 0, fmt.Errorf("cache: %s has no content hash", e.Path)
		}
		if seen[e.Hash] || s.Has(e.Hash) {
			hits++
		} else {
			todo = append(todo, e)
		}
		seen[e.Hash] = true
	}
	return todo, hits, nil
}

// Cached returns the examples that have entries, in order: a split as
// training data, less the images that could not be computed (skipped).
func (s *Store) Cached(examples []dataset.Example) Examples {
	kept := make(Examples, 0, len(examples))
	for _, e := range examples {
		if s.Has(e.Hash) {
			kept = append(kept, e)
		}
	}
	return kept
}

// Examples is the part of train.Data every cached split shares.
type Examples []dataset.Example

// Len is the number of examples.
func (x Examples) Len() int { return len(x) }

// Label is example i's class index.
func (x Examples) Label(i int) int32 { return int32(x[i].Label) }

// Example is example i.
func (x Examples) Example(i int) dataset.Example { return x[i] }
