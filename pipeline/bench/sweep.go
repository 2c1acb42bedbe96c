package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// The sweep part's grid: learning rate × units of a hidden dense layer ×
// dropout, 24 trials.
var sweepGrid = [][]string{
	{"train.optimizer.adam.learning_rate", "0.0003", "0.001", "0.003"},
	{"models.0.layers.0.dense.units", "64", "128", "256", "512"},
	{"models.0.layers.1.dropout.rate", "0.2", "0.5"},
}

// sweepConfig is the default experiment's data, split, training and
// feature cache (configs/default.yaml) with one model: MobileNet's
// features, a hidden dense layer, dropout and the softmax, in runsDir.
func sweepConfig(runsDir string) string {
	return fmt.Sprintf(`name: sweep
seed: 42
runs_dir: %s
data:
  dir: data/fashion-mnist
  download: fashion-mnist
  split: {train: 0.10, val: 0.10, test: 0.80}
  stratify: true
images: {size: [64, 64], resize: nearest, preprocess: tf}
train:
  optimizer: {adam: {learning_rate: 0.001}}
  batch_size: 32
  epochs: 30
  early_stopping: {monitor: val_loss, patience: 5, restore_best_weights: true}
models:
  - name: mobilenet_mlp
    backbone: {savedmodel: savedmodels/mobilenet, endpoint: global_pool}
    layers:
      - dense: {units: 128, activation: relu}
      - dropout: {rate: 0.2}
      - dense: {units: classes, activation: softmax}
`, runsDir)
}

