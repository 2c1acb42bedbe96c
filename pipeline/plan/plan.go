// Package plan is a trained model as one value: what its input is (size,
// resize, preprocessing), the backbone under it (SavedModel, the endpoint
// the backbone's part ends at, precision, batch size of its features), its
// layers, and each training phase (epochs, optimizer, what is frozen,
// seed). For resolves a config's model against its backbone's metadata;
// training writes the plan, with the dataset's classes and what the run
// chose, as models/<name>/model.json; predict, export and bench read it
// back with Read and rebuild the model from it alone, so that none of
// them works a model out of a config again.
//
// The conversion from config types to nn's and train's own option types
// lives here, once.
package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/schedule"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// Format is the format tag of model.json.
const Format = "gotransfer.model/v1"

// Plan is a model to train, or a trained one.
type Plan struct {
	Format string `json:"format"`
	Name   string `json:"name"`
	// Classes are the class names in label order; nil until the data is
	// scanned (see For).
	Classes []string `json:"classes"`
	Input   Input    `json:"input"`
	// Backbone is the frozen model the network reads; nil for a model
	// trained from scratch on pixels.
	Backbone *Backbone `json:"backbone,omitempty"`
	Network  Network   `json:"network"`
	// Seed seeds the network's initial weights.
	Seed int64 `json:"seed"`
	// Phases are the training phases in order: train, then fine_tune for
	// a fine-tuned model. The last one's network is the trained model.
	Phases []Phase `json:"phases"`
	// TopK is how many classes a prediction lists (predict.top_k).
	TopK int `json:"top_k"`
	// LabelSmoothing is the loss's (train.loss); ClassWeights weigh the
	// training loss by class, in label order (train.class_weight, set
	// once the data is scanned, with Classes; nil: none).
	LabelSmoothing float64   `json:"label_smoothing,omitempty"`
	ClassWeights   []float64 `json:"class_weights,omitempty"`
}

// Input is how an image file becomes the model's input.
type Input struct {
	Height      int    `json:"height"`
	Width       int    `json:"width"`
	Resize      string `json:"resize"`     // "nearest" or "bilinear"
	Preprocess  string `json:"preprocess"` // images.Caffe, images.TF, images.Torch or images.None
	DivideBy255 bool   `json:"divide_by_255"`
	// Extensions are the image file extensions the run read: the files of
	// a folder that predictions take.
	Extensions []string `json:"extensions"`
}

// Backbone is the frozen part of a transfer model.
type Backbone struct {
	SavedModel string `json:"savedmodel"`
	// Endpoint is the config's backbone.endpoint, and FineTuneFrom its
	// fine_tune_from ("" when the backbone stays frozen).
	Endpoint     string `json:"endpoint"`
	FineTuneFrom string `json:"fine_tune_from,omitempty"`
	// Features is the endpoint the backbone runs to, whose output the
	// network reads and the cache holds: Endpoint, or for a fine-tuned
	// model the input of its cut (the layers above train in the network).
	Features string `json:"features"`
	// Precision and FeatureBatch are what the run computed the features
	// in and at: a new image's features must be computed the same way to
	// get the bits evaluation saw. Set by the run (features.precision and
	// batch_size may be auto).
	Precision    backbone.Precision `json:"precision"`
	FeatureBatch int                `json:"feature_batch"`
	// Plain is how the SavedModel is read when it has no metadata.json
	// (the config's endpoint, preprocess and images.size); nil when it
	// has one. Pass it to backbone.Open.
	Plain *backbone.Plain `json:"plain,omitempty"`
}

// Network is the layers that train, on the input they see: one example's
// backbone features, a fine-tuned model's cut activation, or height ×
// width × 3 pixels.
type Network struct {
	Input  layers.Shape `json:"input"`
	Layers layers.List  `json:"layers"`
	// Inputs wires the layers as a graph (a fine-tuned backbone's
	// branches and joins above its cut); omitted for a stack.
	Inputs layers.Inputs `json:"inputs,omitempty"`
	// Names are the layers' names when not Keras' defaults: a fine-tuned
	// model's backbone layers keep the backbone's (conv_pw_13, ...).
	Names []string `json:"names,omitempty"`
}

