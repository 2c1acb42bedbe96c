package config

import (
	"errors"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/gotransfer/gotransfer/pipeline/augment"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/schedule"
)

// Config is the effective configuration of a run: the file, with defaults
// filled in and overrides applied.
type Config struct {
	// Path is the file the config came from (the name given to Parse).
	// It is not written by Marshal.
	Path string

	Name     string // run name, [A-Za-z0-9._-]+
	Seed     int64  // every random choice derives from it
	RunsDir  string // where run folders are written
	Data     Data
	Images   Images
	Features Features
	Train    Train
	// Augment is the training images' augmentation for every model that
	// does not set its own; nil: none.
	Augment  *augment.Spec
	Evaluate Evaluate
	Predict  Predict
	Export   Export
	Report   Report
	Models   []Model // at least one, unique names
}

// Report holds the settings of results.md.
type Report struct {
	// TopLosses is how many misclassified test images per model the
	// gallery shows, those with the highest loss; 0: no gallery.
	TopLosses int
}

// Data says where the images are and how they are split.
type Data struct {
	Dir         string   // folder of class folders
	Download    Download // dataset fetched when Dir is missing, or NoDownload
	Exclude     []string // class folder names to skip; never nil
	Extensions  []string // image file extensions in lower case, each starting with "."
	Split       Split
	Stratify    bool           // split each class separately instead of the notebook's shuffle and cut
	MaxPerClass int            // images kept per class; 0 means no cap
	OnBadImage  BadImagePolicy // what to do with an image that does not decode
	// NearDuplicate is the cosine of two images' backbone features at or
	// above which they count as near-duplicates, in (0, 1].
	NearDuplicate float64
	OnDuplicate   DuplicatePolicy // what to do with a test image that duplicates a train or val one
	// Folds is K of k-fold cross-validation on the train and val images
	// (stratified, seeded), each model trained K more times; 0: none.
	Folds int
}

// DuplicatePolicy says what to do with a test image that is a duplicate
// (exact or near) of a training or validation image (data.on_duplicate).
type DuplicatePolicy string

// Duplicate policies.
const (
	DuplicateError DuplicatePolicy = "error"          // stop, listing the pairs
	DuplicateWarn  DuplicatePolicy = "warn"           // log and report them, keep them
	DuplicateDrop  DuplicatePolicy = "drop_from_test" // leave those test images out, and report them
)

// Download names a dataset the pipeline knows how to get (data.download).
type Download string

// Datasets of data.download.
const (
	NoDownload   Download = ""
	Caltech101   Download = "caltech101"    // downloaded by the run when online
	FashionMNIST Download = "fashion-mnist" // prepared by set-up from Debian's package
)

// BadImagePolicy says what to do with an image that does not decode
// (data.on_bad_image).
type BadImagePolicy string

// Bad-image policies.
const (
	BadImageError BadImagePolicy = "error" // stop, naming the file
	BadImageSkip  BadImagePolicy = "skip"  // leave it out, log it and list it in the report
)

// Split gives the fractions of images used for training, validation and
// testing. They sum to 1.
type Split struct {
	Train, Val, Test float64
}

// Images says how image files become input tensors.
type Images struct {
	Size        [2]int // [height, width] images are resized to
	Resize      string // "nearest" (the Keras load_img default) or "bilinear"
	Preprocess  string // "caffe", "tf", "torch" or "none"
	DivideBy255 bool   // divide by 255 after preprocessing, as the notebook does by mistake
	Workers     int    // decode goroutines; 0 means runtime.NumCPU()
}

// Features says how backbone features are computed and cached.
type Features struct {
	CacheDir string // where features are cached
	// BatchSize is the images per backbone call, or AutoBatch ("auto" in
	// YAML): chosen by measurement within MemoryBudgetMiB.
	BatchSize int
	// MemoryBudgetMiB bounds the process's peak RSS while the backbone
	// runs at an auto batch size.
	MemoryBudgetMiB int
	// Precision is what the backbone computes in: "float32", "bfloat16"
	// (oneDNN's bfloat16 rewrite), or "auto": bfloat16 where the CPU has
	// bfloat16 units and a short probe, remembered per backbone and
	// machine, measured it faster; float32 otherwise.
	Precision string
}

// AutoBatch is Features.BatchSize when the config says "auto".
const AutoBatch = 0

// Train holds the Keras compile and fit settings.
type Train struct {
	Optimizer Optimizer
	Loss      Loss
	// ClassWeight weighs each training example's loss by its class, as
	// Keras' fit(class_weight=...) does; its zero value weighs none.
	ClassWeight ClassWeight
	BatchSize   int
	Epochs      int
	Shuffle     bool // reshuffle training batches each epoch (seeded)
	// Sampling is how an epoch draws its training examples.
	Sampling      Sampling
	EarlyStopping *EarlyStopping // nil means off
	// ReduceLROnPlateau lowers a constant learning rate when a metric
	// stops improving, as Keras' callback does; nil means off.
	ReduceLROnPlateau *schedule.ReduceLROnPlateau
}

