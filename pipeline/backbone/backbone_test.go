package backbone

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/cpuinfo"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

func TestMain(m *testing.M) {
	tfsession.SetProcess(tfsession.ForTests)
	os.Exit(m.Run())
}

// TestGolden feeds the exporter's seeded input batch through the SavedModel
// from Go and compares every endpoint with what the in-memory Keras model
// computed in Python (golden/*.npy, written by scripts/export_backbone.py).
func TestGolden(t *testing.T) {
	for _, name := range []string{"tiny", "vgg16-random", "mobilenet"} {
		t.Run(name, func(t *testing.T) {
			dir := testenv.SavedModel(t, name)
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			goldenCheck(t, m, dir)
		})
	}
}

// allClose checks |got-want| <= rtol·max|want| elementwise: a relative
// tolerance on the scale of the output, so values near zero (ReLU outputs)
// do not demand more precision than float32 sums give.
func allClose(got, want []float32, rtol float64) (float64, error) {
	if len(got) != len(want) {
		return 0, fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	var scale, worst float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	if scale == 0 {
		return 0, fmt.Errorf("reference output is all zeros: a degenerate golden file")
	}
	at := 0
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if worst > rtol*scale || math.IsNaN(worst) {
		return worst / scale, fmt.Errorf("max |diff| %.3g at %d (got %v, want %v) > %g × max|want| %.3g", worst, at, got[at], want[at], rtol, scale)
	}
	return worst / scale, nil
}

func TestEndpointsAndContract(t *testing.T) {
	m, err := Load(testenv.SavedModel(t, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := strings.Join(m.Endpoints(), ","); got != "block3_pool,block4_pool,block5_pool,fc2,predictions" {
		t.Fatalf("Endpoints() = %s", got)
	}
	ep, err := m.Endpoint("fc2")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Size() != 32 {
		t.Errorf("fc2 size %d, want 32", ep.Size())
	}
	if h, w, c := m.InputSize(); h != 32 || w != 32 || c != 3 {
		t.Errorf("InputSize() = %d,%d,%d", h, w, c)
	}
	if m.Meta.Weights.Pretrained() || !strings.Contains(m.Meta.Weights.String(), "RANDOM") {
		t.Errorf("random weights not labelled as such: %s", m.Meta.Weights)
	}
	if m.Meta.Input.Preprocessing.Mode != "caffe" {
		t.Errorf("preprocessing %q", m.Meta.Input.Preprocessing.Mode)
	}
}

func TestErrors(t *testing.T) {
	tiny := testenv.SavedModel(t, "tiny")
	m, err := Load(tiny)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	check := func(what string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", what, err, w)
			}
		}
	}

	_, err = Load(filepath.Join(t.TempDir(), "nope"))
	check("missing folder", err, "nope", "no such folder", "export_backbone.py")

	empty := t.TempDir()
	_, err = Load(empty)
	check("folder without metadata", err, empty, "metadata.json", "export_backbone.py")

	_, err = m.Run("fc3", make([]float32, 32*32*3), 1)
	check("unknown endpoint", err, `"fc3"`, "block5_pool, fc2, predictions")

	_, err = m.Run("fc2", make([]float32, 100), 1)
	check("wrong input size", err, "100 values", "32×32×3", "3072")

	// A model whose metadata promises an endpoint the SavedModel lacks.
	broken := t.TempDir()
	copyTree(t, tiny, broken)
	meta := filepath.Join(broken, "metadata.json")
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, []byte(strings.Replace(string(b), `"fc2": {`, `"fc9": {`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(broken)
	check("endpoint missing from signatures", err, `"fc9"`, "no such signature")

	// A SavedModel whose variables are corrupt: TensorFlow's loader fails
	// (tfgo panics) and Load must return that as an error.
	copyTree(t, tiny, broken)
	data := filepath.Join(broken, "variables", "variables.data-00000-of-00001")
	if err := os.WriteFile(data, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(broken)
	check("corrupt variables", err, broken, "tensorflow")
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	// CopyFS refuses to overwrite; rewrite metadata.json explicitly.
	b, err := os.ReadFile(filepath.Join(src, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "metadata.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBFloat16 checks that BFloat16 really has oneDNN compute in bfloat16
// and Float32 never does: the same golden batch through the same model
// gives Keras' float32 values in float32 (TestGolden, bit for bit here) and
// values that differ from them, by at most 2% of the output's scale
// (measured: 0.9% for VGG16's fc2), in bfloat16.
func TestBFloat16(t *testing.T) {
	if ok, why := cpuinfo.Read().BFloat16(); !ok {
		t.Skipf("TensorFlow skips the bfloat16 rewrite here: %s", why)
	}
	for _, c := range []struct{ name, endpoint string }{{"tiny", "fc2"}, {"vgg16-random", "fc2"}} {
		t.Run(c.name, func(t *testing.T) {
			dir := testenv.SavedModel(t, c.name)
			x, xs := testenv.ReadNpy(t, filepath.Join(dir, "golden", "input.npy"))
			want, _ := testenv.ReadNpy(t, filepath.Join(dir, "golden", c.endpoint+".npy"))
			run := func(p Precision) []float32 {
				m, err := LoadPrecision(dir, p)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if m.Precision != p {
					t.Fatalf("Precision = %v, want %v", m.Precision, p)
				}
				y, err := m.Run(c.endpoint, x, xs[0])
				if err != nil {
					t.Fatal(err)
				}
				return y
			}
			if _, err := allClose(run(Float32), want, 1e-6); err != nil {
				t.Errorf("float32 is not Keras' float32: %v", err)
			}
			bf := run(BFloat16)
			rel, err := allClose(bf, want, 0.02)
			if err != nil {
				t.Errorf("bfloat16 too far from float32: %v", err)
			}
			if rel < 1e-4 {
				t.Errorf("bfloat16 gave float32's values (max diff %.2g of scale): the rewrite was not applied", rel)
			}
			t.Logf("%s %s: bfloat16 vs float32: max |diff| = %.3g of the output's scale", c.name, c.endpoint, rel)
		})
	}
}

func TestParsePrecision(t *testing.T) {
	for _, s := range Precisions {
		p, err := ParsePrecision(s)
		if err != nil || p.String() != s {
			t.Errorf("ParsePrecision(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParsePrecision("fp16"); err == nil || !strings.Contains(err.Error(), "float32, bfloat16") {
		t.Errorf("ParsePrecision(fp16): %v", err)
	}
}

// TestClose checks that Close frees the session: a run after it fails with
// an error (not a crash), and a second Close does nothing.
func TestClose(t *testing.T) {
	m, err := Load(testenv.SavedModel(t, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 32*32*3)
	if _, err := m.Run("fc2", x, 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Run("fc2", x, 1); !errors.Is(err, tfsession.ErrClosed) {
		t.Errorf("Run after Close = %v, want tfsession.ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestRunBatchPosition: an image gets the same bits from RunBatch alone
// and behind other images in a batch of the same size. On CPUs without
// oneDNN's custom ops the tiny model's last position of a batch of 2 (and
// MobileNet's last two of 8) compute other low bits than position 0.
func TestRunBatchPosition(t *testing.T) {
	for _, c := range []struct {
		name, endpoint string
		batch          int
	}{{"tiny", "fc2", 2}, {"tiny", "fc2", 5}} {
		m, err := Load(testenv.SavedModel(t, c.name))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		h, w, ch := m.InputSize()
		per := h * w * ch
		x := make([]float32, c.batch*per)
		for i := range x {
			x[i] = float32((i*31)%255) / 255
		}
		all, err := m.RunBatch(c.endpoint, x, c.batch, c.batch)
		if err != nil {
			t.Fatal(err)
		}
		size := len(all) / c.batch
		for i := range c.batch {
			one, err := m.RunBatch(c.endpoint, x[i*per:(i+1)*per], 1, c.batch)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(one, all[i*size:(i+1)*size]) {
				t.Errorf("%s %s batch %d: image %d alone differs from image %d of a full batch", c.name, c.endpoint, c.batch, i, i)
			}
		}
	}
}

// TestPrepare: Prepare checks what needs no TensorFlow and leaves the load
// to the first Run, which computes what Open's model computes; a SavedModel
// TensorFlow cannot load is prepared, and fails at its first Run, and again
// with the same error; one closed before any Run fails with ErrClosed.
func TestPrepare(t *testing.T) {
	tiny := testenv.SavedModel(t, "tiny")
	open, err := Load(tiny)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	m, err := Prepare(tiny, nil, Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if ep, err := m.Endpoint("fc2"); err != nil || ep.Size() != 32 {
		t.Fatalf("prepared model's fc2: %v, %v; want 32 values before any load", ep, err)
	}
	x := make([]float32, 2*32*32*3)
	for i := range x {
		x[i] = float32(i%255) / 255
	}
	want, err := open.Run("fc2", x, 2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Run("fc2", x, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("prepared model's fc2 differs from the opened one's")
	}

	broken := t.TempDir()
	copyTree(t, tiny, broken)
	data := filepath.Join(broken, "variables", "variables.data-00000-of-00001")
	if err := os.WriteFile(data, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Prepare(broken, nil, Float32)
	if err != nil {
		t.Fatalf("Prepare of a SavedModel with corrupt weights: %v; want the error at its first Run", err)
	}
	defer b.Close()
	_, err = b.Run("fc2", x[:32*32*3], 1)
	if err == nil || !strings.Contains(err.Error(), broken) {
		t.Fatalf("Run of a SavedModel with corrupt weights: %v; want an error naming it", err)
	}
	if again := b.Ready(); again == nil || again.Error() != err.Error() {
		t.Errorf("Ready after the failed load: %v; want the same error %v", again, err)
	}

	c, err := Prepare(tiny, nil, Float32)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run("fc2", x[:32*32*3], 1); !errors.Is(err, tfsession.ErrClosed) {
		t.Errorf("Run of a model closed before its load = %v, want tfsession.ErrClosed", err)
	}
}
