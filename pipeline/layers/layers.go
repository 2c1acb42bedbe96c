// Package layers describes the Keras layer kinds a model stacks: for each
// kind, its YAML key and Keras class, its settings with their defaults,
// the checks on them, its output shape, its weights and its forward pass.
//
// A kind is one file: a type that implements Layer and registers itself
// from init. Nothing else lists the kinds: config decodes, checks, writes
// and documents layers through Fields and Check; nn builds them through
// Output, Weights and Forward; reference hands them to Keras by class name
// and Fields. The package is plain Go (no TensorFlow), so config builds
// without cgo; nn implements Graph with TensorFlow ops.
package layers

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Layer is one configured layer: a kind's settings. Methods have pointer
// receivers, so that decoding can fill the fields Fields points at.
type Layer interface {
	// Kind is the YAML key naming the kind, such as "dense".
	Kind() string
	// KerasClass is the keras.layers class, such as "Dense". Keras names
	// layers after it (dense, dense_1, ...), and so do checkpoints.
	KerasClass() string
	// Fields lists the settings in the order they are written, each
	// pointing into the layer. YAML keys are Keras' argument names.
	Fields() []Field
	// Check returns the problems with settings that a value's type alone
	// does not rule out (ranges, relations between keys).
	Check() []Problem
	// Output returns the shape of one example's output for input shape in
	// (nil: not known yet, as a backbone's features before it is loaded),
	// or an error saying what input the kind needs.
	Output(in Shape, classes int) (Shape, error)
	// Weights lists the layer's weight tensors for input shape in, in the
	// order they are created (and seeded).
	Weights(in Shape, classes int) []Weight
	// Forward adds the forward pass to g: x is the input, of shape in per
	// example, w the weights in the order of Weights. last is true for the model's output layer,
	// whose softmax the loss applies itself.
	Forward(g Graph, x Tensor, in Shape, w []Tensor, last bool) Tensor
}

// Completer is implemented by kinds whose defaults depend on other keys
// (a max_pool's strides default to its pool size). Complete is called once
// after decoding, with the keys that were given.
type Completer interface {
	Complete(given func(key string) bool)
}

// Field is one setting of a layer kind.
type Field struct {
	Key      string
	Required bool     // no default: must be given
	OneOf    []string // for a string: the allowed values
	Doc      string   // what it means, for the documentation
	// Value points at the setting: *int, *float64, *string, *bool, *Units,
	// *[]int (a list), *[2][2]int (a zero_padding2d's [[top, bottom],
	// [left, right]]) or *[2]int (a [height, width] pair, also written as
	// one integer n meaning [n, n]). Package config's table of leaf types
	// says how each reads and writes; a test there checks that it takes
	// every kind's.
	Value any
	// Since is the version of config's canonical form that added the
	// setting, 0 for those of the first form. A setting added to a kind
	// after run folders exist gives the next version: configs that leave
	// it at its default keep their run folder (see config's form).
	Since int
}

// Problem is a setting that fails Check.
type Problem struct {
	Key string // the setting's key; "" for the layer as a whole
	Msg string
}

// Weight is one weight tensor of a layer.
type Weight struct {
	Name   string // "kernel", "bias", "gamma", ..., as Keras names it
	Shape  []int
	Glorot bool    // Glorot-uniform initialised (kernels); otherwise zeros (or ones)
	Ones   bool    // initialised to ones (a batch normalisation's gamma and moving variance)
	Fill   float64 // when not zero, initialised to it (a layer scale's gamma)
	// Frozen weights are never trained: a batch normalisation's moving
	// statistics, which Keras updates only in training mode, and this
	// project's batch normalisation always runs in inference mode.
	Frozen bool
	FanIn  int
	FanOut int
}

// Shape is the shape of one example: [units] or [height width channels].
// A dimension of -1 is not known before the backbone is loaded.
type Shape []int

func (s Shape) String() string {
	if s == nil {
		return "unknown"
	}
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
		if d < 0 {
			parts[i] = "?"
		}
	}
	return strings.Join(parts, "×")
}

// Size is the number of values in s.
func (s Shape) Size() int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}

// Tensor is a value in a graph being built; only the Graph that made it
// knows what it is.
type Tensor any

// Graph is what a layer's forward pass is built from: a few ops, which nn
// implements with TensorFlow. A kind that needs an op not here adds it.
type Graph interface {
	MatMul(x, w Tensor) Tensor
	BiasAdd(x, b Tensor) Tensor
	// Activation applies one of TensorFlow's activation ops: "linear"
	// (nothing), "relu", "relu6" (min(max(x, 0), 6)), "softmax" (over the
	// last axis), "sigmoid" or "tanh". Kinds apply Keras' activations,
	// some composed of these, through the package's activations table.
	Activation(x Tensor, name string) Tensor
	Conv2D(x, kernel Tensor, strides [2]int, padding string) Tensor
	// DepthwiseConv2D convolves each channel with its own filters: kernel
	// is [height, width, channels, depth multiplier].
	DepthwiseConv2D(x, kernel Tensor, strides [2]int, padding string) Tensor
	// Add, Sub, Mul and Div are element-wise, broadcasting a per-channel
	// vector over an image; Rsqrt is 1/sqrt(x); Erf is the error
	// function; Scalar is a constant.
	Add(x, y Tensor) Tensor
	Sub(x, y Tensor) Tensor
	Mul(x, y Tensor) Tensor
	Div(x, y Tensor) Tensor
	Rsqrt(x Tensor) Tensor
	Erf(x Tensor) Tensor
	Scalar(v float64) Tensor
	MaxPool(x Tensor, size, strides [2]int, padding string) Tensor
	// AvgPool averages each window; with same padding, over the window's
	// values inside the image only (TensorFlow's AvgPool, as Keras).
	AvgPool(x Tensor, size, strides [2]int, padding string) Tensor
	// Pad adds zeros around an image: pad is [[top, bottom], [left,
	// right]].
	Pad(x Tensor, pad [2][2]int) Tensor
	// Reshape gives each example the shape s: x becomes [-1, s...], its
	// first axis (the batch's) inferred from x's size.
	Reshape(x Tensor, s Shape) Tensor
	// Mean averages each example over the given axes of its shape (0 is
	// the first axis after the batch), dropping them.
	Mean(x Tensor, axes []int) Tensor
	// Dropout zeroes a fraction rate of x and scales the rest by
	// 1/(1-rate) in training; it is the identity in inference.
	Dropout(x Tensor, rate float64) Tensor
	// Concat joins xs along axis of each example's shape (0 is the first
	// axis after the batch).
	Concat(xs []Tensor, axis int) Tensor
}

