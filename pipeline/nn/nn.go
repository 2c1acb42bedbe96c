// Package nn builds a Keras-style stack of layers as a TensorFlow graph and
// trains it with Adam on categorical cross-entropy. The layer kinds live in
// package layers (one file each); nn knows none of them by name: it asks
// each layer for its output shape, weights and forward pass, which it
// builds through graph, its TensorFlow implementation of layers.Graph.
//
// Weights live in resource variables (VarHandleOp), gradients come from the
// graph (TF_AddGradients, the C++ gradient registry), and updates from
// ResourceApplyAdam, whose update rule is Keras 3's Adam exactly. The loss is
// computed from the last layer's logits with SoftmaxCrossEntropyWithLogits,
// as Keras does when the last activation is softmax.
//
// Dropout is active only in the training path. Its masks come from
// StatelessRandomUniform seeded by a value fed with each batch, so a run
// is repeatable and a resumed run draws the same masks as an uninterrupted
// one. Initial weights are drawn in Go (Glorot uniform kernels, zero biases,
// as Keras) from a seeded generator, so they can be handed to a Keras
// reference run.
package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/tensors"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// Spec is what to build.
type Spec struct {
	Input  layers.Shape   // shape of one example: [4096], [7 7 512] or [H W 3]
	Layers []layers.Layer // Keras vocabulary; the last is dense(classes, softmax)
	// Inputs wires the layers as a graph (see layers.Inputs): a
	// fine-tuned backbone's layers above a cut, with their branches and
	// joins, then the new top. nil: a stack, each layer taking the one
	// before.
	Inputs layers.Inputs
	// Names are the layers' names, the first part of their checkpoint
	// keys; nil: Keras' default names (dense, dense_1, ...). A fine-tuned
	// model's backbone layers keep the backbone's names (conv_pw_13, ...).
	Names []string
	// Frozen is how many leading layers do not train: the backbone's
	// layers above the cut while the new top trains first.
	Frozen  int
	Classes int
	// Adam's LearningRate is the rate until SetLearningRate changes it.
	Adam Adam
	// LabelSmoothing is Keras' CategoricalCrossentropy(label_smoothing):
	// the targets of the loss are onehot × (1 − s) + s / Classes, in
	// training and in evaluation, as Keras' compiled loss.
	LabelSmoothing float64
	// ClassWeights, one per class (nil: all 1), weigh each training
	// example's loss by its class, as Keras' fit(class_weight=...) does:
	// the batch's loss is Σ wᵢ·lossᵢ / batch size. Evaluation is not
	// weighted (Keras' val_loss is not either).
	ClassWeights []float64
}

// Adam holds the settings of the Adam optimizer, as Keras names them.
type Adam struct {
	LearningRate float64 `json:"learning_rate"`
	Beta1        float64 `json:"beta_1"`
	Beta2        float64 `json:"beta_2"`
	Epsilon      float64 `json:"epsilon"`
}

// LayerNames returns the names of the layers of s (Names, or Keras' defaults).
func (s Spec) LayerNames() []string {
	if s.Names != nil {
		return s.Names
	}
	return layers.Names(s.Layers)
}

// Variable is one weight tensor (or optimizer slot) in the graph.
type Variable struct {
	Name      string // checkpoint key, e.g. "dense/kernel" or "dense/kernel/m"
	Shape     []int64
	Trainable bool // a layer weight Adam updates
	Slot      bool // one of Adam's moments (not a layer weight)
	FanIn     int  // for Glorot initialisation of kernels
	FanOut    int
	Kernel    bool    // a kernel (Glorot uniform); otherwise zeros
	Ones      bool    // initialised to ones (batch normalisation's gamma and variance)
	Fill      float64 // when not zero, initialised to it (a layer scale's gamma)
	handle    tf.Output
	read      tf.Output
	init      tf.Output // placeholder fed by Init/SetWeights
}

