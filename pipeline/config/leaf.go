package config

import (
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"

	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// This file is the one table of leaf types: every kind of value a config
// key or a layer setting holds, with how it decodes from YAML (and what
// its error says it wanted), how it is written back, and how the
// documentation shows a default. Keys pick their type by name
// (intType.of(&c.Train.Epochs)); layer settings, which package layers
// describes by the Go type they point at (layers.Field.Value), find theirs
// in leafTypes. A new leaf type is one entry here; a layer setting of a Go
// type no entry takes is an error naming it, and a test walks every layer
// kind so that it never reaches a user.

// leafType is one type of leaf value, held in a Go variable of type T.
type leafType[T any] struct {
	// decode returns n's value, or reports what it wanted at path and
	// returns false. n is never null (null leaves a key at its default).
	decode func(d *decoder, n *yaml.Node, path string) (T, bool)
	// encode writes v as Marshal does; decode reads it back as v.
	encode func(v T) *yaml.Node
	// doc shows a default as the documentation does; nil: encode's text.
	doc func(v T) string
	// layer is set on the one type that layer settings of Go type *T
	// take (a *[2]int setting is a square pair, not a size).
	layer bool
}

// value is a leaf type bound to the variable it decodes into and writes.
type value interface {
	decode(d *decoder, n *yaml.Node, path string)
	node() *yaml.Node
	docText() string
}

// of binds t to the variable at p.
func (t *leafType[T]) of(p *T) value { return bound[T]{t, p} }

// bind binds t to p if t is the type of layer settings that p's Go type
// holds.
func (t *leafType[T]) bind(p any) (value, bool) {
	q, ok := p.(*T)
	if !ok || !t.layer {
		return nil, false
	}
	return bound[T]{t, q}, true
}

type bound[T any] struct {
	t *leafType[T]
	p *T
}

func (b bound[T]) decode(d *decoder, n *yaml.Node, path string) {
	if v, ok := b.t.decode(d, n, path); ok {
		*b.p = v
	}
}

func (b bound[T]) node() *yaml.Node { return b.t.encode(*b.p) }

func (b bound[T]) docText() string {
	if b.t.doc != nil {
		return b.t.doc(*b.p)
	}
	return flowText(b.node())
}

// leafTypes lists every leaf type, for the layer settings' look-up.
var leafTypes = []interface {
	bind(p any) (value, bool)
}{stringType, stringsType, intType, int64Type, floatType, boolType, sizeType, squareType, optionalSizeType, unitsType, batchSizeType, intsType, floatsType, optionalFloatType, paddingType}

// fieldValue returns the leaf value of a layer setting, or an error when
// no leaf type takes its Go type.
func fieldValue(l layers.Layer, f layers.Field) (value, error) {
	for _, t := range leafTypes {
		if v, ok := t.bind(f.Value); ok {
			return v, nil
		}
	}
	return nil, fmt.Errorf("layer setting %s.%s holds a %T, which no leaf type of package config takes (add one to leafTypes)", l.Kind(), f.Key, f.Value)
}

// The leaf types.
var (
	// stringType is any scalar, as written, so that class folders named
	// 0..9 need no quotes.
	stringType = &leafType[string]{
		layer: true,
		decode: func(d *decoder, n *yaml.Node, path string) (string, bool) {
			if n.Kind != yaml.ScalarNode || isNull(n) {
				d.errorf(path, "want a string, got %s", describe(n))
				return "", false
			}
			return n.Value, true
		},
		encode: str,
	}
	// stringsType is a list of strings, possibly empty.
	stringsType = &leafType[[]string]{
		decode: func(d *decoder, n *yaml.Node, path string) ([]string, bool) {
			if n.Kind != yaml.SequenceNode {
				d.errorf(path, "want a list of strings, got %s", describe(n))
				return nil, false
			}
			s := make([]string, len(n.Content))
			d.list(n, path, func(i int, c *yaml.Node, p string) { stringType.of(&s[i]).decode(d, c, p) })
			return s, true
		},
		encode: strList,
	}
	intType = &leafType[int]{
		layer: true,
		decode: func(d *decoder, n *yaml.Node, path string) (int, bool) {
			var v int
			if !isInt(n) || n.Decode(&v) != nil {
				d.errorf(path, "want an integer, got %s", describe(n))
				return 0, false
			}
			return v, true
		},
		encode: func(v int) *yaml.Node { return integer(int64(v)) },
	}
	int64Type = &leafType[int64]{
		decode: func(d *decoder, n *yaml.Node, path string) (int64, bool) {
			var v int64
			if !isInt(n) || n.Decode(&v) != nil {
				d.errorf(path, "want an integer, got %s", describe(n))
				return 0, false
			}
			return v, true
		},
		encode: integer,
	}
	// floatType is a number, integer or not.
	floatType = &leafType[float64]{
		layer: true,
		decode: func(d *decoder, n *yaml.Node, path string) (float64, bool) {
			var v float64
			tag := n.ShortTag()
			if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&v) != nil {
				d.errorf(path, "want a number, got %s", describe(n))
				return 0, false
			}
			return v, true
		},
		encode: float,
	}
	boolType = &leafType[bool]{
		layer: true,
		decode: func(d *decoder, n *yaml.Node, path string) (bool, bool) {
			var v bool
			if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
				d.errorf(path, "want true or false, got %s", describe(n))
				return false, false
			}
			return v, true
		},
		encode: boolean,
	}
	// floatsType is a list of numbers, possibly empty.
	floatsType = &leafType[[]float64]{
		decode: func(d *decoder, n *yaml.Node, path string) ([]float64, bool) {
			if n.Kind != yaml.SequenceNode {
				d.errorf(path, "want a list of numbers, got %s", describe(n))
				return nil, false
			}
			v := make([]float64, len(n.Content))
			before := len(d.errs)
			d.list(n, path, func(i int, c *yaml.Node, p string) { floatType.of(&v[i]).decode(d, c, p) })
			return v, len(d.errs) == before
		},
		encode: func(v []float64) *yaml.Node {
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
			for _, f := range v {
				n.Content = append(n.Content, float(f))
			}
			return n
		},
	}
	// rangeType is [min, max], two numbers.
	rangeType = &leafType[[2]float64]{
		decode: func(d *decoder, n *yaml.Node, path string) ([2]float64, bool) {
			var v [2]float64
			if n.Kind != yaml.SequenceNode || len(n.Content) != 2 {
				d.errorf(path, "want [min, max], got %s", describe(n))
				return v, false
			}
			before := len(d.errs)
			d.list(n, path, func(i int, c *yaml.Node, p string) { floatType.of(&v[i]).decode(d, c, p) })
			return v, len(d.errs) == before
		},
		encode: func(v [2]float64) *yaml.Node {
			return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle, Content: []*yaml.Node{float(v[0]), float(v[1])}}
		},
	}
	// sizeType is [height, width].
	sizeType = &leafType[[2]int]{
		decode: func(d *decoder, n *yaml.Node, path string) ([2]int, bool) { return d.pair(n, path, false) },
		encode: pair,
	}
	// squareType is [height, width], or an integer n meaning [n, n]: a
	// layer's kernel, stride or pool size.
	squareType = &leafType[[2]int]{
		layer:  true,
		decode: func(d *decoder, n *yaml.Node, path string) ([2]int, bool) { return d.pair(n, path, true) },
		encode: pair,
		doc: func(v [2]int) string {
			if v[0] == v[1] {
				return fmt.Sprint(v[0])
			}
			return flowText(pair(v))
		},
	}
	// optionalSizeType is [height, width], written null while zero (not
	// set).
	optionalSizeType = &leafType[[2]int]{
		decode: sizeType.decode,
		encode: func(v [2]int) *yaml.Node {
			if v == [2]int{} {
				return null()
			}
			return pair(v)
		},
	}
	// unitsType is a dense layer's units: a positive integer or "classes".
	unitsType = &leafType[layers.Units]{
		layer: true,
		decode: func(d *decoder, n *yaml.Node, path string) (layers.Units, bool) {
			var v int
			switch {
			case isWord(n, "classes"):
				return layers.Classes, true
			case isInt(n) && n.Decode(&v) == nil && v > 0:
				return layers.Units(v), true
			}
			d.errorf(path, `want a positive integer or "classes", got %s`, describe(n))
			return 0, false
		},
		encode: func(v layers.Units) *yaml.Node {
			if v == layers.Classes {
				return str("classes")
			}
			return integer(int64(v))
		},
	}
	// intsType is a list of integers, possibly empty (also a reshape's
	// target_shape).
	intsType = &leafType[[]int]{
		layer: true,
		decode: func(d *decoder, n *yaml.Node, path string) ([]int, bool) {
			if n.Kind != yaml.SequenceNode {
				d.errorf(path, "want a list of integers, got %s", describe(n))
				return nil, false
			}
			v := make([]int, len(n.Content))
			d.list(n, path, func(i int, c *yaml.Node, p string) { intType.of(&v[i]).decode(d, c, p) })
			return v, true
		},
		encode: func(v []int) *yaml.Node {
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
			for _, x := range v {
				n.Content = append(n.Content, integer(int64(x)))
			}
			return n
		},
	}
	// paddingType is a zero_padding2d's [[top, bottom], [left, right]],
	// also written [rows, columns] (each on both sides) or n (n
	// everywhere), as Keras takes it.
	paddingType = &leafType[[2][2]int]{
		layer: true,
		decode: func(d *decoder, n *yaml.Node, path string) ([2][2]int, bool) {
			var v [2][2]int
			if n.Kind == yaml.SequenceNode && len(n.Content) == 2 && n.Content[0].Kind == yaml.SequenceNode {
				before := len(d.errs)
				d.list(n, path, func(i int, c *yaml.Node, p string) {
					if pv, ok := d.pair(c, p, false); ok {
						v[i] = pv
					}
				})
				return v, len(d.errs) == before
			}
			if n.Kind == yaml.SequenceNode && len(n.Content) == 2 || isInt(n) {
				pv, ok := d.pair(n, path, true)
				return [2][2]int{{pv[0], pv[0]}, {pv[1], pv[1]}}, ok
			}
			d.errorf(path, "want [[top, bottom], [left, right]], [rows, columns] or an integer, got %s", describe(n))
			return v, false
		},
		encode: func(v [2][2]int) *yaml.Node {
			return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle, Content: []*yaml.Node{pair(v[0]), pair(v[1])}}
		},
	}
	// optionalFloatType is a number, written null while 0 (not set, as
	// Keras' None).
	optionalFloatType = &leafType[float64]{
		decode: floatType.decode,
		encode: func(v float64) *yaml.Node {
			if v == 0 {
				return null()
			}
			return float(v)
		},
	}
	// batchSizeType is a positive integer, or "auto" (AutoBatch).
	batchSizeType = &leafType[int]{
		decode: func(d *decoder, n *yaml.Node, path string) (int, bool) {
			var v int
			switch {
			case isWord(n, "auto"):
				return AutoBatch, true
			case isInt(n) && n.Decode(&v) == nil && v >= 1:
				return v, true
			}
			d.errorf(path, "want a positive integer or auto, got %s", describe(n))
			return 0, false
		},
		encode: func(v int) *yaml.Node {
			if v == AutoBatch {
				return str("auto")
			}
			return integer(int64(v))
		},
	}
)

