package config

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gotransfer/gotransfer/pipeline/augment"
	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// This file is the one description of the config's keys. Decoding
// (fields), the rule checks (check), Marshal and Flatten (nodeOf) and the
// schema shown in doc.go (schemaDoc) all walk it, so adding a key is one
// line here (plus its field in config.go and its default in defaults.go).
// A leaf key's value has a type from leaf.go's table.

// Versions of the canonical form: what Marshal writes, the record of a
// run in its folder, whose SHA-256 names the folder (see rundir.For).
// Version 0 is the form run folders were first named by. A key added
// later records the version that added it (key.since, or a layer
// setting's layers.Field.Since) and is written only while it differs from
// its default, so that a config that leaves it out keeps the form, the
// hash and the run folder it had before the key existed.
const (
	// baseForm is the version every key is always written from: keys
	// with since <= baseForm are written whatever their value. Raising it
	// renames every run folder that uses a newer key.
	baseForm = 0
	// form is the latest version: 1 added export.savedmodel, 2
	// data.near_duplicate, data.on_duplicate and report.top_losses, 3
	// export.formats, 4 train.class_weight, train.sampling,
	// train.reduce_lr_on_plateau, data.folds, augment (for the run and
	// per model), evaluate.tta and models' backbone.preprocess, 5 the
	// layer settings conv2d.groups, batch_normalization.center and scale,
	// and global_average_pooling2d.keepdims. (The map
	// forms of train.loss and of an optimizer's learning_rate, label
	// smoothing and schedules, need no version: a config without them
	// writes the scalar it always wrote.)
	form = 5
)

// key is one key of the schema: a leaf value, a section of keys, or a
// value with a form of its own (custom).
type key struct {
	name    string
	req     bool     // must be present with a non-null value
	val     value    // leaf: its type bound to its field of the Config
	keys    []key    // section: its keys
	flow    bool     // section written on one line: {train: 0.7, ...}
	oneOf   []string // a string leaf's allowed values
	check   rule     // a rule on the decoded value, reported at its path
	custom  *custom  // a value of its own form (optimizer, early_stopping, models)
	doc     string   // for the documentation: what it means
	example string   // for the documentation: a value for a required key
	since   int      // the canonical form's version that added the key (see form)
}

// rule checks a decoded value; path is its dotted key path.
type rule func(d *decoder, path string)

// custom is a value that is not a plain leaf or section.
type custom struct {
	decode func(d *decoder, n *yaml.Node, path string)
	node   func() *yaml.Node
	// doc writes the key's documentation (see writeDoc) when its value
	// as written by node does not say enough; nil: "key: value".
	doc func(b *strings.Builder, prefix, indent, comment string)
}

