// Package predict classifies single images with a model a run trained:
// image → (frozen backbone →) new top → class probabilities. It reads
// everything from the run folder: the effective config, the class names and
// the final weights.
package predict

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// Prediction is one class and its probability.
type Prediction struct {
	Class string
	Prob  float64
}

// Predictor holds one trained model of a run.
type Predictor struct {
	Model   config.Model
	Classes []string
	cfg     *config.Config
	bb      *backbone.Model // nil for a scratch model
	net     *nn.Network
	h, w    int
	mode    string
}

// Open loads model name from runDir; an empty name picks the run's first
// transfer model (the notebook's "new model"), or its first model if none.
func Open(runDir, name string) (*Predictor, error) {
	cfg, err := config.Load(filepath.Join(runDir, rundir.ConfigFile), nil)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	run, err := report.Read(runDir)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	p := &Predictor{cfg: cfg, Classes: run.Dataset.Classes}
	if name == "" {
		name = cfg.Models[0].Name
		for _, m := range cfg.Models {
			if m.Transfer() {
				name = m.Name
				break
			}
		}
	}
	found := false
	for _, m := range cfg.Models {
		if m.Name == name {
			p.Model, found = m, true
			break
		}
	}
	if !found {
		var names []string
		for _, m := range cfg.Models {
			names = append(names, m.Name)
		}
		return nil, fmt.Errorf("predict: run %s has no model %q (have %v)", runDir, name, names)
	}
	var features []int
	if p.Model.Transfer() {
		if p.bb, err = backbone.Load(p.Model.Backbone.SavedModel); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		ep, err := p.bb.Endpoint(p.Model.Backbone.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		for _, d := range ep.Shape {
			features = append(features, int(d))
		}
		p.h, p.w, _ = p.bb.InputSize()
		p.mode = p.bb.Meta.Input.Preprocessing.Mode
	} else {
		s := p.Model.InputSize(cfg.Images)
		p.h, p.w, p.mode = s[0], s[1], cfg.Images.Preprocess
	}
	p.net, err = nn.Build(nn.SpecFor(cfg, p.Model, features, len(p.Classes)))
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	weights := filepath.Join(rundir.Model(runDir, p.Model.Name), rundir.Weights)
	if err := p.net.Restore(weights); err != nil {
		p.net.Close()
		return nil, fmt.Errorf("predict: model %s has no trained weights (%w); has the run finished?", p.Model.Name, err)
	}
	return p, nil
}

// Predict returns the k most probable classes for the image at path.
func (p *Predictor) Predict(path string, k int) ([]Prediction, error) {
	img, err := images.Load(path, p.h, p.w, p.cfg.Images.Resize)
	if err != nil {
		return nil, err
	}
	x := make([]float32, p.h*p.w*3)
	if err := images.Preprocess(x, img, p.mode, p.cfg.Images.DivideBy255); err != nil {
		return nil, err
	}
	if p.bb != nil {
		// At the batch size the features were cached at, so that the
		// image gets the bits evaluation saw (see backbone.RunBatch).
		if x, err = p.bb.RunBatch(p.Model.Backbone.Endpoint, x, 1, p.cfg.Features.BatchSize); err != nil {
			return nil, err
		}
	}
	probs, _, err := p.net.Predict(x, nil)
	if err != nil {
		return nil, err
	}
	if !evaluate.Finite(probs) {
		return nil, fmt.Errorf("predict: %s: model %s gave non-finite probabilities %v: its weights have diverged; retrain it with a lower learning rate", path, p.Model.Name, probs)
	}
	out := make([]Prediction, len(probs))
	for i, v := range probs {
		out[i] = Prediction{p.Classes[i], float64(v)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Prob > out[j].Prob })
	return out[:min(k, len(out))], nil
}

// PredictAll predicts every image of paths, writing each image's k most
// probable classes to out and each failure to errs, and returns an error
// counting the failures if there were any: one bad file does not hide the
// others' predictions.
func (p *Predictor) PredictAll(paths []string, k int, out, errs io.Writer) error {
	failed := 0
	for _, path := range paths {
		preds, err := p.Predict(path, k)
		if err != nil {
			failed++
			fmt.Fprintf(errs, "pipeline: %v\n", err)
			continue
		}
		fmt.Fprintf(out, "%s (%s):\n", path, p.Model.Name)
		for _, pr := range preds {
			fmt.Fprintf(out, "  %6.2f%%  %s\n", 100*pr.Prob, pr.Class)
		}
	}
	if failed > 0 {
		return fmt.Errorf("predict: %d of %d images failed (see above)", failed, len(paths))
	}
	return nil
}

// Close releases the model.
func (p *Predictor) Close() error { return p.net.Close() }

// TopK is the number of classes the run's config asks predictions to show.
func (p *Predictor) TopK() int { return p.cfg.Predict.TopK }
