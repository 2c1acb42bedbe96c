package num

import (
	"encoding/json"
	"math"
	"testing"
)

func TestFinite(t *testing.T) {
	for _, v := range []float64{0, -1.5, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		if !Finite(v) {
			t.Errorf("Finite(%v) = false", v)
		}
	}
	if !AllFinite([]float32{0, -1.5, math.MaxFloat32, math.SmallestNonzeroFloat32}) {
		t.Error("AllFinite of finite values = false")
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if Finite(v) {
			t.Errorf("Finite(%v) = true", v)
		}
		if AllFinite([]float32{1, float32(v), 2}) {
			t.Errorf("AllFinite with %v = true", v)
		}
	}
	if !AllFinite(nil) {
		t.Error("AllFinite(nil) = false")
	}
}

// TestFloatJSON checks the bytes Float writes (those of a float64, null
// for NaN and infinities) and that they read back, null as NaN.
func TestFloatJSON(t *testing.T) {
	type rec struct {
		A Float `json:"a"`
		B Float `json:"b"`
		C Float `json:"c"`
		D Float `json:"d"`
	}
	in := rec{0.1 + 0.2, Float(math.NaN()), Float(math.Inf(-1)), 1e-7}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(map[string]any{"a": 0.1 + 0.2, "b": nil, "c": nil, "d": 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(want) {
		t.Fatalf("Marshal = %s, want %s", b, want)
	}
	var out rec
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.A != in.A || out.D != in.D || !math.IsNaN(float64(out.B)) || !math.IsNaN(float64(out.C)) {
		t.Errorf("round trip = %+v, want %+v with nulls as NaN", out, in)
	}
	if err := json.Unmarshal([]byte(`{"a": "x"}`), &out); err == nil {
		t.Error("a string decoded as a Float")
	}
}