// schema describes c's keys, each pointing at its field of c.
func (c *Config) schema() []key {
	dt, im, tr := &c.Data, &c.Images, &c.Train
	return []key{
		{name: "name", req: true, val: stringType.of(&c.Name), check: isName(&c.Name), example: "vgg16-caltech101", doc: "run name, [A-Za-z0-9._-]+"},
		{name: "seed", val: int64Type.of(&c.Seed), doc: "every random choice derives from it"},
		{name: "runs_dir", val: stringType.of(&c.RunsDir), check: nonEmpty(&c.RunsDir), doc: "where run folders are written"},
		{name: "data", req: true, keys: []key{
			{name: "dir", req: true, val: stringType.of(&dt.Dir), check: nonEmpty(&dt.Dir), example: "data/caltech101/101_ObjectCategories", doc: "a folder of class folders"},
			{name: "download", val: stringType.of((*string)(&dt.Download)), oneOf: downloads, doc: "dataset fetched when dir is missing"},
			{name: "exclude", val: stringsType.of(&dt.Exclude), check: eachNonEmpty(&dt.Exclude), doc: "class folder names to skip"},
			{name: "extensions", val: stringsType.of(&dt.Extensions), check: extensions(&dt.Extensions), doc: "matched case-insensitively; stored in lower case"},
			{name: "split", flow: true, check: split(&dt.Split), doc: "all three; each in [0,1], sum 1; train, test > 0", keys: []key{
				{name: "train", req: true, val: floatType.of(&dt.Split.Train)},
				{name: "val", req: true, val: floatType.of(&dt.Split.Val)},
				{name: "test", req: true, val: floatType.of(&dt.Split.Test)},
			}},
			{name: "stratify", val: boolType.of(&dt.Stratify), doc: "false: shuffle then split by position, as the notebook does"},
			{name: "max_per_class", val: intType.of(&dt.MaxPerClass), check: atLeast(&dt.MaxPerClass, 0), doc: "images per class, 0 = no cap"},
			{name: "on_bad_image", val: stringType.of((*string)(&dt.OnBadImage)), oneOf: badImageActions},
			{name: "near_duplicate", val: floatType.of(&dt.NearDuplicate), check: unitInterval(&dt.NearDuplicate), since: 2, doc: "feature cosine from which two images are near-duplicates, in (0, 1]"},
			{name: "on_duplicate", val: stringType.of((*string)(&dt.OnDuplicate)), oneOf: duplicateActions, since: 2, doc: "a test image duplicating a train/val one"},
			{name: "folds", val: intType.of(&dt.Folds), check: folds(&dt.Folds), since: 4, doc: "k-fold cross-validation on train+val (stratified, seeded): K more trainings per model, mean ± std of validation accuracy and loss; 0 = off"},
		}},
		{name: "images", keys: []key{
			{name: "size", val: sizeType.of(&im.Size), check: size(&im.Size), doc: "[height, width]"},
			{name: "resize", val: stringType.of(&im.Resize), oneOf: resizeMethods, doc: "nearest is Keras' load_img default"},
			{name: "preprocess", val: stringType.of(&im.Preprocess), oneOf: preprocessModes},
			{name: "divide_by_255", val: boolType.of(&im.DivideBy255), doc: "the notebook's extra ÷255 after preprocessing"},
			{name: "workers", val: intType.of(&im.Workers), check: atLeast(&im.Workers, 0), doc: "decode goroutines, 0 = runtime.NumCPU()"},
		}},
		{name: "features", keys: []key{
			{name: "cache_dir", val: stringType.of(&c.Features.CacheDir), check: nonEmpty(&c.Features.CacheDir)},
			{name: "batch_size", val: batchSizeType.of(&c.Features.BatchSize), doc: "images per backbone call; auto: the fastest of 8, 16, 32 that fits memory_budget_mib, measured"},
			{name: "memory_budget_mib", val: intType.of(&c.Features.MemoryBudgetMiB), check: atLeast(&c.Features.MemoryBudgetMiB, 1), doc: "peak RSS an auto batch size may reach while the backbone runs"},
			{name: "precision", val: stringType.of(&c.Features.Precision), oneOf: precisions, doc: "auto: bfloat16 where the CPU has it and a probe measured it faster"},
		}},
		{name: "train", keys: []key{
			{name: "optimizer", doc: "exactly one key naming the optimizer", custom: optimizer(&tr.Optimizer), check: func(d *decoder, path string) {
				if a := tr.Optimizer.Adam; a != nil {
					d.check(adamKeys(a), join(path, "adam"))
				}
			}},
			{name: "loss", custom: loss(&tr.Loss), check: func(d *decoder, path string) {
				d.oneOf(path, tr.Loss.Name, losses)
				if tr.Loss.LabelSmoothing != 0 {
					d.check(lossKeys(&tr.Loss), join(path, tr.Loss.Name))
				}
			}},
			{name: "class_weight", custom: classWeight(&tr.ClassWeight), since: 4, check: classWeightCheck(&tr.ClassWeight)},
			{name: "batch_size", val: intType.of(&tr.BatchSize), check: atLeast(&tr.BatchSize, 1)},
			{name: "epochs", val: intType.of(&tr.Epochs), check: atLeast(&tr.Epochs, 1)},
			{name: "shuffle", val: boolType.of(&tr.Shuffle), doc: "reshuffle training batches each epoch (seeded)"},
			{name: "sampling", val: stringType.of((*string)(&tr.Sampling)), oneOf: samplings, since: 4, doc: "all: every training image once per epoch; balanced: as many, each class equally often (rare classes oversampled, seeded)"},
			{name: "early_stopping", custom: earlyStopping(&tr.EarlyStopping, &dt.Split), check: func(d *decoder, path string) {
				if es := tr.EarlyStopping; es != nil {
					d.check(earlyStoppingKeys(es, &dt.Split), path)
				}
			}},
			{name: "reduce_lr_on_plateau", custom: reduceLROnPlateau(&tr.ReduceLROnPlateau, &dt.Split), since: 4, check: func(d *decoder, path string) {
				if r := tr.ReduceLROnPlateau; r != nil {
					d.check(reduceLROnPlateauKeys(r, &dt.Split), path)
					d.plateauWithSchedule(c, path)
				}
			}},
		}},
		augmentKey(&c.Augment, "for models without their own: seeded views of each training image, features cached; an epoch trains on one per image"),
		{name: "evaluate", keys: []key{{name: "top_k", val: intType.of(&c.Evaluate.TopK), check: atLeast(&c.Evaluate.TopK, 1)},
			{name: "tta", since: 4, doc: "test-time augmentation over centre crops (scales) and flips; average: features = the VGG paper's protocol (train features averaged too)", custom: optional("tta", &c.Evaluate.TTA, ttaKeys, defaultTTA), check: func(d *decoder, path string) {
				if t := c.Evaluate.TTA; t != nil {
					d.check(ttaKeys(t), path)
				}
			}}}},
		{name: "predict", keys: []key{{name: "top_k", val: intType.of(&c.Predict.TopK), check: atLeast(&c.Predict.TopK, 1)}}},
		{name: "export", keys: []key{{name: "savedmodel", val: boolType.of(&c.Export.SavedModel), since: 1, doc: "export each model as a SavedModel into models/<name>/savedmodel/; config.yaml names it only when false"},
			{name: "formats", val: stringsType.of(&c.Export.Formats), check: oneOfEach(&c.Export.Formats, ExportFormats), since: 3, doc: "also convert each SavedModel to these (tflite, onnx) in its folder; config.yaml names it only when set"}}},
		{name: "report", keys: []key{{name: "top_losses", val: intType.of(&c.Report.TopLosses), check: atLeast(&c.Report.TopLosses, 0), since: 2, doc: "misclassified test images shown per model, 0 = none"}}},
		{name: "models", req: true, doc: "at least one, unique names", custom: models(c), check: func(d *decoder, path string) { d.models(c, path) }},
	}
}

