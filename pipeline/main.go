// Command pipeline runs gotransfer's YAML-configured transfer-learning stages.
//
//	pipeline -config FILE [-set key=value ...]   run an experiment (data, features, train, evaluate, report)
//	pipeline report [-csv FILE] RUN...            compare finished runs in one table
//	pipeline predict -run RUN [-model NAME] [-k N] IMAGE...
//
// main only wires the stage packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/predict"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// sets collects repeated -set flags.
type sets []string

func (s *sets) String() string     { return strings.Join(*s, " ") }
func (s *sets) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	// Ctrl-C stops at the next batch; finished epochs and cached features
	// stay, and rerunning the same command resumes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "report":
		err = reportCmd(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "predict":
		err = predictCmd(os.Args[2:])
	default:
		err = runCmd(ctx, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "pipeline: interrupted; rerun the same command to resume")
		}
		os.Exit(1)
	}
}

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	path := fs.String("config", "", "experiment config (YAML), e.g. configs/default.yaml")
	var overrides sets
	fs.Var(&overrides, "set", "override a config value, e.g. -set train.epochs=3 (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pipeline -config FILE [-set key=value ...]\n       pipeline report [-csv FILE] RUN...\n       pipeline predict -run RUN [-model NAME] [-k N] IMAGE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("want -config FILE and no other arguments")
	}
	cfg, err := config.Load(*path, overrides)
	if err != nil {
		return err
	}
	_, err = experiment.Run(ctx, cfg, experiment.Options{})
	return err
}

func reportCmd(args []string) error {
	fs := flag.NewFlagSet("pipeline report", flag.ContinueOnError)
	csvPath := fs.String("csv", "", "also write the table as CSV to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("report: name one or more run folders, e.g. pipeline report runs/*")
	}
	t, err := report.Compare(fs.Args())
	if err != nil {
		return err
	}
	fmt.Print(t.Markdown())
	if *csvPath != "" {
		b, err := t.CSV()
		if err != nil {
			return err
		}
		return fsutil.WriteFile(*csvPath, b)
	}
	return nil
}

func predictCmd(args []string) error {
	fs := flag.NewFlagSet("pipeline predict", flag.ContinueOnError)
	run := fs.String("run", "", "run folder (runs/NAME-HASH)")
	model := fs.String("model", "", "model name in the run (default: its first transfer model)")
	k := fs.Int("k", 0, "classes to show (default: the config's predict.top_k)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *run == "" || fs.NArg() == 0 {
		return errors.New("predict: want -run RUN and one or more image files")
	}
	p, err := predict.Open(*run, *model)
	if err != nil {
		return err
	}
	defer p.Close()
	if *k <= 0 {
		*k = p.TopK()
	}
	for _, path := range fs.Args() {
		preds, err := p.Predict(path, *k)
		if err != nil {
			return err
		}
		fmt.Printf("%s (%s):\n", path, p.Model.Name)
		for _, pr := range preds {
			fmt.Printf("  %6.2f%%  %s\n", 100*pr.Prob, pr.Class)
		}
	}
	return nil
}