func isInt(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" }

func isWord(n *yaml.Node, w string) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Value == w
}

// pair decodes [height, width]; if square is true, an integer n also
// does, meaning [n, n].
func (d *decoder) pair(n *yaml.Node, path string, square bool) ([2]int, bool) {
	want := "[height, width]"
	if square {
		want = "an integer or [height, width]"
	}
	var v [2]int
	switch {
	case square && isInt(n):
		var x int
		if n.Decode(&x) != nil {
			d.errorf(path, "want %s, got %s", want, describe(n))
			return v, false
		}
		return [2]int{x, x}, true
	case n.Kind == yaml.SequenceNode && len(n.Content) == 2:
		before := len(d.errs)
		d.list(n, path, func(i int, c *yaml.Node, p string) { intType.of(&v[i]).decode(d, c, p) })
		return v, len(d.errs) == before
	case n.Kind == yaml.SequenceNode:
		d.errorf(path, "want %s, got a list of %d", want, len(n.Content))
	default:
		d.errorf(path, "want %s, got %s", want, describe(n))
	}
	return v, false
}

// sameNode reports whether a and b are the same YAML value.
func sameNode(a, b *yaml.Node) bool {
	if a.Kind != b.Kind || a.ShortTag() != b.ShortTag() || a.Value != b.Value || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !sameNode(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// copyField sets the setting dst points at to the one src points at, both
// of the same Go type (a layer setting's Value).
func copyField(dst, src any) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}
