package tensors

import (
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

func TestRoundTrip(t *testing.T) {
	x := []float32{1, -2.5, 3, 4e-7, 5, 6}
	tt, err := FromFloat32(x, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The tensor must hold the values where TensorFlow's own decoder sees them.
	got := tt.Value().([][]float32)
	if got[1][0] != 4e-7 || got[0][1] != -2.5 {
		t.Fatalf("tensor value = %v", got)
	}
	back, err := Float32s(tt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if back[i] != x[i] {
			t.Fatalf("Float32s()[%d] = %v, want %v", i, back[i], x[i])
		}
	}
}

func TestShapeMismatch(t *testing.T) {
	if _, err := FromFloat32(make([]float32, 5), 2, 3); err == nil {
		t.Fatal("5 values accepted for shape [2 3]")
	}
}

func TestWrongType(t *testing.T) {
	it, err := tf.NewTensor([]int32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Float32s(it); err == nil {
		t.Fatal("int32 tensor accepted")
	}
}
