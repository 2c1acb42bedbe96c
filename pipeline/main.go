// Command pipeline runs gotransfer's YAML-configured transfer-learning stages.
//
//	pipeline -config FILE [-set key=value ...] [-shards N]   run an experiment (data, features, train, evaluate, report)
//	pipeline features -config FILE [-set key=value ...] [-shard I/N | -shards N]   cache one shard's features
//	pipeline report [-csv FILE] RUN...            compare finished runs in one table
//	pipeline predict -run RUN [-model NAME] [-k N] [-csv FILE] IMAGE|DIR...
//	pipeline predict -savedmodel DIR [-k N] IMAGE...
//	pipeline export -run RUN [-model NAME] -out DIR [-format savedmodel,tflite,onnx] [-force]
//	pipeline inspect RUN | -config FILE [-set key=value ...]
//	pipeline lr-find -config FILE [-set key=value ...] [-model NAME] [-steps N]
//	pipeline sweep -config FILE [-set key=value ...] -grid KEY=V1,V2,... [-grid ...] [-random N -seed S] [-parallel P]
//
// Each command's -h prints its flags and an example; -v shows TensorFlow's
// own log lines, quiet by default. main only wires the
// stage packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/export"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/plot"
	"github.com/gotransfer/gotransfer/pipeline/predict"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/shard"
	"github.com/gotransfer/gotransfer/pipeline/sweep"
	"github.com/gotransfer/gotransfer/pipeline/tflog" // quiets TensorFlow's log lines before it loads
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// command is one way to call pipeline: the first argument selects it (the
// run command has no name), its flags and action come from setup. A new
// subcommand is one entry in commands and one setup function.
type command struct {
	name    string // the first argument; "" for the default command
	args    string // the synopsis after "pipeline [name]"
	summary string // one line: what it does
	example string // one command line a user can copy
	// setup defines the command's flags on fs and returns the action to
	// run on the arguments left after them.
	setup func(fs *flag.FlagSet) action
}

// action runs a command; it writes its results to stdout, and to stderr
// what the user should know besides its error.
type action func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands lists every command, the default first.
var commands = []command{
	{
		args:    "-config FILE [-set key=value ...] [-shards N]",
		summary: "run an experiment: data, features, training, evaluation, report and plots in a run folder",
		example: "pipeline -config configs/default.yaml -set train.epochs=5",
		setup:   runFlags,
	},
	{
		name:    "features",
		args:    "-config FILE [-set key=value ...] [-shard I/N | -shards N]",
		summary: "cache the features of one shard of a run's images, one of N copies a cluster runs at once (Slurm array, Kubernetes Indexed Job)",
		example: "pipeline features -config configs/default.yaml -shard 0/4",
		setup:   featuresFlags,
	},
	{
		name:    "report",
		args:    "[-csv FILE] RUN...",
		summary: "compare finished runs in one table, with the config values that differ",
		example: "pipeline report -csv compare.csv runs/*",
		setup:   reportFlags,
	},
	{
		name:    "predict",
		args:    "(-run RUN [-model NAME] [-csv FILE] | -savedmodel DIR) [-k N] IMAGE|DIR...",
		summary: "classify images with a trained model of a run, or with its export; a folder (-run) gives a CSV row for every image below it",
		example: "pipeline predict -run runs/fashion-mobilenet-db4876da -csv bags.csv data/fashion-mnist/bag",
		setup:   predictFlags,
	},
	{
		name:    "inspect",
		args:    "RUN | -config FILE [-set key=value ...]",
		summary: "look at a run's data from its cached features, without training: duplicates and leaks across splits, suspect labels, a kNN baseline, the feature space",
		example: "pipeline inspect runs/fashion-mobilenet-db4876da",
		setup:   inspectFlags,
	},
	{
		name:    "lr-find",
		args:    "-config FILE [-set key=value ...] [-model NAME] [-steps N]",
		summary: "Leslie Smith's learning-rate range test on the cached features, for each training phase of a model: a plot and a suggested rate, in seconds",
		example: "pipeline lr-find -config configs/default.yaml -model mobilenet_transfer",
		setup:   lrFindFlags,
	},
	{
		name:    "sweep",
		args:    "-config FILE [-set key=value ...] -grid KEY=V1,V2,... [-grid ...] [-random N [-seed S]] [-parallel P]",
		summary: "try many values of config keys in one process on the cached features: each trial a run folder, then one table sorted by the validation metric and a plot against each key",
		example: "pipeline sweep -config configs/default.yaml -grid train.optimizer.adam.learning_rate=0.0003,0.001,0.003 -grid train.batch_size=16,32",
		setup:   sweepFlags,
	},
	{
		name:    "export",
		args:    "-run RUN [-model NAME] -out DIR [-format savedmodel|tflite|onnx ...] [-force]",
		summary: "write a trained model of a run as a TensorFlow SavedModel (for Go, Python, Keras, TF Serving), TFLite (phones, edge boards) or ONNX (onnxruntime) into one folder",
		example: "pipeline export -run runs/fashion-mobilenet-db4876da -out /tmp/fashion-classifier",
		setup:   exportFlags,
	},
}