// Size is the number of values in v.
func (v *Variable) Size() int {
	n := 1
	for _, d := range v.Shape {
		n *= int(d)
	}
	return n
}

// LayerInfo describes a built layer for summaries (Keras' model.summary()).
type LayerInfo struct {
	Name      string       // Keras' name: dense, dense_1, ...
	Kind      string       // YAML key: dense, max_pool, ...
	Class     string       // Keras class: Dense, MaxPooling2D, ...
	Output    layers.Shape // shape of one example's output
	Params    int          // weights
	Trainable int          // of which Adam trains
	// Inputs are the names of the layers it reads, for a graph ("input"
	// for the network's input); nil in a stack.
	Inputs []string
}

// Network is a built graph with its session. Methods are not safe for
// concurrent use.
type Network struct {
	Spec   Spec
	Layers []LayerInfo
	Vars   []*Variable // layer weights, then Adam's m and v slots

	graph *tf.Graph
	sess  *tfsession.Session

	x, labels, seed         tf.Output
	b1Power, b2Power, lr    tf.Output
	rate                    float32 // fed to lr
	trainLoss, trainCorrect tf.Output
	probs, exampleLoss      tf.Output
	train, assign, restore  *tf.Operation
	save                    *tf.Operation
	prefix                  tf.Output
	sharedPrefix            string // prefix of the variables' resource names (see Inference)
	inputSize, classesOut   int
}

// Build constructs the graph and a session for it. Variables are not
// initialised: call Init, SetWeights or Restore before training.
func Build(spec Spec) (n *Network, err error) {
	if spec.Classes < 2 {
		return nil, fmt.Errorf("nn: %d classes; need at least 2", spec.Classes)
	}
	if spec.ClassWeights != nil && len(spec.ClassWeights) != spec.Classes {
		return nil, fmt.Errorf("nn: %d class weights for %d classes", len(spec.ClassWeights), spec.Classes)
	}
	if !(spec.LabelSmoothing >= 0 && spec.LabelSmoothing < 1) {
		return nil, fmt.Errorf("nn: label smoothing %v; want [0, 1)", spec.LabelSmoothing)
	}
	if len(spec.Layers) == 0 || spec.Frozen < 0 || spec.Frozen >= len(spec.Layers) ||
		(spec.Names != nil && len(spec.Names) != len(spec.Layers)) {
		return nil, fmt.Errorf("nn: %d layers, %d names, %d frozen: need layers, a name each (or none), and the last layer trained", len(spec.Layers), len(spec.Names), spec.Frozen)
	}
	if err := spec.Inputs.Check(spec.Layers); err != nil {
		return nil, fmt.Errorf("nn: %w", err)
	}
	// The TensorFlow Go binding panics on some graph errors (an output of a
	// failed op, for one); report them as errors.
	if perr := tfsession.Guard(func() error { n, err = build(spec); return nil }); perr != nil {
		return nil, fmt.Errorf("nn: building graph: %w", perr)
	}
	if err != nil {
		return nil, err
	}
	if n.sess, err = tfsession.New(n.graph, tfsession.Options{CallerThread: true}); err != nil {
		return nil, fmt.Errorf("nn: new session: %w", err)
	}
	return n, nil
}

