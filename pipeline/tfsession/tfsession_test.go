package tfsession

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

func TestMain(m *testing.M) {
	SetProcess(ForTests)
	os.Exit(m.Run())
}

func TestGuard(t *testing.T) {
	sentinel := errors.New("boom")
	for _, tc := range []struct {
		name string
		f    func() error
		want string
		is   error
	}{
		{"no panic", func() error { return nil }, "", nil},
		{"error returned", func() error { return sentinel }, "boom", sentinel},
		{"panic with a string", func() error { panic("op x not found") }, "tensorflow: op x not found", nil},
		{"panic with an error", func() error { panic(sentinel) }, "tensorflow: boom", sentinel},
		{"binding panic", func() error {
			s := op.NewScope()
			op.Const(s, [][]float32{{1}}).Shape() // fine
			var bad tf.Output
			bad.Shape() // an Output of no operation: the binding panics
			return nil
		}, "tensorflow: ", nil},
	} {
		err := Guard(tc.f)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: Guard = %v, want nil", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: Guard = %v, want an error starting %q", tc.name, err, tc.want)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: Guard = %v, does not wrap %v", tc.name, err, tc.is)
		}
	}
}

// TestNewRunClose builds a graph in Go, runs it, and checks that a closed
// session refuses to run and closes again quietly.
func TestNewRunClose(t *testing.T) {
	s := op.NewScope()
	x := op.Placeholder(s.SubScope("x"), tf.Float)
	y := op.Mul(s, x, op.Const(s.SubScope("two"), float32(2)))
	g, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{}, {NoOptimizer: true}, {BFloat16: true}, {CallerThread: true}} {
		sess, err := New(g, o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		in, err := tf.NewTensor(float32(21))
		if err != nil {
			t.Fatal(err)
		}
		out, err := sess.Run(map[tf.Output]*tf.Tensor{x: in}, []tf.Output{y}, nil)
		if err != nil {
			t.Fatalf("%+v: Run: %v", o, err)
		}
		if got := out[0].Value().(float32); got != 42 {
			t.Errorf("%+v: 2×21 = %v", o, got)
		}
		// A fetch of an Output of no operation panics in the binding.
		if _, err := sess.Run(nil, []tf.Output{{}}, nil); err == nil {
			t.Errorf("%+v: Run of a zero Output succeeded", o)
		}
		if err := sess.Close(); err != nil {
			t.Fatalf("%+v: Close: %v", o, err)
		}
		if _, err := sess.Run(map[tf.Output]*tf.Tensor{x: in}, []tf.Output{y}, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("%+v: Run after Close = %v, want ErrClosed", o, err)
		}
		if err := sess.Close(); err != nil {
			t.Errorf("%+v: second Close: %v", o, err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := testenv.SavedModel(t, "tiny")
	sess, err := Load(dir, []string{"serve"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Output("saver_filename:0"); err != nil {
		t.Errorf("Output(saver_filename:0): %v", err)
	}
	for _, name := range []string{"no_such_op:0", "saver_filename:7", "saver_filename:x"} {
		if _, err := sess.Output(name); err == nil {
			t.Errorf("Output(%q) succeeded", name)
		}
	}
	if _, err := Load(dir, []string{"no-such-tag"}, Options{}); err == nil {
		t.Error("Load with an unknown tag succeeded")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none"), []string{"serve"}, Options{}); err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("Load of a missing folder = %v, want an error naming it", err)
	}
}