// adamKeys are the keys of train.optimizer.adam.
func adamKeys(a *Adam) []key {
	return []key{
		{name: "learning_rate", custom: learningRate(a), check: func(d *decoder, path string) {
			if s := a.Schedule; s.Set() {
				d.check(scheduleKeys(&a.Schedule), join(path, s.Name()))
				return
			}
			d.positive(path, a.LearningRate)
		}},
		{name: "beta_1", val: floatType.of(&a.Beta1), check: fraction(&a.Beta1)},
		{name: "beta_2", val: floatType.of(&a.Beta2), check: fraction(&a.Beta2)},
		{name: "epsilon", val: floatType.of(&a.Epsilon), check: positive(&a.Epsilon)},
	}
}

// earlyStoppingKeys are the keys of train.early_stopping; a val_ monitor
// needs a validation split.
func earlyStoppingKeys(es *EarlyStopping, s *Split) []key {
	return []key{
		{name: "monitor", val: stringType.of(&es.Monitor), oneOf: monitors, check: func(d *decoder, path string) {
			if strings.HasPrefix(es.Monitor, "val_") && s.Val == 0 {
				d.errorf(path, "%s needs validation data, but data.split.val is 0", es.Monitor)
			}
		}},
		{name: "patience", val: intType.of(&es.Patience), check: atLeast(&es.Patience, 0)},
		{name: "min_delta", val: floatType.of(&es.MinDelta), check: func(d *decoder, path string) {
			if !(es.MinDelta >= 0) || math.IsInf(es.MinDelta, 0) {
				d.errorf(path, "want a number >= 0, got %v", es.MinDelta)
			}
		}},
		{name: "restore_best_weights", val: boolType.of(&es.RestoreBestWeights)},
	}
}

