package experiment

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// copyImages copies every class folder's images of src into dst's class
// folders of the same name, as new files (prefix added to their names).
func copyImages(t *testing.T, src, dst, prefix string) {
	t.Helper()
	classes, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range classes {
		files, err := os.ReadDir(filepath.Join(src, c.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, c.Name()), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(src, c.Name(), f.Name()))
			if err == nil {
				err = os.WriteFile(filepath.Join(dst, c.Name(), prefix+f.Name()), b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Adding images to data.dir and rerunning the same config never reuses
// the run of the old images: the rerun trains anew, in a folder of its
// own, and its metrics equal a clean run's on the same images. Adding a
// class does the same (it used to end in a shape error). The first run's
// folder stays as it was, and rerunning on its data reuses it.
func TestChangedDataGetsNewRun(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	testenv.ImageDataset(t, data, 3, 10, 1)
	first, log, err := run(t, testConfig(t, root))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	before, _ := os.ReadFile(filepath.Join(first, rundir.MetricsFile))

	testenv.ImageDataset(t, filepath.Join(root, "more"), 3, 4, 2)
	copyImages(t, filepath.Join(root, "more"), data, "new_")
	second, log, err := run(t, testConfig(t, root))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if second == first {
		t.Fatalf("the rerun with 12 added images reused run folder %s:\n%s", first, log)
	}
	if strings.Contains(log, "already trained") {
		t.Errorf("the rerun with added images did not train anew:\n%s", log)
	}
	clean, log, err := run(t, testConfig(t, root, "runs_dir="+filepath.Join(root, "clean")))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	got, _ := os.ReadFile(filepath.Join(second, rundir.MetricsFile))
	want, _ := os.ReadFile(filepath.Join(clean, rundir.MetricsFile))
	if !bytes.Equal(got, want) || len(got) == 0 {
		t.Errorf("metrics.json after adding images (%s) differs from a clean run's on the same images (%s)", second, clean)
	}
	if after, _ := os.ReadFile(filepath.Join(first, rundir.MetricsFile)); !bytes.Equal(after, before) {
		t.Errorf("the first run's metrics.json changed")
	}

	// A new class: a third folder, not a crash.
	testenv.ImageDataset(t, filepath.Join(root, "fourth"), 4, 5, 3)
	for k := range 3 {
		os.RemoveAll(filepath.Join(root, "fourth", fmt.Sprintf("class_%d", k)))
	}
	copyImages(t, filepath.Join(root, "fourth"), data, "")
	third, log, err := run(t, testConfig(t, root, "models=[{name: scratch, image_size: [16, 16], layers: [{flatten: {}}, {dense: {units: classes, activation: softmax}}]}]"))
	if err != nil {
		t.Fatalf("after adding a class: %v\n%s", err, log)
	}
	if third == first || third == second {
		t.Errorf("after adding a class the run reused %s", third)
	}
}

// Five runs of the same config started at once into one runs folder: each
// finishes with the metrics of a run alone, or stops with a message naming
// the process that holds the run folder; none fails otherwise, and none
// shares another's checkpoints.
func TestConcurrentRunsLock(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	alone, log, err := run(t, testConfig(t, root, "runs_dir="+filepath.Join(root, "alone")))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	want, _ := os.ReadFile(filepath.Join(alone, rundir.MetricsFile))

	const n = 5
	errs := make([]error, n)
	dirs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		cfg := testConfig(t, root)
		wg.Go(func() {
			var log bytes.Buffer
			res, err := Run(context.Background(), cfg, Options{Log: &log, Progress: &log})
			if res != nil {
				dirs[i] = res.Dir
			}
			errs[i] = err
		})
	}
	wg.Wait()
	finished, busy := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			finished++
			got, _ := os.ReadFile(filepath.Join(dirs[i], rundir.MetricsFile))
			if !bytes.Equal(got, want) {
				t.Errorf("run %d finished with metrics other than a run alone's", i)
			}
		case strings.Contains(err.Error(), "is in use by pid "+fmt.Sprint(os.Getpid())):
			busy++
		default:
			t.Errorf("run %d: %v", i, err)
		}
	}
	t.Logf("%d finished, %d stopped by the lock", finished, busy)
	if finished == 0 || busy == 0 {
		t.Errorf("%d finished, %d stopped by the lock: want at least one of each when five start at once", finished, busy)
	}
}
