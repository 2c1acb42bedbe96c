package layers

import "fmt"

// LayerScale is ConvNeXt's layer scale
// (keras.src.applications.convnext.LayerScale): each value of the last
// axis multiplied by its own learned factor (the attribute gamma), which
// starts at init_values.
type LayerScale struct {
	InitValues    float64
	ProjectionDim int // the last axis' size
}

func init() { register(func() Layer { return &LayerScale{} }) }

func (*LayerScale) Kind() string       { return "layer_scale" }
func (*LayerScale) KerasClass() string { return "LayerScale" }

func (l *LayerScale) Fields() []Field {
	return []Field{
		{Key: "init_values", Required: true, Doc: "gamma's initial value", Value: &l.InitValues},
		{Key: "projection_dim", Required: true, Doc: "the input's last axis", Value: &l.ProjectionDim},
	}
}

func (l *LayerScale) Check() []Problem {
	if l.ProjectionDim < 1 {
		return []Problem{{"projection_dim", fmt.Sprintf("want an integer >= 1, got %d", l.ProjectionDim)}}
	}
	return nil
}

func (l *LayerScale) Output(in Shape, _ int) (Shape, error) {
	// A last axis of -1 (a backbone's features) is checked when the
	// backbone is loaded.
	if len(in) == 0 || (in[len(in)-1] != l.ProjectionDim && in[len(in)-1] >= 0) {
		return nil, fmt.Errorf("gets a %s input; projection_dim %d must be its last axis", in, l.ProjectionDim)
	}
	return in, nil
}

// Weights is gamma, which Keras creates unnamed: Keras (and so a
// backbone's checkpoint and metadata) calls it "variable".
func (l *LayerScale) Weights(Shape, int) []Weight {
	return []Weight{{Name: "variable", Shape: []int{l.ProjectionDim}, Fill: l.InitValues}}
}

func (*LayerScale) Forward(g Graph, x Tensor, _ Shape, w []Tensor, _ bool) Tensor {
	return g.Mul(x, w[0])
}
