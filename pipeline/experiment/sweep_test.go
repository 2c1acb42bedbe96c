package experiment

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// TestSweepTrialsEqualRunsAlone: a sweep's trials, three at once in one
// process sharing the data, backbone, features and inspection, write
// metrics.json byte for byte as the same configs run alone do; a second
// sweep runs none of them again, and one whose folder is gone runs alone.
func TestSweepTrialsEqualRunsAlone(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	sets := [][]string{
		{"train.optimizer.adam.learning_rate=0.01", "models.0.layers.0.dense.units=8"},
		{"train.optimizer.adam.learning_rate=0.001", "models.0.layers.0.dense.units=8"},
		{"train.optimizer.adam.learning_rate=0.01", "models.0.layers.0.dense.units=32"},
	}
	var trials []*config.Config
	for _, s := range sets {
		trials = append(trials, testConfig(t, root, s...))
	}
	var log bytes.Buffer
	sweep := func() []TrialResult {
		t.Helper()
		res, err := Sweep(context.Background(), trials, SweepOptions{Log: &log, Progress: &log, Parallel: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("trial %d: %v\n%s", i+1, r.Err, log.String())
			}
		}
		return res
	}
	res := sweep()
	metrics := make([][]byte, len(trials))
	for i, r := range res {
		if r.Result.Finished {
			t.Errorf("trial %d: finished before it ran", i+1)
		}
		b, err := os.ReadFile(filepath.Join(r.Result.Dir, rundir.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		metrics[i] = b
		if _, err := os.Stat(filepath.Join(rundir.Model(r.Result.Dir, "top"), rundir.SavedModelDir)); err == nil {
			t.Errorf("trial %d exported its models", i+1)
		}
	}
	if bytes.Equal(metrics[0], metrics[1]) {
		t.Fatal("two trials of different learning rates have the same metrics")
	}
	again := sweep()
	for i, r := range again {
		if !r.Result.Finished || r.Result.Dir != res[i].Result.Dir {
			t.Errorf("second sweep, trial %d: finished %v, folder %s (was %s)", i+1, r.Result.Finished, r.Result.Dir, res[i].Result.Dir)
		}
	}
	// Alone, each in a fresh folder, from the same caches.
	if err := os.RemoveAll(filepath.Join(root, "runs")); err != nil {
		t.Fatal(err)
	}
	for i, cfg := range trials {
		r, l, err := runResult(t, cfg)
		if err != nil {
			t.Fatalf("trial %d alone: %v\n%s", i+1, err, l)
		}
		if r.Dir != res[i].Result.Dir {
			t.Errorf("trial %d alone ran in %s, the sweep in %s", i+1, r.Dir, res[i].Result.Dir)
		}
		b, err := os.ReadFile(filepath.Join(r.Dir, rundir.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, metrics[i]) {
			t.Errorf("trial %d: metrics.json alone differs from the sweep's:\nalone: %.600s\nsweep: %.600s", i+1, b, metrics[i])
		}
	}
	// Trial 2's folder is gone: a sweep runs it alone again.
	if err := os.RemoveAll(res[1].Result.Dir); err != nil {
		t.Fatal(err)
	}
	third := sweep()
	for i, r := range third {
		if r.Result.Finished != (i != 1) {
			t.Errorf("third sweep, trial %d: finished %v", i+1, r.Result.Finished)
		}
	}
	b, err := os.ReadFile(filepath.Join(third[1].Result.Dir, rundir.MetricsFile))
	if err != nil || !bytes.Equal(b, metrics[1]) {
		t.Errorf("trial 2 run again: metrics.json differs (%v)", err)
	}
}
