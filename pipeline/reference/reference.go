// Package reference writes what defines a training run (layers, initial
// weights, inputs, labels, batch order) as .npy files and JSON for
// scripts/keras_reference.py, which trains the same network in Keras, and
// runs that script. The parity tests and the benchmark use it.
package reference

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"codeberg.org/sbinet/npyio"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/schedule"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// Run is one training setup to hand to Keras.
type Run struct {
	Spec      nn.Spec
	Init      map[string][]float32 // initial weights by checkpoint name (slots ignored)
	Train     train.Data
	Val       train.Data // may be nil
	Orders    [][]int    // example order per epoch
	BatchSize int
	// Schedule, when set, is Adam's learning rate (Spec.Adam's is then
	// not used). Spec's label smoothing and class weights go too.
	Schedule schedule.Schedule
}

// layerJSON is one layer for the script: its Keras class, name and
// constructor arguments, so the script needs no code per kind.
type layerJSON struct {
	Class  string         `json:"class"`
	Name   string         `json:"name"`
	Config map[string]any `json:"config"`
	// Inputs are the indices of the layers it takes (-1: the model's
	// input), for a graph; omitted in a stack.
	Inputs []int `json:"inputs,omitempty"`
	// Weights are its weights' names in Keras' order, as init/ names
	// their files.
	Weights []string `json:"weights"`
}

// Write lays out r in dir (flat arrays; see the script for the layout) for scripts/keras_reference.py.
func Write(dir string, r Run) error {
	var stack []layerJSON
	names := r.Spec.LayerNames()
	shapes, bad, err := layers.InferGraph(r.Spec.Layers, r.Spec.Inputs, r.Spec.Input, r.Spec.Classes)
	if err != nil {
		return fmt.Errorf("reference: layer %d: %w", bad, err)
	}
	for i, l := range r.Spec.Layers {
		lj := layerJSON{Class: l.KerasClass(), Name: names[i], Config: layers.KerasConfig(l, r.Spec.Classes), Weights: []string{}}
		if r.Spec.Inputs != nil {
			lj.Inputs = r.Spec.Inputs[i]
		}
		if _, join := l.(layers.Joiner); !join {
			in := r.Spec.Input
			if j := r.Spec.Inputs.Of(i)[0]; j != layers.Input {
				in = shapes[j]
			}
			for _, w := range l.Weights(in, r.Spec.Classes) {
				lj.Weights = append(lj.Weights, w.Name)
			}
		}
		stack = append(stack, lj)
	}
	spec := map[string]any{
		"input": r.Spec.Input, "layers": stack, "frozen": r.Spec.Frozen, "classes": r.Spec.Classes,
		"batch_size": r.BatchSize, "epochs": len(r.Orders),
		"adam":            map[string]float64{"learning_rate": r.Spec.Adam.LearningRate, "beta_1": r.Spec.Adam.Beta1, "beta_2": r.Spec.Adam.Beta2, "epsilon": r.Spec.Adam.Epsilon},
		"label_smoothing": r.Spec.LabelSmoothing, "class_weight": r.Spec.ClassWeights,
	}
	if r.Schedule.Set() {
		spec["schedule"] = KerasSchedule(r.Schedule)
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, "spec.json"), b); err != nil {
		return err
	}
	for name, w := range r.Init {
		if strings.HasSuffix(name, "/m") || strings.HasSuffix(name, "/v") {
			continue // Adam slots start at zero in Keras too
		}
		if err := write(filepath.Join(dir, "init", strings.ReplaceAll(name, "/", ".")+".npy"), w); err != nil {
			return err
		}
	}
	if err := writeSplit(dir, "train", r.Train, r.Spec); err != nil {
		return err
	}
	if r.Val != nil {
		if err := writeSplit(dir, "val", r.Val, r.Spec); err != nil {
			return err
		}
	}
	flat := make([]int64, 0, len(r.Orders)*r.Train.Len())
	for _, o := range r.Orders {
		for _, i := range o {
			flat = append(flat, int64(i))
		}
	}
	return write(filepath.Join(dir, "order.npy"), flat)
}

// KerasSchedule is s as the script builds it: the keras.optimizers.schedules
// class and its arguments (warmup_target 0 is Keras' None).
func KerasSchedule(s schedule.Schedule) map[string]any {
	var args any
	switch {
	case s.CosineDecay != nil:
		c := *s.CosineDecay
		a := map[string]any{"initial_learning_rate": c.InitialLearningRate, "decay_steps": c.DecaySteps, "alpha": c.Alpha, "warmup_steps": c.WarmupSteps}
		if c.WarmupTarget != 0 {
			a["warmup_target"] = c.WarmupTarget
		}
		args = a
	case s.ExponentialDecay != nil:
		args = s.ExponentialDecay
	case s.PiecewiseConstantDecay != nil:
		args = s.PiecewiseConstantDecay
	}
	class := ""
	for _, w := range strings.Split(s.Name(), "_") {
		class += strings.ToUpper(w[:1]) + w[1:]
	}
	return map[string]any{"class": class, "config": args}
}

// Plateau is a sequence of monitored values for Keras' ReduceLROnPlateau
// (scripts/keras_reference.py --schedules), with Adam's starting rate.
type Plateau struct {
	Config       schedule.ReduceLROnPlateau `json:"config"`
	LearningRate float64                    `json:"learning_rate"`
	Values       []float64                  `json:"values"`
}

// WriteSchedules writes dir/schedules.json for the script's --schedules
// mode: the rates of each schedule at steps 0..steps-1, and what
// ReduceLROnPlateau does on each plateau's values.
func WriteSchedules(dir string, steps int, schedules []schedule.Schedule, plateaus []Plateau) error {
	var ss []map[string]any
	for _, s := range schedules {
		ss = append(ss, KerasSchedule(s))
	}
	b, err := json.MarshalIndent(map[string]any{"steps": steps, "schedules": ss, "plateaus": plateaus}, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(dir, "schedules.json"), b)
}

// Keras runs scripts/keras_reference.py on dir with the venv's python and
// decodes the JSON it prints into out.
func Keras(python, script, dir string, out any, extra ...string) error {
	return KerasAll(python, script, []string{dir}, out, extra...)
}

// KerasAll runs scripts/keras_reference.py once on several run folders
// (one Python start for them all) and decodes the JSON it prints into out:
// a slice, one result per folder in order, when there are several.
func KerasAll(python, script string, dirs []string, out any, extra ...string) error {
	cmd := exec.Command(python, append(append([]string{script}, dirs...), extra...)...)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("reference: %s %s: %w", script, strings.Join(dirs, " "), err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("reference: %s printed %q: %w", script, b, err)
	}
	return nil
}

func writeSplit(dir, name string, d train.Data, spec nn.Spec) error {
	per := 1
	for _, s := range spec.Input {
		per *= s
	}
	n := d.Len()
	idx := make([]int, n)
	y := make([]int32, n)
	for i := range idx {
		idx[i], y[i] = i, d.Label(i)
	}
	x := make([]float32, n*per)
	if err := d.Read(idx, x); err != nil {
		return err
	}
	if err := write(filepath.Join(dir, "x_"+name+".npy"), x); err != nil {
		return err
	}
	return write(filepath.Join(dir, "y_"+name+".npy"), y)
}

// write writes a flat slice as a 1-D .npy array; the script reshapes it
// (spec.json has the input shape, Keras the weight shapes).
func write(path string, x any) error {
	return fsutil.Write(path, func(f *os.File) error { return npyio.Write(f, x) })
}