// build is Build's graph, without the guard and the session.
func build(spec Spec) (n *Network, err error) {
	s := op.NewScope()
	n = &Network{Spec: spec, inputSize: spec.Input.Size(), classesOut: spec.Classes, rate: float32(spec.Adam.LearningRate)}
	shape := append([]int64{-1}, toInt64(spec.Input)...)
	n.x = op.Placeholder(s.SubScope("input"), tf.Float, op.PlaceholderShape(tf.MakeShape(shape...)))
	n.labels = op.Placeholder(s.SubScope("labels"), tf.Int32, op.PlaceholderShape(tf.MakeShape(-1)))
	n.seed = op.Placeholder(s.SubScope("dropout_seed"), tf.Int64, op.PlaceholderShape(tf.MakeShape(2)))

	st, err := n.layers(s)
	if err != nil {
		return nil, err
	}
	on, off := smoothed(spec.LabelSmoothing, spec.Classes)
	onehot := op.OneHot(at(s, "OneHot"), n.labels, op.Const(at(s, "Const"), int32(spec.Classes)), op.Const(at(s, "Const"), on), op.Const(at(s, "Const"), off))
	correct := func(s *op.Scope, logits tf.Output) tf.Output {
		hit := op.Equal(at(s, "Equal"), op.Cast(at(s, "Cast"), op.ArgMax(at(s, "ArgMax"), logits, op.Const(at(s, "Const"), int32(1))), tf.Int32), n.labels)
		return op.Sum(at(s, "Sum"), op.Cast(at(s, "Cast"), hit, tf.Int32), op.Const(at(s, "Const"), int32(0)))
	}

	ts := s.SubScope("train")
	logits := n.forward(ts, st, true)
	perExample, _ := op.SoftmaxCrossEntropyWithLogits(at(ts, "SoftmaxCrossEntropyWithLogits"), logits, onehot)
	if spec.ClassWeights != nil {
		w := make([]float32, len(spec.ClassWeights))
		for i, v := range spec.ClassWeights {
			w[i] = float32(v)
		}
		perExample = op.Mul(at(ts, "Mul"), perExample, op.GatherV2(at(ts, "GatherV2"), op.Const(at(ts, "Const"), w), n.labels, op.Const(at(ts, "Const"), int32(0))))
	}
	n.trainLoss = op.Mean(at(ts, "Mean"), perExample, op.Const(at(ts, "Const"), int32(0)))
	n.trainCorrect = correct(ts, logits)

	is := s.SubScope("infer")
	inferLogits := n.forward(is, st, false)
	n.probs = op.Softmax(at(is, "Softmax"), inferLogits)
	n.exampleLoss, _ = op.SoftmaxCrossEntropyWithLogits(at(is, "SoftmaxCrossEntropyWithLogits"), inferLogits, onehot)

	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("nn: building layers: %w", err)
	}
	var layerVars []*Variable // the trained ones; Adam's slots are added after them
	var reads []tf.Output
	for _, v := range n.Vars {
		if v.Trainable {
			layerVars, reads = append(layerVars, v), append(reads, v.read)
		}
	}
	grads := op.Gradients(ts.SubScope("gradients"), []tf.Output{n.trainLoss}, reads)
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("nn: building gradients: %w", err)
	}

	as := s.SubScope("adam")
	n.b1Power = op.Placeholder(as.SubScope("beta_1_power"), tf.Float, op.PlaceholderShape(tf.ScalarShape()))
	n.b2Power = op.Placeholder(as.SubScope("beta_2_power"), tf.Float, op.PlaceholderShape(tf.ScalarShape()))
	n.lr = op.Placeholder(as.SubScope("learning_rate"), tf.Float, op.PlaceholderShape(tf.ScalarShape()))
	lr := n.lr
	b1 := op.Const(at(as, "Const"), float32(spec.Adam.Beta1))
	b2 := op.Const(at(as, "Const"), float32(spec.Adam.Beta2))
	eps := op.Const(at(as, "Const"), float32(spec.Adam.Epsilon))
	var applies []*tf.Operation
	for i, v := range layerVars {
		m, vv := n.slot(s, v, "m"), n.slot(s, v, "v")
		applies = append(applies, op.ResourceApplyAdam(at(as, "ResourceApplyAdam"), v.handle, m.handle, vv.handle, n.b1Power, n.b2Power, lr, b1, b2, eps, grads[i]))
	}
	n.train = op.NoOp(s.SubScope("train_step").WithControlDependencies(applies...))

	var assigns []*tf.Operation
	for _, v := range n.Vars {
		assigns = append(assigns, op.AssignVariableOp(s.SubScope("assign"), v.handle, v.init))
	}
	n.assign = op.NoOp(s.SubScope("assign_all").WithControlDependencies(assigns...))

	// Checkpoints: SaveV2/RestoreV2, the standard TensorFlow format that
	// Python reads with tf.train.load_checkpoint.
	cs := s.SubScope("checkpoint")
	n.prefix = op.Placeholder(cs.SubScope("prefix"), tf.String, op.PlaceholderShape(tf.ScalarShape()))
	keys := make([]string, len(n.Vars))
	shapeSlices := make([]string, len(n.Vars))
	dtypes := make([]tf.DataType, len(n.Vars))
	allReads := make([]tf.Output, len(n.Vars))
	for i, v := range n.Vars {
		keys[i], dtypes[i], allReads[i] = v.Name, tf.Float, v.read
	}
	nameT := op.Const(at(cs, "Const"), keys)
	sliceT := op.Const(at(cs, "Const"), shapeSlices)
	n.save = op.SaveV2(at(cs, "SaveV2"), n.prefix, nameT, sliceT, allReads)
	restored := op.RestoreV2(at(cs, "RestoreV2"), n.prefix, nameT, sliceT, dtypes)
	var restores []*tf.Operation
	for i, v := range n.Vars {
		restores = append(restores, op.AssignVariableOp(at(cs, "AssignVariableOp"), v.handle, restored[i]))
	}
	n.restore = op.NoOp(cs.SubScope("restore_all").WithControlDependencies(restores...))

	if n.graph, err = s.Finalize(); err != nil {
		return nil, fmt.Errorf("nn: building graph: %w", err)
	}
	return n, nil
}

