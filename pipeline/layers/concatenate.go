package layers

import "fmt"

// Concatenate is keras.layers.Concatenate: its inputs joined along an
// axis, the channels by default, as DenseNet's blocks and Inception's
// branches join.
type Concatenate struct {
	// Axis counts the batch axis, as Keras: -1 (the last) and 3 are an
	// image's channels.
	Axis int
}

func init() { register(func() Layer { return &Concatenate{Axis: -1} }) }

func (*Concatenate) Kind() string       { return "concatenate" }
func (*Concatenate) KerasClass() string { return "Concatenate" }

func (c *Concatenate) Fields() []Field {
	return []Field{{Key: "axis", Doc: "the axis joined, counting the batch axis as Keras does; -1: the last", Value: &c.Axis}}
}

func (c *Concatenate) Check() []Problem {
	if c.Axis == 0 {
		return []Problem{{"axis", "0 is the batch axis: want an axis of the examples (1.., or -1 for the last)"}}
	}
	return nil
}

func (c *Concatenate) Output(Shape, int) (Shape, error) { return nil, joinOnly(c.Kind()) }
func (*Concatenate) Weights(Shape, int) []Weight        { return nil }
func (*Concatenate) Forward(_ Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	return x
}

// axis is the axis of one example's shape of the given rank, or -1.
func (c *Concatenate) axis(rank int) int {
	a := c.Axis - 1 // without the batch axis
	if c.Axis < 0 {
		a = rank + c.Axis
	}
	if a < 0 || a >= rank {
		return -1
	}
	return a
}

func (c *Concatenate) JoinOutput(ins []Shape) (Shape, error) {
	var out Shape
	for _, s := range ins {
		if s == nil {
			return nil, fmt.Errorf("concatenate: an input's shape is unknown")
		}
		a := c.axis(len(s))
		if a < 0 || len(s) != len(ins[0]) {
			return nil, fmt.Errorf("concatenate: axis %d of inputs of shapes %s: want inputs of one rank that have the axis", c.Axis, shapesString(ins))
		}
		if out == nil {
			out = append(Shape{}, s...)
			continue
		}
		for d := range s {
			switch {
			case d == a:
				out[d] += s[d]
			case s[d] != out[d]:
				return nil, fmt.Errorf("concatenate: inputs of shapes %s differ off axis %d", shapesString(ins), c.Axis)
			}
		}
	}
	return out, nil
}

func (c *Concatenate) Join(g Graph, xs []Tensor, ins []Shape) Tensor {
	return g.Concat(xs, c.axis(len(ins[0])))
}
