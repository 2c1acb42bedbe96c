package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/schedule"
)

// This file continues schema.go with the values of train that take more
// than one form: the loss (a name, or a map naming it with its settings),
// an optimizer's learning rate (a number, or a map naming a Keras
// schedule), class weights (balanced, or a map by class name) and
// reduce_lr_on_plateau (null, or Keras' callback settings).

// loss is train.loss: a loss name, or a map with one key naming the loss
// and its settings.
func loss(l *Loss) *custom {
	return &custom{
		decode: func(d *decoder, n *yaml.Node, path string) {
			if n.Kind == yaml.ScalarNode {
				var name string
				stringType.of(&name).decode(d, n, path)
				*l = Loss{Name: name} // checked with the rules (schema.go)
				return
			}
			known := strings.Join(losses, ", ")
			if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
				d.errorf(path, "want a loss name (%s) or a map with one key naming it, got %s", known, describe(n))
				return
			}
			k, v := n.Content[0], n.Content[1]
			p := join(path, k.Value)
			d.locs[p] = d.where(k, v)
			if !slices.Contains(losses, k.Value) {
				d.errorf(p, "unknown loss (known: %s)", known)
				return
			}
			nl := Loss{Name: k.Value}
			if !isNull(v) {
				d.mapping(v, p, d.fields(lossKeys(&nl)))
			}
			*l = nl
		},
		node: func() *yaml.Node {
			if l.LabelSmoothing == 0 {
				return str(l.Name)
			}
			return mapNode([]kv{{l.Name, nodeOf(lossKeys(l), nil)}})
		},
		doc: func(b *strings.Builder, prefix, _, _ string) {
			docLine(b, prefix+"loss: "+str(Default().Train.Loss.Name).Value, "one of "+quoteAll(losses)+"; or a map naming it with its settings:")
			docLine(b, "", "{categorical_crossentropy: {label_smoothing: 0.0}} (Keras': targets y(1-s) + s/classes, s in [0, 1))")
		},
	}
}

// lossKeys are the settings of a loss.
func lossKeys(l *Loss) []key {
	return []key{{name: "label_smoothing", val: floatType.of(&l.LabelSmoothing), check: fraction(&l.LabelSmoothing)}}
}

// classWeight is train.class_weight: null, balanced, or a map of class
// name to weight.
func classWeight(w *ClassWeight) *custom {
	return &custom{
		decode: func(d *decoder, n *yaml.Node, path string) {
			switch {
			case isWord(n, "balanced"):
				*w = ClassWeight{Balanced: true}
				return
			case n.Kind != yaml.MappingNode:
				d.errorf(path, "want balanced or a map of class name to weight, got %s", describe(n))
				return
			case len(n.Content) == 0:
				d.errorf(path, "want at least one class name and its weight (or null: no weights)")
				return
			}
			by := make(map[string]float64, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Kind != yaml.ScalarNode {
					d.errorAt(d.where(k, v), path, "want a class name, got %s", describe(k))
					continue
				}
				p := join(path, k.Value)
				if _, dup := by[k.Value]; dup {
					d.errorf(p, "duplicate class (first at line %d)", d.at(p).line)
					continue
				}
				d.locs[p] = d.where(k, v)
				var x float64
				floatType.of(&x).decode(d, v, p)
				by[k.Value] = x
			}
			*w = ClassWeight{ByClass: by}
		},
		node: func() *yaml.Node {
			switch {
			case w.Balanced:
				return str("balanced")
			case w.ByClass == nil:
				return null()
			}
			names := make([]string, 0, len(w.ByClass))
			for c := range w.ByClass {
				names = append(names, c)
			}
			slices.Sort(names)
			entries := make([]kv, len(names))
			for i, c := range names {
				entries[i] = kv{c, float(w.ByClass[c])}
			}
			n := mapNode(entries)
			n.Style = yaml.FlowStyle
			return n
		},
		doc: func(b *strings.Builder, prefix, _, _ string) {
			docLine(b, prefix+"class_weight: null", "each training image's loss weighs 1; balanced: its class's n_images / (n_classes × count)")
			docLine(b, "", "(Keras' and scikit-learn's); or {class name: weight, ...}, classes left out weigh 1")
		},
	}
}