// Phase is one call of fit: its folder under models/<name>/
// (rundir.TrainDir or rundir.FineTuneDir), how many leading layers stay
// frozen, and its settings.
type Phase struct {
	Name          string               `json:"name"`
	Epochs        int                  `json:"epochs"`
	BatchSize     int                  `json:"batch_size"`
	Shuffle       bool                 `json:"shuffle"`
	Seed          int64                `json:"seed"` // batch order and dropout masks
	Frozen        int                  `json:"frozen"`
	Adam          nn.Adam              `json:"adam"`
	EarlyStopping *train.EarlyStopping `json:"early_stopping,omitempty"`
	// Schedule, when set, gives the learning rate of each step instead
	// of Adam's; ReduceLROnPlateau lowers a constant one.
	Schedule          *schedule.Schedule          `json:"schedule,omitempty"`
	ReduceLROnPlateau *schedule.ReduceLROnPlateau `json:"reduce_lr_on_plateau,omitempty"`
	BalancedSampling  bool                        `json:"balanced_sampling,omitempty"`
}

// For resolves model m of cfg: for a transfer model it reads the
// backbone's metadata (seconds, no model loaded), checks the endpoint and,
// for a fine-tuned model, rebuilds the backbone's layers above the cut.
// The plan has no classes yet (set Classes once the data is scanned), and
// its backbone's precision and feature batch are the run's to choose.
func For(cfg *config.Config, m config.Model) (*Plan, error) {
	p := &Plan{
		Format: Format, Name: m.Name,
		Input: Input{Resize: cfg.Images.Resize, DivideBy255: cfg.Images.DivideBy255, Extensions: cfg.Data.Extensions},
		Seed:  ModelSeed(cfg.Seed, m.Name),
		TopK:  cfg.Predict.TopK,

		LabelSmoothing: cfg.Train.Loss.LabelSmoothing,
	}
	p.Network.Layers = m.Layers
	var tail *backbone.Tail
	if m.Transfer() {
		var err error
		if tail, err = p.resolveBackbone(m, cfg.Images.Size); err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
	} else {
		s := m.InputSize(cfg.Images)
		p.Input.Height, p.Input.Width, p.Input.Preprocess = s[0], s[1], cfg.Images.Preprocess
		p.Network.Input = layers.Shape{s[0], s[1], 3}
	}
	first := Phase{
		Name: rundir.TrainDir, Epochs: cfg.Train.Epochs, BatchSize: cfg.Train.BatchSize, Shuffle: cfg.Train.Shuffle,
		Seed: p.Seed, Adam: adam(cfg.Train.Optimizer), EarlyStopping: earlyStopping(cfg.Train.EarlyStopping),
		Schedule: lrSchedule(cfg.Train.Optimizer), ReduceLROnPlateau: cfg.Train.ReduceLROnPlateau,
		BalancedSampling: cfg.Train.Sampling == config.SampleBalanced,
	}
	if tail != nil {
		p.Network.Layers = append(slices.Clone(tail.Layers), m.Layers...)
		p.Network.Names = append(slices.Clone(tail.Names), layers.Names(m.Layers)...)
		first.Frozen = len(tail.Layers)
		if tail.Inputs != nil {
			p.Network.Inputs = slices.Clone(tail.Inputs)
			for i := len(tail.Layers); i < len(p.Network.Layers); i++ {
				p.Network.Inputs = append(p.Network.Inputs, []int{i - 1}) // the top: a stack on the tail's output
			}
		}
	}
	p.Phases = []Phase{first}
	if m.FineTuned() {
		// The guides' second fit: every layer trains, with its own
		// epochs and optimizer; the rest as the first.
		second := first
		second.Name, second.Epochs, second.Frozen = rundir.FineTuneDir, m.FineTune.Epochs, 0
		second.Seed = ModelSeed(cfg.Seed, m.Name+"/"+rundir.FineTuneDir)
		second.Adam, second.Schedule = adam(m.FineTune.Optimizer), lrSchedule(m.FineTune.Optimizer)
		p.Phases = append(p.Phases, second)
	}
	return p, nil
}

