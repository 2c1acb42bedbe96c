// Package fsutil writes files atomically, so that a crash or Ctrl-C never
// leaves a half-written output where a complete one was expected.
package fsutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically: to a temporary file in the same
// folder, synced, then renamed over path. Readers see the old file or the
// new one, never a part. The folder is created if needed.
func WriteFile(path string, data []byte) error {
	return Write(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// Write is WriteFile for content produced by a function writing to f.
func Write(path string, fill func(f *os.File) error) error {
	return write(path, fill, true)
}

// WriteCache writes a cache entry atomically (temporary file, then rename)
// but without syncing it to disk: after a power loss an entry may be
// missing or empty, and caches check entries' sizes and recompute them.
// Syncing each of thousands of small entries would cost more than the
// entries are worth.
func WriteCache(path string, data []byte) error {
	return write(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	}, false)
}

func write(path string, fill func(f *os.File) error, sync bool) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("writing %s: %w", path, err)
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if sync {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if sync {
		// Sync the folder so the rename itself survives a crash; not
		// every system can sync a folder, and the file is in place either way.
		if d, derr := os.Open(dir); derr == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}
