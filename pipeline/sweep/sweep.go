package sweep

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// Options say what to sweep.
type Options struct {
	Config string   // the experiment's config file
	Sets   []string // its -set overrides, applied to every trial
	Grid   []string // the -grid flags, KEY=V1,V2,... or KEY=LO..HI[:log]
	// Random, when not 0, draws that many trials (seeded by Seed) instead
	// of running the whole grid.
	Random int
	Seed   int64
	// Parallel is how many trials train at once; 0: one per CPU.
	Parallel int
	Log      io.Writer // nil: os.Stdout
	Progress io.Writer // nil: os.Stderr
}

// Trial is one configuration of a sweep.
type Trial struct {
	Point  Point
	Config *config.Config
}

// Plan parses the grid and loads every trial's config: the base config
// with its -set overrides, then one override per -grid entry. A value a
// key does not take is an error in the config's usual form naming the
// -grid entry (-grid KEY=V1,V2: KEY: what was wanted, got what); every
// bad value is named at once.
func Plan(opts Options) ([]Entry, []Trial, error) {
	if len(opts.Grid) == 0 {
		if opts.Random != 0 {
			return nil, nil, errors.New("-random without a range: give -grid KEY=LO..HI[:log] or -grid KEY=V1,V2,... to draw from")
		}
		return nil, nil, errors.New("no -grid: give at least one -grid KEY=V1,V2,... (a key -set takes and its values)")
	}
	var entries []Entry
	keys := map[string]bool{}
	for _, g := range opts.Grid {
		e, err := ParseEntry(g)
		if err != nil {
			return nil, nil, err
		}
		if keys[e.Key] {
			return nil, nil, fmt.Errorf("-grid %s: %s is swept by another -grid too", g, e.Key)
		}
		keys[e.Key] = true
		entries = append(entries, e)
	}
	var points []Point
	var err error
	if opts.Random != 0 {
		points, err = Random(entries, opts.Random, opts.Seed)
	} else {
		points, err = Grid(entries)
	}
	if err != nil {
		return nil, nil, err
	}
	// Each listed value alone first, so that a bad one is named once.
	var errs []error
	for _, e := range entries {
		for _, v := range e.Values {
			if _, err := load(opts, []Entry{e}, []string{v}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	trials := make([]Trial, len(points))
	for i, p := range points {
		cfg, err := load(opts, entries, p.Values)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		trials[i] = Trial{Point: p, Config: cfg}
	}
	return entries, trials, errors.Join(errs...)
}

// load loads the config of opts with value vals[i] for entries[i].
func load(opts Options, entries []Entry, vals []string) (*config.Config, error) {
	var over []config.Override
	for _, s := range opts.Sets {
		over = append(over, config.Override{Set: s})
	}
	for i, e := range entries {
		over = append(over, config.Override{Set: e.Key + "=" + vals[i], Label: e.Label()})
	}
	return config.LoadOverrides(opts.Config, over)
}

// Result is what a sweep did: its folder (table, CSV, plots), its trials
// and their rows, best first, and where the best model was exported.
type Result struct {
	Dir      string
	Entries  []Entry
	Trials   []Trial
	Runs     []experiment.TrialResult // in trial order
	Rows     []Row                    // finished models of the trials, best first
	Exported string                   // the best model's SavedModel
}

// Run plans the sweep (Plan), runs its trials (experiment.Sweep), and
// writes the sweep's folder, <runs_dir>/<name>-sweep-<hash of the sweep>:
// results.md (the table), sweep.csv and a plot of the validation metric
// against each swept key. The best model (of the best validation metric)
// is exported into its run folder. A failed trial is in the table's
// notes and the error, after the others ran.
func Run(ctx context.Context, opts Options) (*Result, error) {
	entries, trials, err := Plan(opts)
	if err != nil {
		return nil, err
	}
	logw := opts.Log
	if logw == nil {
		logw = os.Stdout
	}
	cfgs := make([]*config.Config, len(trials))
	for i, t := range trials {
		cfgs[i] = t.Config
	}
	dir, err := folder(opts, trials[0].Config)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "sweep %s: %d trials of %s\n", dir, len(trials), strings.Join(keysOf(entries), ", "))
	runs, err := experiment.Sweep(ctx, cfgs, experiment.SweepOptions{Log: logw, Progress: opts.Progress, Parallel: opts.Parallel})
	res := &Result{Dir: dir, Entries: entries, Trials: trials, Runs: runs}
	if err != nil {
		return res, err
	}
	var failed []error
	for i, r := range runs {
		if r.Err != nil {
			failed = append(failed, fmt.Errorf("trial %d (%s): %w", i+1, pointText(entries, trials[i].Point), r.Err))
		}
	}
	if res.Rows, err = rows(entries, trials, runs); err != nil {
		return res, err
	}
	// The best model is exported while the table and plots are written.
	exported := make(chan error, 1)
	go func() {
		if len(res.Rows) == 0 {
			exported <- nil
			return
		}
		best := res.Rows[0]
		var err error
		if res.Exported, err = experiment.ExportModel(best.Dir, best.Model); err != nil {
			err = fmt.Errorf("exporting the best model: %w", err)
		}
		exported <- err
	}()
	err = write(res)
	if eerr := <-exported; err == nil {
		err = eerr
	}
	if err != nil {
		return res, err
	}
	return res, errors.Join(failed...)
}

// folder is the sweep's folder: under the runs folder of its trials,
// named for the experiment and a hash of the sweep (config file, -set,
// -grid, -random and -seed), so that the same sweep again resumes into
// it.
func folder(opts Options, cfg *config.Config) (string, error) {
	b, err := os.ReadFile(opts.Config)
	if err != nil {
		return "", fmt.Errorf("read config: %w", err)
	}
	h := sha256.New()
	h.Write(b)
	fmt.Fprintf(h, "\x00%q\x00%q\x00%d\x00%d", opts.Sets, opts.Grid, opts.Random, opts.Seed)
	dir := filepath.Join(cfg.RunsDir, cfg.Name+"-sweep-"+hex.EncodeToString(h.Sum(nil))[:8])
	return dir, os.MkdirAll(dir, 0o755)
}

// keysOf are the entries' keys.
func keysOf(entries []Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Key
	}
	return out
}

// pointText is "key=value, ..." for p.
func pointText(entries []Entry, p Point) string {
	s := make([]string, len(entries))
	for i, e := range entries {
		s[i] = e.Key + "=" + p.Values[i]
	}
	return strings.Join(s, ", ")
}

// writeFile writes b to name in the sweep's folder, atomically.
func writeFile(dir, name string, b []byte) error {
	return fsutil.WriteFile(filepath.Join(dir, name), b)
}
