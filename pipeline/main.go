// Command pipeline runs gotransfer's YAML-configured transfer-learning stages.
//
//	pipeline -config FILE [-set key=value ...]   run an experiment (data, features, train, evaluate, report)
//	pipeline report [-csv FILE] RUN...            compare finished runs in one table
//	pipeline predict -run RUN [-model NAME] [-k N] [-csv FILE] IMAGE|DIR...
//	pipeline predict -savedmodel DIR [-k N] IMAGE...
//	pipeline export -run RUN [-model NAME] -out DIR [-force]
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
	"github.com/gotransfer/gotransfer/pipeline/tflog" // quiets TensorFlow's log lines before it loads
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
		args:    "-config FILE [-set key=value ...]",
		summary: "run an experiment: data, features, training, evaluation, report and plots in a run folder",
		example: "pipeline -config configs/default.yaml -set train.epochs=5",
		setup:   runFlags,
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
		name:    "export",
		args:    "-run RUN [-model NAME] -out DIR [-force]",
		summary: "write a trained model of a run as one TensorFlow SavedModel (for Go, Python, Keras, TF Serving)",
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
	// Ctrl-C stops at the next batch; finished epochs and cached features
	// stay, and rerunning the same command resumes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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

func runFlags(fs *flag.FlagSet) action {
	path := fs.String("config", "", "experiment config `FILE` (YAML), e.g. configs/default.yaml")
	var overrides sets
	fs.Var(&overrides, "set", "override a config value, `key=value`, e.g. -set train.epochs=3 (repeatable)")
	return func(ctx context.Context, args []string, _, _ io.Writer) error {
		if *path == "" {
			return usageError("want -config FILE")
		}
		if len(args) > 0 {
			return usageError("unexpected argument %q (flags go before arguments)", args[0])
		}
		cfg, err := config.Load(*path, overrides)
		if err != nil {
			return err
		}
		_, err = experiment.Run(ctx, cfg, experiment.Options{})
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
	k := fs.Int("k", 0, "`N` classes to show (default: the config's predict.top_k)")
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
			if *k <= 0 {
				*k = s.TopK()
			}
			return predict.PredictAll(s, args, *k, stdout, stderr)
		}
		p, err := predict.Open(*run, *model)
		if err != nil {
			return err
		}
		defer p.Close()
		if *k <= 0 {
			*k = p.TopK()
		}
		paths, err := predict.ListImages(args, p.Extensions())
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

func exportFlags(fs *flag.FlagSet) action {
	run := fs.String("run", "", "the run folder `RUN` (runs/NAME-HASH)")
	model := fs.String("model", "", "the model `NAME` in the run (default: its first transfer model)")
	out := fs.String("out", "", "the folder `DIR` to write the SavedModel to (must not exist, unless -force)")
	force := fs.Bool("force", false, "replace -out if it exists")
	return func(_ context.Context, args []string, stdout, _ io.Writer) error {
		if *run == "" || *out == "" {
			return usageError("want -run RUN and -out DIR")
		}
		if len(args) > 0 {
			return usageError("unexpected argument %q (flags go before arguments)", args[0])
		}
		m, err := export.FromRun(*run, *model)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := export.Write(*out, m, export.Options{Force: *force}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "exported %s of %s to %s in %.1fs (signatures %s, %s)\n", m.Name, *run, *out, time.Since(start).Seconds(), export.ServingKey, export.EncodedKey)
		return nil
	}
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
