package backbone

import (
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
// activation (where features are cached), every layer that depends on it
// up to the model's output, in Keras' topological order, and the number
// of weights Keras trains from the cut up to the feature endpoint.
type Cut struct {
	InputEndpoint   string     `json:"input_endpoint"`
	Layers          []CutLayer `json:"layers"`
	TrainableParams int        `json:"trainable_params"`
}

// CutLayer is one layer above a cut: its Keras class, name, get_config(),
// weights, and the names of the layers whose outputs it takes, in call
// order (the cut's input activation named by its InputEndpoint).
type CutLayer struct {
	Name    string         `json:"name"`
	Class   string         `json:"class"`
	Config  map[string]any `json:"config"`
	Weights []CutWeight    `json:"weights"`
	Inputs  []string       `json:"inputs"`
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

// Tail returns the layers from the cut named from up to and including the
// layer of endpoint, and the endpoint of the cut's input activation: what
// fine-tuning from that layer rebuilds and where its features are cached.
func (meta Metadata) Tail(from, endpoint string) (input string, tail []CutLayer, err error) {
	if meta.FineTune == nil {
		return "", nil, fmt.Errorf("metadata.json has no fine_tune section: %s", ReexportHint)
	}
	cut, ok := meta.FineTune[from]
	if !ok {
		var have []string
		for k := range meta.FineTune {
			have = append(have, k)
		}
		slices.Sort(have)
		return "", nil, fmt.Errorf("fine-tuning cannot start from %q: not a layer the export allows (allowed: %s)", from, strings.Join(have, ", "))
	}
	ep, ok := meta.Endpoints[endpoint]
	if !ok {
		return "", nil, fmt.Errorf("no endpoint %q", endpoint)
	}
	for i, l := range cut.Layers {
		if l.Name == ep.Layer {
			if i == 0 {
				break // the endpoint is the cut itself: nothing between
			}
			return cut.InputEndpoint, cut.Layers[:i+1], nil
		}
	}
	return "", nil, fmt.Errorf("fine_tune_from %s is at or above endpoint %s (layer %s): fine-tuning trains the layers from the cut up to the endpoint, so the cut must be below it", from, endpoint, ep.Layer)
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
	Names  []string       // the backbone's layer names
	// Keys maps each weight's name in a network ("conv_pw_13/kernel") to
	// its key in the SavedModel's checkpoint.
	Keys   map[string]string
	shapes map[string][]int
}

// TailFor rebuilds the layers from the cut from up to endpoint's layer
// from metadata alone, checking that every kind is reproduced and its
// weights have the shapes metadata.json records.
func (meta Metadata) TailFor(from, endpoint string) (*Tail, error) {
	input, cls, err := meta.Tail(from, endpoint)
	if err != nil {
		return nil, err
	}
	t := &Tail{From: from, Input: input, Keys: map[string]string{}, shapes: map[string][]int{}}
	for _, d := range fromJSONShape(meta.Endpoints[input].Shape)[1:] {
		t.Shape = append(t.Shape, int(d))
	}
	in := layers.Shape(t.Shape)
	for _, c := range cls {
		l, err := layers.FromKeras(c.Class, c.Config)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", c.Name, err)
		}
		ws := l.Weights(in, 0)
		if len(ws) != len(c.Weights) {
			return nil, fmt.Errorf("layer %s: %d weights in metadata.json, %s has %d", c.Name, len(c.Weights), l.Kind(), len(ws))
		}
		for i, w := range ws {
			mw := c.Weights[i]
			if w.Name != mw.Name || !slices.Equal(w.Shape, mw.Shape) {
				return nil, fmt.Errorf("layer %s: weight %d is %s %v in metadata.json, %s %v here", c.Name, i, mw.Name, mw.Shape, w.Name, w.Shape)
			}
			t.Keys[c.Name+"/"+w.Name] = mw.Key
			t.shapes[c.Name+"/"+w.Name] = mw.Shape
		}
		if in, err = l.Output(in, 0); err != nil {
			return nil, fmt.Errorf("layer %s: %w", c.Name, err)
		}
		t.Layers, t.Names = append(t.Layers, l), append(t.Names, c.Name)
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
