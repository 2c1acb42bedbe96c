// Package rundir is the layout of a run folder, runs/<name>-<hash>/: its
// name, derived from the effective config (and, when that folder holds a
// run on other inputs, from them too: see Open), the name of every file in
// it, and its lock. Stages write and read run folders through these names
// only.
//
//	config.yaml  inputs.json  .lock  manifest.csv  results.md  metrics.json  timing.json
//	history.png  samples.png
//	models/<model>/  model.json  (the trained model's plan: input, backbone, layers, phases)
//	                 history.csv  confusion.csv  per_class.csv  confusion.png
//	                 weights.*  (the final weights, a TensorFlow checkpoint)
//	                 savedmodel/  (the model exported as a SavedModel)
//	                 train/  state.json  last.*  best.*
//	                 misclassified.csv  top_losses.png  pca.png
//	inspect/  duplicates.csv  leaks.png  suspects.csv  suspects.png
//	tensorboard/<model>/  train/  validation/  (TensorBoard event files)
package rundir

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/config"
)

// Files of a run folder.
const (
	ConfigFile   = "config.yaml"  // the effective config (config.Marshal)
	ManifestFile = "manifest.csv" // every image: path, label, class, split, sha256
	ResultsFile  = "results.md"   // the report
	MetricsFile  = "metrics.json" // everything in results.md, machine-readable; written last
	TimingFile   = "timing.json"  // wall times: not deterministic, kept out of metrics
	HistoryPlot  = "history.png"
	SamplesPlot  = "samples.png"
	ModelsDir    = "models" // one folder per model, named after it
	// TensorBoardDir holds one folder of event files per model (package
	// tensorboard lays out its inside, as Keras' callback does).
	TensorBoardDir = "tensorboard"
)

// Files of what package inspect finds in a run's data (InspectDir), each
// model's misclassified images and feature space (in its model folder),
// and its TensorBoard Projector files (in its TensorBoard train/ folder,
// where Keras' callback writes embeddings).
const (
	InspectDir        = "inspect"           // in the run folder
	DuplicatesFile    = "duplicates.csv"    // every duplicate pair: splits, paths, exact, cosine
	LeaksPlot         = "leaks.png"         // test images duplicating train/val ones, beside them
	SuspectsFile      = "suspects.csv"      // every suspect label
	SuspectsPlot      = "suspects.png"      // the first suspects' thumbnails
	MisclassifiedFile = "misclassified.csv" // in models/<model>/: every misclassified test image
	TopLossesPlot     = "top_losses.png"    // in models/<model>/: the highest-loss ones and their nearest training images
	PCAPlot           = "pca.png"           // in models/<model>/: its test features' first two principal components
	ProjectorConfig   = "projector_config.pbtxt"
	ProjectorTensor   = "projector_tensor.f32"   // float32 rows, little-endian, no header
	ProjectorMetadata = "projector_metadata.tsv" // a header, then class and path per row
	ProjectorSprite   = "projector_sprite.png"   // thumbnails in rows, left to right
)

// Files of a model's folder, models/<model>/.
const (
	// ModelFile is the trained model's plan (package plan): everything
	// predict, export and bench need to rebuild it, besides its weights.
	ModelFile     = "model.json"
	HistoryFile   = "history.csv"
	ConfusionFile = "confusion.csv"
	PerClassFile  = "per_class.csv"
	ConfusionPlot = "confusion.png"
	Weights       = "weights"    // checkpoint prefix of the final weights
	TrainDir      = "train"      // training state, for resume
	SavedModelDir = "savedmodel" // the model exported as a SavedModel (unless export.savedmodel is off)
	FineTuneDir   = "fine_tune"  // a fine-tuned model's second phase: state and checkpoints, as TrainDir
)

// Files of a model's training folder, models/<model>/train/.
const (
	StateFile      = "state.json" // history and position, written after each epoch
	LastCheckpoint = "last"       // checkpoint prefix of the last epoch's weights and optimizer state
	BestCheckpoint = "best"       // checkpoint prefix of the best epoch's (early stopping)
)

// For returns the run folder of cfg, <runs_dir>/<name>-<8 hex digits of
// the SHA-256 of its effective config>, and that effective config: equal
// configs share a folder and different ones never do.
func For(cfg *config.Config) (dir string, effective []byte, err error) {
	y, err := cfg.Marshal()
	if err != nil {
		return "", nil, err
	}
	h := sha256.Sum256(y)
	return filepath.Join(cfg.RunsDir, cfg.Name+"-"+hex.EncodeToString(h[:4])), y, nil
}

// Model returns the folder of the model named name in run folder dir.
func Model(dir, name string) string { return filepath.Join(dir, ModelsDir, name) }

// PickModel returns the model of run folder dir's config cfg named name.
// An empty name picks the first transfer model (the notebook's "new
// model"), or the first model if there is none. Every command that takes
// a run's -model (predict, export) picks through here.
func PickModel(dir string, cfg *config.Config, name string) (config.Model, error) {
	if name == "" {
		for _, m := range cfg.Models {
			if m.Transfer() {
				return m, nil
			}
		}
		if len(cfg.Models) > 0 {
			return cfg.Models[0], nil
		}
	}
	names := make([]string, len(cfg.Models))
	for i, m := range cfg.Models {
		if m.Name == name {
			return m, nil
		}
		names[i] = m.Name
	}
	return config.Model{}, fmt.Errorf("run %s has no model %q (have %s)", dir, name, strings.Join(names, ", "))
}

// TensorBoard returns the event-file folder of the model named name in run
// folder dir.
func TensorBoard(dir, name string) string { return filepath.Join(dir, TensorBoardDir, name) }