// sweepBench times the 24 trials of sweepGrid as one `pipeline sweep`
// against the same 24 as separate `pipeline -config` processes, on the
// default data's MobileNet features (cached by a first, untimed run when
// they are not), and compares the best trial's test accuracy with the
// default config's MobileNet top's.
func (o *options) sweepBench(bin string, res *results) error {
	sepRuns, sweepRuns := filepath.Join(o.out, "runs-separate"), filepath.Join(o.out, "runs-sweep")
	sepCfg, sweepCfg := filepath.Join(o.out, "sweep-separate.yaml"), filepath.Join(o.out, "sweep.yaml")
	for path, runs := range map[string]string{sepCfg: sepRuns, sweepCfg: sweepRuns} {
		if err := fsutil.WriteFile(path, []byte(sweepConfig(runs))); err != nil {
			return err
		}
	}
	if err := removeAll(sepRuns, sweepRuns); err != nil {
		return err
	}
	// The default's MobileNet top, on the same data (and the features
	// cached, when they are not yet).
	// (Named as the default's model: its initial weights derive from the
	// name.)
	def := strings.Replace(sweepConfig(filepath.Join(o.out, "runs-default")), `  - name: mobilenet_mlp
    backbone: {savedmodel: savedmodels/mobilenet, endpoint: global_pool}
    layers:
      - dense: {units: 128, activation: relu}
      - dropout: {rate: 0.2}
      - dense: {units: classes, activation: softmax}`, `  - name: mobilenet_transfer
    backbone: {savedmodel: savedmodels/mobilenet, endpoint: global_pool}
    layers: [{dense: {units: classes, activation: softmax}}]`, 1)
	if !strings.Contains(def, "mobilenet_transfer") {
		return fmt.Errorf("bench: the default top's config was not made from the sweep's")
	}
	defCfg := filepath.Join(o.out, "sweep-default.yaml")
	if err := fsutil.WriteFile(defCfg, []byte(def)); err != nil {
		return err
	}
	if err := removeAll(filepath.Join(o.out, "runs-default")); err != nil {
		return err
	}
	if _, err := measure(bin, "-config", defCfg); err != nil {
		return err
	}
	defAcc, err := testAccuracy(defCfg, nil)
	if err != nil {
		return err
	}

	var sets [][]string
	sets = append(sets, nil)
	for _, g := range sweepGrid {
		var next [][]string
		for _, s := range sets {
			for _, v := range g[1:] {
				next = append(next, append(append([]string(nil), s...), g[0]+"="+v))
			}
		}
		sets = next
	}
	loadBefore := loadAverage()
	sep := 0.0
	for _, s := range sets {
		args := []string{"-config", sepCfg}
		for _, kv := range s {
			args = append(args, "-set", kv)
		}
		p, err := measure(bin, args...)
		if err != nil {
			return err
		}
		sep += p.Seconds
	}
	loadMid := loadAverage()
	args := []string{"sweep", "-config", sweepCfg}
	for _, g := range sweepGrid {
		args = append(args, "-grid", g[0]+"="+strings.Join(g[1:], ","))
	}
	sw, err := measure(bin, args...)
	if err != nil {
		return err
	}
	loadAfter := loadAverage()

	// The best trial: the sweep's table, first row.
	best, bestAcc := "", 0.0
	for _, line := range strings.Split(string(sw.Stdout), "\n") {
		if !strings.HasPrefix(line, "| 1 |") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) < 3+len(sweepGrid) {
			return fmt.Errorf("sweep table row %q: too few cells", line)
		}
		var kv []string
		for i, g := range sweepGrid {
			kv = append(kv, g[0]+"="+cells[3+i])
		}
		best = strings.Join(kv, ", ")
		if bestAcc, err = testAccuracy(sweepCfg, kv); err != nil {
			return err
		}
		// The same config run alone gives the same number.
		if sepAcc, err := testAccuracy(sepCfg, kv); err != nil || sepAcc != bestAcc {
			return fmt.Errorf("best trial %s: test accuracy %v in the sweep, %v alone (%v)", best, bestAcc, sepAcc, err)
		}
		break
	}
	if best == "" {
		return fmt.Errorf("pipeline sweep printed no table:\n%s", sw.Stdout)
	}
	res.Raw["sweep_seconds"], res.Raw["separate_seconds"], res.Raw["sweep_best"] = sw.Seconds, sep, best
	res.Sections = append(res.Sections, fmt.Sprintf(`
## A sweep of %d trials on cached features

The default data and split (configs/default.yaml), MobileNet's cached global_pool features, a hidden dense layer (ReLU), dropout and the softmax; Adam, batch 32, up to 30 epochs, early stopping on val_loss (patience 5). Grid: %s. Separate: %d `+"`pipeline -config`"+` processes, one after the other. Sweep: one `+"`pipeline sweep`"+` (trials in parallel on the CPUs; no export but the best model's). Each side in a runs folder of its own. The machine is shared: load average (1, 5, 15 min) %s before the separate runs, %s between, %s after the sweep.

| | wall time |
|---|--:|
| %d separate runs | %s |
| one sweep | %s |
| sweep speed-up | %.1f× (goal ≥ 4×, and under 20 s) |

Best trial by val_loss: %s: test accuracy %s (the same config alone: the same), against %s for the default MobileNet top (Dense(classes) alone) on the same split.
`, len(sets), gridText(), len(sets), loadBefore, loadMid, loadAfter, len(sets), secs(sep), secs(sw.Seconds), sep/sw.Seconds, best, pct(bestAcc), pct(defAcc)))
	return nil
}

// gridText is the grid as key {values} × ...
func gridText() string {
	var s []string
	for _, g := range sweepGrid {
		s = append(s, fmt.Sprintf("%s {%s}", g[0], strings.Join(g[1:], ", ")))
	}
	return strings.Join(s, " × ")
}

// testAccuracy is the test accuracy of the first model of the finished
// run of the config at path with overrides sets.
func testAccuracy(path string, sets []string) (float64, error) {
	cfg, err := config.Load(path, sets)
	if err != nil {
		return 0, err
	}
	dir, _, err := rundir.For(cfg)
	if err != nil {
		return 0, err
	}
	run, err := report.Read(dir)
	if err != nil {
		return 0, err
	}
	if len(run.Models) == 0 || run.Models[0].Test == nil {
		return 0, fmt.Errorf("%s: no test metrics", filepath.Join(dir, rundir.MetricsFile))
	}
	return run.Models[0].Test.Accuracy, nil
}
