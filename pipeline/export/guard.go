package export

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// exportEntries are the entries of a folder Write writes.
var exportEntries = map[string]bool{"saved_model.pb": true, "fingerprint.pb": true, "variables": true, "assets": true, MetadataFile: true,
	TFLiteFile: true, TFLiteInt8File: true, ONNXFile: true, LabelsFileTop: true}

// isExport reports whether dir holds an export and nothing else, or
// nothing at all: what Force may replace.
func isExport(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	if len(entries) == 0 {
		return true
	}
	has := map[string]bool{}
	for _, e := range entries {
		if !exportEntries[e.Name()] {
			return false
		}
		has[e.Name()] = true
	}
	return has[MetadataFile] && (has["saved_model.pb"] || has[TFLiteFile] || has[ONNXFile])
}

// checkReplace refuses, before any work, to replace dir unless it is an
// export, and any dir that is a run folder or a runs folder or lies inside
// one: -force must never delete what the pipeline reads.
func checkReplace(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := abs; ; d = filepath.Dir(d) {
		switch {
		case rundir.Is(d) && d == abs:
			return fmt.Errorf("%s is a run folder: -force replaces only an earlier export; choose another -out", dir)
		case rundir.Is(d):
			return fmt.Errorf("%s lies inside run folder %s: choose an -out outside it (the run keeps its own export in models/<model>/%s)", dir, d, rundir.SavedModelDir)
		case rundir.Holds(d) && d == abs:
			return fmt.Errorf("%s holds run folders: -force replaces only an earlier export; choose another -out", dir)
		case rundir.Holds(d):
			return fmt.Errorf("%s lies inside %s, which holds run folders: choose an -out outside it", dir, d)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.IsDir() || !isExport(dir):
		return fmt.Errorf("%s exists and is not an export (it holds more than saved_model.pb, %s, variables/, assets/ and the converted files): -force replaces only an earlier export or an empty folder; choose another -out, or move it away yourself", dir, MetadataFile)
	}
	return nil
}

// tempDir makes the temporary folder an export is built in, beside dir,
// with the permissions of a folder the user makes (0755 under umask 022:
// readable by a serving account), and first removes the temporary
// folders a killed export to dir left there.
func tempDir(dir string) (string, error) {
	parent, base := filepath.Dir(filepath.Clean(dir)), filepath.Base(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	old, _ := filepath.Glob(filepath.Join(parent, "."+globEscape(base)+".*.tmp"))
	older, _ := filepath.Glob(filepath.Join(parent, "."+globEscape(base)+".*.tmp.old"))
	for _, p := range append(old, older...) {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			os.RemoveAll(p)
		}
	}
	for range 100 {
		b := make([]byte, 6)
		rand.Read(b)
		tmp := filepath.Join(parent, "."+base+"."+hex.EncodeToString(b)+".tmp")
		err := os.Mkdir(tmp, 0o777) // the umask applies
		if !errors.Is(err, fs.ErrExist) {
			return tmp, err
		}
	}
	return "", fmt.Errorf("no free temporary folder name beside %s", dir)
}

// globEscape escapes the characters filepath.Match treats specially.
func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}
