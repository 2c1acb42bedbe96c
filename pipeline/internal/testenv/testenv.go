// Package testenv finds what set-up built (SavedModels, the Python venv) for
// tests, and fails a test with the command that builds it when it is missing.
//
// Tests do not skip when set-up has not run: a test that silently skips
// cannot fail. `make test` runs set-up first.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npy"
)

// Root is the repository root (the folder holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: no go.mod above the test's folder")
		}
		dir = parent
	}
}

// SavedModel returns the path of savedmodels/name, failing the test if
// set-up has not exported it.
func SavedModel(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(Root(t), "savedmodels", name)
	if _, err := os.Stat(filepath.Join(dir, "metadata.json")); err != nil {
		t.Fatalf("%s is missing: run `make setup` (or `make test`, which runs it) first", dir)
	}
	return dir
}

// Python returns the venv's interpreter, failing the test if it is missing.
func Python(t testing.TB) string {
	t.Helper()
	py := filepath.Join(Root(t), ".venv", "bin", "python")
	if _, err := exec.LookPath(py); err != nil {
		t.Fatalf("%s is missing: run `make setup` first", py)
	}
	return py
}

// ReadNpy reads a float32 .npy file and returns its values and shape.
func ReadNpy(t testing.TB, path string) ([]float32, []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npy.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var x []float32
	if err := r.Read(&x); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return x, r.Header.Descr.Shape
}

// AppArchitectures are the keras.applications architectures set-up
// exports for the tests (scripts/test_backbones.txt).
func AppArchitectures(t testing.TB) []string {
	t.Helper()
	path := filepath.Join(Root(t), "scripts", "test_backbones.txt")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	return names
}

// App returns savedmodels/apps/name, an export set-up made for the
// tests: a keras.applications architecture (AppArchitectures) or one of
// scripts/plain_savedmodels.py's. A missing one fails the test with the
// command that builds it.
func App(t testing.TB, name string) string {
	t.Helper()
	root := Root(t)
	dir := filepath.Join(root, "savedmodels", "apps", name)
	arch := slices.Contains(AppArchitectures(t), name)
	need := []string{"saved_model.pb"}
	if arch { // the family's preprocess_input made the golden input from these
		need = append(need, filepath.Join("golden", "pixels.npy"))
	}
	missing := false
	for _, f := range need {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = true
		}
	}
	if !missing {
		return dir
	}
	cmd := ".venv/bin/python scripts/plain_savedmodels.py --out savedmodels/apps"
	if arch {
		cmd = fmt.Sprintf(".venv/bin/python scripts/export_backbone.py --arch %s --weights random --golden 2 --out savedmodels/apps/%s --force", name, name)
	}
	t.Fatalf("%s is missing: run `make setup` (or `make test`, which runs it), or only\n  %s", dir, cmd)
	return ""
}
