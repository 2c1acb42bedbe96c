package backbone

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/tensors"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// Cut is a layer fine-tuning may start from, as metadata.json's
// "fine_tune" records it: the endpoint that returns the cut's input
// activation (where features are cached) and every layer from the cut to
// the model's output, in topological order. The cut's input is a single
// tensor every path from the image to the output goes through, so those
// layers and that one tensor are the whole backbone above it.
type Cut struct {
	InputEndpoint string     `json:"input_endpoint"`
	Layers        []CutLayer `json:"layers"`
	// TrainableParams is how many weights train from the cut up to the
	// feature endpoint, as Keras counts them (0: not recorded).
	TrainableParams int `json:"trainable_params,omitempty"`
}

// CutLayer is one layer above a cut: its Keras class, name, get_config(),
// weights, and the names of the layers whose outputs it takes (Keras'
// inbound nodes; the input endpoint's layer stands for the cut's input).
// Inputs is nil in exports that predate graph tails: each layer then
// takes the one before.
type CutLayer struct {
	Name    string         `json:"name"`
	Class   string         `json:"class"`
	Config  map[string]any `json:"config"`
	Weights []CutWeight    `json:"weights"`
	Inputs  []string       `json:"inputs,omitempty"`
}

// CutWeight is one weight of a layer above a cut: Keras' name for it
// (kernel, gamma, moving_mean, ...) and the key under which the
// SavedModel's variables/ checkpoint holds its value.
type CutWeight struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Shape     []int  `json:"shape"`
	Trainable bool   `json:"trainable"`
}

// ReexportHint says what to do with an export that predates fine-tuning.
const ReexportHint = "it was exported before fine-tuning was supported: rerun set-up (make setup), " +
	"which re-exports it, or rerun its exporter with --force"

// Auto is the fine_tune_from that picks the start of the backbone's last
// block: the first of metadata.json's cuts.
const Auto = "auto"

// Cut returns the name of the cut fine_tune_from names: from itself, or
// for Auto the first cut the export offers.
func (meta Metadata) Cut(from string) (string, error) {
	if meta.FineTune == nil {
		return "", fmt.Errorf("metadata.json has no fine_tune section: %s", ReexportHint)
	}
	if from == Auto {
		if len(meta.Cuts) == 0 {
			return "", fmt.Errorf("fine_tune_from: auto: metadata.json offers no cuts (its \"cuts\" list is empty or missing); name one of %s, or re-export the backbone with scripts/export_backbone.py", strings.Join(meta.cutNames(), ", "))
		}
		return meta.Cuts[0], nil
	}
	if _, ok := meta.FineTune[from]; !ok {
		return "", fmt.Errorf("fine-tuning cannot start from %q: not a cut the export offers (a cut is a layer whose input is one tensor that every path from the image to the output goes through, such as a block's start; a layer inside a block's branches is not); valid cuts: %s", from, strings.Join(meta.cutNames(), ", "))
	}
	return from, nil
}

