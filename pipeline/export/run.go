package export

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/plan"
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
	p, err := plan.Read(runDir, cm.Name)
	if err != nil {
		return fail(err)
	}
	sum := sha256.Sum256(raw)
	m := Model{
		Name:        p.Name,
		Top:         p.Final(),
		Weights:     filepath.Join(rundir.Model(runDir, p.Name), rundir.Weights),
		Height:      p.Input.Height,
		Width:       p.Input.Width,
		Preprocess:  p.Input.Preprocess,
		DivideBy255: p.Input.DivideBy255,
		Resize:      p.Input.Resize,
		Classes:     p.Classes,
		TopK:        p.TopK,
		Source:      Source{Run: runDir, ConfigSHA256: hex.EncodeToString(sum[:])},
		Test:        res.Test,
		Manifest:    filepath.Join(runDir, rundir.ManifestFile),
	}
	if p.Transfer() {
		// The backbone runs to its features endpoint; a fine-tuned
		// model's layers above the cut are part of the top, with the
		// weights training left.
		m.Backbone = &Backbone{Dir: p.Backbone.SavedModel, Endpoint: p.Backbone.Features, Plain: p.Backbone.Plain}
	}
	return m, nil
}
