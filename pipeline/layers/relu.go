package layers

import "fmt"

// ReLU is keras.layers.ReLU: max(x, 0), capped at max_value when it is 6
// (MobileNet's ReLU6, conv_pw_13_relu and the like).
type ReLU struct {
	MaxValue float64 // 0: no cap (Keras' None); else 6
}

func init() { register(func() Layer { return &ReLU{} }) }

func (*ReLU) Kind() string       { return "relu" }
func (*ReLU) KerasClass() string { return "ReLU" }

func (r *ReLU) Fields() []Field {
	return []Field{{Key: "max_value", Doc: "0 (no cap) or 6", Value: &r.MaxValue}}
}

func (r *ReLU) Check() []Problem {
	if r.MaxValue != 0 && r.MaxValue != 6 {
		return []Problem{{"max_value", fmt.Sprintf("want 0 (no cap) or 6, got %g", r.MaxValue)}}
	}
	return nil
}

func (*ReLU) Output(in Shape, _ int) (Shape, error) { return in, nil }

func (*ReLU) Weights(Shape, int) []Weight { return nil }

func (r *ReLU) Forward(g Graph, x Tensor, _ Shape, _ []Tensor, _ bool) Tensor {
	if r.MaxValue == 6 {
		return g.Activation(x, "relu6")
	}
	return g.Activation(x, "relu")
}

// kerasConfig writes no cap as Keras' None.
func (r *ReLU) kerasConfig() map[string]any {
	if r.MaxValue == 0 {
		return map[string]any{"max_value": nil}
	}
	return map[string]any{"max_value": r.MaxValue}
}