// modelKeys are the keys of one item of models.
func modelKeys(m *Model) []key {
	return []key{
		{name: "name", req: true, val: stringType.of(&m.Name), check: isName(&m.Name), doc: "[A-Za-z0-9._-]+"},
		{name: "backbone", doc: "optional: train on features of a frozen backbone", custom: &custom{
			decode: func(d *decoder, n *yaml.Node, path string) {
				b := &Backbone{}
				d.mapping(n, path, d.fields(backboneKeys(b)))
				m.Backbone = b
			},
			node: func() *yaml.Node {
				if m.Backbone == nil {
					return null()
				}
				return nodeOf(backboneKeys(m.Backbone), backboneKeys(&Backbone{}))
			},
			doc: func(b *strings.Builder, prefix, indent, comment string) {
				docLine(b, prefix+"backbone:", comment)
				writeDoc(b, backboneKeys(m.Backbone), indent+"  ", "")
			},
		}, check: func(d *decoder, path string) {
			if m.Backbone != nil {
				d.check(backboneKeys(m.Backbone), path)
			}
		}},
		{name: "image_size", val: optionalSizeType.of(&m.ImageSize), doc: "[height, width] for models without backbone; default images.size"},
		augmentKey(&m.Augment, "the model's own, instead of the run's augment (views: 1 = none)"),
		{name: "fine_tune", doc: "optional, with backbone.fine_tune_from: a second phase training the backbone's layers from there up with the top", custom: &custom{
			decode: func(d *decoder, n *yaml.Node, path string) {
				f := defaultFineTune()
				d.mapping(n, path, d.fields(fineTuneKeys(f)))
				m.FineTune = f
			},
			node: func() *yaml.Node {
				if m.FineTune == nil {
					return null()
				}
				return nodeOf(fineTuneKeys(m.FineTune), fineTuneKeys(defaultFineTune()))
			},
			doc: func(b *strings.Builder, prefix, indent, comment string) {
				docLine(b, prefix+"fine_tune: null", "off; or a map, these defaults for keys left out")
				docLine(b, "", "(batch size, shuffle and early stopping are train's):")
				docLine(b, "", flowText(nodeOf(fineTuneKeys(defaultFineTune()), nil)))
			},
		}, check: func(d *decoder, path string) {
			if m.FineTune != nil {
				d.check(fineTuneKeys(m.FineTune), path)
			}
		}},
		{name: "layers", req: true, doc: "each item has one key naming the layer type", custom: &custom{
			decode: func(d *decoder, n *yaml.Node, path string) { d.layerList(n, path, &m.Layers) },
			node: func() *yaml.Node {
				stack := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
				for _, l := range m.Layers {
					stack.Content = append(stack.Content, mapNode([]kv{{l.Kind(), layerNode(l)}}))
				}
				return stack
			},
			doc: func(b *strings.Builder, prefix, indent, comment string) {
				docLine(b, prefix+"layers:", comment)
				for _, l := range m.Layers {
					docLine(b, indent+"  - "+l.Kind()+": "+flowText(layerNode(l)), "")
				}
			},
		}},
	}
}

