package layers

import (
	"fmt"
	"strings"
)

// Inputs wires a network's layers as a graph, as in Keras' functional
// API: for layer i, the indices of the layers whose outputs it takes, in
// call order, each smaller than i (so the layers are in topological
// order), with Input standing for the network's input. A nil Inputs is a
// stack, each layer taking the one before: a config's models are stacks;
// a backbone's layers above a cut (ResNet's residual Add, EfficientNet's
// squeeze-and-excitation Multiply, DenseNet's Concatenate) are graphs.
type Inputs [][]int

// Input is the index that stands for the network's input in Inputs.
const Input = -1

// Of returns the inputs of layer i: ins[i], or for a stack the layer
// before (Input for the first).
func (ins Inputs) Of(i int) []int {
	if ins == nil {
		return []int{i - 1}
	}
	return ins[i]
}

// Joiner is implemented by the kinds that join branches of a graph, as
// Keras' merging layers do (Add, Multiply, Concatenate): they take the
// outputs of two or more layers. They have no weights. A config's stack,
// whose layers each take the one before, has no branches to join: only a
// backbone's layers above a cut do.
type Joiner interface {
	Layer
	// JoinOutput is Output for inputs of shapes ins.
	JoinOutput(ins []Shape) (Shape, error)
	// Join adds the forward pass over xs, of shapes ins.
	Join(g Graph, xs []Tensor, ins []Shape) Tensor
}

// joinOnly is the single-input Output error of a Joiner.
func joinOnly(kind string) error {
	return fmt.Errorf("%s joins the outputs of two or more layers: it belongs to a backbone's graph above a cut (fine-tuning), not to a stack, where each layer takes the one before", kind)
}

// Check returns an error when ins does not wire ls (a stack, nil, always
// does; InferGraph rejects its joins): a layer reading
// itself, a later layer or nothing, a join with fewer than two inputs, a
// layer of one input with several, or a layer other than the last whose
// output no layer reads (it would not train, and would not be exported).
func (ins Inputs) Check(ls []Layer) error {
	if ins == nil {
		return nil
	}
	if len(ins) != len(ls) {
		return fmt.Errorf("inputs for %d layers, have %d layers", len(ins), len(ls))
	}
	read := make([]bool, len(ls))
	for i, l := range ls {
		srcs := ins[i]
		_, join := l.(Joiner)
		switch {
		case join && len(srcs) < 2:
			return fmt.Errorf("layer %d (%s) joins %d inputs; want two or more", i, l.Kind(), len(srcs))
		case !join && len(srcs) != 1:
			return fmt.Errorf("layer %d (%s) takes %d inputs; want one", i, l.Kind(), len(srcs))
		}
		for _, j := range srcs {
			if j < Input || j >= i {
				return fmt.Errorf("layer %d (%s) reads layer %d: want an earlier layer or the input (%d)", i, l.Kind(), j, Input)
			}
			if j >= 0 {
				read[j] = true
			}
		}
	}
	for i := range len(ls) - 1 {
		if !read[i] {
			return fmt.Errorf("layer %d (%s): no layer reads its output", i, ls[i].Kind())
		}
	}
	return nil
}

// InferGraph is Infer for the graph that ins wires (nil: a stack).
func InferGraph(ls []Layer, ins Inputs, in Shape, classes int) ([]Shape, int, error) {
	if err := ins.Check(ls); err != nil {
		return nil, 0, err
	}
	out := make([]Shape, len(ls))
	shape := func(j int) Shape {
		if j == Input {
			return in
		}
		return out[j]
	}
	for i, l := range ls {
		var s Shape
		var err error
		if j, ok := l.(Joiner); ok && ins == nil {
			err = joinOnly(l.Kind())
		} else if ok {
			srcs := ins.Of(i)
			shapes := make([]Shape, len(srcs))
			for k, src := range srcs {
				shapes[k] = shape(src)
			}
			s, err = j.JoinOutput(shapes)
		} else {
			s, err = l.Output(shape(ins.Of(i)[0]), classes)
		}
		if err != nil {
			return nil, i, err
		}
		out[i] = s
	}
	return out, -1, nil
}

// broadcast is the shape of an element-wise op on inputs of shapes ins,
// as NumPy (and Keras' merging layers) broadcast them: the same rank, each
// dimension equal or 1.
func broadcast(kind string, ins []Shape) (Shape, error) {
	out := Shape(nil)
	for _, s := range ins {
		if s == nil {
			return nil, fmt.Errorf("%s: an input's shape is unknown", kind)
		}
		if out == nil {
			out = append(Shape{}, s...)
			continue
		}
		if len(s) != len(out) {
			return nil, fmt.Errorf("%s: inputs of shapes %s: want the same rank", kind, shapesString(ins))
		}
		for d := range s {
			switch {
			case s[d] == out[d] || s[d] == 1:
			case out[d] == 1:
				out[d] = s[d]
			default:
				return nil, fmt.Errorf("%s: inputs of shapes %s do not broadcast", kind, shapesString(ins))
			}
		}
	}
	return out, nil
}

func shapesString(ins []Shape) string {
	parts := make([]string, len(ins))
	for i, s := range ins {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}

// Chain reports whether ins wires a stack: each layer taking the one
// before (nil is one).
func (ins Inputs) Chain() bool {
	for i, srcs := range ins {
		if len(srcs) != 1 || srcs[0] != i-1 {
			return false
		}
	}
	return true
}

// StackKinds returns the YAML keys of the kinds a config's stack can hold:
// every kind but the joins, sorted.
func StackKinds() []string {
	var out []string
	for _, k := range Kinds() {
		if l, _ := New(k); !isJoiner(l) {
			out = append(out, k)
		}
	}
	return out
}

func isJoiner(l Layer) bool {
	_, ok := l.(Joiner)
	return ok
}

// joinCount is the error of a join of a fixed number of inputs.
func joinCount(kind string, want, got int) error {
	return fmt.Errorf("%s joins %d inputs, got %d", kind, want, got)
}
