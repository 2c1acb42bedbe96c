package config

import "github.com/gotransfer/gotransfer/pipeline/schedule"

// This file is the one place where defaults live. Decoding starts from
// these values and overwrites only the keys a file (or an override) gives.

// Default returns the configuration a file starts from before its keys are
// applied. The required keys (name, data.dir and models) are left empty, so
// Default alone is not a valid config.
func Default() *Config {
	return &Config{
		Seed:    42,
		RunsDir: "runs",
		Data: Data{
			Exclude:    []string{},
			Extensions: []string{".jpg", ".jpeg", ".png"},
			// The notebook's 70/15/15 split.
			Split:      Split{Train: 0.70, Val: 0.15, Test: 0.15},
			OnBadImage: BadImageError,
			// Chosen on the default data's feature cosines: see
			// docs/inspect.md (how the default was chosen).
			NearDuplicate: 0.98,
			OnDuplicate:   DuplicateWarn,
		},
		Images: Images{
			Size:       [2]int{224, 224}, // ImageNet backbones' input size
			Resize:     "nearest",        // what Keras load_img does
			Preprocess: "caffe",          // what keras.applications.vgg16 does
		},
		Features: Features{
			CacheDir: "cache/features",
			// Fixed, not auto, by default: the features' bits (and so
			// every metric) then never depend on a timing probe, the
			// machine or the cache's history. auto is one key away.
			BatchSize:       8, // as fast as 32 on CPU, a third of the memory (BENCHMARK.md)
			MemoryBudgetMiB: 1024,
			Precision:       "float32",
		},
		Train: Train{
			Optimizer: Optimizer{Adam: defaultAdam()},
			Loss:      Loss{Name: "categorical_crossentropy"},
			BatchSize: 128,
			Epochs:    10,
			Shuffle:   true,
			Sampling:  SampleAll,
		},
		Evaluate: Evaluate{TopK: 5},
		Predict:  Predict{TopK: 5},
		Export:   Export{SavedModel: true},
		Report:   Report{TopLosses: 16},
	}
}

// defaultAdam returns Keras's Adam defaults, used for keys that an adam map
// leaves out.
func defaultAdam() *Adam {
	return &Adam{LearningRate: 0.001, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}
}

// defaultFineTune returns the fine_tune settings keys left out take: the
// Keras guide's second phase, Adam with a learning rate of 1e-5, 10 epochs.
func defaultFineTune() *FineTune {
	a := defaultAdam()
	a.LearningRate = 1e-5
	return &FineTune{Epochs: 10, Optimizer: Optimizer{Adam: a}}
}

// defaultTTA returns the test-time augmentation an evaluate.tta map's
// keys left out take: the image and its mirror image, averaging
// probabilities.
func defaultTTA() *TTA {
	return &TTA{Flip: true, Scales: []float64{1}, Average: AverageProbabilities}
}

// defaultEarlyStopping returns Keras's EarlyStopping defaults, used for keys
// that an early_stopping map leaves out.
func defaultEarlyStopping() *EarlyStopping {
	return &EarlyStopping{Monitor: "val_loss"}
}

// defaultReduceLROnPlateau returns Keras' ReduceLROnPlateau defaults, used
// for keys that a reduce_lr_on_plateau map leaves out.
func defaultReduceLROnPlateau() *schedule.ReduceLROnPlateau {
	return &schedule.ReduceLROnPlateau{Monitor: "val_loss", Factor: 0.1, Patience: 10, MinDelta: 1e-4}
}

// Allowed values of the keys that take one of a few strings.
var (
	downloads        = []string{string(NoDownload), string(Caltech101), string(FashionMNIST)}
	badImageActions  = []string{string(BadImageError), string(BadImageSkip)}
	duplicateActions = []string{string(DuplicateError), string(DuplicateWarn), string(DuplicateDrop)}
	resizeMethods    = []string{"nearest", "bilinear"}
	preprocessModes  = []string{"caffe", "tf", "torch", "none"}
	precisions       = []string{"auto", "float32", "bfloat16"}
	losses           = []string{"categorical_crossentropy"}
	ttaAverages      = []string{string(AverageProbabilities), string(AverageFeatures)}
	monitors         = []string{"loss", "accuracy", "val_loss", "val_accuracy"}
	optimizerNames   = []string{"adam"}
	samplings        = []string{string(SampleAll), string(SampleBalanced)}
)