// backboneKeys are the keys of a model's backbone.
func backboneKeys(b *Backbone) []key {
	return []key{
		{name: "savedmodel", req: true, val: stringType.of(&b.SavedModel), check: nonEmpty(&b.SavedModel), example: "savedmodels/vgg16"},
		{name: "endpoint", req: true, val: stringType.of(&b.Endpoint), check: nonEmpty(&b.Endpoint), example: "fc2", doc: "where to cut the backbone"},
		{name: "fine_tune_from", val: stringType.of(&b.FineTuneFrom), doc: `with the model's fine_tune: the backbone layer fine-tuning starts from, such as conv_pw_13, or auto (the start of the last block; metadata.json's cuts lists them); "" = frozen`},
		{name: "preprocess", val: stringType.of(&b.Preprocess), check: emptyOrOneOf(&b.Preprocess, preprocessModes), since: 4,
			doc: "caffe, tf, torch or none: how its training preprocessed images; required for a SavedModel without metadata.json, which says it otherwise"},
	}
}

// fineTuneKeys are the keys of a model's fine_tune.
func fineTuneKeys(f *FineTune) []key {
	return []key{
		{name: "epochs", val: intType.of(&f.Epochs), check: atLeast(&f.Epochs, 1)},
		{name: "optimizer", doc: "exactly one key naming the optimizer", custom: optimizer(&f.Optimizer), check: func(d *decoder, path string) {
			if a := f.Optimizer.Adam; a != nil {
				d.check(adamKeys(a), join(path, "adam"))
			}
		}},
	}
}

// augmentKey is an augment key (the run's, or a model's own) at p: null
// or a map whose keys left out take augment.DefaultSpec's values.
func augmentKey(p **augment.Spec, doc string) key {
	return key{name: "augment", since: 4, doc: doc, custom: optional("augment", p, augmentKeys, augment.DefaultSpec), check: func(d *decoder, path string) {
		if s := *p; s != nil {
			d.check(augmentKeys(s), path)
			for _, pr := range s.Check() {
				d.errorf(join(path, pr.Key), "%s", pr.Msg)
			}
		}
	}}
}

// augmentKeys are the keys of an augment map (augment.Spec documents
// them; augment.Spec.Check checks them).
func augmentKeys(s *augment.Spec) []key {
	return []key{
		{name: "views", val: intType.of(&s.Views), doc: "per training image, the image itself included"},
		{name: "horizontal_flip", val: boolType.of(&s.HorizontalFlip), doc: "flip half the views left to right"},
		{name: "random_resized_crop", doc: "torchvision's RandomResizedCrop of the decoded image: area fraction scale, width/height ratio (log-uniform)", custom: optional("random_resized_crop", &s.Crop, cropKeys, augment.DefaultCrop)},
		{name: "rotation", val: floatType.of(&s.Rotation), doc: "degrees: each view turns by up to this much either way"},
		{name: "brightness", val: floatType.of(&s.Brightness), doc: "ColorJitter's: a factor from [1-x, 1+x]; 0 = off"},
		{name: "contrast", val: floatType.of(&s.Contrast), doc: "ColorJitter's"},
		{name: "saturation", val: floatType.of(&s.Saturation), doc: "ColorJitter's"},
	}
}

// cropKeys are the keys of augment.random_resized_crop.
func cropKeys(c *augment.Crop) []key {
	return []key{
		{name: "scale", val: rangeType.of(&c.Scale)},
		{name: "ratio", val: rangeType.of(&c.Ratio)},
	}
}

// ttaKeys are the keys of evaluate.tta.
func ttaKeys(t *TTA) []key {
	return []key{
		{name: "flip", val: boolType.of(&t.Flip), doc: "each scale's mirror image too"},
		{name: "scales", val: floatsType.of(&t.Scales), doc: "centre crops' sides, fractions of the image's in (0, 1]", check: func(d *decoder, path string) {
			if msg := augment.CheckScales(t.Scales); msg != "" {
				d.errorf(path, "%s", msg)
			}
		}},
		{name: "average", val: stringType.of((*string)(&t.Average)), oneOf: ttaAverages},
	}
}