// resolveBackbone fills the backbone, input and network input of transfer
// model m from its backbone's metadata (or, for a SavedModel without
// metadata.json, from its signatures and the config: backbone.preprocess,
// and size where the signature's is dynamic), and returns the layers
// above its cut when it is fine-tuned.
func (p *Plan) resolveBackbone(m config.Model, size [2]int) (*backbone.Tail, error) {
	b := m.Backbone
	plain := &backbone.Plain{Endpoint: b.Endpoint, Preprocess: b.Preprocess, Height: size[0], Width: size[1]}
	meta, err := backbone.Describe(b.SavedModel, plain)
	if err != nil {
		return nil, err
	}
	if _, ok := meta.Endpoints[b.Endpoint]; !ok {
		var have []string
		for n := range meta.Endpoints {
			have = append(have, n)
		}
		slices.Sort(have)
		return nil, fmt.Errorf("backbone.endpoint %q: %s has no such endpoint (have %v)", b.Endpoint, b.SavedModel, have)
	}
	p.Backbone = &Backbone{SavedModel: b.SavedModel, Endpoint: b.Endpoint, FineTuneFrom: b.FineTuneFrom, Features: b.Endpoint}
	if meta.FromSignatures {
		p.Backbone.Plain = plain
	}
	p.Input.Height, p.Input.Width = int(*meta.Input.Shape[1]), int(*meta.Input.Shape[2]) // checked by ReadMetadata
	p.Input.Preprocess = meta.Input.Preprocessing.Mode
	tail, err := p.Backbone.tail(meta)
	if err != nil {
		return nil, err
	}
	if tail != nil {
		p.Backbone.Features = tail.Input
		p.Backbone.FineTuneFrom = tail.From // auto resolved: the plan names the cut
		p.Network.Input = tail.Shape
		return tail, nil
	}
	for _, d := range meta.Endpoints[b.Endpoint].Shape[1:] {
		if d == nil {
			return nil, fmt.Errorf("backbone.endpoint %q: %s/metadata.json gives it an unknown dimension; re-export the backbone", b.Endpoint, b.SavedModel)
		}
		p.Network.Input = append(p.Network.Input, int(*d))
	}
	return nil, nil
}

// tail is the backbone's layers from FineTuneFrom up to the endpoint, as
// meta describes them; nil when the backbone stays frozen.
func (b *Backbone) tail(meta backbone.Metadata) (*backbone.Tail, error) {
	if b.FineTuneFrom == "" {
		return nil, nil
	}
	t, err := meta.TailFor(b.FineTuneFrom, b.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("backbone.fine_tune_from %q: %s: %w", b.FineTuneFrom, b.SavedModel, err)
	}
	return t, nil
}

// PretrainedTail reads a fine-tuned model's starting weights for the
// backbone layers above its cut from the backbone's SavedModel, by their
// names in the network ("conv_pw_13/kernel"); nil for any other model.
func (p *Plan) PretrainedTail() (map[string][]float32, error) {
	if !p.FineTuned() {
		return nil, nil
	}
	meta, err := backbone.ReadMetadata(p.Backbone.SavedModel)
	if err != nil {
		return nil, err
	}
	t, err := p.Backbone.tail(meta)
	if err != nil {
		return nil, err
	}
	return backbone.ReadTail(p.Backbone.SavedModel, t)
}

// adam is the optimizer settings of o (config checks that Adam is set).
func adam(o config.Optimizer) nn.Adam {
	a := o.Adam
	return nn.Adam{LearningRate: a.LearningRate, Beta1: a.Beta1, Beta2: a.Beta2, Epsilon: a.Epsilon}
}

// lrSchedule is o's learning-rate schedule, or nil for a constant rate.
func lrSchedule(o config.Optimizer) *schedule.Schedule {
	if s := o.Adam.Schedule; s.Set() {
		return &s
	}
	return nil
}

