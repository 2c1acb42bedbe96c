package inspect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// Memo remembers what Finish derives from the data alone (suspect labels,
// a model's PCA scatter and Projector files) for runs in one process that
// look at the same feature space (the same *Space) with the same seed, as
// a sweep's trials do: the first computes and writes them, the others
// get the same findings and the same files, linked (or copied) from the
// first's run folder. The zero Memo is empty; it is safe for concurrent
// use.
type Memo struct {
	mu      sync.Mutex
	entries map[string]*memoEntry
}

// memoEntry is one computation: the run folder it wrote its files into
// (relative paths), and the findings it made.
type memoEntry struct {
	mu    sync.Mutex
	done  bool
	dir   string
	files []string
	f     report.Findings // suspect labels' fields only
}

// do runs make once for key into dir and records the files (relative to
// dir) it wrote; a later call for key links those files into its own dir
// and hands back the entry. A failed make is not remembered.
func (m *Memo) do(key, dir string, files func() []string, make func(e *memoEntry) error) (*memoEntry, error) {
	m.mu.Lock()
	if m.entries == nil {
		m.entries = map[string]*memoEntry{}
	}
	e := m.entries[key]
	if e == nil {
		e = &memoEntry{}
		m.entries[key] = e
	}
	m.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		for _, f := range e.files {
			if err := linkFile(filepath.Join(e.dir, f), filepath.Join(dir, f)); err != nil {
				return nil, fmt.Errorf("inspect: %w", err)
			}
		}
		return e, nil
	}
	if err := make(e); err != nil {
		return nil, err
	}
	e.done, e.dir = true, dir
	for _, f := range files() {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			e.files = append(e.files, f)
		}
	}
	return e, nil
}

// linkFile makes dst the same file as src: a hard link when the file
// system allows one (every write here replaces files by renaming, so a
// linked file never changes under another run), else a copy; atomic
// either way.
func linkFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".link"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Link(src, tmp); err == nil {
		return os.Rename(tmp, dst)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return fsutil.WriteFile(dst, b)
}
