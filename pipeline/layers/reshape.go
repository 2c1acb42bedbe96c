package layers

import (
	"fmt"
	"slices"
)

// Reshape is keras.layers.Reshape: each example's values in the shape
// target_shape (one dimension may be -1, inferred), as EfficientNet's
// squeeze-and-excitation blocks turn a pooled vector into a 1×1×channels
// image.
type Reshape struct {
	TargetShape []int
}

func init() { register(func() Layer { return &Reshape{} }) }

func (*Reshape) Kind() string       { return "reshape" }
func (*Reshape) KerasClass() string { return "Reshape" }

func (r *Reshape) Fields() []Field {
	return []Field{{Key: "target_shape", Required: true, Doc: "dimensions > 0, one of them may be -1", Value: &r.TargetShape}}
}

func (r *Reshape) Check() []Problem {
	unknown := 0
	for _, d := range r.TargetShape {
		if d == -1 {
			unknown++
		}
		if d == 0 || d < -1 {
			return []Problem{{"target_shape", fmt.Sprintf("want dimensions > 0 (or one -1), got %v", r.TargetShape)}}
		}
	}
	if len(r.TargetShape) == 0 || unknown > 1 {
		return []Problem{{"target_shape", fmt.Sprintf("want at least one dimension and at most one -1, got %v", r.TargetShape)}}
	}
	return nil
}

func (r *Reshape) Output(in Shape, _ int) (Shape, error) {
	if in == nil {
		return nil, fmt.Errorf("only on a known input shape (after a backbone's cut, or in a model without backbone)")
	}
	out := Shape(slices.Clone(r.TargetShape))
	if in.Size() < 0 {
		return out, nil // a backbone's features: checked when it is loaded
	}
	known := 1
	for _, d := range out {
		if d > 0 {
			known *= d
		}
	}
	if i := slices.Index(out, -1); i >= 0 && known > 0 && in.Size()%known == 0 {
		out[i] = in.Size() / known
	}
	if out.Size() != in.Size() {
		return nil, fmt.Errorf("gets a %s input (%d values), which target_shape %v cannot hold", in, in.Size(), r.TargetShape)
	}
	return out, nil
}

func (*Reshape) Weights(Shape, int) []Weight { return nil }

func (r *Reshape) Forward(g Graph, x Tensor, in Shape, _ []Tensor, _ bool) Tensor {
	out, _ := r.Output(in, 0)
	return g.Reshape(x, out)
}