// classWeightCheck checks that the weights are numbers >= 0.
func classWeightCheck(w *ClassWeight) rule {
	return func(d *decoder, path string) {
		for c, x := range w.ByClass {
			if !(x >= 0) || math.IsInf(x, 0) {
				d.errorf(join(path, c), "want a weight >= 0, got %v", x)
			}
		}
	}
}

// ClassWeights returns the weight of each class of the training split:
// classes are the dataset's class names in label order, counts their
// training images. With Balanced, class i weighs n / (len(classes) ×
// counts[i]) (1 for a class with no training image, which no loss term
// has); with ByClass, its weight or 1. nil when no weights are set. A
// class name ByClass gives that is not a class of the data is an error in
// the config's usual form.
func (c *Config) ClassWeights(classes []string, counts []int) ([]float64, error) {
	w := c.Train.ClassWeight
	if !w.Set() {
		return nil, nil
	}
	out := make([]float64, len(classes))
	n := 0
	for _, k := range counts {
		n += k
	}
	for i := range out {
		out[i] = 1
		if w.Balanced && counts[i] > 0 {
			out[i] = float64(n) / (float64(len(classes)) * float64(counts[i]))
		}
	}
	var unknown []string
	for name, x := range w.ByClass {
		i := slices.Index(classes, name)
		if i < 0 {
			unknown = append(unknown, name)
			continue
		}
		out[i] = x
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		var errs []error
		for _, name := range unknown {
			errs = append(errs, c.errorAt([]string{"train", "class_weight", name},
				"no class %q in %s (its classes: %s)", name, c.Data.Dir, strings.Join(classes, ", ")))
		}
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// errorAt formats a problem found after parsing (against the data) in
// the config's usual form: file:line: dotted.path: message, the line
// looked up in the file the config came from (just the file when the key
// is not there, as when an override gave it).
func (c *Config) errorAt(keys []string, format string, args ...any) error {
	where := c.Path
	if line := lineOf(c.Path, keys); line > 0 {
		where = fmt.Sprintf("%s:%d", c.Path, line)
	}
	return fmt.Errorf("%s: %s: %s", where, strings.Join(keys, "."), fmt.Sprintf(format, args...))
}

// lineOf is the line of the map key reached by keys in the YAML file at
// path, or 0.
func lineOf(path string, keys []string) int {
	data, err := fsutil.ReadRegular(path, MaxFileSize)
	if err != nil {
		return 0
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n, line := doc.Content[0], 0
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			return 0
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return 0
		}
	}
	return line
}

// learningRate is an optimizer's learning_rate: a number, or a map with
// one key naming a Keras schedule of the step.
func learningRate(a *Adam) *custom {
	return &custom{
		decode: func(d *decoder, n *yaml.Node, path string) {
			if n.Kind != yaml.MappingNode {
				floatType.of(&a.LearningRate).decode(d, n, path)
				a.Schedule = schedule.Schedule{}
				return
			}
			known := strings.Join(schedule.Names, ", ")
			if len(n.Content) != 2 {
				d.errorf(path, "want a number or one key naming a schedule (%s), got %d keys", known, len(n.Content)/2)
				return
			}
			k, v := n.Content[0], n.Content[1]
			p := join(path, k.Value)
			d.locs[p] = d.where(k, v)
			// The zero values are Keras' defaults of the optional keys
			// (alpha 0, no warmup, staircase false); the required ones
			// are checked present.
			var s schedule.Schedule
			switch k.Value {
			case "cosine_decay":
				s.CosineDecay = &schedule.CosineDecay{}
			case "exponential_decay":
				s.ExponentialDecay = &schedule.ExponentialDecay{}
			case "piecewise_constant_decay":
				s.PiecewiseConstantDecay = &schedule.PiecewiseConstantDecay{}
			default:
				d.errorf(p, "unknown schedule (known: %s)", known)
				return
			}
			if isNull(v) {
				v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line}
			}
			d.mapping(v, p, d.fields(scheduleKeys(&s)))
			a.Schedule = s
		},
		node: func() *yaml.Node {
			if s := a.Schedule; s.Set() {
				keys := scheduleKeys(&a.Schedule)
				m := nodeOf(keys, nil)
				m.Style = yaml.FlowStyle
				return mapNode([]kv{{s.Name(), m}})
			}
			return float(a.LearningRate)
		},
	}
}