// earlyStopping is train's form of the config's early stopping (nil: off).
func earlyStopping(es *config.EarlyStopping) *train.EarlyStopping {
	if es == nil {
		return nil
	}
	return &train.EarlyStopping{Monitor: es.Monitor, Patience: es.Patience, MinDelta: es.MinDelta, RestoreBestWeights: es.RestoreBestWeights}
}

// Transfer reports whether the model reads a backbone's features.
func (p *Plan) Transfer() bool { return p.Backbone != nil }

// FineTuned reports whether the model trains a backbone's upper layers.
func (p *Plan) FineTuned() bool { return p.Backbone != nil && p.Backbone.FineTuneFrom != "" }

// Spec is the network of phase i, for the plan's classes.
func (p *Plan) Spec(i int) nn.Spec {
	ph := p.Phases[i]
	return nn.Spec{
		Input: p.Network.Input, Layers: p.Network.Layers, Inputs: p.Network.Inputs, Names: p.Network.Names,
		Frozen: ph.Frozen, Classes: len(p.Classes), Adam: ph.Adam,
		LabelSmoothing: p.LabelSmoothing, ClassWeights: p.ClassWeights,
	}
}

// Final is the network of the last phase: the trained model's.
func (p *Plan) Final() nn.Spec { return p.Spec(len(p.Phases) - 1) }

// Options are train.Fit's options for the phase; the caller adds the
// folder, log and callbacks.
func (ph Phase) Options() train.Options {
	o := train.Options{BatchSize: ph.BatchSize, Epochs: ph.Epochs, Shuffle: ph.Shuffle, Seed: ph.Seed, EarlyStopping: ph.EarlyStopping,
		ReduceLROnPlateau: ph.ReduceLROnPlateau, BalancedSampling: ph.BalancedSampling}
	if ph.Schedule != nil {
		o.Schedule = *ph.Schedule
	}
	return o
}

// Check builds the network of every phase (and frees it), so that a model
// that cannot be built stops a run before any heavy work.
func (p *Plan) Check() error {
	for i := range p.Phases {
		net, err := nn.Build(p.Spec(i))
		if err != nil {
			return fmt.Errorf("model %s: %w", p.Name, err)
		}
		net.Close()
	}
	return nil
}

// ModelSeed derives a model's seed from the run seed and its name, so
// adding a model to a config does not change the others' initialisation.
func ModelSeed(seed int64, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return seed ^ int64(h.Sum64()&0x7fffffffffffffff)
}

// Write writes the plan as model.json in its model's folder of run
// folder runDir, atomically.
func (p *Plan) Write(runDir string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("plan: model %s: %w", p.Name, err)
	}
	return fsutil.WriteFile(filepath.Join(rundir.Model(runDir, p.Name), rundir.ModelFile), append(b, '\n'))
}

// Read reads the plan of model name of the run in runDir.
func Read(runDir, name string) (*Plan, error) {
	path := filepath.Join(rundir.Model(runDir, name), rundir.ModelFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("run %s: model %s has no %s: the run has not finished training it, or it was trained before %s existed; "+
			"rerun its config (pipeline -config %s) to write it: the rerun resumes the run, it does not train again",
			runDir, name, rundir.ModelFile, rundir.ModelFile, filepath.Join(runDir, rundir.ConfigFile))
	}
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case p.Format != Format:
		return nil, fmt.Errorf("%s: format %q, want %q", path, p.Format, Format)
	case p.Name != name || len(p.Classes) < 2 || len(p.Phases) == 0 || len(p.Network.Layers) == 0:
		return nil, fmt.Errorf("%s: not a trained model's plan (model %q, %d classes, %d phases, %d layers)", path, p.Name, len(p.Classes), len(p.Phases), len(p.Network.Layers))
	case p.Backbone != nil && p.Backbone.FeatureBatch <= 0:
		return nil, fmt.Errorf("%s: backbone feature_batch %d: want the batch size the features were computed at", path, p.Backbone.FeatureBatch)
	}
	return &p, nil
}
