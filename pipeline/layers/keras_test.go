package layers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestFromKeras rebuilds layers from the get_config() a backbone's
// exporter records, and refuses what this package would compute
// differently.
func TestFromKeras(t *testing.T) {
	init := map[string]any{"class_name": "GlorotUniform", "config": map[string]any{"seed": nil}}
	for _, tc := range []struct {
		class string
		cfg   map[string]any
		want  Layer
	}{
		{"Conv2D", map[string]any{"name": "conv_pw_13", "filters": 1024.0, "kernel_size": []any{1.0, 1.0}, "strides": []any{1.0, 1.0},
			"padding": "same", "activation": "linear", "use_bias": false, "data_format": "channels_last", "dilation_rate": []any{1.0, 1.0},
			"groups": 1.0, "kernel_initializer": init, "trainable": true},
			&Conv2D{Filters: 1024, KernelSize: [2]int{1, 1}, Strides: [2]int{1, 1}, Padding: "same", Activation: "linear", Groups: 1}},
		{"Conv2D", map[string]any{"filters": 768.0, "kernel_size": []any{7.0, 7.0}, "padding": "same", "groups": 768.0, "activation": "sigmoid"},
			&Conv2D{Filters: 768, KernelSize: [2]int{7, 7}, Strides: [2]int{1, 1}, Padding: "same", Activation: "sigmoid", UseBias: true, Groups: 768}},
		{"DepthwiseConv2D", map[string]any{"kernel_size": []any{3.0, 3.0}, "strides": []any{1.0, 1.0}, "padding": "same",
			"depth_multiplier": 1.0, "use_bias": false, "activation": "linear"},
			&DepthwiseConv2D{KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same", DepthMultiplier: 1, Activation: "linear"}},
		{"BatchNormalization", map[string]any{"epsilon": 0.001, "axis": -1.0, "momentum": 0.99, "center": true, "scale": true,
			"gamma_initializer": init, "synchronized": false}, &BatchNormalization{Epsilon: 0.001, Center: true, Scale: true}},
		{"BatchNormalization", map[string]any{"epsilon": 0.001, "axis": 3.0, "scale": false}, &BatchNormalization{Epsilon: 0.001, Center: true}},
		{"LayerNormalization", map[string]any{"epsilon": 1e-6, "axis": []any{-1.0}, "rms_scaling": false},
			&LayerNormalization{Epsilon: 1e-6, Center: true, Scale: true}},
		{"ZeroPadding2D", map[string]any{"padding": []any{[]any{0.0, 1.0}, []any{2.0, 3.0}}, "data_format": "channels_last"},
			&ZeroPadding2D{Padding: [2][2]int{{0, 1}, {2, 3}}}},
		{"Reshape", map[string]any{"target_shape": []any{1.0, 1.0, 672.0}}, &Reshape{TargetShape: []int{1, 1, 672}}},
		{"GlobalAveragePooling2D", map[string]any{"keepdims": true, "data_format": "channels_last"}, &GlobalAveragePooling2D{Keepdims: true}},
		{"Activation", map[string]any{"activation": "hard_silu"}, &Activation{Activation: "hard_silu"}},
		{"Dropout", map[string]any{"rate": 0.15, "noise_shape": []any{nil, 1.0, 1.0, 1.0}, "seed": nil}, &Activation{Activation: "linear"}},
		{"StochasticDepth", map[string]any{"drop_path_rate": 0.1}, &Activation{Activation: "linear"}},
		{"LayerScale", map[string]any{"init_values": 1e-6, "projection_dim": 768.0}, &LayerScale{InitValues: 1e-6, ProjectionDim: 768}},
		{"AveragePooling2D", map[string]any{"pool_size": []any{3.0, 3.0}, "strides": []any{1.0, 1.0}, "padding": "same"},
			&AveragePooling2D{PoolSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same"}},
		{"Rescaling", map[string]any{"scale": 1.0 / 6, "offset": 0.0}, &Rescaling{Scale: 1.0 / 6}},
		{"ReLU", map[string]any{"max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0}, &ReLU{MaxValue: 6}},
		{"ReLU", map[string]any{"max_value": nil}, &ReLU{}},
		{"MaxPooling2D", map[string]any{"pool_size": []any{2.0, 2.0}, "strides": []any{2.0, 2.0}, "padding": "valid", "data_format": "channels_last"},
			&MaxPool{PoolSize: [2]int{2, 2}, Strides: [2]int{2, 2}, Padding: "valid"}},
		{"Dense", map[string]any{"units": 4096.0, "activation": "relu", "use_bias": true}, &Dense{Units: 4096, Activation: "relu", UseBias: true}},
	} {
		got, err := FromKeras(tc.class, tc.cfg)
		if err != nil {
			t.Errorf("%s: %v", tc.class, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.class, got, tc.want)
		}
	}
	if got := KerasConfig(&ReLU{}, 2); !reflect.DeepEqual(got, map[string]any{"max_value": nil}) {
		t.Errorf("KerasConfig(relu without cap) = %v, want max_value None", got)
	}

	for _, tc := range []struct {
		class string
		cfg   map[string]any
		want  string
	}{
		{"GlobalMaxPooling2D", map[string]any{}, "keras.layers.GlobalMaxPooling2D: no layer kind of this package reproduces it"},
		{"Conv2D", map[string]any{"filters": 8.0, "kernel_size": 3.0, "dilation_rate": []any{2.0, 2.0}}, "dilation_rate = [2 2] is not supported (only [1 1])"},
		{"Conv2D", map[string]any{"filters": 8.0, "kernel_size": 3.0, "activation": "elu"}, `activation: "elu" is not supported`},
		{"Activation", map[string]any{"activation": "selu"}, `keras.layers.Activation: activation: "selu" is not supported`},
		{"LayerNormalization", map[string]any{"rms_scaling": true}, "rms_scaling = true is not supported (only false)"},
		{"LayerNormalization", map[string]any{"axis": []any{1.0, 2.0}}, "axis = [1 2] is not supported"},
		{"Rescaling", map[string]any{"scale": []any{1.0, 2.0}}, "keras.layers.Rescaling: scale: want a number"},
		{"ZeroPadding2D", map[string]any{"padding": 1.0}, "keras.layers.ZeroPadding2D: padding: want [[top, bottom], [left, right]]"},
		{"Conv2D", map[string]any{"filters": 8.0, "kernel_size": 3.0, "lora_rank": 4.0}, "setting lora_rank = 4 is not supported"},
		{"ReLU", map[string]any{"max_value": 1.0}, "max_value: want 0 (no cap) or 6, got 1"},
		{"BatchNormalization", map[string]any{"axis": 1.0}, "axis = 1 is not supported"},
	} {
		_, err := FromKeras(tc.class, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: error %v, want it to say %q", tc.class, tc.cfg, err, tc.want)
		}
	}
}

// TestBatchNormalizationWeights: Keras' four weights in its order, the
// statistics frozen, gamma and the variance starting at one.
func TestBatchNormalizationWeights(t *testing.T) {
	got := (&BatchNormalization{Epsilon: 1e-3, Center: true, Scale: true}).Weights(Shape{7, 7, 5}, 2)
	want := []Weight{
		{Name: "gamma", Shape: []int{5}, Ones: true},
		{Name: "beta", Shape: []int{5}},
		{Name: "moving_mean", Shape: []int{5}, Frozen: true},
		{Name: "moving_variance", Shape: []int{5}, Ones: true, Frozen: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("weights %+v, want %+v", got, want)
	}
	// InceptionV3's scale=False: no gamma, Keras' order otherwise.
	got = (&BatchNormalization{Epsilon: 1e-3, Center: true}).Weights(Shape{7, 7, 5}, 2)
	if !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("scale=False: weights %+v, want %+v", got, want[1:])
	}
}

// TestTailKindsWeights: the weights of the new kinds as Keras names and
// shapes them, which fine-tuning matches against a backbone's metadata.
func TestTailKindsWeights(t *testing.T) {
	for _, tc := range []struct {
		l    Layer
		in   Shape
		want []Weight
	}{
		{&Conv2D{Filters: 6, KernelSize: [2]int{7, 7}, Groups: 6}, Shape{4, 4, 6},
			[]Weight{{Name: "kernel", Shape: []int{7, 7, 1, 6}, Glorot: true, FanIn: 49, FanOut: 294}}},
		{&LayerNormalization{Epsilon: 1e-6, Center: true, Scale: true}, Shape{4, 4, 6},
			[]Weight{{Name: "gamma", Shape: []int{6}, Ones: true}, {Name: "beta", Shape: []int{6}}}},
		{&Dense{Units: 24, UseBias: true}, Shape{4, 4, 6},
			[]Weight{{Name: "kernel", Shape: []int{6, 24}, Glorot: true, FanIn: 6, FanOut: 24}, {Name: "bias", Shape: []int{24}}}},
		{&LayerScale{InitValues: 1e-6, ProjectionDim: 6}, Shape{4, 4, 6},
			[]Weight{{Name: "variable", Shape: []int{6}, Fill: 1e-6}}},
	} {
		if got := tc.l.Weights(tc.in, 2); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: weights %+v, want %+v", tc.l.Kind(), got, tc.want)
		}
	}
}

// TestFromKerasTails: every layer above the cuts of the nine
// keras.applications families (testdata/tails.json, their Keras 3.8
// get_config(), written by scripts/keras_tail_configs.py) decodes, except
// the layers that join branches (Add, Multiply, Concatenate), which are
// not single-input kinds.
func TestFromKerasTails(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "tails.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tails map[string]struct {
		Layers []struct {
			Class  string         `json:"class"`
			Config map[string]any `json:"config"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(b, &tails); err != nil {
		t.Fatal(err)
	}
	if len(tails) != 9 {
		t.Errorf("%d families in tails.json, want 9", len(tails))
	}
	joins := map[string]bool{"Add": true, "Multiply": true, "Concatenate": true}
	for family, tail := range tails {
		n := 0
		for _, l := range tail.Layers {
			if joins[l.Class] {
				continue
			}
			if _, err := FromKeras(l.Class, l.Config); err != nil {
				t.Errorf("%s: %v", family, err)
			}
			n++
		}
		t.Logf("%s: %d layer configs", family, n)
	}
}