// scheduleKeys are the keys of the schedule s names, as Keras names its
// arguments; the required ones are Keras' required arguments.
func scheduleKeys(s *schedule.Schedule) []key {
	switch {
	case s.CosineDecay != nil:
		c := s.CosineDecay
		return []key{
			{name: "initial_learning_rate", req: true, val: floatType.of(&c.InitialLearningRate), check: func(d *decoder, path string) {
				// A warmup may start from 0, as in Keras' own example.
				if x := c.InitialLearningRate; !(x > 0 || x == 0 && c.WarmupTarget != 0) || math.IsInf(x, 0) {
					d.errorf(path, "want a number > 0 (>= 0 with a warmup_target), got %v", x)
				}
			}},
			{name: "decay_steps", req: true, val: intType.of(&c.DecaySteps), check: atLeast(&c.DecaySteps, 1)},
			{name: "alpha", val: floatType.of(&c.Alpha), check: func(d *decoder, path string) {
				if !(c.Alpha >= 0 && c.Alpha <= 1) {
					d.errorf(path, "want a number in [0, 1], got %v", c.Alpha)
				}
			}},
			{name: "warmup_target", val: optionalFloatType.of(&c.WarmupTarget), check: func(d *decoder, path string) {
				if c.WarmupTarget != 0 {
					d.positive(path, c.WarmupTarget)
				}
			}},
			{name: "warmup_steps", val: intType.of(&c.WarmupSteps), check: func(d *decoder, path string) {
				d.atLeast(path, c.WarmupSteps, 0)
				if c.WarmupSteps > 0 && c.WarmupTarget == 0 {
					d.errorf(path, "%d warmup steps need a warmup_target (the rate the warmup rises to)", c.WarmupSteps)
				}
			}},
		}
	case s.ExponentialDecay != nil:
		e := s.ExponentialDecay
		return []key{
			{name: "initial_learning_rate", req: true, val: floatType.of(&e.InitialLearningRate), check: positive(&e.InitialLearningRate)},
			{name: "decay_steps", req: true, val: intType.of(&e.DecaySteps), check: atLeast(&e.DecaySteps, 1)},
			{name: "decay_rate", req: true, val: floatType.of(&e.DecayRate), check: positive(&e.DecayRate)},
			{name: "staircase", val: boolType.of(&e.Staircase), doc: "true: step decay"},
		}
	case s.PiecewiseConstantDecay != nil:
		p := s.PiecewiseConstantDecay
		return []key{
			{name: "boundaries", req: true, val: intsType.of(&p.Boundaries), check: func(d *decoder, path string) {
				if len(p.Boundaries) == 0 {
					d.errorf(path, "want at least one step")
				}
				for i, b := range p.Boundaries {
					if b < 0 || (i > 0 && b <= p.Boundaries[i-1]) {
						d.errorf(path, "want steps >= 0 in increasing order, got %v", p.Boundaries)
						break
					}
				}
			}},
			{name: "values", req: true, val: floatsType.of(&p.Values), check: func(d *decoder, path string) {
				if len(p.Values) != len(p.Boundaries)+1 {
					d.errorf(path, "want one more value than boundaries (%d), got %d", len(p.Boundaries)+1, len(p.Values))
				}
				for i := range p.Values {
					d.positive(fmt.Sprintf("%s.%d", path, i), p.Values[i])
				}
			}},
		}
	}
	return nil
}