// usageErr is an error in how a command was called: the command's help
// follows its message.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usageError(format string, a ...any) error {
	return &usageErr{fmt.Sprintf(format, a...)}
}

func main() {
	tfsession.SetProcess(tfsession.Defaults) // the log level is tflog's
	// Ctrl-C stops at the next batch; finished epochs and cached features
	// stay, and rerunning the same command resumes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second Ctrl-C or SIGTERM ends the process at once, whatever it
	// is waiting on.
	go func() { <-ctx.Done(); stop() }()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	tflog.Close()
	os.Exit(code)
}

// run runs the command args select and returns the exit code: 0 on
// success and for -h or help (help goes to stdout), 2 for a usage error (its
// message and the command's help go to stderr), 1 for any other error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// "pipeline help [COMMAND]" is "pipeline [COMMAND] -h".
	if len(args) > 0 && args[0] == "help" {
		args = append(append([]string{}, args[1:min(len(args), 2)]...), "-h")
	}
	c := &commands[0]
	if len(args) > 0 {
		for i := range commands[1:] {
			if commands[1+i].name == args[0] {
				c, args = &commands[1+i], args[1:]
				break
			}
		}
	}
	fs := flag.NewFlagSet(c.title(), flag.ContinueOnError)
	do := c.setup(fs)
	fs.Bool(tflog.VerboseFlag, false, tflog.VerboseUsage) // read by tflog before main
	fs.SetOutput(stderr)                                  // where the flag package reports a bad flag
	fs.Usage = func() {}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		c.help(stdout, fs)
		return 0
	case err != nil:
		c.help(stderr, fs)
		return 2
	}
	err := do(ctx, fs.Args(), stdout, stderr)
	var ue *usageErr
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n\n", c.title(), ue)
		c.help(stderr, fs)
		return 2
	}
	fmt.Fprintln(stderr, "pipeline:", err)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "pipeline: interrupted; rerun the same command to resume")
	}
	return 1
}

// title is "pipeline" or "pipeline NAME".
func (c *command) title() string {
	return strings.TrimSpace("pipeline " + c.name)
}

