package export_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/export"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// -force never destroys what the pipeline reads: it refuses a run folder,
// a runs folder, anything inside either and any folder that is not an
// export, touching nothing; it replaces an earlier export. Exports are
// readable by others under umask 022, and a killed export's temporary
// folder is removed by the next export to the same place.
func TestForceReplacesOnlyAnExport(t *testing.T) {
	f := setup(t)
	m, err := export.FromRun(f.run, "scratch")
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "mine")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "keep"), []byte("x"), 0o644)
	for _, out := range []string{
		f.run,                              // the run folder itself
		filepath.Dir(f.run),                // the runs folder
		filepath.Join(f.run, "models"),     // inside the run
		filepath.Join(f.run, "new-export"), // inside the run, new
		other,                              // not an export
	} {
		err := export.Write(out, m, export.Options{Force: true})
		if err == nil {
			t.Errorf("-force -out %s: replaced", out)
		} else if !strings.Contains(err.Error(), "choose another -out") && !strings.Contains(err.Error(), "choose an -out") {
			t.Errorf("-force -out %s: %v, want a refusal saying what to do", out, err)
		}
	}
	for _, p := range []string{rundir.ConfigFile, rundir.MetricsFile, "models/scratch/" + rundir.Weights + ".index"} {
		if _, err := os.Stat(filepath.Join(f.run, p)); err != nil {
			t.Errorf("the run lost %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(other, "keep")); err != nil {
		t.Errorf("a refused -force touched the folder: %v", err)
	}

	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	out := filepath.Join(t.TempDir(), "served")
	if err := export.Write(out, m, export.Options{}); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(filepath.Dir(out), ".served.123456.tmp")
	os.MkdirAll(filepath.Join(left, "variables"), 0o700)
	if err := export.Write(out, m, export.Options{Force: true}); err != nil {
		t.Fatalf("-force over an earlier export: %v", err)
	}
	if _, err := os.Stat(left); err == nil {
		t.Errorf("the temporary folder of a killed export is still there: %s", left)
	}
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = 0o755
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v under umask 022, want %v (readable by a serving account)", p, fi.Mode().Perm(), want)
		}
		return nil
	})
}
