package rundir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
)

func TestOpen(t *testing.T) {
	root := t.TempDir()
	src := "name: t\nruns_dir: " + root + "\ndata: {dir: d}\nmodels:\n  - name: m\n    layers: [{dense: {units: classes, activation: softmax}}]\n"
	cfg, err := config.Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	base, effective, _ := For(cfg)
	a := Inputs{Manifest: "aa", Backbones: map[string]string{"m": "fp1"}}
	r, err := Open(cfg, effective, a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir != base {
		t.Errorf("a new run went to %s, want %s", r.Dir, base)
	}
	// A second process on the same run stops at once, told who holds it.
	_, err = Open(cfg, effective, a)
	var busy *BusyError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), "pid ") || !strings.Contains(err.Error(), "in use by") {
		t.Fatalf("second Open: %v, want a BusyError naming the holder", err)
	}
	// Other data or another backbone: another folder, also while the
	// first is in use.
	for _, in := range []Inputs{{Manifest: "bb", Backbones: a.Backbones}, {Manifest: "aa", Backbones: map[string]string{"m": "fp2"}}} {
		o, err := Open(cfg, effective, in)
		if err != nil {
			t.Fatal(err)
		}
		if o.Dir == base || o.Dir != base+"-"+in.Hash()[:8] {
			t.Errorf("inputs %+v went to %s", in, o.Dir)
		}
		o.Close()
	}
	r.Close()
	// Released: the same inputs reuse the folder, and what a killed
	// process left half-written is removed.
	for _, p := range []string{".metrics.json.123.tmp", "models/m/train/last.tmp.index", "models/m/.savedmodel.9.tmp/x"} {
		os.MkdirAll(filepath.Dir(filepath.Join(base, p)), 0o755)
		os.WriteFile(filepath.Join(base, p), []byte("x"), 0o644)
	}
	r, err = Open(cfg, effective, a)
	if err != nil || r.Dir != base {
		t.Fatalf("reopen: %v, %v", r, err)
	}
	if len(r.Removed) != 3 {
		t.Errorf("removed %q, want the 3 temporary files", r.Removed)
	}
	r.Close()
}

// A run folder written before inputs were recorded keeps working: a rerun
// on the same data (its manifest) uses it; on other data, not.
func TestOpenOldFolder(t *testing.T) {
	root := t.TempDir()
	src := "name: t\nruns_dir: " + root + "\ndata: {dir: d}\nmodels:\n  - name: m\n    layers: [{dense: {units: classes, activation: softmax}}]\n"
	cfg, _ := config.Parse("t.yaml", []byte(src), nil)
	base, effective, _ := For(cfg)
	os.MkdirAll(base, 0o755)
	os.WriteFile(filepath.Join(base, ConfigFile), effective, 0o644)
	manifest := []byte("path,label,class,split,sha256\n")
	os.WriteFile(filepath.Join(base, ManifestFile), manifest, 0o644)
	h := sha256.Sum256(manifest)
	other, err := Open(cfg, effective, Inputs{Manifest: "other"})
	if err != nil || other.Dir == base {
		t.Fatalf("other data: %v, %v: want a folder of its own", other, err)
	}
	other.Close()
	r, err := Open(cfg, effective, Inputs{Manifest: hex.EncodeToString(h[:])})
	if err != nil || r.Dir != base || !r.Adopted {
		t.Fatalf("same data: %+v, %v: want the old folder", r, err)
	}
	r.Close()
}
