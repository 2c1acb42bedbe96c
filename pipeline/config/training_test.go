package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/schedule"
)

// The training recipe's keys: each form decodes to what Keras would be
// given, round-trips through Marshal, and a config that leaves them out
// (or sets them to their defaults) marshals as before, so its run folder
// keeps its name.
func TestTrainingRecipeKeys(t *testing.T) {
	base, err := Parse("m.yaml", []byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := base.Marshal()
	for _, set := range []string{"train.class_weight=null", "train.sampling=all", "train.reduce_lr_on_plateau=null",
		"train.loss=categorical_crossentropy", "train.loss={categorical_crossentropy: {label_smoothing: 0}}",
		"train.optimizer.adam.learning_rate=0.001"} {
		c, err := Parse("m.yaml", []byte(minimal), []string{set})
		if err != nil {
			t.Fatalf("-set %s: %v", set, err)
		}
		if out, _ := c.Marshal(); string(out) != string(want) {
			t.Errorf("-set %s (the default) changes the marshalled config:\n%s", set, out)
		}
	}

	for _, tc := range []struct {
		set   []string
		check func(c *Config) bool
		line  string // in the marshalled config
	}{
		{[]string{"train.class_weight=balanced"}, func(c *Config) bool { return c.Train.ClassWeight.Balanced }, "  class_weight: balanced\n"},
		{[]string{"train.class_weight={cat: 2, dog: 0.5}"}, func(c *Config) bool {
			return reflect.DeepEqual(c.Train.ClassWeight.ByClass, map[string]float64{"cat": 2, "dog": 0.5})
		}, "  class_weight: {cat: 2.0, dog: 0.5}\n"},
		{[]string{"train.sampling=balanced"}, func(c *Config) bool { return c.Train.Sampling == SampleBalanced }, "  sampling: balanced\n"},
		{[]string{"train.loss={categorical_crossentropy: {label_smoothing: 0.1}}"}, func(c *Config) bool {
			return c.Train.Loss == Loss{Name: "categorical_crossentropy", LabelSmoothing: 0.1}
		}, "    categorical_crossentropy:\n      label_smoothing: 0.1\n"},
		{[]string{"train.reduce_lr_on_plateau={patience: 2}"}, func(c *Config) bool {
			return *c.Train.ReduceLROnPlateau == schedule.ReduceLROnPlateau{Monitor: "val_loss", Factor: 0.1, Patience: 2, MinDelta: 1e-4}
		}, "    patience: 2\n"},
		{[]string{"train.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: 0, decay_steps: 100, warmup_target: 0.01, warmup_steps: 10}}",
			"train.optimizer.adam.learning_rate.cosine_decay.initial_learning_rate=1e-4"}, func(c *Config) bool {
			return *c.Train.Optimizer.Adam.Schedule.CosineDecay == schedule.CosineDecay{InitialLearningRate: 1e-4, DecaySteps: 100, WarmupTarget: 0.01, WarmupSteps: 10}
		}, "cosine_decay: {initial_learning_rate: 0.0001, decay_steps: 100, alpha: 0.0, warmup_target: 0.01, warmup_steps: 10}"},
		{[]string{"train.optimizer.adam.learning_rate={exponential_decay: {initial_learning_rate: 0.01, decay_steps: 50, decay_rate: 0.5, staircase: true}}"}, func(c *Config) bool {
			return *c.Train.Optimizer.Adam.Schedule.ExponentialDecay == schedule.ExponentialDecay{InitialLearningRate: 0.01, DecaySteps: 50, DecayRate: 0.5, Staircase: true}
		}, "exponential_decay: {initial_learning_rate: 0.01, decay_steps: 50, decay_rate: 0.5, staircase: true}"},
		{[]string{"train.optimizer.adam.learning_rate={piecewise_constant_decay: {boundaries: [10, 20], values: [0.1, 0.01, 0.001]}}"}, func(c *Config) bool {
			p := c.Train.Optimizer.Adam.Schedule.PiecewiseConstantDecay
			return slices.Equal(p.Boundaries, []int{10, 20}) && slices.Equal(p.Values, []float64{0.1, 0.01, 0.001})
		}, "piecewise_constant_decay: {boundaries: [10, 20], values: [0.1, 0.01, 0.001]}"},
	} {
		c, err := Parse("m.yaml", []byte(minimal), tc.set)
		if err != nil {
			t.Errorf("-set %s: %v", tc.set, err)
			continue
		}
		if !tc.check(c) {
			t.Errorf("-set %s: decoded as %+v", tc.set, c.Train)
		}
		out, _ := c.Marshal()
		if !strings.Contains(string(out), tc.line) {
			t.Errorf("-set %s: marshalled config lacks %q:\n%s", tc.set, tc.line, out)
		}
		back, err := Parse("m.yaml", out, nil)
		if err != nil {
			t.Fatalf("-set %s: %v\n%s", tc.set, err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("-set %s: changed through Marshal and Parse:\n%s", tc.set, out)
		}
	}
}

// Bad values of the recipe's keys are errors at their path, in the
// config's usual form.
func TestTrainingRecipeErrors(t *testing.T) {
	for _, tc := range []struct{ set, want string }{
		{"train.loss={categorical_crossentropy: {label_smoothing: -0.1}}", "train.loss.categorical_crossentropy.label_smoothing: want a number in [0, 1), got -0.1"},
		{"train.loss={categorical_crossentropy: {label_smoothing: 1}}", "train.loss.categorical_crossentropy.label_smoothing: want a number in [0, 1), got 1"},
		{"train.loss={categorical_crossentropy: {smoothing: 0.1}}", "train.loss.categorical_crossentropy.smoothing: unknown key (known: label_smoothing)"},
		{"train.loss={mse: {}}", "train.loss.mse: unknown loss (known: categorical_crossentropy)"},
		{"train.loss=mse", `train.loss: want one of categorical_crossentropy; got "mse"`},
		{"train.class_weight=balance", `train.class_weight: want balanced or a map of class name to weight, got "balance"`},
		{"train.class_weight={cat: -1}", "train.class_weight.cat: want a weight >= 0, got -1"},
		{"train.class_weight={cat: much}", `train.class_weight.cat: want a number, got "much"`},
		{"train.class_weight={}", "train.class_weight: want at least one class name and its weight"},
		{"train.sampling=oversample", `train.sampling: want one of all, balanced; got "oversample"`},
		{"train.optimizer.adam.learning_rate={cosine: {decay_steps: 10}}", "train.optimizer.adam.learning_rate.cosine: unknown schedule (known: cosine_decay, exponential_decay, piecewise_constant_decay)"},
		{"train.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: 0.1}}", "train.optimizer.adam.learning_rate.cosine_decay.decay_steps: required"},
		{"train.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: 0.1, decay_steps: 0}}", "train.optimizer.adam.learning_rate.cosine_decay.decay_steps: want an integer >= 1, got 0"},
		{"train.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: 0, decay_steps: 5}}", "train.optimizer.adam.learning_rate.cosine_decay.initial_learning_rate: want a number > 0 (>= 0 with a warmup_target), got 0"},
		{"train.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: -0.1, decay_steps: 5, warmup_target: 0.1}}", "train.optimizer.adam.learning_rate.cosine_decay.initial_learning_rate: want a number > 0 (>= 0 with a warmup_target), got -0.1"},
		{"train.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: 0.1, decay_steps: 5, alpha: 2}}", "train.optimizer.adam.learning_rate.cosine_decay.alpha: want a number in [0, 1], got 2"},
		{"train.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: 0.1, decay_steps: 5, warmup_steps: 3}}", "train.optimizer.adam.learning_rate.cosine_decay.warmup_steps: 3 warmup steps need a warmup_target"},
		{"train.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: 0.1, decay_steps: 5, warmup_target: -1, warmup_steps: 3}}", "train.optimizer.adam.learning_rate.cosine_decay.warmup_target: want a number > 0, got -1"},
		{"train.optimizer.adam.learning_rate={exponential_decay: {initial_learning_rate: 0.1, decay_steps: 5, decay_rate: 0}}", "train.optimizer.adam.learning_rate.exponential_decay.decay_rate: want a number > 0, got 0"},
		{"train.optimizer.adam.learning_rate={piecewise_constant_decay: {boundaries: [10, 5], values: [1, 2, 3]}}", "train.optimizer.adam.learning_rate.piecewise_constant_decay.boundaries: want steps >= 0 in increasing order, got [10 5]"},
		{"train.optimizer.adam.learning_rate={piecewise_constant_decay: {boundaries: [10], values: [1]}}", "train.optimizer.adam.learning_rate.piecewise_constant_decay.values: want one more value than boundaries (2), got 1"},
		{"train.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: 0.1, decay_steps: 5}, exponential_decay: {}}", "train.optimizer.adam.learning_rate: want a number or one key naming a schedule"},
		{"train.reduce_lr_on_plateau={factor: 1}", "train.reduce_lr_on_plateau.factor: want a number in (0, 1), got 1"},
		{"train.reduce_lr_on_plateau={patience: -1}", "train.reduce_lr_on_plateau.patience: want an integer >= 0, got -1"},
		{"train.reduce_lr_on_plateau={min_lr: -1}", "train.reduce_lr_on_plateau.min_lr: want a number >= 0, got -1"},
		{"train.reduce_lr_on_plateau={monitor: val_auc}", `train.reduce_lr_on_plateau.monitor: want one of loss, accuracy, val_loss, val_accuracy; got "val_auc"`},
	} {
		_, err := Parse("m.yaml", []byte(minimal), []string{tc.set})
		if want := "-set " + tc.set + ": " + tc.want; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %v\nwant it to start %q", err, want)
		}
	}
	_, err := Parse("m.yaml", []byte(minimal+"train:\n  optimizer: {adam: {learning_rate: {exponential_decay: {initial_learning_rate: 0.1, decay_steps: 5, decay_rate: 0.5}}}}\n  reduce_lr_on_plateau: {}\n"), nil)
	if want := "m.yaml:10: train.reduce_lr_on_plateau: cannot lower a scheduled learning rate"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("plateau with a schedule: %v\nwant it to start %q", err, want)
	}
	_, err = Parse("m.yaml", []byte("name: t\ndata: {dir: d, split: {train: 0.8, val: 0, test: 0.2}}\ntrain: {reduce_lr_on_plateau: {}}\n"+
		"models: [{name: m, layers: [{dense: {units: classes, activation: softmax}}]}]\n"), nil)
	if want := "m.yaml:3: train.reduce_lr_on_plateau.monitor: val_loss needs validation data, but data.split.val is 0"; err == nil || err.Error() != want {
		t.Errorf("plateau on val_loss without val split: %v\nwant %q", err, want)
	}
}

