package experiment

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/lrfind"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/plot"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// LRFindResult is a learning-rate range test of one model: a curve per
// training phase, and the folder its files are in.
type LRFindResult struct {
	Dir    string // <runs_dir>/lr-find/<run folder's name>/
	Model  string
	Phases []LRFindPhase
}

// LRFindPhase is the range test of one training phase.
type LRFindPhase struct {
	Name       string // rundir.TrainDir or rundir.FineTuneDir
	Configured float64
	Curve      *lrfind.Curve
	Plot, CSV  string // the files
}

// LRFind runs Leslie Smith's learning-rate range test (package lrfind)
// for model name of cfg ("" for its first model) on its cached inputs
// (features, caching what is missing as a run does): for each training
// phase from the phase's first weights, a later phase's from the earlier
// phases trained as configured. Each phase's curve is drawn and written
// as CSV into <runs_dir>/lr-find/<the run folder's name>/; the run
// folder itself is not touched. steps is the number of steps (0: 200).
func LRFind(ctx context.Context, cfg *config.Config, name string, steps int, opts Options) (*LRFindResult, error) {
	r, err := prepareData(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	var j *job
	var names []string
	for _, jj := range r.jobs {
		names = append(names, jj.m.Name)
		if jj.m.Name == name || (name == "" && j == nil) {
			j = jj
		}
	}
	if j == nil {
		return nil, fmt.Errorf("-model %s: no such model in %s (models: %s)", name, cfg.Path, strings.Join(names, ", "))
	}
	// Only this model's backbone is loaded: the others are not needed.
	r.jobs = []*job{j}
	if err := r.prepareBackbones(); err != nil {
		return nil, err
	}
	defer r.closeBackbones()
	bad, err := r.admit(ctx, r.ds)
	if err != nil {
		return nil, err
	}
	if err := usable(r.ds, len(bad)); err != nil {
		return nil, err
	}
	run, _, err := rundir.For(cfg)
	if err != nil {
		return nil, err
	}
	res := &LRFindResult{Dir: filepath.Join(cfg.RunsDir, "lr-find", filepath.Base(run)), Model: j.m.Name}
	r.dir = res.Dir
	j.rep = &report.Model{}
	if err := r.inputs(ctx, j); err != nil {
		return nil, err
	}
	var w map[string][]float32 // the weights the phases so far trained
	for i, ph := range j.plan.Phases {
		curve, err := r.rangeTest(ctx, j, i, w, steps)
		if err != nil {
			return nil, fmt.Errorf("model %s, phase %s: %w", j.m.Name, ph.Name, err)
		}
		p := LRFindPhase{Name: ph.Name, Configured: ph.Adam.LearningRate, Curve: curve,
			Plot: filepath.Join(res.Dir, j.m.Name+"-"+ph.Name+".png"), CSV: filepath.Join(res.Dir, j.m.Name+"-"+ph.Name+".csv")}
		if err := writeCurve(p, j.m.Name); err != nil {
			return nil, err
		}
		r.logf("%s, %s: suggested learning rate %.3g (steepest descent), %.3g (minimum/10); configured %g; %d steps%s: %s",
			j.m.Name, ph.Name, curve.Steep, curve.Minimum, ph.Adam.LearningRate, len(curve.Rates), stoppedText(curve), p.Plot)
		res.Phases = append(res.Phases, p)
		if i+1 < len(j.plan.Phases) {
			if w, err = r.trainPhase(ctx, j, i, w, res.Dir); err != nil {
				return nil, fmt.Errorf("model %s, phase %s: %w", j.m.Name, ph.Name, err)
			}
		}
	}
	return res, nil
}

func stoppedText(c *lrfind.Curve) string {
	if c.Stopped {
		return " (stopped: the loss diverged)"
	}
	return ""
}

// rangeTest runs the range test of phase i of j from the weights w of the
// phases before (nil: the first phase's initial weights).
func (r *runner) rangeTest(ctx context.Context, j *job, i int, w map[string][]float32, steps int) (*lrfind.Curve, error) {
	net, err := nn.Build(j.plan.Spec(i))
	if err != nil {
		return nil, err
	}
	defer net.Close()
	if err := r.initialize(j, net, w); err != nil {
		return nil, err
	}
	ph := j.plan.Phases[i]
	return lrfind.Find(ctx, net, j.train, lrfind.Options{Steps: steps, BatchSize: ph.BatchSize, Shuffle: ph.Shuffle, Seed: ph.Seed})
}

// trainPhase trains phase i of j from w as a run does (checkpoints in
// dir, so that a second range test resumes them) and returns its weights.
func (r *runner) trainPhase(ctx context.Context, j *job, i int, w map[string][]float32, dir string) (map[string][]float32, error) {
	net, err := nn.Build(j.plan.Spec(i))
	if err != nil {
		return nil, err
	}
	defer net.Close()
	if err := r.initialize(j, net, w); err != nil {
		return nil, err
	}
	opts := j.plan.Phases[i].Options()
	opts.Dir, opts.Log = filepath.Join(dir, "models", j.m.Name, j.plan.Phases[i].Name), r.phaseLog(j, i)
	if _, err := train.Fit(ctx, net, j.train, j.val, opts); err != nil {
		return nil, err
	}
	return net.Weights()
}

// writeCurve writes phase p's curve as CSV and its plot.
func writeCurve(p LRFindPhase, model string) error {
	c := p.Curve
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write([]string{"step", "learning_rate", "loss", "smoothed_loss"})
	for i := range c.Rates {
		cw.Write([]string{strconv.Itoa(i + 1), strconv.FormatFloat(c.Rates[i], 'g', -1, 64),
			strconv.FormatFloat(c.Losses[i], 'g', -1, 64), strconv.FormatFloat(c.Smoothed[i], 'g', -1, 64)})
	}
	cw.Flush()
	if err := fsutil.WriteFile(p.CSV, b.Bytes()); err != nil {
		return err
	}
	title := fmt.Sprintf("%s, %s: learning-rate range test", model, p.Name)
	return plot.LRFind(p.Plot, title, c.Rates, c.Losses, c.Smoothed, []plot.Suggestion{
		{Name: "steepest descent", Rate: c.Steep}, {Name: "minimum/10", Rate: c.Minimum}, {Name: "configured", Rate: p.Configured}})
}
