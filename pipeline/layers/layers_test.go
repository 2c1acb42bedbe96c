package layers

import (
	"reflect"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	want := []string{"activation", "add", "average_pooling2d", "batch_normalization", "concatenate", "conv2d", "custom_scale_layer", "dense", "depthwise_conv2d", "dropout", "flatten",
		"global_average_pooling2d", "layer_normalization", "layer_scale", "max_pool", "multiply", "relu", "rescaling", "reshape", "separable_conv2d", "unit_normalization", "zero_padding2d"}
	if got := Kinds(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Kinds() = %v, want %v", got, want)
	}
	if _, ok := New("dence"); ok {
		t.Error(`New("dence") found a kind`)
	}
	for _, k := range Kinds() {
		a, _ := New(k)
		b, _ := New(k)
		if a.Kind() != k {
			t.Errorf("New(%q).Kind() = %q", k, a.Kind())
		}
		for i, f := range a.Fields() {
			switch f.Value.(type) {
			case *int, *float64, *string, *bool, *[2]int, *[]int, *[2][2]int, *Units:
			default:
				t.Errorf("%s.%s: unsupported type %T", k, f.Key, f.Value)
			}
			if f.Value == b.Fields()[i].Value {
				t.Errorf("%s.%s: two layers share a setting: New must return a fresh layer", k, f.Key)
			}
			if f.Key != strings.ToLower(f.Key) || strings.Contains(f.Key, " ") {
				t.Errorf("%s.%s: keys are Keras' snake_case argument names", k, f.Key)
			}
		}
		if ps := a.Check(); len(ps) > 0 && !hasRequired(a) {
			t.Errorf("%s: defaults fail Check: %v", k, ps)
		}
	}
}

func hasRequired(l Layer) bool {
	for _, f := range l.Fields() {
		if f.Required {
			return true
		}
	}
	return false
}