// scheduleDoc lists the schedules with their keys, required ones named.
func scheduleDoc(b *strings.Builder) {
	for _, s := range []schedule.Schedule{
		{CosineDecay: &schedule.CosineDecay{}},
		{ExponentialDecay: &schedule.ExponentialDecay{}},
		{PiecewiseConstantDecay: &schedule.PiecewiseConstantDecay{}},
	} {
		var parts []string
		for _, k := range scheduleKeys(&s) {
			v := k.val.docText()
			if k.req {
				v = "(required)"
			}
			parts = append(parts, k.name+": "+v)
		}
		docLine(b, "", "  "+s.Name()+": {"+strings.Join(parts, ", ")+"}")
	}
}

// reduceLROnPlateau is train.reduce_lr_on_plateau: null (off) or a map
// whose keys left out take Keras' defaults.
func reduceLROnPlateau(p **schedule.ReduceLROnPlateau, s *Split) *custom {
	return &custom{
		decode: func(d *decoder, n *yaml.Node, path string) {
			r := defaultReduceLROnPlateau()
			d.mapping(n, path, d.fields(reduceLROnPlateauKeys(r, s)))
			*p = r
		},
		node: func() *yaml.Node {
			if *p == nil {
				return null()
			}
			return nodeOf(reduceLROnPlateauKeys(*p, s), nil)
		},
		doc: func(b *strings.Builder, prefix, _, _ string) {
			def := nodeOf(reduceLROnPlateauKeys(defaultReduceLROnPlateau(), s), nil)
			docLine(b, prefix+"reduce_lr_on_plateau: null", "off; or a map, Keras' defaults for keys left out (both phases;")
			docLine(b, "", "not with a schedule): "+flowText(def))
		},
	}
}

// reduceLROnPlateauKeys are the keys of train.reduce_lr_on_plateau.
func reduceLROnPlateauKeys(r *schedule.ReduceLROnPlateau, s *Split) []key {
	nonNegative := func(p *float64) rule {
		return func(d *decoder, path string) {
			if !(*p >= 0) || math.IsInf(*p, 0) {
				d.errorf(path, "want a number >= 0, got %v", *p)
			}
		}
	}
	return []key{
		{name: "monitor", val: stringType.of(&r.Monitor), oneOf: monitors, check: func(d *decoder, path string) {
			if strings.HasPrefix(r.Monitor, "val_") && s.Val == 0 {
				d.errorf(path, "%s needs validation data, but data.split.val is 0", r.Monitor)
			}
		}},
		{name: "factor", val: floatType.of(&r.Factor), check: func(d *decoder, path string) {
			if !(r.Factor > 0 && r.Factor < 1) {
				d.errorf(path, "want a number in (0, 1), got %v", r.Factor)
			}
		}},
		{name: "patience", val: intType.of(&r.Patience), check: atLeast(&r.Patience, 0)},
		{name: "min_delta", val: floatType.of(&r.MinDelta), check: nonNegative(&r.MinDelta)},
		{name: "cooldown", val: intType.of(&r.Cooldown), check: atLeast(&r.Cooldown, 0)},
		{name: "min_lr", val: floatType.of(&r.MinLR), check: nonNegative(&r.MinLR)},
	}
}

// plateauWithSchedule refuses reduce_lr_on_plateau with a scheduled
// learning rate, as Keras does (a schedule's rate cannot be set).
func (d *decoder) plateauWithSchedule(c *Config, path string) {
	if c.Train.Optimizer.Adam != nil && c.Train.Optimizer.Adam.Schedule.Set() {
		d.errorf(path, "cannot lower a scheduled learning rate (Keras refuses too); drop it or the schedule of train.optimizer.adam.learning_rate")
	}
	for i, m := range c.Models {
		if m.FineTune != nil && m.FineTune.Optimizer.Adam != nil && m.FineTune.Optimizer.Adam.Schedule.Set() {
			d.errorf(path, "cannot lower a scheduled learning rate (Keras refuses too); drop it or the schedule of models.%d.fine_tune.optimizer.adam.learning_rate", i)
		}
	}
}