// optional is a key named name at p: null (nil, the default) or a map
// whose keys left out take def's values.
func optional[T any](name string, p **T, keys func(*T) []key, def func() *T) *custom {
	return &custom{
		decode: func(d *decoder, n *yaml.Node, path string) {
			v := def()
			d.mapping(n, path, d.fields(keys(v)))
			*p = v
		},
		node: func() *yaml.Node {
			if *p == nil {
				return null()
			}
			return nodeOf(keys(*p), keys(def()))
		},
		doc: func(b *strings.Builder, prefix, _, comment string) {
			docLine(b, prefix+name+": null", comment)
			docLine(b, "", "off; or a map, these defaults for keys left out: "+flowText(nodeOf(keys(def()), nil)))
		},
	}
}

// optimizer is train.optimizer: a map with one key naming the optimizer.
func optimizer(o *Optimizer) *custom {
	node := func() *yaml.Node {
		if o.Adam == nil {
			return mapNode(nil)
		}
		return mapNode([]kv{{"adam", nodeOf(adamKeys(o.Adam), adamKeys(defaultAdam()))}})
	}
	return &custom{
		decode: func(d *decoder, n *yaml.Node, path string) {
			known := strings.Join(optimizerNames, ", ")
			if n.Kind != yaml.MappingNode {
				d.errorf(path, "want a map with one key naming the optimizer (%s), got %s", known, describe(n))
				return
			}
			if len(n.Content) != 2 {
				d.errorf(path, "want exactly one key naming the optimizer (%s), got %d", known, len(n.Content)/2)
				return
			}
			k, v := n.Content[0], n.Content[1]
			p := join(path, k.Value)
			d.locs[p] = d.where(k, v)
			if k.Value != "adam" {
				d.errorf(p, "unknown optimizer (known: %s)", known)
				return
			}
			a := defaultAdam()
			if !isNull(v) {
				d.mapping(v, p, d.fields(adamKeys(a)))
			}
			*o = Optimizer{Adam: a}
		},
		node: node,
		doc: func(b *strings.Builder, prefix, _, comment string) {
			docLine(b, prefix+"optimizer: "+flowText(node()), comment)
			docLine(b, "", "learning_rate: a number, or one key naming a Keras schedule of the step:")
			scheduleDoc(b)
		},
	}
}

// earlyStopping is train.early_stopping: null (off) or a map whose keys
// left out take Keras' defaults.
func earlyStopping(p **EarlyStopping, s *Split) *custom {
	return &custom{
		decode: func(d *decoder, n *yaml.Node, path string) {
			es := defaultEarlyStopping()
			d.mapping(n, path, d.fields(earlyStoppingKeys(es, s)))
			*p = es
		},
		node: func() *yaml.Node {
			if *p == nil {
				return null()
			}
			return nodeOf(earlyStoppingKeys(*p, s), earlyStoppingKeys(defaultEarlyStopping(), s))
		},
		doc: func(b *strings.Builder, prefix, _, _ string) {
			def := nodeOf(earlyStoppingKeys(defaultEarlyStopping(), s), nil)
			docLine(b, prefix+"early_stopping: null", "off; or a map, Keras' defaults for keys left out:")
			docLine(b, "", flowText(def))
		},
	}
}

// models is the list of models.
func models(c *Config) *custom {
	return &custom{
		decode: func(d *decoder, n *yaml.Node, path string) {
			if n.Kind != yaml.SequenceNode {
				d.errorf(path, "want a list of models, got %s", describe(n))
				return
			}
			out := make([]Model, len(n.Content))
			d.list(n, path, func(i int, item *yaml.Node, p string) {
				d.mapping(item, p, d.fields(modelKeys(&out[i])))
			})
			c.Models = out
		},
		node: func() *yaml.Node {
			list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for i := range c.Models {
				list.Content = append(list.Content, nodeOf(modelKeys(&c.Models[i]), modelKeys(&Model{})))
			}
			return list
		},
		doc: func(b *strings.Builder, prefix, indent, comment string) {
			docLine(b, prefix+"models:", comment)
			example := Model{
				Name:     "vgg16_transfer",
				Backbone: &Backbone{SavedModel: "savedmodels/vgg16", Endpoint: "fc2"},
				Layers: []layers.Layer{
					&layers.Dense{Units: 256, Activation: "relu", UseBias: true},
					&layers.Dropout{Rate: 0.5},
					&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
				},
			}
			writeDoc(b, modelKeys(&example), indent+"    ", indent+"  - ")
		},
	}
}

