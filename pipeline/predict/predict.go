// Package predict classifies single images with a model a run trained:
// image → (frozen backbone →) new top → class probabilities. Predictor
// rebuilds a run's model from its plan (models/<name>/model.json, see
// package plan) and final weights; SavedModel uses a model exported from a run
// (pipeline/export), loaded as any Go program would load it.
package predict

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/export"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/num"
	"github.com/gotransfer/gotransfer/pipeline/plan"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/tensors"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// Prediction is one class and its probability.
type Prediction struct {
	Class string
	Prob  float64
}

// Classifier is a trained model that classifies image files: a run's
// model (Predictor) or its export (SavedModel).
type Classifier interface {
	// Predict returns the k most probable classes for the image at path.
	Predict(path string, k int) ([]Prediction, error)
	// Name names the model in PredictAll's output.
	Name() string
}

// Predictor holds one trained model of a run, rebuilt from its plan
// (model.json) and final weights.
type Predictor struct {
	Plan    *plan.Plan
	Classes []string
	bb      *backbone.Model // nil for a scratch model
	net     *nn.Network
	workers int // decoding goroutines (the run's images.workers)
}

// Open loads model name from runDir; an empty name picks the run's first
// transfer model (the notebook's "new model"), or its first model if none.
func Open(runDir, name string) (_ *Predictor, err error) {
	cfg, err := config.Load(filepath.Join(runDir, rundir.ConfigFile), nil)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	m, err := rundir.PickModel(runDir, cfg, name)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	pl, err := plan.Read(runDir, m.Name)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	p := &Predictor{Plan: pl, Classes: pl.Classes, workers: cfg.Images.Workers}
	defer func() {
		if err != nil {
			p.Close() // what was opened before the error
		}
	}()
	if pl.Transfer() {
		// The features the model was trained on were computed in this
		// precision: a new image's must be too.
		if p.bb, err = backbone.Open(pl.Backbone.SavedModel, pl.Backbone.Plain, pl.Backbone.Precision); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		if _, err := p.bb.Endpoint(pl.Backbone.Features); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
	}
	if p.net, err = nn.Build(pl.Final()); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	weights := filepath.Join(rundir.Model(runDir, pl.Name), rundir.Weights)
	if err := p.net.Restore(weights); err != nil {
		return nil, fmt.Errorf("predict: model %s has no trained weights (%w); has the run finished?", pl.Name, err)
	}
	return p, nil
}

// Predict returns the k most probable classes for the image at path.
func (p *Predictor) Predict(path string, k int) ([]Prediction, error) {
	in := p.Plan.Input
	img, err := images.Load(path, in.Height, in.Width, in.Resize)
	if err != nil {
		return nil, err
	}
	x := make([]float32, in.Height*in.Width*3)
	if err := images.Preprocess(x, img, in.Preprocess, in.DivideBy255); err != nil {
		return nil, err
	}
	if p.bb != nil {
		// At the batch size the features were cached at, so that the
		// image gets the bits evaluation saw (see backbone.RunBatch).
		if x, err = p.bb.RunBatch(p.Plan.Backbone.Features, x, 1, p.Plan.Backbone.FeatureBatch); err != nil {
			return nil, err
		}
	}
	probs, _, err := p.net.Predict(x, nil)
	if err != nil {
		return nil, err
	}
	return rank(path, p.Plan.Name, probs, p.Classes, k)
}

// Name is the model's name in the run.
func (p *Predictor) Name() string { return p.Plan.Name }

// rank returns the k most probable of classes, refusing probabilities
// that are not all finite (a diverged model ranks nothing meaningfully).
func rank(path, model string, probs []float32, classes []string, k int) ([]Prediction, error) {
	if len(probs) != len(classes) {
		return nil, fmt.Errorf("predict: %s: model %s gave %d probabilities for %d classes", path, model, len(probs), len(classes))
	}
	if !num.AllFinite(probs) {
		return nil, fmt.Errorf("predict: %s: model %s gave non-finite probabilities %v: its weights have diverged; retrain it with a lower learning rate", path, model, probs)
	}
	out := make([]Prediction, len(probs))
	for i, v := range probs {
		out[i] = Prediction{classes[i], float64(v)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Prob > out[j].Prob })
	return out[:min(k, len(out))], nil
}