// help writes the command's usage, flags and example; the default
// command's help also lists the other commands.
func (c *command) help(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s %s\n\n%s.\n\nflags:\n", c.title(), c.args, capitalize(c.summary))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nexample:\n  %s\n", c.example)
	if c.name == "" {
		fmt.Fprintf(w, "\nother commands (%s COMMAND -h for their help):\n", c.title())
		for _, o := range commands[1:] {
			fmt.Fprintf(w, "  %-8s %s\n", o.name, o.summary)
		}
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// sets collects repeated -set flags.
type sets []string

func (s *sets) String() string     { return strings.Join(*s, " ") }
func (s *sets) Set(v string) error { *s = append(*s, v); return nil }

// configArgs are the -config and -set flags of a command.
type configArgs struct {
	path      *string
	overrides sets
}

// configFlags defines -config and -set on fs.
func configFlags(fs *flag.FlagSet) *configArgs {
	c := &configArgs{path: fs.String("config", "", "experiment config `FILE` (YAML), e.g. configs/default.yaml")}
	fs.Var(&c.overrides, "set", "override a config value, `key=value`, e.g. -set train.epochs=3 (repeatable)")
	return c
}

// load loads the config the flags name; args are the arguments left
// after the flags (none are expected).
func (c *configArgs) load(args []string) (*config.Config, error) {
	if *c.path == "" {
		return nil, usageError("want -config FILE")
	}
	if len(args) > 0 {
		return nil, usageError("unexpected argument %q (flags go before arguments)", args[0])
	}
	return config.Load(*c.path, c.overrides)
}

// flags are the flags again, as a shell command line would give them.
func (c *configArgs) flags() string {
	w := []string{"-config", shellQuote(*c.path)}
	for _, o := range c.overrides {
		w = append(w, "-set", shellQuote(o))
	}
	return strings.Join(w, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func runFlags(fs *flag.FlagSet) action {
	cfgArgs := configFlags(fs)
	shards := fs.Int("shards", 0, "the features were cached by `N` shards (pipeline features): train only if every one is there, else name the shards to rerun")
	return func(ctx context.Context, args []string, _, _ io.Writer) error {
		cfg, err := cfgArgs.load(args)
		if err != nil {
			return err
		}
		if *shards < 0 {
			return usageError("-shards %d: want a positive shard count", *shards)
		}
		_, err = experiment.Run(ctx, cfg, experiment.Options{Shards: *shards})
		var me *experiment.MissingError
		if errors.As(err, &me) {
			var b strings.Builder
			for i, k := range me.Shards {
				if i == 4 {
					fmt.Fprintf(&b, "\n  ... (%d more)", len(me.Shards)-i)
					break
				}
				fmt.Fprintf(&b, "\n  pipeline features %s -shard %d/%d", cfgArgs.flags(), k, me.Count)
			}
			return fmt.Errorf("%w:%s\n  or on Slurm: ARRAY=%s SHARDS=%d deploy/slurm/submit.sh %s",
				err, b.String(), me.List(), me.Count, cfgArgs.flags())
		}
		return err
	}
}

func featuresFlags(fs *flag.FlagSet) action {
	cfgArgs := configFlags(fs)
	part := fs.String("shard", "", "compute shard `I/N` (I from 0 to N-1); default: from the scheduler's "+
		shard.SlurmIndex+" or "+shard.KubeIndex+", else every image")
	count := fs.Int("shards", 0, "the shard count `N` when the index comes from the scheduler (needed for "+
		shard.KubeIndex+", and for a Slurm array submitted in parts)")
	return func(ctx context.Context, args []string, _, _ io.Writer) error {
		cfg, err := cfgArgs.load(args)
		if err != nil {
			return err
		}
		sh, err := pickShard(*part, *count, os.Getenv)
		if err != nil {
			return err
		}
		_, err = experiment.Features(ctx, cfg, sh, experiment.Options{})
		return err
	}
}

// pickShard is the shard -shard names, else the scheduler's, else all.
func pickShard(part string, count int, getenv func(string) string) (shard.Shard, error) {
	if count < 0 {
		return shard.Shard{}, usageError("-shards %d: want a positive shard count", count)
	}
	if part != "" {
		sh, err := shard.Parse(part)
		if err != nil {
			return sh, usageError("-shard: %v", err)
		}
		if count != 0 && count != sh.Count {
			return sh, usageError("-shard %s and -shards %d disagree on the shard count", part, count)
		}
		return sh, nil
	}
	sh, ok, err := shard.FromEnv(getenv, count)
	switch {
	case err != nil:
		return sh, err
	case ok:
		return sh, nil
	case count != 0:
		return sh, usageError("-shards %d without a shard index: pass -shard I/%d, or run in a Slurm job array (%s) or a Kubernetes Indexed Job (%s)",
			count, count, shard.SlurmIndex, shard.KubeIndex)
	}
	return shard.All, nil
}

func lrFindFlags(fs *flag.FlagSet) action {
	cfgArgs := configFlags(fs)
	model := fs.String("model", "", "the model `NAME` of the config to test (default: its first)")
	steps := fs.Int("steps", 200, "training steps of the test, one learning rate each (`N`, at least 10)")
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		cfg, err := cfgArgs.load(args)
		if err != nil {
			return err
		}
		if *steps < 10 {
			return usageError("-steps %d: want at least 10", *steps)
		}
		_, err = experiment.LRFind(ctx, cfg, *model, *steps, experiment.Options{Log: stdout})
		return err
	}
}

func sweepFlags(fs *flag.FlagSet) action {
	cfgArgs := configFlags(fs)
	var grid sets
	fs.Var(&grid, "grid", "sweep a config key over values, `KEY=V1,V2,...` (any key -set takes; repeatable: the trials are every combination), or a range KEY=LO..HI[:log] for -random")
	random := fs.Int("random", 0, "draw `N` trials at random from the -grid values and ranges instead of every combination")
	seed := fs.Int64("seed", 1, "seed of the -random draws")
	parallel := fs.Int("parallel", 0, "trials trained at once (`P`; 0: one per CPU)")
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		if *cfgArgs.path == "" {
			return usageError("want -config FILE")
		}
		if len(args) > 0 {
			return usageError("unexpected argument %q (flags go before arguments)", args[0])
		}
		res, err := sweep.Run(ctx, sweep.Options{Config: *cfgArgs.path, Sets: cfgArgs.overrides, Grid: grid,
			Random: *random, Seed: *seed, Parallel: *parallel, Log: stdout})
		if res != nil && len(res.Rows) > 0 {
			b, rerr := os.ReadFile(filepath.Join(res.Dir, sweep.TableFile))
			if rerr == nil {
				fmt.Fprintf(stdout, "\n%s\n", b)
			}
			best := res.Rows[0]
			fmt.Fprintf(stdout, "best: trial %d, %s in %s (exported to %s)\nsweep: %s\n", best.Trial, best.Model, best.Dir, res.Exported, filepath.Join(res.Dir, sweep.TableFile))
		}
		return err
	}
}

func reportFlags(fs *flag.FlagSet) action {
	csvPath := fs.String("csv", "", "also write the table as CSV to `FILE` (full precision)")
	plotPath := fs.String("plot", "", "also draw each model's test accuracy against its run's training images per class to `FILE` (PNG)")
	return func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) == 0 {
			return usageError("name one or more run folders, e.g. runs/*")
		}
		t, err := report.Compare(args)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, t.Markdown())
		for _, u := range t.Unfinished {
			fmt.Fprintf(stderr, "pipeline: not shown: %s: %s\n", u.Dir, u.Why)
		}
		if *plotPath != "" {
			if err := plotTrainingSize(*plotPath, args, t.Unfinished); err != nil {
				return err
			}
		}
		if *csvPath != "" {
			b, err := t.CSV()
			if err != nil {
				return err
			}
			return fsutil.WriteFile(*csvPath, b)
		}
		return nil
	}
}

