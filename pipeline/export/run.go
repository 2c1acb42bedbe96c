package export

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// ErrUntrained marks a model of a run that has no weights worth handing
// over: its training diverged, or it gives non-finite probabilities on
// test images. The export at the end of a run skips such a model.
var ErrUntrained = errors.New("no usable trained weights")

// FromRun describes model name of the finished run in runDir for Write;
// an empty name picks as predict does (rundir.PickModel).
func FromRun(runDir, name string) (Model, error) {
	fail := func(err error) (Model, error) { return Model{}, fmt.Errorf("export: %w", err) }
	cfgPath := filepath.Join(runDir, rundir.ConfigFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return fail(fmt.Errorf("%s is not a run folder: %w", runDir, err))
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		return fail(err)
	}
	cm, err := rundir.PickModel(runDir, cfg, name)
	if err != nil {
		return fail(err)
	}
	run, err := report.Read(runDir)
	if err != nil {
		return fail(err)
	}
	var res *report.Model
	for i := range run.Models {
		if run.Models[i].Name == cm.Name {
			res = &run.Models[i]
		}
	}
	switch {
	case res != nil && res.Failed != "":
		return fail(fmt.Errorf("run %s: model %s: %w: %s", runDir, cm.Name, ErrUntrained, res.Failed))
	case res == nil || res.Test == nil:
		return fail(fmt.Errorf("run %s has no test results for model %s: the run has not finished; rerun it", runDir, cm.Name))
	case res.Test.NonFinite > 0:
		return fail(fmt.Errorf("run %s: model %s: %w: non-finite probabilities on %d of %d test images; retrain it with a lower learning rate", runDir, cm.Name, ErrUntrained, res.Test.NonFinite, res.Test.N))
	}
	sum := sha256.Sum256(raw)
	m := Model{
		Name:        cm.Name,
		Weights:     filepath.Join(rundir.Model(runDir, cm.Name), rundir.Weights),
		DivideBy255: cfg.Images.DivideBy255,
		Resize:      cfg.Images.Resize,
		Classes:     run.Dataset.Classes,
		TopK:        cfg.Predict.TopK,
		Source:      Source{Run: runDir, ConfigSHA256: hex.EncodeToString(sum[:])},
		Test:        res.Test,
		Manifest:    filepath.Join(runDir, rundir.ManifestFile),
	}
	var features []int
	var tail *nn.Tail
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
			features = append(features, int(*d))
		}
		m.Backbone = &Backbone{Dir: cm.Backbone.SavedModel, Endpoint: cm.Backbone.Endpoint}
		if cm.FineTuned() {
			// The backbone runs to the cut; the tuned layers above it
			// are part of the top, with the weights training left.
			t, err := meta.TailFor(cm.Backbone.FineTuneFrom, cm.Backbone.Endpoint)
			if err != nil {
				return fail(fmt.Errorf("model %s: %w", cm.Name, err))
			}
			tail = &nn.Tail{Input: t.Shape, Layers: t.Layers, Names: t.Names}
			m.Backbone.Endpoint = t.Input
		}
		m.Height, m.Width = int(*meta.Input.Shape[1]), int(*meta.Input.Shape[2])
		m.Preprocess = meta.Input.Preprocessing.Mode
	} else {
		s := cm.InputSize(cfg.Images)
		m.Height, m.Width, m.Preprocess = s[0], s[1], cfg.Images.Preprocess
	}
	m.Top = nn.SpecFor(cfg, cm, features, tail, len(m.Classes))
	if cm.FineTuned() {
		m.Top = nn.FineTuneSpec(m.Top, cm.FineTune)
	}
	return m, nil
}
