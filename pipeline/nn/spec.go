package nn

import (
	"slices"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// Tail is a backbone's layers above a cut, rebuilt to train with a
// model's top (fine-tuning): its input is the cut's input activation.
type Tail struct {
	Input  []int          // one example's input activation, such as [7 7 1024]
	Layers []layers.Layer // from the cut up to the endpoint's layer
	Names  []string       // the backbone's names for them
}

// SpecFor is the network model m of cfg trains, for numClasses classes:
// its layers on the input it sees, with the config's optimizer. features
// is the shape of one example of the backbone endpoint's output, used for
// a transfer model; a model without backbone sees its images, height ×
// width × 3. A fine-tuned model (tail not nil) sees the cut's input
// activation, and its layers are the tail's, frozen, then its own: the
// first phase, training the new top. Every stage that builds a config's
// model (experiment, predict, bench, tests) builds it from here.
func SpecFor(cfg *config.Config, m config.Model, features []int, tail *Tail, numClasses int) Spec {
	input := layers.Shape(features)
	if !m.Transfer() {
		s := m.InputSize(cfg.Images)
		input = layers.Shape{s[0], s[1], 3}
	}
	s := Spec{Input: input, Layers: m.Layers, Classes: numClasses, Adam: *cfg.Train.Optimizer.Adam}
	if tail != nil {
		s.Input = tail.Input
		s.Layers = append(slices.Clone(tail.Layers), m.Layers...)
		s.Names = append(slices.Clone(tail.Names), layers.Names(m.Layers)...)
		s.Frozen = len(tail.Layers)
	}
	return s
}

// FineTuneSpec is the second phase of a fine-tuned model whose first
// phase is s: every layer trains, with the fine_tune optimizer.
func FineTuneSpec(s Spec, ft *config.FineTune) Spec {
	s.Frozen = 0
	s.Adam = *ft.Optimizer.Adam
	return s
}
