package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// IsTemp reports whether name is a temporary file or folder this project
// writes before renaming it into place: ".NAME.RANDOM.tmp" (Write and
// export's folder), ".NAME.RANDOM.tmp.old" (export's replaced folder) and
// "PREFIX.tmp.SUFFIX" (a checkpoint written under a temporary prefix).
// A process killed at the wrong moment leaves them behind.
func IsTemp(name string) bool {
	if strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".tmp.old")) {
		return true
	}
	return strings.Contains(name, ".tmp.")
}

// RemoveTemp removes, below dir at any depth, the temporary files and
// folders (IsTemp) last modified before the time older ago (0: all),
// and returns the paths removed. Call it only where no live process can be
// writing them: under the lock of the work they belong to, or with an age
// that no live write lasts.
func RemoveTemp(dir string, older time.Duration) ([]string, error) {
	var removed []string
	cutoff := time.Now().Add(-older)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir && os.IsNotExist(err) {
				return filepath.SkipAll
			}
			return err
		}
		if path == dir || !IsTemp(d.Name()) {
			return nil
		}
		if older > 0 {
			fi, err := d.Info()
			if err != nil || fi.ModTime().After(cutoff) {
				return nil
			}
		}
		if err := os.RemoveAll(path); err != nil {
			return err
		}
		removed = append(removed, path)
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	return removed, err
}