// cutNames lists the offered cuts: Cuts in order, then any other cut of
// FineTune, sorted.
func (meta Metadata) cutNames() []string {
	out := slices.Clone(meta.Cuts)
	var rest []string
	for k := range meta.FineTune {
		if !slices.Contains(out, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// Tail returns the layers from the cut named from up to and including the
// layer of endpoint (those the endpoint depends on, in order), how they
// are wired, and the endpoint of the cut's input activation: what
// fine-tuning from that layer rebuilds and where its features are cached.
func (meta Metadata) Tail(from, endpoint string) (input string, tail []CutLayer, wiring layers.Inputs, err error) {
	from, err = meta.Cut(from)
	if err != nil {
		return "", nil, nil, err
	}
	cut := meta.FineTune[from]
	ep, ok := meta.Endpoints[endpoint]
	if !ok {
		return "", nil, nil, fmt.Errorf("no endpoint %q", endpoint)
	}
	last := slices.IndexFunc(cut.Layers, func(l CutLayer) bool { return l.Name == ep.Layer })
	if last < 1 {
		// Not above the cut, or the cut itself: nothing between.
		return "", nil, nil, fmt.Errorf("fine_tune_from %s is at or above endpoint %s (layer %s): fine-tuning trains the layers from the cut up to the endpoint, so the cut must be below it", from, endpoint, ep.Layer)
	}
	inLayer := cut.InputEndpoint
	if e, ok := meta.Endpoints[cut.InputEndpoint]; ok {
		inLayer = e.Layer
	}
	// Keep the layers the endpoint depends on, walking its inputs back.
	index := map[string]int{}
	for i, l := range cut.Layers[:last+1] {
		index[l.Name] = i
	}
	inputs := func(i int) []string {
		if cut.Layers[i].Inputs != nil {
			return cut.Layers[i].Inputs
		}
		if i == 0 {
			return []string{inLayer}
		}
		return []string{cut.Layers[i-1].Name}
	}
	need := make([]bool, last+1)
	need[last] = true
	for i := last; i >= 0; i-- {
		if !need[i] {
			continue
		}
		for _, name := range inputs(i) {
			j, ok := index[name]
			switch {
			case ok && j < i:
				need[j] = true
			case ok || name != inLayer && name != cut.InputEndpoint:
				return "", nil, nil, fmt.Errorf("cut %s: layer %s reads %s, which is neither an earlier layer above the cut nor its input %s: metadata.json is inconsistent; re-export the backbone", from, cut.Layers[i].Name, name, inLayer)
			}
		}
	}
	at := map[string]int{inLayer: layers.Input, cut.InputEndpoint: layers.Input} // the exporter names it either way
	for i, l := range cut.Layers[:last+1] {
		if !need[i] {
			continue
		}
		var srcs []int
		for _, name := range inputs(i) {
			srcs = append(srcs, at[name])
		}
		at[l.Name] = len(tail)
		tail, wiring = append(tail, l), append(wiring, srcs)
	}
	return cut.InputEndpoint, tail, wiring, nil
}

// ReadWeights reads keys from the TensorFlow checkpoint at prefix (a
// SavedModel's is <dir>/variables/variables) with TensorFlow's RestoreV2
// op, each as flat float32 values, checking each has the given shape (nil:
// any).
func ReadWeights(prefix string, keys []string, shapes [][]int) ([][]float32, error) {
	dir := prefix
	var restored []tf.Output
	var g *tf.Graph
	err := tfsession.Guard(func() (err error) {
		s := op.NewScope()
		dtypes := make([]tf.DataType, len(keys))
		for i := range dtypes {
			dtypes[i] = tf.Float
		}
		prefixT := op.Const(s.SubScope("prefix"), prefix)
		names := op.Const(s.SubScope("names"), keys)
		slicesT := op.Const(s.SubScope("slices"), make([]string, len(keys)))
		restored = op.RestoreV2(s.SubScope("restore"), prefixT, names, slicesT, dtypes)
		g, err = s.Finalize()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: reading weights: %w", dir, err)
	}
	sess, err := tfsession.New(g, tfsession.Options{})
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: reading weights: %w", dir, err)
	}
	defer sess.Close()
	res, err := sess.Run(nil, restored, nil)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: reading %s: %w", dir, strings.Join(keys, ", "), err)
	}
	var out [][]float32
	for i, t := range res {
		got := t.Shape()
		if shapes[i] == nil {
			shapes[i] = make([]int, len(got)) // any shape
			for j, d := range got {
				shapes[i][j] = int(d)
			}
		}
		if len(got) != len(shapes[i]) {
			return nil, fmt.Errorf("checkpoint %s: %s has shape %v, want %v", dir, keys[i], got, shapes[i])
		}
		for j, d := range got {
			if int(d) != shapes[i][j] {
				return nil, fmt.Errorf("checkpoint %s: %s has shape %v, want %v", dir, keys[i], got, shapes[i])
			}
		}
		v, err := tensors.Float32s(t)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %s: %w", dir, keys[i], err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Tail is the backbone's layers from a cut up to an endpoint, rebuilt as
// this project's layer kinds so that they can train.
type Tail struct {
	From   string         // the cut: the first layer
	Input  string         // the endpoint of the cut's input activation
	Shape  []int          // one example's input activation
	Layers []layers.Layer // from the cut to the endpoint's layer
	Inputs layers.Inputs  // how they are wired (a chain has each take the one before)
	Names  []string       // the backbone's layer names
	// Keys maps each weight's name in a network ("conv_pw_13/kernel") to
	// its key in the SavedModel's checkpoint.
	Keys   map[string]string
	shapes map[string][]int
}

// TailFor rebuilds the layers from the cut from (or Auto) up to
// endpoint's layer from metadata alone, checking that every kind is
// reproduced and its weights have the shapes metadata.json records. A
// layer this package does not build stops it with an error naming the
// layer, its Keras class and the cuts from which fine-tuning up to
// endpoint works.
func (meta Metadata) TailFor(from, endpoint string) (*Tail, error) {
	t, err := meta.tailFor(from, endpoint)
	var unsupported *unsupportedError
	if errors.As(err, &unsupported) {
		var works []string
		for _, c := range meta.cutNames() {
			if _, err := meta.tailFor(c, endpoint); err == nil {
				works = append(works, c)
			}
		}
		hint := "fine-tuning up to " + endpoint + " works from none of this backbone's cuts; keep it frozen (no fine_tune_from)"
		if len(works) > 0 {
			hint = "fine-tuning up to " + endpoint + " works from " + strings.Join(works, ", ")
		}
		return nil, fmt.Errorf("%w; %s", err, hint)
	}
	return t, err
}

// unsupportedError is a layer above a cut that no kind reproduces.
type unsupportedError struct{ err error }

func (e *unsupportedError) Error() string { return e.err.Error() }
func (e *unsupportedError) Unwrap() error { return e.err }

func (meta Metadata) tailFor(from, endpoint string) (*Tail, error) {
	input, cls, wiring, err := meta.Tail(from, endpoint)
	if err != nil {
		return nil, err
	}
	from, _ = meta.Cut(from)
	t := &Tail{From: from, Input: input, Keys: map[string]string{}, shapes: map[string][]int{}}
	for _, d := range fromJSONShape(meta.Endpoints[input].Shape)[1:] {
		t.Shape = append(t.Shape, int(d))
	}
	var shapes []layers.Shape
	for i, c := range cls {
		l, err := layers.FromKeras(c.Class, c.Config)
		if err != nil {
			return nil, &unsupportedError{fmt.Errorf("layer %s: %w", c.Name, err)}
		}
		var ins []layers.Shape
		for _, j := range wiring[i] {
			if j == layers.Input {
				ins = append(ins, t.Shape)
			} else {
				ins = append(ins, shapes[j])
			}
		}
		var out layers.Shape
		var ws []layers.Weight
		if j, ok := l.(layers.Joiner); ok {
			out, err = j.JoinOutput(ins)
		} else if len(ins) != 1 {
			err = fmt.Errorf("a %s takes one input, metadata.json gives it %d", l.Kind(), len(ins))
		} else {
			ws = l.Weights(ins[0], 0)
			out, err = l.Output(ins[0], 0)
		}
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", c.Name, err)
		}
		if len(ws) != len(c.Weights) {
			return nil, fmt.Errorf("layer %s: %d weights in metadata.json, %s has %d", c.Name, len(c.Weights), l.Kind(), len(ws))
		}
		for k, w := range ws {
			mw := c.Weights[k]
			// Keras names a weight created without a name "variable" or
			// "variable_N" (ConvNeXt's LayerScale): such one goes by its
			// place and shape.
			unnamed := mw.Name == "variable" || strings.HasPrefix(mw.Name, "variable_")
			if w.Name != mw.Name && !unnamed || !slices.Equal(w.Shape, mw.Shape) {
				return nil, fmt.Errorf("layer %s: weight %d is %s %v in metadata.json, %s %v here", c.Name, k, mw.Name, mw.Shape, w.Name, w.Shape)
			}
			t.Keys[c.Name+"/"+w.Name] = mw.Key
			t.shapes[c.Name+"/"+w.Name] = mw.Shape
		}
		shapes = append(shapes, out)
		t.Layers, t.Names = append(t.Layers, l), append(t.Names, c.Name)
	}
	// A pooling that keeps its dimensions (MobileNet, MobileNetV3) gives
	// [1, 1, C]; its endpoint, as exported, is flattened to [C]: so is the
	// tail's output.
	last := shapes[len(shapes)-1]
	want := fromJSONShape(meta.Endpoints[endpoint].Shape)[1:]
	if len(want) == 1 && len(last) > 1 && int64(last.Size()) == want[0] {
		t.Layers, t.Names = append(t.Layers, &layers.Flatten{}), append(t.Names, meta.Endpoints[endpoint].Layer+"_flat")
		wiring = append(wiring, []int{len(wiring) - 1})
	}
	t.Inputs = wiring
	if wiring.Chain() {
		t.Inputs = nil // a stack: the plan and the summary stay as they were
	}
	return t, nil
}

// ReadTail reads the pretrained weights of t from the SavedModel in dir,
// by their names in a network ("conv_pw_13/kernel").
func ReadTail(dir string, t *Tail) (map[string][]float32, error) {
	names := make([]string, 0, len(t.Keys))
	for n := range t.Keys {
		names = append(names, n)
	}
	slices.Sort(names)
	keys := make([]string, len(names))
	shapes := make([][]int, len(names))
	for i, n := range names {
		keys[i], shapes[i] = t.Keys[n], t.shapes[n]
	}
	vals, err := ReadWeights(tfsession.VariablesPrefix(dir), keys, shapes)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]float32, len(names))
	for i, n := range names {
		out[n] = vals[i]
	}
	return out, nil
}