// Loss is the loss compiled into the models: its Keras name and settings.
type Loss struct {
	Name string // "categorical_crossentropy"
	// LabelSmoothing is Keras' CategoricalCrossentropy(label_smoothing):
	// targets become y × (1 − s) + s / classes. In [0, 1).
	LabelSmoothing float64
}

// ClassWeight is train.class_weight: Balanced (each class weighs
// n_samples / (n_classes × its count), Keras' and scikit-learn's
// "balanced"), or weights by class name (classes left out weigh 1, as in
// Keras), or neither (every example weighs 1).
type ClassWeight struct {
	Balanced bool
	ByClass  map[string]float64 // nil unless given
}

// Set reports whether w weighs any class.
func (w ClassWeight) Set() bool { return w.Balanced || w.ByClass != nil }

// Sampling says how an epoch draws its training examples (train.sampling).
type Sampling string

// Samplings.
const (
	// SampleAll takes every training example once per epoch (Keras' fit).
	SampleAll Sampling = "all"
	// SampleBalanced draws as many examples as the split holds, each
	// class equally often, with replacement within a class: rare
	// classes are oversampled (seeded per epoch).
	SampleBalanced Sampling = "balanced"
)

// Optimizer selects one optimizer: exactly one field is set.
type Optimizer struct {
	Adam *Adam
}

// Name returns the YAML key of the selected optimizer ("adam"), or "" if
// none is set.
func (o Optimizer) Name() string {
	if o.Adam != nil {
		return "adam"
	}
	return ""
}

// Adam holds the settings of the Adam optimizer; the defaults are Keras's.
type Adam struct {
	// LearningRate is the rate of every step, or with a Schedule the
	// rate of its first step.
	LearningRate float64
	// Schedule, when set, gives the learning rate of each step instead
	// (Keras: learning_rate=keras.optimizers.schedules.X(...)).
	Schedule schedule.Schedule
	Beta1    float64
	Beta2    float64
	Epsilon  float64
}

// EarlyStopping stops training when a monitored metric stops improving, as
// Keras's EarlyStopping callback does.
type EarlyStopping struct {
	Monitor            string // "loss", "accuracy", "val_loss" or "val_accuracy"
	Patience           int    // epochs without improvement before stopping
	MinDelta           float64
	RestoreBestWeights bool
}

// Evaluate holds the settings of the evaluation stage.
type Evaluate struct {
	TopK int  // report top-k accuracy
	TTA  *TTA // test-time augmentation; nil: none
}

// TTA is test-time augmentation (evaluate.tta): the test images' views
// (augment.TTA: each scale, flipped too with Flip) and what is averaged
// over them.
type TTA struct {
	Flip    bool
	Scales  []float64
	Average TTAAverage
}

// TTAAverage says what test-time augmentation averages over the views.
type TTAAverage string

// What TTA averages.
const (
	// AverageProbabilities averages the trained model's class
	// probabilities over each test image's views; training is unchanged.
	AverageProbabilities TTAAverage = "probabilities"
	// AverageFeatures (the VGG paper's protocol) averages a transfer
	// model's backbone features over each image's views, for training,
	// validation and test alike; models from scratch average
	// probabilities.
	AverageFeatures TTAAverage = "features"
)

// Views returns t's views.
func (t *TTA) Views() augment.TTA { return augment.TTA{Flip: t.Flip, Scales: t.Scales} }

// Predict holds the settings of the prediction stage.
type Predict struct {
	TopK int // classes listed per image
}

// Export holds the settings of the export at the end of a run.
type Export struct {
	// SavedModel writes each model as a SavedModel into
	// models/<name>/savedmodel/ (see pipeline/export).
	SavedModel bool
	// Formats are converted from each SavedModel into its folder
	// (ExportFormats; "savedmodel" adds nothing). Written into the
	// run's config only when set, so configs without it keep their hash.
	Formats []string
}

// ExportFormats are the formats an export can be written in: the
// SavedModel and the files converted from it.
var ExportFormats = []string{"savedmodel", "tflite", "onnx"}

// Model is one model to train.
type Model struct {
	Name      string         // [A-Za-z0-9._-]+, unique within the config
	Backbone  *Backbone      // nil for a model trained from scratch on images
	ImageSize [2]int         // input [height, width] of a model without backbone; zero means Images.Size
	Layers    []layers.Layer // at least one; the last is dense, units classes, softmax
	// FineTune, with Backbone.FineTuneFrom, adds the guides' second phase:
	// after the new top has trained on the frozen backbone, the backbone's
	// layers from FineTuneFrom up to the endpoint train with it. nil: none.
	FineTune *FineTune
	// Augment is the model's own augmentation, replacing the run's
	// (views: 1 turns it off); nil: the run's.
	Augment *augment.Spec
}

