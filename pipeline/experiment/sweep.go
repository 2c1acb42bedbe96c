package experiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/export"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// SweepOptions control Sweep.
type SweepOptions struct {
	Log      io.Writer // each trial's log, prefixed with its number (nil: os.Stdout)
	Progress io.Writer // progress bars (nil: os.Stderr)
	// Parallel is how many trials train at once; 0: one per CPU.
	Parallel int
}

// TrialResult is one trial of a sweep: Run's Result and error for its
// config.
type TrialResult struct {
	Result *Result // never nil; Dir is "" when the trial got no run folder
	Err    error
}

// Sweep runs every config of trials as Run runs it alone, in one
// process: the trials share what does not depend on the values they
// change (the data set scanned, hashed and checked once, the backbones
// loaded once, each feature cache checked once per distinct set of
// features, the data inspection done once per feature space), and up to
// opts.Parallel of them train at once. Each trial gets its usual run
// folder, byte for byte what Run alone writes there, except that it
// exports no model (`pipeline export` does, on any trial; the caller
// exports the best). A trial whose folder holds its results already (an
// earlier, interrupted sweep finished it) is not run again: its Result
// says Finished.
//
// A trial's error is in its TrialResult; Sweep's own error is only for
// an interruption (ctx), with the results so far.
func Sweep(ctx context.Context, trials []*config.Config, opts SweepOptions) ([]TrialResult, error) {
	sh := newShared()
	defer sh.close()
	par := opts.Parallel
	if par <= 0 {
		par = runtime.NumCPU()
	}
	logw := opts.Log
	if logw == nil {
		logw = os.Stdout
	}
	var mu sync.Mutex // one trial's line at a time
	out := make([]TrialResult, len(trials))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(par, len(trials)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				lw := &prefixWriter{mu: &mu, w: logw, prefix: fmt.Sprintf("trial %d: ", i+1)}
				res, err := Run(ctx, trials[i], Options{Log: lw, Progress: opts.Progress, sh: sh})
				lw.flush()
				if res == nil {
					res = &Result{}
				}
				out[i] = TrialResult{Result: res, Err: err}
			}
		}()
	}
	for i := range trials {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return out, ctx.Err()
}

// prefixWriter writes each whole line to w with prefix, one writer's line
// at a time.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	i := bytes.LastIndexByte(p.buf, '\n')
	if i < 0 {
		return len(b), nil
	}
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(p.buf[:i+1], []byte("\n")) {
		if len(line) > 0 {
			out.WriteString(p.prefix)
			out.Write(line)
		}
	}
	p.buf = append(p.buf[:0], p.buf[i+1:]...)
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.w.Write(out.Bytes())
	return len(b), err
}

// flush writes what is left after the last line break.
func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.Write([]byte("\n"))
	}
}

// finished reports whether the sweep trial's run folder holds its
// results already (metrics.json, written last, marks a finished run).
func (r *runner) finished() (bool, error) {
	_, err := os.Stat(filepath.Join(r.dir, rundir.MetricsFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	r.res.Finished = true
	r.logf("run %s: finished by an earlier sweep; not run again", r.dir)
	return true, nil
}

// ExportModel writes model name of the finished run dir as a SavedModel
// into its usual place (models/<name>/savedmodel/), unless it is there,
// and returns where: what a run's end does for each model, for a sweep's
// best trial.
func ExportModel(dir, name string) (string, error) {
	out := filepath.Join(rundir.Model(dir, name), rundir.SavedModelDir)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	em, err := export.FromRun(dir, name)
	if err != nil {
		return "", err
	}
	return out, export.Write(out, em, export.Options{})
}
