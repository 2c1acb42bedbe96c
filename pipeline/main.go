// Command pipeline runs gotransfer's YAML-configured transfer-learning stages.
//
//	go run ./pipeline -config configs/vgg16.yaml [-set train.epochs=3 ...]
//
// It only wires packages together; each stage lives in its own package.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
)

// sets collects repeated -set flags.
type sets []string

func (s *sets) String() string     { return strings.Join(*s, " ") }
func (s *sets) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	path := fs.String("config", "", "experiment config (YAML), e.g. configs/vgg16.yaml")
	var overrides sets
	fs.Var(&overrides, "set", "override a config value, e.g. -set train.epochs=3 (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		fs.Usage()
		return errors.New("-config is required")
	}
	cfg, err := config.Load(*path, overrides)
	if err != nil {
		return err
	}
	fmt.Printf("config %s: run %q, seed %d, %d model(s)\n", cfg.Path, cfg.Name, cfg.Seed, len(cfg.Models))
	for _, m := range cfg.Models {
		if !m.Transfer() {
			continue
		}
		bb, err := backbone.Load(m.Backbone.SavedModel)
		if err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
		ep, err := bb.Endpoint(m.Backbone.Endpoint)
		if err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
		fmt.Printf("model %s: %s (%s), endpoint %s %v\n", m.Name, bb.Dir, bb.Meta.Weights, ep.Name, ep.Shape)
	}
	return nil
}
