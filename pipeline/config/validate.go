package config

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// namePattern is what run and model names must match: they become folder
// and file names.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// validate checks the rules that span values or ranges of values, once
// every value has decoded with the right type: those the schema attaches
// to its keys, in the schema's order.
func (d *decoder) validate(c *Config) {
	d.check(c.schema(), "")
}

// models checks the list of models: at least one, unique names, and each
// model's keys and layers.
func (d *decoder) models(c *Config, path string) {
	if len(c.Models) == 0 {
		d.errorf(path, "want at least one model")
	}
	first := make(map[string]int)
	for i := range c.Models {
		m := &c.Models[i]
		p := fmt.Sprintf("%s.%d", path, i)
		d.check(modelKeys(m), p)
		if j, dup := first[m.Name]; dup {
			d.errorf(p+".name", "duplicate model name %q (also models.%d)", m.Name, j)
		} else {
			first[m.Name] = i
		}
		d.model(p, *m, c)
	}
}

// model checks one model and its layers.
func (d *decoder) model(path string, m Model, c *Config) {
	before := len(d.errs)
	if t := c.Evaluate.TTA; t != nil && t.Average == AverageFeatures && m.Backbone != nil && c.Augmentation(m) != nil {
		at := "augment"
		if m.Augment != nil {
			at = path + ".augment"
		}
		d.errorf(at, "evaluate.tta.average: features trains %s on each image's averaged views: it cannot also train on augmented views (views: 1 turns them off for it)", m.Name)
	}
	if m.Backbone != nil {
		if m.ImageSize != [2]int{} {
			d.errorf(path+".image_size", "only for models without backbone; a backbone's input size is images.size")
		}
	} else if m.ImageSize != [2]int{} {
		d.size(path+".image_size", m.ImageSize)
	}
	if s := m.InputSize(c.Images); !m.Transfer() {
		if n := int64(c.Train.BatchSize) * int64(s[0]) * int64(s[1]) * 3; n > MaxBatchValues {
			d.errorf("train.batch_size", "model %s: a batch of %d images of %dx%d has %d values, more than TensorFlow's int32 shapes hold (%d): lower the batch size or the image size",
				m.Name, c.Train.BatchSize, s[0], s[1], n, MaxBatchValues)
		}
	}

	switch ft := m.FineTune; {
	case ft != nil && m.Backbone == nil:
		d.errorf(path+".fine_tune", "only for a model with a backbone: fine-tuning trains a pretrained backbone's upper layers; a model without backbone trains every layer already")
	case ft != nil && m.Backbone.FineTuneFrom == "":
		d.errorf(path+".backbone", "fine_tune needs backbone.fine_tune_from: the backbone layer to fine-tune from (its metadata.json lists them under cuts), or auto for the start of its last block")
	case ft == nil && m.Backbone != nil && m.Backbone.FineTuneFrom != "":
		d.errorf(path+".backbone.fine_tune_from", "needs the model's fine_tune settings (epochs, optimizer), e.g. fine_tune: {epochs: 10, optimizer: {adam: {learning_rate: 1.0e-5}}}")
	}
	if len(m.Layers) == 0 {
		d.errorf(path+".layers", "want at least one layer")
		return
	}
	for i, l := range m.Layers {
		p := fmt.Sprintf("%s.layers.%d.%s", path, i, l.Kind())
		for _, pr := range l.Check() {
			d.errorf(join(p, pr.Key), "%s", pr.Msg)
		}
		for _, f := range l.Fields() {
			if s, ok := f.Value.(*string); ok && f.OneOf != nil {
				d.oneOf(join(p, f.Key), *s, f.OneOf)
			}
		}
	}
	if len(d.errs) == before && (m.Transfer() || slices.ContainsFunc(m.Layers, needsImage)) {
		// Shapes: a model without backbone takes images of a known size;
		// a backbone's features are known only once it is loaded (nil).
		// A model without backbone and without image layers (dense only)
		// is left to nn, which says so before any heavy work, as ever.
		var in layers.Shape
		if !m.Transfer() {
			s := m.InputSize(c.Images)
			in = layers.Shape{s[0], s[1], 3}
		}
		// The number of classes changes no shape check; any will do.
		if _, bad, err := layers.Infer(m.Layers, in, 2); err != nil {
			d.errorf(fmt.Sprintf("%s.layers.%d.%s", path, bad, m.Layers[bad].Kind()), "%v", err)
		}
	}
	if !layers.Classifier(m.Layers[len(m.Layers)-1]) {
		d.errorf(fmt.Sprintf("%s.layers.%d", path, len(m.Layers)-1),
			"the last layer must be dense with units: classes and activation: softmax, "+
				"because the loss is categorical cross-entropy on class probabilities")
	}
}

