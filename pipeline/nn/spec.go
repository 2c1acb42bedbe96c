package nn

import (
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// SpecFor is the network model m of cfg trains, for numClasses classes:
// its layers on the input it sees, with the config's optimizer. features
// is the shape of one example of the backbone endpoint's output, used for
// a transfer model; a model without backbone sees its images, height ×
// width × 3. Every stage that builds a config's model (experiment,
// predict, bench, tests) builds it from here.
func SpecFor(cfg *config.Config, m config.Model, features []int, numClasses int) Spec {
	input := layers.Shape(features)
	if !m.Transfer() {
		s := m.InputSize(cfg.Images)
		input = layers.Shape{s[0], s[1], 3}
	}
	return Spec{Input: input, Layers: m.Layers, Classes: numClasses, Adam: *cfg.Train.Optimizer.Adam}
}
