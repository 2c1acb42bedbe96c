// Package predict classifies single images with a model a run trained:
// image → (frozen backbone →) new top → class probabilities. Predictor reads
// everything from the run folder: the effective config, the class names and
// the final weights; SavedModel uses a model exported from a run.
package predict

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	tg "github.com/galeone/tfgo"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/export"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/tensors"
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
	cfg, err := config.Load(filepath.Join(runDir, report.ConfigFile), nil)
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
	var input []int
	if p.Model.Transfer() {
		if p.bb, err = backbone.Load(p.Model.Backbone.SavedModel); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		ep, err := p.bb.Endpoint(p.Model.Backbone.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		for _, d := range ep.Shape {
			input = append(input, int(d))
		}
		p.h, p.w, _ = p.bb.InputSize()
		p.mode = p.bb.Meta.Input.Preprocessing.Mode
	} else {
		s := p.Model.InputSize(cfg.Images)
		p.h, p.w, p.mode = s[0], s[1], cfg.Images.Preprocess
		input = []int{p.h, p.w, 3}
	}
	p.net, err = nn.Build(nn.Spec{Input: input, Layers: p.Model.Layers, Classes: len(p.Classes), Adam: *cfg.Train.Optimizer.Adam})
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	weights := filepath.Join(runDir, report.ModelsDir, p.Model.Name, experiment.WeightsName)
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
		if x, err = p.bb.Run(p.Model.Backbone.Endpoint, x, 1); err != nil {
			return nil, err
		}
	}
	probs, _, err := p.net.Predict(x, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, len(probs))
	for i, v := range probs {
		out[i] = Prediction{p.Classes[i], float64(v)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Prob > out[j].Prob })
	return out[:min(k, len(out))], nil
}

// Close releases the model.
func (p *Predictor) Close() error { return p.net.Close() }

// TopK is the number of classes the run's config asks predictions to show.
func (p *Predictor) TopK() int { return p.cfg.Predict.TopK }

// SavedModel is a model written by `pipeline export`, loaded the way any Go
// program would load it: tfgo's LoadModel with the "serve" tag, images fed
// to images:0, probabilities fetched from probabilities:0. Only decoding
// and resizing happen here, as in the run (Pillow's nearest); the
// preprocessing, backbone and top are the export's graph.
type SavedModel struct {
	Dir     string
	Meta    export.Metadata
	Classes []string
	model   *tg.Model
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
	labels, err := os.ReadFile(filepath.Join(dir, "assets", export.LabelsFile))
	if err != nil {
		return fail(err)
	}
	s.Classes = strings.Split(strings.TrimSuffix(string(labels), "\n"), "\n")
	defer func() {
		if r := recover(); r != nil {
			s, err = fail(fmt.Errorf("tensorflow: %v", r))
		}
	}()
	s.model = tg.LoadModel(dir, []string{export.Tag}, nil)
	return s, nil
}

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
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("predict: savedmodel %s: %s: tensorflow: %v", s.Dir, path, r)
		}
	}()
	res := s.model.Exec([]tf.Output{s.model.Op("probabilities", 0)}, map[tf.Output]*tf.Tensor{s.model.Op("images", 0): in})
	probs, err := tensors.Float32s(res[0])
	if err != nil {
		return nil, err
	}
	if len(probs) != len(s.Classes) {
		return nil, fmt.Errorf("predict: savedmodel %s: %d probabilities for %d classes in %s", s.Dir, len(probs), len(s.Classes), export.LabelsFile)
	}
	out = make([]Prediction, len(probs))
	for i, v := range probs {
		out[i] = Prediction{s.Classes[i], float64(v)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Prob > out[j].Prob })
	return out[:min(k, len(out))], nil
}
