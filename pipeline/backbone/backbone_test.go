package backbone

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

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
			x, xs := testenv.ReadNpy(t, filepath.Join(dir, "golden", "input.npy"))
			h, w, c := m.InputSize()
			if len(xs) != 4 || xs[1] != h || xs[2] != w || xs[3] != c {
				t.Fatalf("golden input shape %v, model takes [n %d %d %d]", xs, h, w, c)
			}
			for _, ep := range m.Endpoints() {
				want, _ := testenv.ReadNpy(t, filepath.Join(dir, "golden", ep+".npy"))
				got, err := m.Run(ep, x, xs[0])
				if err != nil {
					t.Fatal(err)
				}
				rel, err := allClose(got, want, 1e-4)
				if err != nil {
					t.Errorf("endpoint %s: Go vs Keras: %v", ep, err)
				}
				t.Logf("%s: max |Go-Keras| / max|Keras| = %.2g over %d values", ep, rel, len(want))
			}
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
	if got := strings.Join(m.Endpoints(), ","); got != "block5_pool,fc2,predictions" {
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
	b, _ := os.ReadFile(meta)
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