func TestNamesLikeKeras(t *testing.T) {
	stack := []Layer{&Conv2D{}, &MaxPool{}, &Conv2D{}, &MaxPool{}, &GlobalAveragePooling2D{}, &Dense{}, &Dropout{}, &Dense{}}
	want := []string{"conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "global_average_pooling2d", "dense", "dropout", "dense_1"}
	if got := Names(stack); !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
}

func TestInfer(t *testing.T) {
	conv := &Conv2D{Filters: 8, KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "valid"}
	pool := &MaxPool{PoolSize: [2]int{2, 2}, Strides: [2]int{2, 2}, Padding: "valid"}
	same := &MaxPool{PoolSize: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: "same"}
	gap := &GlobalAveragePooling2D{}
	top := &Dense{Units: Classes, Activation: "softmax", UseBias: true}
	for _, tc := range []struct {
		name  string
		stack []Layer
		in    Shape
		want  string // output shapes, or "bad index: error part"
	}{
		{"conv pool flatten", []Layer{conv, pool, &Flatten{}, top}, Shape{10, 12, 3}, "[8×10×8 4×5×8 160 5]"},
		{"same padding rounds up", []Layer{same, gap, top}, Shape{7, 7, 3}, "[4×4×3 3 5]"},
		{"gap on a backbone's spatial features", []Layer{gap, &Dropout{Rate: 0.5}, top}, Shape{7, 7, 1024}, "[1024 1024 5]"},
		{"gap on unknown features", []Layer{gap, top}, nil, "[? 5]"},
		{"the tail kinds on unknown features", []Layer{&GlobalAveragePooling2D{Keepdims: true}, &Reshape{TargetShape: []int{-1}},
			&LayerNormalization{Epsilon: 1e-3}, &LayerScale{InitValues: 1, ProjectionDim: 8}, top}, nil, "[1×1×? ? ? ? 5]"},
		{"dense on an image's last axis", []Layer{conv, &Dense{Units: 4}}, Shape{10, 10, 3}, "[8×8×8 8×8×4]"},
		{"layer_scale on the wrong axis", []Layer{&LayerScale{InitValues: 1, ProjectionDim: 8}}, Shape{3, 3, 4}, "0: gets a 3×3×4 input; projection_dim 8 must be its last axis"},
		{"grouped conv2d", []Layer{&Conv2D{Filters: 3, KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same", Groups: 3}}, Shape{5, 5, 3}, "[5×5×3]"},
		{"grouped conv2d, other groups", []Layer{&Conv2D{Filters: 6, KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Groups: 3}}, Shape{5, 5, 3}, "0: groups = 3 on 3 input channels and 6 filters is not supported"},
		{"zero_padding2d", []Layer{&ZeroPadding2D{Padding: [2][2]int{{0, 1}, {2, 3}}}}, Shape{5, 5, 3}, "[6×10×3]"},
		{"reshape", []Layer{&Reshape{TargetShape: []int{1, -1, 3}}}, Shape{5, 5, 3}, "[1×25×3]"},
		{"dense on unknown features", []Layer{top}, nil, "[5]"},
		{"dense on an image", []Layer{conv, top}, Shape{10, 10, 3}, "1: gets a 8×8×8 input; add `- flatten: {}`"},
		{"gap on a vector", []Layer{gap, top}, Shape{4096}, "0: gets a 4096 input, not an image"},
		{"conv after flatten", []Layer{&Flatten{}, conv}, Shape{10, 10, 3}, "1: gets a 300 input, not an image"},
		{"conv on a backbone", []Layer{conv}, nil, "0: only for models without backbone"},
		{"window too large", []Layer{conv}, Shape{2, 5, 3}, "0: a 3×3 window does not fit a 2×5 input"},
	} {
		got := inferred(Infer(tc.stack, tc.in, 5))
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestWeightsAndKerasConfig(t *testing.T) {
	conv := &Conv2D{Filters: 4, KernelSize: [2]int{3, 2}, Strides: [2]int{1, 1}, Padding: "same", Activation: "relu", UseBias: true}
	if got := conv.Weights(Shape{8, 8, 3}, 2); !reflect.DeepEqual(got, []Weight{
		{Name: "kernel", Shape: []int{3, 2, 3, 4}, Glorot: true, FanIn: 18, FanOut: 24},
		{Name: "bias", Shape: []int{4}},
	}) {
		t.Errorf("conv2d weights = %+v", got)
	}
	d := &Dense{Units: Classes, Activation: "softmax", UseBias: false}
	if got := d.Weights(Shape{16}, 10); len(got) != 1 || !reflect.DeepEqual(got[0].Shape, []int{16, 10}) {
		t.Errorf("dense without bias: weights %+v, want one 16×10 kernel", got)
	}
	if got := KerasConfig(d, 10); !reflect.DeepEqual(got, map[string]any{"units": 10, "activation": "softmax", "use_bias": false}) {
		t.Errorf("KerasConfig(dense) = %v", got)
	}
	if got := KerasConfig(&GlobalAveragePooling2D{}, 10); !reflect.DeepEqual(got, map[string]any{"keepdims": false}) {
		t.Errorf("KerasConfig(global_average_pooling2d) = %v, want keepdims false", got)
	}
	m, _ := New("max_pool")
	m.(*MaxPool).PoolSize = [2]int{3, 2}
	m.(Completer).Complete(func(string) bool { return false })
	if got := KerasConfig(m, 2)["strides"]; got != [2]int{3, 2} {
		t.Errorf("max_pool strides left out = %v, want the pool size", got)
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		l    Layer
		want []Problem
	}{
		{&Dropout{Rate: 1}, []Problem{{"rate", "want a number in [0, 1), got 1"}}},
		{&Conv2D{Filters: 0, KernelSize: [2]int{3, 0}, Strides: [2]int{1, 1}, Groups: 1}, []Problem{
			{"filters", "want an integer >= 1, got 0"}, {"kernel_size", "want positive [height, width], got [3, 0]"}}},
		{&MaxPool{PoolSize: [2]int{2, 2}, Strides: [2]int{0, 1}}, []Problem{{"strides", "want positive [height, width], got [0, 1]"}}},
	} {
		if got := tc.l.Check(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s.Check() = %v, want %v", tc.l.Kind(), got, tc.want)
		}
	}
}

func TestClassifier(t *testing.T) {
	if !Classifier(&Dense{Units: Classes, Activation: "softmax"}) {
		t.Error("dense(classes, softmax) is the classifier")
	}
	for _, l := range []Layer{&Dense{Units: 10, Activation: "softmax"}, &Dense{Units: Classes, Activation: "relu"}, &Dropout{}} {
		if Classifier(l) {
			t.Errorf("%+v is not the classifier", l)
		}
	}
}

// TestInferGraph runs shapes through joins (a residual add, a
// squeeze-and-excitation multiply, a concatenation) and rejects graphs
// that do not wire their layers.
func TestInferGraph(t *testing.T) {
	conv := &Conv2D{Filters: 4, KernelSize: [2]int{1, 1}, Strides: [2]int{1, 1}, Padding: "valid"}
	gap := &GlobalAveragePooling2D{}
	top := &Dense{Units: Classes, Activation: "softmax", UseBias: true}
	for _, tc := range []struct {
		name string
		ls   []Layer
		ins  Inputs
		in   Shape
		want string
	}{
		{"residual", []Layer{conv, &Add{}, gap, top}, Inputs{{-1}, {-1, 0}, {1}, {2}}, Shape{5, 5, 4}, "[5×5×4 5×5×4 4 3]"},
		{"gate broadcasts", []Layer{conv, &Multiply{}, gap, top}, Inputs{{-1}, {-1, 0}, {1}, {2}}, Shape{1, 1, 4}, "[1×1×4 1×1×4 4 3]"},
		{"concatenate", []Layer{conv, &Concatenate{Axis: 3}, gap, top}, Inputs{{-1}, {0, -1}, {1}, {2}}, Shape{5, 5, 6}, "[5×5×4 5×5×10 10 3]"},
		{"concatenate off axis", []Layer{conv, &Concatenate{Axis: 1}, gap, top}, Inputs{{-1}, {0, -1}, {1}, {2}}, Shape{5, 5, 6}, "1: concatenate: inputs of shapes 5×5×4, 5×5×6 differ off axis 1"},
		{"add of two shapes", []Layer{conv, &Add{}, gap, top}, Inputs{{-1}, {-1, 0}, {1}, {2}}, Shape{5, 5, 6}, "1: add: inputs of shapes 5×5×6, 5×5×4 do not broadcast"},
		{"join of one", []Layer{conv, &Add{}, gap, top}, Inputs{{-1}, {0}, {1}, {2}}, Shape{5, 5, 4}, "0: layer 1 (add) joins 1 inputs; want two or more"},
		{"two inputs to a conv", []Layer{conv, conv, gap, top}, Inputs{{-1}, {-1, 0}, {1}, {2}}, Shape{5, 5, 4}, "0: layer 1 (conv2d) takes 2 inputs; want one"},
		{"reads a later layer", []Layer{conv, &Add{}, gap, top}, Inputs{{2}, {-1, 0}, {1}, {2}}, Shape{5, 5, 4}, "0: layer 0 (conv2d) reads layer 2: want an earlier layer or the input"},
		{"dangling branch", []Layer{conv, conv, gap, top}, Inputs{{-1}, {-1}, {1}, {2}}, Shape{5, 5, 4}, "0: layer 0 (conv2d): no layer reads its output"},
		{"add in a stack", []Layer{&Add{}, top}, nil, Shape{4}, "0: add joins the outputs of two or more layers"},
	} {
		got := inferred(InferGraph(tc.ls, tc.ins, tc.in, 3))
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if !(Inputs{{-1}, {0}, {1}}).Chain() || (Inputs{{-1}, {-1, 0}}).Chain() {
		t.Error("Chain: a stack's wiring is a chain, a join's is not")
	}
}

// inferred writes Infer's result as the tests want it: each layer's
// output shape, or the index of the bad layer and the error.
func inferred(shapes []Shape, bad int, err error) string {
	if err != nil {
		return strings.Join([]string{string(rune('0' + bad)), err.Error()}, ": ")
	}
	parts := make([]string, len(shapes))
	for i, s := range shapes {
		parts[i] = s.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}