// stack is a network's layers as built: each layer's Keras name, the
// shapes of its inputs and its weights (the variables' reads, in the
// layer's order).
type stack struct {
	names   []string
	inputs  [][]layers.Shape
	weights [][]tf.Output
}

// layers creates the variables of n.Spec's layers, checks the graph and
// records each layer's output shape in n.Layers. The forward pass is then
// built over the same variables once per mode (training with dropout,
// inference without).
func (n *Network) layers(s *op.Scope) (stack, error) {
	spec := n.Spec
	shapes, bad, err := layers.InferGraph(spec.Layers, spec.Inputs, spec.Input, spec.Classes)
	names := spec.LayerNames()
	if err != nil {
		return stack{}, fmt.Errorf("nn: layer %d (%s): %w", bad+1, names[bad], err)
	}
	st := stack{names: names, inputs: make([][]layers.Shape, len(spec.Layers)), weights: make([][]tf.Output, len(spec.Layers))}
	for i, l := range spec.Layers {
		info := LayerInfo{Name: names[i], Kind: l.Kind(), Class: l.KerasClass(), Output: slices.Clone(shapes[i])}
		for _, j := range spec.Inputs.Of(i) {
			in, from := spec.Input, "input"
			if j != layers.Input {
				in, from = shapes[j], names[j]
			}
			st.inputs[i] = append(st.inputs[i], in)
			if spec.Inputs != nil {
				info.Inputs = append(info.Inputs, from)
			}
		}
		in := st.inputs[i][0]
		for _, w := range l.Weights(in, spec.Classes) {
			v := n.variable(s, names[i]+"/"+w.Name, w.Shape, w.Glorot, w.FanIn, w.FanOut)
			v.Ones, v.Fill, v.Trainable = w.Ones, w.Fill, !w.Frozen && i >= spec.Frozen
			st.weights[i] = append(st.weights[i], v.read)
			info.Params += v.Size()
			if v.Trainable {
				info.Trainable += v.Size()
			}
		}
		n.Layers = append(n.Layers, info)
	}
	out := shapes[len(shapes)-1]
	if last := spec.Layers[len(spec.Layers)-1]; !layers.Classifier(last) || out[0] != spec.Classes {
		return stack{}, fmt.Errorf("nn: the last layer must be dense(units: classes = %d, activation: softmax); got %s with output %s", spec.Classes, last.Kind(), out)
	}
	return st, nil
}

