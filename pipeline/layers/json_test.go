package layers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestListJSON: every kind, with non-default settings, reads back equal
// from its JSON form, and units: classes stays classes.
func TestListJSON(t *testing.T) {
	in := List{
		&Conv2D{Filters: 8, KernelSize: [2]int{3, 5}, Strides: [2]int{2, 1}, Padding: "same", Activation: "relu", UseBias: false, Groups: 8},
		&MaxPool{PoolSize: [2]int{3, 3}, Strides: [2]int{1, 2}, Padding: "valid"},
		&DepthwiseConv2D{KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same", DepthMultiplier: 2, Activation: "linear"},
		&BatchNormalization{Epsilon: 0.001, Center: true},
		&ReLU{MaxValue: 6},
		&GlobalAveragePooling2D{Keepdims: true},
		&Activation{Activation: "gelu"},
		&ZeroPadding2D{Padding: [2][2]int{{0, 1}, {2, 3}}},
		&Reshape{TargetShape: []int{1, -1, 4}},
		&LayerNormalization{Epsilon: 1e-6, Scale: true},
		&AveragePooling2D{PoolSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same"},
		&Rescaling{Scale: 0.5, Offset: 3},
		&LayerScale{InitValues: 1e-6, ProjectionDim: 12},
		&UnitNormalization{},
		&Dropout{Rate: 0.25},
		&Flatten{},
		&Dense{Units: 7, Activation: "relu", UseBias: true},
		&Dense{Units: Classes, Activation: "softmax", UseBias: true},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `{"dense":{"units":"classes","activation":"softmax","use_bias":true}}`) {
		t.Errorf("JSON %s: want the last dense written as in a config", b)
	}
	var out List
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read back %d layers, want %d", len(out), len(in))
	}
	for i := range in {
		if !reflect.DeepEqual(in[i], out[i]) {
			t.Errorf("layer %d: read back %#v, want %#v", i, out[i], in[i])
		}
	}
	for _, tc := range []struct{ json, want string }{
		{`[{"dence": {}}]`, `unknown kind "dence"`},
		{`[{"dense": {"units": 3, "size": 1}}]`, `unknown setting "size"`},
		{`[{"dense": {"activation": "relu"}}]`, "units is required"},
		{`[{"dense": {"units": 3}, "flatten": {}}]`, "want one kind"},
		{`[{"dropout": {"rate": 2}}]`, "rate"},
	} {
		var l List
		if err := json.Unmarshal([]byte(tc.json), &l); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.json, err, tc.want)
		}
	}
}
