package export

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// FromRun describes model name of the finished run in runDir for Write;
// an empty name picks the run's first transfer model, or its first model
// if none (as predict does).
func FromRun(runDir, name string) (Model, error) {
	fail := func(err error) (Model, error) { return Model{}, fmt.Errorf("export: %w", err) }
	cfgPath := filepath.Join(runDir, report.ConfigFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return fail(fmt.Errorf("%s is not a run folder: %w", runDir, err))
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		return fail(err)
	}
	run, err := report.Read(runDir)
	if err != nil {
		return fail(err)
	}
	var cm *config.Model
	var names []string
	for i, m := range cfg.Models {
		names = append(names, m.Name)
		if m.Name == name || (name == "" && cm == nil && m.Transfer()) {
			cm = &cfg.Models[i]
		}
	}
	if name == "" && cm == nil && len(cfg.Models) > 0 {
		cm = &cfg.Models[0]
	}
	if cm == nil {
		return fail(fmt.Errorf("run %s has no model %q (have %s)", runDir, name, strings.Join(names, ", ")))
	}
	var res *report.Model
	for i := range run.Models {
		if run.Models[i].Name == cm.Name {
			res = &run.Models[i]
		}
	}
	if res == nil || res.Test == nil {
		return fail(fmt.Errorf("run %s has no test results for model %s: the run has not finished; rerun it", runDir, cm.Name))
	}
	sum := sha256.Sum256(raw)
	m := Model{
		Name:        cm.Name,
		Weights:     filepath.Join(runDir, report.ModelsDir, cm.Name, report.WeightsName),
		DivideBy255: cfg.Images.DivideBy255,
		Resize:      cfg.Images.Resize,
		Classes:     run.Dataset.Classes,
		TopK:        cfg.Predict.TopK,
		Source:      Source{Run: runDir, ConfigSHA256: hex.EncodeToString(sum[:])},
		Test:        res.Test,
	}
	var input []int
	if cm.Transfer() {
		meta, err := backbone.ReadMetadata(cm.Backbone.SavedModel)
		if err != nil {
			return fail(err)
		}
		ep, ok := meta.Endpoints[cm.Backbone.Endpoint]
		if !ok {
			return fail(fmt.Errorf("backbone %s has no endpoint %q", cm.Backbone.SavedModel, cm.Backbone.Endpoint))
		}
		for _, d := range ep.Shape[1:] {
			input = append(input, int(*d))
		}
		m.Backbone = &Backbone{Dir: cm.Backbone.SavedModel, Endpoint: cm.Backbone.Endpoint}
		m.Height, m.Width = int(*meta.Input.Shape[1]), int(*meta.Input.Shape[2])
		m.Preprocess = meta.Input.Preprocessing.Mode
	} else {
		s := cm.InputSize(cfg.Images)
		m.Height, m.Width, m.Preprocess = s[0], s[1], cfg.Images.Preprocess
		input = []int{s[0], s[1], 3}
	}
	m.Top = nn.Spec{Input: input, Layers: cm.Layers, Classes: len(m.Classes), Adam: *cfg.Train.Optimizer.Adam}
	return m, nil
}
