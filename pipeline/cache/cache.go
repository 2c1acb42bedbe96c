// Package cache stores one fixed-size file per image, named by the sha256 of
// the image's bytes, under a folder that stands for everything else the
// entry depends on. The feature cache (backbone outputs) and the pixel cache
// (decoded, resized images) are both such stores: a changed image misses, a
// moved or renamed one hits.
//
// Layout: <Dir>/<first two hex digits>/<sha256><Ext>. Each file is the
// entry's payload followed by its CRC-32C (4 bytes, little-endian), checked
// on every read: a file of the right size with other bytes (a disk error,
// a stray write) is never used.
package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// Store is a folder of equally sized entries.
type Store struct {
	Dir  string
	Ext  string // file name extension, such as ".f32"
	Size int    // bytes per entry (the payload; files hold 4 more, the checksum)
}

// ErrCorrupt marks an entry whose checksum does not match its payload.
var ErrCorrupt = errors.New("corrupt cache entry (checksum mismatch)")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileSize is the size of an entry's file.
func (s *Store) fileSize() int64 { return int64(s.Size) + 4 }

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
	return err == nil && st.Size() == s.fileSize()
}

// Valid reports whether h's entry is there and good: read and verified
// against its checksum.
func (s *Store) Valid(h string) bool {
	return s.read(h, make([]byte, s.Size)) == nil
}

// Put writes h's entry atomically.
func (s *Store) Put(h string, b []byte) error {
	if len(b) != s.Size {
		return fmt.Errorf("cache %s: entry of %d bytes, want %d", s.Dir, len(b), s.Size)
	}
	return fsutil.WriteCache(s.Path(h), binary.LittleEndian.AppendUint32(b[:len(b):len(b)], crc32.Checksum(b, castagnoli)))
}

// Get reads e's entry into b (len(b) == Size) and verifies its checksum;
// a corrupt entry is an error matching ErrCorrupt.
func (s *Store) Get(e dataset.Example, b []byte) error {
	if err := s.read(e.Hash, b); err != nil {
		return fmt.Errorf("cached entry of %s: %s: %w (rerun to recompute it)", e.Path, s.Path(e.Hash), err)
	}
	return nil
}

// read reads and verifies h's entry into b.
func (s *Store) read(h string, b []byte) error {
	if len(b) != s.Size {
		return fmt.Errorf("buffer of %d bytes for an entry of %d", len(b), s.Size)
	}
	f, err := os.Open(s.Path(h))
	if err != nil {
		return err
	}
	defer f.Close()
	var sum [4]byte
	if _, err := io.ReadFull(f, b); err != nil {
		return err
	}
	if _, err := io.ReadFull(f, sum[:]); err != nil {
		return err
	}
	if n, _ := f.Read(sum[:1]); n != 0 {
		return fmt.Errorf("%w: the file is longer than an entry", ErrCorrupt)
	}
	if crc32.Checksum(b, castagnoli) != binary.LittleEndian.Uint32(sum[:]) {
		return ErrCorrupt
	}
	return nil
}

// StaleTemp is the age after which a temporary entry file (written, then
// renamed into place) can only be the leftover of a killed process: an
// entry is written in milliseconds, so no live writer keeps one that long,
// while other processes filling the same cache at the same time (runs of
// other configs, feature shards) keep theirs.
const StaleTemp = 10 * time.Minute

// Missing returns the examples whose entries are not cached, one per
// distinct image content, how many examples hit, and how many of the
// misses were there but bad (wrong size or checksum). Every entry present
// is read and verified, so a hit is an entry known to be good. Temporary
// files older than StaleTemp, left by killed processes, are removed first.
func (s *Store) Missing(examples []dataset.Example) (todo []dataset.Example, hits, bad int, err error) {
	if _, err := fsutil.RemoveTemp(s.Dir, StaleTemp); err != nil {
		return nil, 0, 0, fmt.Errorf("cache %s: removing stale temporary files: %w", s.Dir, err)
	}
	seen := map[string]bool{}
	buf := make([]byte, s.Size)
	for _, e := range examples {
		if e.Hash == "" {
			return nil, 0, 0, fmt.Errorf("cache: %s has no content hash", e.Path)
		}
		switch {
		case seen[e.Hash]:
			hits++
		default:
			err := s.read(e.Hash, buf)
			switch {
			case err == nil:
				hits++
			case errors.Is(err, os.ErrNotExist):
				todo = append(todo, e)
			default:
				bad++
				todo = append(todo, e)
			}
		}
		seen[e.Hash] = true
	}
	return todo, hits, bad, nil
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