// needsImage reports whether l takes images only (conv2d, max_pool, ...):
// whether it refuses a vector.
func needsImage(l layers.Layer) bool {
	_, err := l.Output(layers.Shape{1}, 2)
	return err != nil
}

// split checks that the fractions are in [0, 1], sum to 1, and leave some
// images for training and testing.
func (d *decoder) split(path string, s Split) {
	for _, f := range []struct {
		key string
		v   float64
	}{{"train", s.Train}, {"val", s.Val}, {"test", s.Test}} {
		if !(f.v >= 0 && f.v <= 1) {
			d.errorf(join(path, f.key), "want a fraction in [0, 1], got %v", f.v)
			return
		}
	}
	if sum := s.Train + s.Val + s.Test; math.Abs(sum-1) > 1e-6 {
		d.errorf(path, "train + val + test must be 1, got %.6g", sum)
	}
	if s.Train == 0 {
		d.errorf(join(path, "train"), "must be > 0")
	}
	if s.Test == 0 {
		d.errorf(join(path, "test"), "must be > 0")
	}
}

// name checks a run or model name.
func (d *decoder) name(path, s string) {
	if !namePattern.MatchString(s) || s == "." || s == ".." {
		d.errorf(path, "want a name of letters, digits, '.', '_' and '-', got %q", s)
	}
}

func (d *decoder) nonEmpty(path, s string) {
	if s == "" {
		d.errorf(path, "must not be empty")
	}
}

func (d *decoder) oneOf(path, s string, allowed []string) {
	if slices.Contains(allowed, s) {
		return
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = a
		if a == "" {
			quoted[i] = `""`
		}
	}
	d.errorf(path, "want one of %s; got %q", strings.Join(quoted, ", "), s)
}

func (d *decoder) atLeast(path string, v, min int) {
	if v < min {
		d.errorf(path, "want an integer >= %d, got %d", min, v)
	}
}

// MaxImageSide is the largest height or width images.size and a model's
// image_size take. The largest input of any keras.applications model is
// 600 (EfficientNetB7); at 4096×4096 one image is already 48 MiB in the
// pixel cache and 192 MiB as the float32 input TensorFlow trains on, so a
// larger side is a typo, not a plan (20000×20000 wrote 47 GB of cache in
// 90 s before running out of memory). See also MaxBatchValues.
const MaxImageSide = 4096

// MaxBatchValues bounds train.batch_size × height × width × 3 for a model
// without backbone: a batch of input images must have fewer values than
// TensorFlow's int32 shapes can count (2^31 - 1; [100000, 100000]
// overflowed a Reshape).
const MaxBatchValues = 1<<31 - 1

// size checks a [height, width] pair.
func (d *decoder) size(path string, v [2]int) {
	switch {
	case v[0] <= 0 || v[1] <= 0:
		d.errorf(path, "want positive [height, width], got [%d, %d]", v[0], v[1])
	case v[0] > MaxImageSide || v[1] > MaxImageSide:
		d.errorf(path, "want at most %d pixels a side, got [%d, %d]: one image would take %d MiB as float32 input (the largest Keras application takes 600)",
			MaxImageSide, v[0], v[1], int64(v[0])*int64(v[1])*3*4>>20)
	}
}

func (d *decoder) positive(path string, v float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		d.errorf(path, "want a number > 0, got %v", v)
	}
}

// fraction checks a number in [0, 1), such as Adam's betas.
func (d *decoder) fraction(path string, v float64) {
	if !(v >= 0 && v < 1) {
		d.errorf(path, "want a number in [0, 1), got %v", v)
	}
}