// forward builds each layer's Forward (a join's Join) over n.x, in the
// order of the layers, and returns the logits of the last layer (before
// its softmax). Dropout is active only when training.
func (n *Network) forward(s *op.Scope, st stack, training bool) tf.Output {
	outs := make([]layers.Tensor, len(n.Spec.Layers))
	last := len(n.Spec.Layers) - 1
	for i, l := range n.Spec.Layers {
		g := &graph{s: s.SubScope(st.names[i]), seed: n.seed, layer: i, training: training}
		var xs []layers.Tensor
		for _, j := range n.Spec.Inputs.Of(i) {
			if j == layers.Input {
				xs = append(xs, n.x)
			} else {
				xs = append(xs, outs[j])
			}
		}
		if j, ok := l.(layers.Joiner); ok {
			outs[i] = j.Join(g, xs, st.inputs[i])
		} else {
			outs[i] = l.Forward(g, xs[0], st.inputs[i][0], tensorsOf(st.weights[i]), i == last)
		}
	}
	return outs[last].(tf.Output)
}

// Inference adds spec's layers in inference mode (dropout off) to the
// graph of s, reading x (a batch of spec.Input), and returns the class
// probabilities and the layers' variables. The variables are named as
// Save names them ("dense/kernel"), so a checkpoint written by Save
// restores them; their resources are shared under prefix+name, which keeps
// them apart from other variables in the same graph. It is how a trained
// top is put into another graph, such as an exported SavedModel's.
func Inference(s *op.Scope, x tf.Output, spec Spec, prefix string) (probs tf.Output, vars []*Variable, err error) {
	if perr := tfsession.Guard(func() error { probs, vars, err = inference(s, x, spec, prefix); return nil }); perr != nil {
		return tf.Output{}, nil, fmt.Errorf("nn: building inference graph: %w", perr)
	}
	return probs, vars, err
}

// inference is Inference without the guard.
func inference(s *op.Scope, x tf.Output, spec Spec, prefix string) (probs tf.Output, vars []*Variable, err error) {
	n := &Network{Spec: spec, x: x, sharedPrefix: prefix}
	st, err := n.layers(s)
	if err != nil {
		return tf.Output{}, nil, err
	}
	probs = op.Softmax(at(s, "Softmax"), n.forward(s, st, false))
	if err := s.Err(); err != nil {
		return tf.Output{}, nil, fmt.Errorf("nn: building inference graph: %w", err)
	}
	return probs, n.Vars, nil
}

// Handle is the variable's resource handle, for ops that assign, save or
// restore it.
func (v *Variable) Handle() tf.Output { return v.handle }

// Value is the variable's value (its ReadVariableOp).
func (v *Variable) Value() tf.Output { return v.read }

// slot adds one of Adam's zero-initialised moment variables for v.
func (n *Network) slot(s *op.Scope, v *Variable, name string) *Variable {
	slot := n.variable(s, v.Name+"/"+name, toInt(v.Shape), false, 0, 0)
	slot.Trainable, slot.Slot = false, true
	return slot
}

// variable adds a float32 resource variable, its read and its init feed.
func (n *Network) variable(s *op.Scope, name string, shape []int, kernel bool, fanIn, fanOut int) *Variable {
	vs := s.SubScope(strings.ReplaceAll(name, "/", "_"))
	sh := toInt64(shape)
	v := &Variable{Name: name, Shape: sh, Kernel: kernel, FanIn: fanIn, FanOut: fanOut}
	v.handle = op.VarHandleOp(at(vs, "VarHandleOp"), tf.Float, tf.MakeShape(sh...), op.VarHandleOpSharedName(n.sharedPrefix+name))
	v.read = op.ReadVariableOp(at(vs, "ReadVariableOp"), v.handle, tf.Float)
	v.init = op.Placeholder(vs.SubScope("init"), tf.Float, op.PlaceholderShape(tf.MakeShape(sh...)))
	n.Vars = append(n.Vars, v)
	return v
}