// fields returns the decoder's view of keys.
func (d *decoder) fields(keys []key) []field {
	out := make([]field, len(keys))
	for i, k := range keys {
		var dec decodeFunc
		switch {
		case k.custom != nil:
			dec = func(n *yaml.Node, path string) { k.custom.decode(d, n, path) }
		case k.keys != nil:
			dec = d.section(d.fields(k.keys)...)
		default:
			dec = func(n *yaml.Node, path string) { k.val.decode(d, n, path) }
		}
		out[i] = field{k.name, k.req, dec}
	}
	return out
}

// check runs the rules of keys (allowed values, then the key's own rule)
// after decoding, path being where keys sit.
func (d *decoder) check(keys []key, path string) {
	for _, k := range keys {
		p := join(path, k.name)
		if k.oneOf != nil {
			d.oneOf(p, k.val.node().Value, k.oneOf)
		}
		if k.keys != nil {
			d.check(k.keys, p)
		}
		if k.check != nil {
			k.check(d, p)
		}
	}
}

// nodeOf returns keys in the canonical form: the YAML map Marshal writes.
// defs are the same keys over their defaults (nil: none known): a key
// newer than baseForm is left out while it writes as its default, and a
// section whose keys are all left out goes too.
func nodeOf(keys, defs []key) *yaml.Node {
	entries := make([]kv, 0, len(keys))
	for i, k := range keys {
		var def *key
		if defs != nil {
			def = &defs[i]
		}
		n := k.node(def)
		if n == nil {
			continue
		}
		if k.since > baseForm && def != nil {
			if dn := def.node(def); dn != nil && sameNode(n, dn) {
				continue
			}
		}
		entries = append(entries, kv{k.name, n})
	}
	return mapNode(entries)
}

// node writes k's value, def being k over its defaults (or nil); nil for
// a section whose keys were all left out.
func (k key) node(def *key) *yaml.Node {
	switch {
	case k.custom != nil:
		return k.custom.node()
	case k.keys != nil:
		var defs []key
		if def != nil {
			defs = def.keys
		}
		n := nodeOf(k.keys, defs)
		if len(n.Content) == 0 && len(k.keys) > 0 {
			return nil
		}
		if k.flow {
			n.Style = yaml.FlowStyle
		}
		return n
	}
	return k.val.node()
}

// Rules on leaf values.

func isName(p *string) rule   { return func(d *decoder, path string) { d.name(path, *p) } }
func nonEmpty(p *string) rule { return func(d *decoder, path string) { d.nonEmpty(path, *p) } }
func size(p *[2]int) rule     { return func(d *decoder, path string) { d.size(path, *p) } }
func positive(p *float64) rule {
	return func(d *decoder, path string) { d.positive(path, *p) }
}
func fraction(p *float64) rule {
	return func(d *decoder, path string) { d.fraction(path, *p) }
}
func unitInterval(p *float64) rule {
	return func(d *decoder, path string) {
		if !(*p > 0 && *p <= 1) {
			d.errorf(path, "want a number in (0, 1], got %v", *p)
		}
	}
}
func folds(p *int) rule {
	return func(d *decoder, path string) {
		if *p < 0 || *p == 1 {
			d.errorf(path, "want 0 (no cross-validation) or at least 2 folds, got %d", *p)
		}
	}
}