// Units is a dense layer's number of output units, or Classes.
type Units int

// Classes is the Units written "units: classes": as many units as the data
// has classes.
const Classes Units = -1

// Resolve returns the number of units, with Classes as numClasses.
func (u Units) Resolve(numClasses int) int {
	if u == Classes {
		return numClasses
	}
	return int(u)
}

// registry holds a constructor per kind, filled by each kind's init.
var registry = map[string]func() Layer{}

// register adds a kind; newLayer returns a layer with the kind's defaults.
func register(newLayer func() Layer) {
	kind := newLayer().Kind()
	if _, dup := registry[kind]; dup {
		panic("layers: kind " + kind + " registered twice")
	}
	registry[kind] = newLayer
}

// New returns a layer of the given kind with its defaults, and false if
// kind names no layer kind.
func New(kind string) (Layer, bool) {
	f, ok := registry[kind]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Kinds returns the YAML keys of every kind, sorted.
func Kinds() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Infer runs the shape of one example through the stack ls, returning
// each layer's output shape, or the index of the first layer that does
// not take its input and why. InferGraph does the same for a graph.
func Infer(ls []Layer, in Shape, classes int) ([]Shape, int, error) {
	return InferGraph(ls, nil, in, classes)
}

// Names returns the names Keras gives ls: its class name in snake case,
// numbered from the second of a kind (dense, dense_1, ...).
func Names(ls []Layer) []string {
	counts := map[string]int{}
	out := make([]string, len(ls))
	for i, l := range ls {
		base := snake(l.KerasClass())
		c := counts[base]
		counts[base]++
		out[i] = base
		if c > 0 {
			out[i] = fmt.Sprintf("%s_%d", base, c)
		}
	}
	return out
}

// snake converts a Keras class name to the base of its layers' names, as
// Keras' to_snake_case does: Dense -> dense, MaxPooling2D -> max_pooling2d,
// Conv2D -> conv2d.
func snake(class string) string {
	var b strings.Builder
	r := []rune(class)
	for i, c := range r {
		upper := c >= 'A' && c <= 'Z'
		if upper && i > 0 && r[i-1] >= 'a' && r[i-1] <= 'z' {
			b.WriteByte('_')
		}
		if upper {
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// kerasConfigurer is implemented by kinds whose Keras arguments are not
// their fields one for one (a ReLU's max_value 0 is Keras' None).
type kerasConfigurer interface {
	kerasConfig() map[string]any
}

// KerasConfig returns the settings of l as keyword arguments of its Keras
// class, with units: classes resolved to numClasses.
func KerasConfig(l Layer, numClasses int) map[string]any {
	if k, ok := l.(kerasConfigurer); ok {
		return k.kerasConfig()
	}
	out := map[string]any{}
	for _, f := range l.Fields() {
		if u, ok := f.Value.(*Units); ok {
			out[f.Key] = u.Resolve(numClasses)
			continue
		}
		out[f.Key] = reflect.ValueOf(f.Value).Elem().Interface() // as it is
	}
	return out
}

// Classifier reports whether l is the output layer the loss needs: dense
// with units: classes and a softmax.
func Classifier(l Layer) bool {
	d, ok := l.(*Dense)
	return ok && d.Units == Classes && d.Activation == "softmax"
}

// Helpers shared by kinds.

// needImage is the error of a kind that takes height×width×channels.
func needImage(kind string, in Shape) error {
	if in == nil {
		return fmt.Errorf("only for models without backbone: backbone features are not images")
	}
	if len(in) != 3 {
		return fmt.Errorf("gets a %s input, not an image (height×width×channels): %s goes before any flatten, on images or a backbone's spatial endpoint (such as block5_pool)", in, kind)
	}
	return nil
}

// window returns Keras' output size of a k-window with stride s.
func window(in Shape, k, strides [2]int, padding string) (int, int, error) {
	o := func(in, k, s int) int {
		if padding == "same" {
			return (in + s - 1) / s
		}
		return (in-k)/s + 1
	}
	oh, ow := o(in[0], k[0], strides[0]), o(in[1], k[1], strides[1])
	if oh <= 0 || ow <= 0 {
		return 0, 0, fmt.Errorf("a %d×%d window does not fit a %d×%d input", k[0], k[1], in[0], in[1])
	}
	return oh, ow, nil
}

// positivePair checks a [height, width] setting.
func positivePair(key string, v [2]int) []Problem {
	if v[0] <= 0 || v[1] <= 0 {
		return []Problem{{key, fmt.Sprintf("want positive [height, width], got [%d, %d]", v[0], v[1])}}
	}
	return nil
}

var (
	paddings = []string{"valid", "same"}
)