// ClassWeights: balanced is n / (classes × count), Keras' and
// scikit-learn's formula; a map weighs the classes it names; a name that
// is not a class of the data is an error at its line of the file.
func TestClassWeights(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.yaml")
	src := minimal + "train:\n  class_weight:\n    cat: 3\n    cow: 2\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.ClassWeights([]string{"cat", "cow", "dog"}, []int{1, 2, 3})
	if err != nil || !slices.Equal(w, []float64{3, 2, 1}) {
		t.Errorf("weights %v (%v), want [3 2 1]", w, err)
	}
	_, err = c.ClassWeights([]string{"cat", "dog"}, []int{1, 2})
	if want := path + `:11: train.class_weight.cow: no class "cow" in d (its classes: cat, dog)`; err == nil || err.Error() != want {
		t.Errorf("unknown class: %v\nwant %s", err, want)
	}
	c, err = Parse("b.yaml", []byte(minimal), []string{"train.class_weight=balanced"})
	if err != nil {
		t.Fatal(err)
	}
	w, _ = c.ClassWeights([]string{"a", "b", "c"}, []int{10, 5, 15})
	if want := []float64{30.0 / 30, 30.0 / 15, 30.0 / 45}; !slices.Equal(w, want) {
		t.Errorf("balanced weights %v, want %v", w, want)
	}
	if w, err := base(t).ClassWeights([]string{"a", "b"}, []int{1, 2}); w != nil || err != nil {
		t.Errorf("no class_weight gives %v, %v", w, err)
	}
}

func base(t *testing.T) *Config {
	c, err := Parse("m.yaml", []byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