func predictFlags(fs *flag.FlagSet) action {
	run := fs.String("run", "", "the run folder `RUN` (runs/NAME-HASH)")
	model := fs.String("model", "", "the model `NAME` in the run (default: its first transfer model)")
	saved := fs.String("savedmodel", "", "a SavedModel `DIR` written by pipeline export (instead of -run)")
	k := fs.Int("k", 0, "`N` classes to show, 1 to the number of classes (default: the config's predict.top_k)")
	csvPath := fs.String("csv", "", "with -run: write one CSV row per image (path, top classes and probabilities, error) to `FILE`; "+
		"with a folder and no -csv, the CSV goes to stdout")
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if (*run == "") == (*saved == "") || len(args) == 0 {
			return usageError("want -run RUN and one or more image files or folders (or -savedmodel DIR instead of -run, and image files)")
		}
		if *saved != "" && *model != "" {
			return usageError("-model picks a model of a -run; a -savedmodel holds one model")
		}
		if *saved != "" && *csvPath != "" {
			return usageError("-csv works with -run")
		}
		if *saved != "" {
			s, err := predict.OpenSavedModel(*saved)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := pickK(fs, k, s.TopK(), len(s.Classes)); err != nil {
				return err
			}
			return predict.PredictAll(s, args, *k, stdout, stderr)
		}
		p, err := predict.Open(*run, *model)
		if err != nil {
			return err
		}
		defer p.Close()
		if err := pickK(fs, k, p.TopK(), len(p.Classes)); err != nil {
			return err
		}
		paths, skipped, err := predict.ListImages(args, p.Extensions())
		for _, s := range skipped {
			fmt.Fprintf(stderr, "pipeline: skipped %s: %s\n", s.Path, s.Why)
		}
		if err != nil {
			return err
		}
		if *csvPath == "" && slices.Equal(paths, args) {
			return predict.PredictAll(p, args, *k, stdout, stderr)
		}
		if *csvPath == "" {
			return p.PredictCSV(ctx, paths, *k, stdout, stderr, stderr)
		}
		// The file appears, complete, when every image is done; each
		// image that failed has its row too.
		var predErr error
		err = fsutil.Write(*csvPath, func(f *os.File) error {
			predErr = p.PredictCSV(ctx, paths, *k, f, stderr, stderr)
			if _, ok := errors.AsType[*predict.FailedError](predErr); ok {
				return nil
			}
			return predErr
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "pipeline: %d images in %s\n", len(paths), *csvPath)
		return predErr
	}
}

// pickK sets *k to def when -k was not given on fs, and checks that it
// is within 1..classes (a usage error otherwise).
func pickK(fs *flag.FlagSet, k *int, def, classes int) error {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "k" })
	if !given {
		*k = min(def, classes)
		return nil
	}
	if *k < 1 || *k > classes {
		return usageError("-k %d: want 1 to %d (the model has %d classes)", *k, classes, classes)
	}
	return nil
}