// Params is the number of trainable parameters, as Keras counts them.
func (n *Network) Params() int {
	t := 0
	for _, l := range n.Layers {
		t += l.Trainable
	}
	return t
}

// Summary is the table Keras' model.summary() prints: each layer's name
// and class, output shape (batch axis as None) and parameter count, and
// for a graph the layers it reads ("Connected to"), aligned in columns,
// then the totals: trainable weights, and non-trainable ones (frozen
// layers above a backbone's cut, batch normalisation's statistics).
func (n *Network) Summary() string {
	graph := n.Spec.Inputs != nil
	head := []string{"Layer (type)", "Output Shape", "Param #"}
	if graph {
		head = append(head, "Connected to")
	}
	rows := [][]string{head}
	for _, l := range n.Layers {
		shape := "(None"
		for _, d := range l.Output {
			shape += fmt.Sprintf(", %d", d)
		}
		r := []string{l.Name + " (" + l.Class + ")", shape + ")", thousands(l.Params)}
		if graph {
			r = append(r, strings.Join(l.Inputs, ", "))
		}
		rows = append(rows, r)
	}
	w := make([]int, len(head))
	for _, r := range rows {
		for c := range r {
			w[c] = max(w[c], utf8.RuneCountInString(r[c]))
		}
	}
	var b strings.Builder
	width := 2 * (len(w) - 1)
	for _, c := range w {
		width += c
	}
	rule := strings.Repeat("─", width) + "\n"
	for i, r := range rows {
		line := fmt.Sprintf("%-*s  %-*s  %*s", w[0], r[0], w[1], r[1], w[2], r[2])
		if graph {
			line += fmt.Sprintf("  %s", r[3])
		}
		b.WriteString(line + "\n")
		if i == 0 {
			b.WriteString(rule)
		}
	}
	b.WriteString(rule)
	total := 0
	for _, l := range n.Layers {
		total += l.Params
	}
	fmt.Fprintf(&b, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n", thousands(total), thousands(n.Params()), thousands(total-n.Params()))
	return b.String()
}

// thousands writes n with commas between groups of three digits, as Keras.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// InitialWeights draws Keras' default initial values: Glorot uniform
// kernels, zero biases, zero optimizer slots, ones for batch
// normalisation's gamma and moving variance, a layer scale's init_values. The draw depends only on seed
// and the layer stack, never on global state.
func (n *Network) InitialWeights(seed int64) map[string][]float32 {
	out := make(map[string][]float32, len(n.Vars))
	for i, v := range n.Vars {
		x := make([]float32, v.Size())
		if v.Ones || v.Fill != 0 {
			fill := float32(v.Fill)
			if v.Ones {
				fill = 1
			}
			for j := range x {
				x[j] = fill
			}
		}
		if v.Kernel {
			r := rand.New(rand.NewPCG(uint64(seed), uint64(i)+1))
			limit := math.Sqrt(6 / float64(v.FanIn+v.FanOut))
			for j := range x {
				x[j] = float32((2*r.Float64() - 1) * limit)
			}
		}
		out[v.Name] = x
	}
	return out
}

// SetWeights assigns values to variables by name; every variable must be given.
func (n *Network) SetWeights(w map[string][]float32) error {
	feeds := make(map[tf.Output]*tf.Tensor, len(n.Vars))
	for _, v := range n.Vars {
		x, ok := w[v.Name]
		if !ok {
			return fmt.Errorf("nn: no value for variable %s", v.Name)
		}
		t, err := tensors.FromFloat32(x, v.Shape...)
		if err != nil {
			return fmt.Errorf("nn: variable %s: %w", v.Name, err)
		}
		feeds[v.init] = t
	}
	if _, err := n.sess.Run(feeds, nil, []*tf.Operation{n.assign}); err != nil {
		return fmt.Errorf("nn: assigning weights: %w", err)
	}
	return nil
}

// Weights returns the current value of every variable, by name.
func (n *Network) Weights() (map[string][]float32, error) {
	fetch := make([]tf.Output, len(n.Vars))
	for i, v := range n.Vars {
		fetch[i] = v.read
	}
	res, err := n.sess.Run(nil, fetch, nil)
	if err != nil {
		return nil, fmt.Errorf("nn: reading weights: %w", err)
	}
	out := make(map[string][]float32, len(n.Vars))
	for i, v := range n.Vars {
		if out[v.Name], err = tensors.Float32s(res[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Weight is the current value of one layer weight.
type Weight struct {
	Name   string // as in checkpoints: "dense/kernel"
	Shape  []int64
	Values []float32
}

// TrainableWeights returns the current value of every layer weight (not
// the optimizer's slots), in layer order: Keras' model.trainable_weights.
func (n *Network) TrainableWeights() ([]Weight, error) {
	var vars []*Variable
	var fetch []tf.Output
	for _, v := range n.Vars {
		if v.Trainable {
			vars, fetch = append(vars, v), append(fetch, v.read)
		}
	}
	res, err := n.sess.Run(nil, fetch, nil)
	if err != nil {
		return nil, fmt.Errorf("nn: reading weights: %w", err)
	}
	out := make([]Weight, len(vars))
	for i, v := range vars {
		out[i] = Weight{Name: v.Name, Shape: slices.Clone(v.Shape)}
		if out[i].Values, err = tensors.Float32s(res[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TrainBatch runs one Adam step on a batch and returns the batch's mean loss
// and number of correct predictions, both computed (as Keras does) from the
// training-mode forward pass before the update. step counts the updates
// made so far (Keras' optimizer.iterations); seed seeds the dropout masks.
func (n *Network) TrainBatch(x []float32, labels []int32, step int64, seed [2]int64) (loss float64, correct int, err error) {
	feeds, err := n.feeds(x, labels)
	if err != nil {
		return 0, 0, err
	}
	t := float64(step + 1)
	b1p, _ := tf.NewTensor(float32(math.Pow(float64(float32(n.Spec.Adam.Beta1)), t)))
	b2p, _ := tf.NewTensor(float32(math.Pow(float64(float32(n.Spec.Adam.Beta2)), t)))
	st, _ := tf.NewTensor(seed[:])
	lr, _ := tf.NewTensor(n.rate)
	feeds[n.b1Power], feeds[n.b2Power], feeds[n.seed], feeds[n.lr] = b1p, b2p, st, lr
	res, err := n.sess.Run(feeds, []tf.Output{n.trainLoss, n.trainCorrect}, []*tf.Operation{n.train})
	if err != nil {
		return 0, 0, fmt.Errorf("nn: train step %d: %w", step, err)
	}
	return float64(res[0].Value().(float32)), int(res[1].Value().(int32)), nil
}

// TrainBatchAt is TrainBatch at learning rate rate for this one step (as
// a learning-rate range test changes it every step); the rate of later
// TrainBatch calls is unchanged.
func (n *Network) TrainBatchAt(x []float32, labels []int32, step int64, seed [2]int64, rate float64) (loss float64, correct int, err error) {
	prev := n.rate
	n.rate = float32(rate)
	defer func() { n.rate = prev }()
	return n.TrainBatch(x, labels, step, seed)
}

// SetLearningRate sets the rate of the next TrainBatch calls (a schedule's
// rate for the step, or one ReduceLROnPlateau lowered), as float32, as
// Keras' optimizer holds it.
func (n *Network) SetLearningRate(lr float64) { n.rate = float32(lr) }

// LearningRate is the rate the next TrainBatch applies.
func (n *Network) LearningRate() float64 { return float64(n.rate) }

// smoothed is the one-hot target's values with Keras' label smoothing s
// over classes: y × (1 − s) + s / classes, in float32 as Keras computes
// it.
func smoothed(s float64, classes int) (on, off float32) {
	if s == 0 {
		return 1, 0
	}
	off = float32(s) / float32(classes)
	return float32(1-s) + off, off
}

// Predict returns class probabilities (len(labels)×classes, row-major) and
// each example's loss, with dropout off. labels may be nil when unknown;
// the losses are then nil too.
func (n *Network) Predict(x []float32, labels []int32) (probs, losses []float32, err error) {
	withLoss := labels != nil
	if !withLoss {
		labels = make([]int32, len(x)/max(n.inputSize, 1))
	}
	feeds, err := n.feeds(x, labels)
	if err != nil {
		return nil, nil, err
	}
	fetch := []tf.Output{n.probs}
	if withLoss {
		fetch = append(fetch, n.exampleLoss)
	}
	res, err := n.sess.Run(feeds, fetch, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: predict: %w", err)
	}
	if probs, err = tensors.Float32s(res[0]); err != nil {
		return nil, nil, err
	}
	if withLoss {
		if losses, err = tensors.Float32s(res[1]); err != nil {
			return nil, nil, err
		}
	}
	return probs, losses, nil
}

func (n *Network) feeds(x []float32, labels []int32) (map[tf.Output]*tf.Tensor, error) {
	b := len(labels)
	if b == 0 || len(x) != b*n.inputSize {
		return nil, fmt.Errorf("nn: batch of %d labels with %d input values; want %d per example (%s)", b, len(x), n.inputSize, n.Spec.Input)
	}
	for _, l := range labels {
		if l < 0 || int(l) >= n.Spec.Classes {
			return nil, fmt.Errorf("nn: label %d out of range [0,%d)", l, n.Spec.Classes)
		}
	}
	xt, err := tensors.FromFloat32(x, append([]int64{int64(b)}, toInt64(n.Spec.Input)...)...)
	if err != nil {
		return nil, err
	}
	lt, err := tf.NewTensor(labels)
	if err != nil {
		return nil, err
	}
	return map[tf.Output]*tf.Tensor{n.x: xt, n.labels: lt}, nil
}

// Save writes every variable (weights and Adam slots) as a TensorFlow
// checkpoint at prefix (prefix.index, prefix.data-00000-of-00001).
func (n *Network) Save(prefix string) error {
	p, _ := tf.NewTensor(prefix)
	if _, err := n.sess.Run(map[tf.Output]*tf.Tensor{n.prefix: p}, nil, []*tf.Operation{n.save}); err != nil {
		return fmt.Errorf("nn: saving checkpoint %s: %w", prefix, err)
	}
	return nil
}

// Restore loads every variable from a checkpoint written by Save.
func (n *Network) Restore(prefix string) error {
	p, _ := tf.NewTensor(prefix)
	if _, err := n.sess.Run(map[tf.Output]*tf.Tensor{n.prefix: p}, nil, []*tf.Operation{n.restore}); err != nil {
		return fmt.Errorf("nn: restoring checkpoint %s: %w", prefix, err)
	}
	return nil
}

// Close frees the session; closing twice does nothing.
func (n *Network) Close() error {
	if n.sess == nil {
		return nil
	}
	err := n.sess.Close()
	n.sess = nil
	return err
}

// at gives each op its own name: the Go binding's scopes do not make op
// names unique by themselves, so every op gets a sub-scope named for it
// (SubScope numbers repeats: matmul, matmul_1, ...).
func at(s *op.Scope, name string) *op.Scope { return s.SubScope(strings.ToLower(name)) }

// tensorsOf converts outputs to the layers package's opaque tensors.
func tensorsOf(outs []tf.Output) []layers.Tensor {
	ts := make([]layers.Tensor, len(outs))
	for i, o := range outs {
		ts[i] = o
	}
	return ts
}

func toInt64(s []int) []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = int64(d)
	}
	return out
}

func toInt(s []int64) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}