func atLeast(p *int, min int) rule {
	return func(d *decoder, path string) { d.atLeast(path, *p, min) }
}

func eachNonEmpty(p *[]string) rule {
	return func(d *decoder, path string) {
		for i, s := range *p {
			d.nonEmpty(fmt.Sprintf("%s.%d", path, i), s)
		}
	}
}

// emptyOrOneOf accepts "" (the key left out) or one of allowed.
func emptyOrOneOf(p *string, allowed []string) rule {
	return func(d *decoder, path string) {
		if *p != "" && !slices.Contains(allowed, *p) {
			d.errorf(path, "want one of %s, got %q", strings.Join(allowed, ", "), *p)
		}
	}
}

func oneOfEach(p *[]string, allowed []string) rule {
	return func(d *decoder, path string) {
		for i, s := range *p {
			if !slices.Contains(allowed, s) {
				d.errorf(fmt.Sprintf("%s.%d", path, i), "want one of %s, got %q", strings.Join(allowed, ", "), s)
			}
		}
	}
}

func extensions(p *[]string) rule {
	return func(d *decoder, path string) {
		if len(*p) == 0 {
			d.errorf(path, "want at least one extension")
		}
		for i, e := range *p {
			if len(e) < 2 || e[0] != '.' {
				d.errorf(fmt.Sprintf("%s.%d", path, i), "want an extension starting with \".\", such as .jpg, got %q", e)
			}
		}
	}
}

func split(s *Split) rule {
	return func(d *decoder, path string) { d.split(path, *s) }
}

// schemaDoc is the schema as doc.go shows it: every key with its default
// (an example for required keys) and what it means (a test keeps doc.go
// equal to it).
func schemaDoc() string {
	var b strings.Builder
	writeDoc(&b, Default().schema(), "", "")
	return b.String()
}

// writeDoc writes keys at indent; the first line starts with first instead
// when given (a list item's "- ").
func writeDoc(b *strings.Builder, keys []key, indent, first string) {
	for i, k := range keys {
		prefix := indent
		if i == 0 && first != "" {
			prefix = first
		}
		var notes []string
		if k.req {
			notes = append(notes, "required")
		}
		if k.doc != "" {
			notes = append(notes, k.doc)
		}
		if k.oneOf != nil {
			notes = append(notes, "one of "+quoteAll(k.oneOf))
		}
		comment := strings.Join(notes, "; ")
		switch {
		case k.custom != nil && k.custom.doc != nil:
			k.custom.doc(b, prefix, indent, comment)
		case k.custom != nil:
			docLine(b, prefix+k.name+": "+flowText(k.custom.node()), comment)
		case k.keys != nil && !k.flow:
			docLine(b, prefix+k.name+":", comment)
			writeDoc(b, k.keys, indent+"  ", "")
		case k.keys != nil:
			docLine(b, prefix+k.name+": "+flowText(nodeOf(k.keys, nil)), comment)
		case k.req && k.example != "":
			docLine(b, prefix+k.name+": "+k.example, comment)
		default:
			docLine(b, prefix+k.name+": "+k.val.docText(), comment)
		}
	}
}

// docLine writes text with its comment aligned at column 25.
func docLine(b *strings.Builder, text, comment string) {
	if comment == "" {
		b.WriteString(strings.TrimRight(text, " ") + "\n")
		return
	}
	fmt.Fprintf(b, "%-24s # %s\n", text, comment)
}

// flowText is n as one line of YAML.
func flowText(n *yaml.Node) string {
	flow := *n
	if n.Kind != yaml.ScalarNode {
		flow.Style |= yaml.FlowStyle
	}
	out, err := yaml.Marshal(&flow)
	if err != nil {
		return n.Value
	}
	return strings.TrimSuffix(string(out), "\n")
}

// quoteAll lists allowed values, the empty string as "".
func quoteAll(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = v
		if v == "" {
			q[i] = `""`
		}
	}
	return strings.Join(q, ", ")
}