// PredictAll predicts every image of paths with c, writing each image's k
// most probable classes to out and each failure to errs, and returns an
// error counting the failures if there were any: one bad file does not
// hide the others' predictions.
func PredictAll(c Classifier, paths []string, k int, out, errs io.Writer) error {
	failed := 0
	for _, path := range paths {
		preds, err := c.Predict(path, k)
		if err != nil {
			failed++
			fmt.Fprintf(errs, "pipeline: %v\n", err)
			continue
		}
		fmt.Fprintf(out, "%s (%s):\n", path, c.Name())
		for _, pr := range preds {
			fmt.Fprintf(out, "  %6.2f%%  %s\n", 100*pr.Prob, pr.Class)
		}
	}
	if failed > 0 {
		return fmt.Errorf("predict: %d of %d images failed (see above)", failed, len(paths))
	}
	return nil
}

// Close frees the model's sessions (its backbone's and its network's).
func (p *Predictor) Close() error {
	var errs []error
	if p.net != nil {
		errs = append(errs, p.net.Close())
	}
	if p.bb != nil {
		errs = append(errs, p.bb.Close())
	}
	return errors.Join(errs...)
}

// Extensions are the image file extensions the run read (data.extensions):
// the files a folder given to ListImages contributes.
func (p *Predictor) Extensions() []string { return p.Plan.Input.Extensions }

// TopK is the number of classes the run's config asks predictions to show.
func (p *Predictor) TopK() int { return p.Plan.TopK }

// SavedModel is a model written by `pipeline export`, loaded the way any Go
// program would load it: the "serve" tag, images fed
// to images:0, probabilities fetched from probabilities:0. Only decoding
// and resizing happen here, as in the run (Pillow's nearest); the
// preprocessing, backbone and top are the export's graph.
type SavedModel struct {
	Dir     string
	Meta    export.Metadata
	Classes []string
	sess    *tfsession.Session
	in, out tf.Output // images:0 and probabilities:0
}

// OpenSavedModel loads the export in dir.
func OpenSavedModel(dir string) (s *SavedModel, err error) {
	fail := func(err error) (*SavedModel, error) { return nil, fmt.Errorf("predict: savedmodel %s: %w", dir, err) }
	raw, err := os.ReadFile(filepath.Join(dir, export.MetadataFile))
	if err != nil {
		return fail(fmt.Errorf("%w; export one with: pipeline export -run RUN -out DIR", err))
	}
	s = &SavedModel{Dir: dir}
	if err := json.Unmarshal(raw, &s.Meta); err != nil {
		return fail(fmt.Errorf("%s: %w", export.MetadataFile, err))
	}
	if s.Meta.Format != export.Format || len(s.Meta.Input.Shape) != 4 || s.Meta.Input.Shape[1] == nil || s.Meta.Input.Shape[2] == nil {
		return fail(fmt.Errorf("%s: format %q, want %q with an input shape [null, H, W, 3]", export.MetadataFile, s.Meta.Format, export.Format))
	}
	labels, err := os.ReadFile(filepath.Join(dir, tfsession.AssetsDir, export.LabelsFile))
	if err != nil {
		return fail(err)
	}
	s.Classes = strings.Split(strings.TrimSuffix(string(labels), "\n"), "\n")
	if s.sess, err = tfsession.Load(dir, []string{export.Tag}, tfsession.Options{}); err != nil {
		return fail(err)
	}
	if s.in, err = s.sess.Output("images:0"); err == nil {
		s.out, err = s.sess.Output("probabilities:0")
	}
	if err != nil {
		s.sess.Close()
		return fail(err)
	}
	return s, nil
}

// Close frees the export's session.
func (s *SavedModel) Close() error { return s.sess.Close() }

// Name names the exported model and says it is an export.
func (s *SavedModel) Name() string { return s.Meta.Model + ", exported" }

// TopK is the number of classes the source run's config asks predictions
// to show.
func (s *SavedModel) TopK() int { return s.Meta.TopK }

// Predict returns the k most probable classes for the image at path.
func (s *SavedModel) Predict(path string, k int) (out []Prediction, err error) {
	h, w := *s.Meta.Input.Shape[1], *s.Meta.Input.Shape[2]
	img, err := images.Load(path, h, w, s.Meta.Input.EncodedResize)
	if err != nil {
		return nil, err
	}
	x := make([]float32, h*w*3)
	if err := images.Preprocess(x, img, images.None, false); err != nil {
		return nil, err
	}
	in, err := tensors.FromFloat32(x, 1, int64(h), int64(w), 3)
	if err != nil {
		return nil, err
	}
	res, err := s.sess.Run(map[tf.Output]*tf.Tensor{s.in: in}, []tf.Output{s.out}, nil)
	if err != nil {
		return nil, fmt.Errorf("predict: savedmodel %s: %s: %w", s.Dir, path, err)
	}
	probs, err := tensors.Float32s(res[0])
	if err != nil {
		return nil, err
	}
	return rank(path, s.Name(), probs, s.Classes, k)
}