// Augmentation returns the augmentation model m trains with: its own or
// the run's; nil when none or when it has one view only (the image).
func (c *Config) Augmentation(m Model) *augment.Spec {
	a := c.Augment
	if m.Augment != nil {
		a = m.Augment
	}
	if a == nil || a.Views <= 1 {
		return nil
	}
	return a
}

// FineTune is the second training phase of a transfer model: its own
// epochs and optimizer (a small learning rate); batch size, shuffling and
// early stopping are train's, as when Keras' guide calls fit again with
// the same callbacks.
type FineTune struct {
	Epochs    int
	Optimizer Optimizer
}

// FineTuned reports whether m trains a backbone's upper layers too.
func (m Model) FineTuned() bool { return m.FineTune != nil }

// Transfer reports whether m is a transfer model, trained on the features
// of a frozen backbone.
func (m Model) Transfer() bool { return m.Backbone != nil }

// InputSize returns the [height, width] images are resized to for m: its
// own ImageSize if set, else images.Size.
func (m Model) InputSize(images Images) [2]int {
	if m.ImageSize != [2]int{} {
		return m.ImageSize
	}
	return images.Size
}

// Backbone names a frozen pretrained network and the endpoint whose output
// is used as features.
type Backbone struct {
	SavedModel string // TensorFlow SavedModel folder
	Endpoint   string // feature endpoint to cut at, such as fc2 or block5_pool
	// FineTuneFrom is the backbone layer fine-tuning starts from, such as
	// block5_conv1 or conv_pw_13 (its metadata.json lists the cuts), or
	// backbone.Auto, the start of the last block; "" for a backbone that
	// stays frozen.
	FineTuneFrom string
	// Preprocess is how the backbone's training preprocessed images, for
	// a SavedModel without metadata.json (where it is required; see
	// backbone.Plain): "caffe", "tf", "torch" or "none"; "" otherwise.
	Preprocess string
}

// MaxFileSize is the largest config file Load reads: a config is a few
// KiB, and the limit stops a wrong path (a log, a data file, /dev/zero,
// which is refused anyway as not a regular file) from filling memory.
const MaxFileSize = 4 << 20

// Load reads the config file at path (a regular file of at most
// MaxFileSize bytes), applies overrides and checks the result; see Parse.
func Load(path string, overrides []string) (*Config, error) {
	data, err := fsutil.ReadRegular(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, overrides)
}

// Override is an override ("path.to.key=value") and how errors name it:
// Label when it is not empty (a sweep's "-grid KEY=V1,V2"), else
// "-set " + Set.
type Override struct {
	Set, Label string
}

// LoadOverrides is Load with overrides that errors name by their labels.
func LoadOverrides(path string, overrides []Override) (*Config, error) {
	data, err := fsutil.ReadRegular(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	sets := make([]string, len(overrides))
	labels := make([]string, len(overrides))
	for i, o := range overrides {
		sets[i], labels[i] = o.Set, o.Label
	}
	return parse(path, data, sets, labels)
}

// Parse decodes the YAML config in data, applies the overrides
// ("path.to.key=value"), fills in defaults and checks every value. name is
// the file name used in error messages and stored in Config.Path.
//
// All problems found are returned together, joined with errors.Join and
// ordered by line, overrides last.
func Parse(name string, data []byte, overrides []string) (*Config, error) {
	return parse(name, data, overrides, nil)
}

// parse is Parse with labels for the overrides (Override.Label; nil:
// none).
func parse(name string, data []byte, overrides, labels []string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty config", name)
	}
	root := doc.Content[0]
	budget := maxNodes
	if err := expand(root, &budget); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}

	d := &decoder{
		file:   name,
		sets:   overrides,
		labels: labels,
		from:   make(map[*yaml.Node]int),
		locs:   map[string]loc{"": {line: root.Line}},
	}
	if root.Kind != yaml.MappingNode {
		d.errorf("", "want a map of keys, got %s", describe(root))
		return nil, d.err()
	}
	for i, s := range overrides {
		d.override(root, i, s)
	}
	c := Default()
	c.Path = name
	d.config(root, c)
	if len(d.errs) == 0 {
		d.validate(c)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// err returns the errors found so far, ordered by line with overrides
// last, joined into one; nil if there are none.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i], d.errs[j]
		if a.set != b.set {
			return a.set == 0 || (b.set != 0 && a.set < b.set)
		}
		return a.line < b.line
	})
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}