func exportFlags(fs *flag.FlagSet) action {
	run := fs.String("run", "", "the run folder `RUN` (runs/NAME-HASH)")
	model := fs.String("model", "", "the model `NAME` in the run (default: its first transfer model)")
	out := fs.String("out", "", "the folder `DIR` to write the SavedModel to (must not exist, unless -force)")
	force := fs.Bool("force", false, "replace -out if it is an earlier export or an empty folder (never a run folder, a runs folder or anything else)")
	var formats []string
	fs.Func("format", "`FORMAT` to write: savedmodel (default), tflite (float32 and int8), onnx; repeat the flag or give a comma-separated list", func(v string) error {
		formats = append(formats, v)
		return nil
	})
	return func(_ context.Context, args []string, stdout, _ io.Writer) error {
		if *run == "" || *out == "" {
			return usageError("want -run RUN and -out DIR")
		}
		if len(args) > 0 {
			return usageError("unexpected argument %q (flags go before arguments)", args[0])
		}
		targets, err := export.ParseTargets(formats)
		if err != nil {
			return usageError("-format: %v", err)
		}
		m, err := export.FromRun(*run, *model)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := export.Write(*out, m, export.Options{Force: *force, Formats: targets}); err != nil {
			return err
		}
		what := fmt.Sprintf("signatures %s, %s", export.ServingKey, export.EncodedKey)
		if len(targets) > 0 {
			what = fmt.Sprint(targets)
		}
		fmt.Fprintf(stdout, "exported %s of %s to %s in %.1fs (%s)\n", m.Name, *run, *out, time.Since(start).Seconds(), what)
		return nil
	}
}

func inspectFlags(fs *flag.FlagSet) action {
	cfgArgs := configFlags(fs)
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		var cfg *config.Config
		dir := ""
		switch {
		case *cfgArgs.path == "" && len(args) == 1:
			dir = args[0]
			if len(cfgArgs.overrides) > 0 {
				return usageError("-set changes a -config; a run folder has its config")
			}
		case *cfgArgs.path != "" && len(args) == 0:
			var err error
			if cfg, err = cfgArgs.load(nil); err != nil {
				return err
			}
		default:
			return usageError("want one run folder, or -config FILE")
		}
		res, err := experiment.Inspect(ctx, cfg, dir, experiment.Options{Log: stdout})
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, inspectSummary(res))
		return nil
	}
}

// inspectSummary is what pipeline inspect prints after its log: the
// duplicates per pair of splits, the leaks, the suspect labels and the
// kNN baseline.
func inspectSummary(r *experiment.InspectResult) string {
	var b strings.Builder
	f := r.Findings
	fmt.Fprintf(&b, "\nduplicates (exact, near at cosine >= %g) per pair of splits:\n", f.NearDuplicate)
	for _, a := range []string{"train", "val", "test"} {
		for _, c := range []string{"train", "val", "test"} {
			if n, ok := f.Duplicates[a+"/"+c]; ok {
				fmt.Fprintf(&b, "  %-11s %d exact, %d near\n", a+"/"+c, n.Exact, n.Near)
			}
		}
	}
	for _, p := range f.Leaks {
		kind := fmt.Sprintf("near, cosine %.4f", p.Cosine)
		if p.Exact {
			kind = "exact"
		}
		fmt.Fprintf(&b, "  leak: %s (test) = %s (%s): %s\n", p.B, p.A, p.ASplit, kind)
	}
	if f.Suspects != nil {
		fmt.Fprintf(&b, "suspect labels: %d of %d train and val images (%s):\n", len(f.Suspects), f.Checked, filepath.Join(r.Dir, rundir.InspectDir, rundir.SuspectsFile))
		for i, s := range f.Suspects {
			if i == 20 {
				fmt.Fprintf(&b, "  ... and %d more\n", len(f.Suspects)-i)
				break
			}
			fmt.Fprintf(&b, "  %s: labelled %s (p %.3f), looks like %s (p %.3f)\n", s.Path, s.Given, s.PGiven, s.Suggested, s.PSuggest)
		}
	}
	for _, m := range r.Baselines {
		fmt.Fprintf(&b, "%s: test accuracy %.2f%% (%s)\n", m.Name, 100*m.Test.Accuracy, m.Weights)
	}
	for _, n := range f.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	fmt.Fprintf(&b, "files: %s\n", filepath.Join(r.Dir, rundir.InspectDir))
	return b.String()
}

// plotTrainingSize draws the finished runs among dirs (those not in
// unfinished) with plot.TrainingSize.
func plotTrainingSize(path string, dirs []string, unfinished []report.Unfinished) error {
	var runs []report.Run
	for _, dir := range dirs {
		if slices.ContainsFunc(unfinished, func(u report.Unfinished) bool { return u.Dir == dir }) {
			continue
		}
		r, err := report.Read(dir)
		if err != nil {
			return err
		}
		runs = append(runs, *r)
	}
	return plot.TrainingSize(path, runs)
}
