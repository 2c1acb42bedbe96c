package experiment

import (
	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// Result is what Run or Features did, in numbers: what the data held,
// what each model found cached and computed, how far each training phase
// had got before and what it trained now. Tests and callers read it
// rather than the log.
type Result struct {
	// Dir is the run folder (Run only; "" when the run did not get as far
	// as making it).
	Dir string
	// Finished says that the run was a sweep's trial found finished by
	// an earlier sweep: its folder holds its results, nothing ran.
	Finished bool
	Data     DataResult
	// Shards is the number of shards whose features Run found all cached
	// (Options.Shards); 0 when it did not train on shards.
	Shards int
	Models []ModelResult // in config order
}

// DataResult says what the run made of data.dir.
type DataResult struct {
	Images  int           // images used, after leaving out bad ones
	Skipped []report.Skip // bad images left out (data.on_bad_image: skip)
	// Missing, Ignored and Loose are dataset.Dataset's: data.exclude names
	// that matched no folder, files left out for their extension (by
	// extension), and image files outside any class folder.
	Missing []string
	Ignored map[string]int
	Loose   int
}

// ModelResult is one model's part of a Result.
type ModelResult struct {
	Name string
	// Precision and FeatureBatch are what a transfer model's backbone ran
	// in and at, and PrecisionWhy and BatchWhy why (BatchWhy is "" when
	// the config fixed the batch size).
	Precision    backbone.Precision
	PrecisionWhy string
	FeatureBatch int
	BatchWhy     string
	// Features is the endpoint whose output the cache holds (a transfer
	// model's); Cache counts its entries, or a scratch model's decoded
	// pixels.
	Features string
	Cache    CacheCounts
	// Views counts the features of the augmented training views
	// (augment), TTAViews those of test-time augmentation's views
	// (evaluate.tta); zero without them. A model from scratch makes its
	// views on the fly and counts none.
	Views, TTAViews CacheCounts
	Phases          []PhaseResult // each training phase, in order (Run only)
	// Exported is where the export at the end of the run wrote the
	// model; NotExported says why it did not (already exported, no usable
	// weights).
	Exported    string
	NotExported string
}

// CacheCounts are a cache's entries for the examples a stage needed.
type CacheCounts struct {
	Cached     int // there already
	Recomputed int // there but corrupt: computed again
	Computed   int // missing: computed now
}

// PhaseResult is one training phase of a model.
type PhaseResult struct {
	Name string // rundir.TrainDir or rundir.FineTuneDir
	// Resumed is the epochs an earlier run had finished (0 for a fresh
	// phase); Trained the epochs this run trained.
	Resumed, Trained int
}
