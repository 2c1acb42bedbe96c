package backbone

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

// goldenCheck runs golden/input.npy through each endpoint of m and
// compares with golden/<file>.npy (file: the endpoint's name, with "/"
// as "_"), within 1e-4 of the output's scale.
func goldenCheck(t *testing.T, m *Model, dir string) {
	t.Helper()
	x, xs := testenv.ReadNpy(t, filepath.Join(dir, "golden", "input.npy"))
	if h, w, c := m.InputSize(); len(xs) != 4 || xs[1] != h || xs[2] != w || xs[3] != c {
		t.Fatalf("golden input shape %v, model takes [n %d %d %d]", xs, h, w, c)
	}
	for _, ep := range m.Endpoints() {
		want, _ := testenv.ReadNpy(t, filepath.Join(dir, "golden", strings.ReplaceAll(ep, "/", "_")+".npy"))
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
}

// TestGoldenApps checks every keras.applications architecture set-up
// exports for the tests (random weights offline, ImageNet's online), and
// a user's .keras file exported with
// --keras: each endpoint from Go equals what Keras computed, and the
// metadata says what Keras says of the architecture (its preprocessing
// mode, whose arithmetic Go repeats bit for bit, a pooled feature
// vector, the last two blocks).
func TestGoldenApps(t *testing.T) {
	wantMode := map[string]string{
		"MobileNetV2": "tf", "MobileNetV3Small": "none", "EfficientNetB0": "none", "EfficientNetV2B0": "none",
		"ResNet50": "caffe", "ResNet50V2": "tf", "DenseNet121": "torch", "InceptionV3": "tf", "ConvNeXtTiny": "none",
	}
	for _, name := range append(testenv.AppArchitectures(t), "user-cnn") {
		t.Run(name, func(t *testing.T) {
			dir := testenv.App(t, name)
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			goldenCheck(t, m, dir)
			if name == "user-cnn" {
				if got := strings.Join(m.Endpoints(), ","); got != "bn1,conv1,conv2,features,scores" || m.Meta.Input.Preprocessing.Mode != "none" {
					t.Errorf("endpoints %s, preprocessing %q; want bn1,conv1,conv2,features,scores and none", got, m.Meta.Input.Preprocessing.Mode)
				}
				return
			}
			var extra struct {
				Feature string   `json:"feature_endpoint"`
				Blocks  []string `json:"blocks"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &extra); err != nil {
				t.Fatal(err)
			}
			if want, ok := wantMode[name]; !ok || m.Meta.Input.Preprocessing.Mode != want {
				t.Errorf("preprocessing %q, want %q (Keras' preprocess_input for the family)", m.Meta.Input.Preprocessing.Mode, want)
			}
			// The golden input is the family's own preprocess_input of
			// golden/pixels.npy: Go's preprocessing of the same pixels
			// gives it bit for bit.
			pix, _ := testenv.ReadNpy(t, filepath.Join(dir, "golden", "pixels.npy"))
			x, _ := testenv.ReadNpy(t, filepath.Join(dir, "golden", "input.npy"))
			img := &images.RGB{H: len(pix) / 3, W: 1, Pix: make([]uint8, len(pix))}
			for i, v := range pix {
				img.Pix[i] = uint8(v)
			}
			got := make([]float32, len(pix))
			if err := images.Preprocess(got, img, m.Meta.Input.Preprocessing.Mode, false); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(x[i]) {
					t.Fatalf("preprocessing %s: value %d of pixel %v is %v in Go, %v in Keras' preprocess_input", m.Meta.Input.Preprocessing.Mode, i, pix[i], got[i], x[i])
				}
			}
			ep, err := m.Endpoint(extra.Feature)
			if err != nil || len(ep.Shape) != 1 {
				t.Errorf("feature endpoint %q: %v, shape %v; want a vector", extra.Feature, err, ep)
			}
			if len(extra.Blocks) != 2 {
				t.Errorf("blocks %v: want the last two", extra.Blocks)
			}
			for _, blk := range extra.Blocks {
				if ep, err := m.Endpoint(blk); err != nil || len(ep.Shape) != 3 {
					t.Errorf("block %q: %v; want a [h w c] endpoint", blk, err)
				}
			}
			if p, err := m.Endpoint("predictions"); err != nil || p.Size() != 1000 {
				t.Errorf("predictions: %v", err)
			}
			t.Logf("%s: %dx%d, %s, features %s, blocks %v", name, m.h, m.w, m.Meta.Input.Preprocessing.Mode, extra.Feature, extra.Blocks)
		})
	}
}

// TestPlainSavedModels loads SavedModels without metadata.json: Keras'
// model.export() of ResNet50, and a tf.saved_model.save module taking
// uint8 pixels of any size with two outputs. Go's outputs equal
// Python's.
func TestPlainSavedModels(t *testing.T) {
	for _, c := range []struct {
		name string
		eps  []string
		prep string
	}{
		{"resnet50-export", []string{"serving_default"}, "caffe"},
		{"uint8-module", []string{"serving_default/features", "serving_default/logits"}, "none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := testenv.App(t, c.name)
			_, xs := testenv.ReadNpy(t, filepath.Join(dir, "golden", "input.npy"))
			for _, ep := range c.eps {
				m, err := Open(dir, &Plain{Endpoint: ep, Preprocess: c.prep, Height: xs[1], Width: xs[2]}, Float32)
				if err != nil {
					t.Fatal(err)
				}
				if !m.Meta.FromSignatures || m.Meta.Input.Preprocessing.Mode != c.prep || len(m.Meta.Weights.SHA256) != 64 ||
					!strings.Contains(m.Meta.Weights.String(), dir) {
					t.Errorf("metadata %+v", m.Meta)
				}
				goldenCheck(t, m, dir)
				m.Close()
			}
		})
	}
}

// TestPlainSavedModelErrors: each way a SavedModel without metadata.json
// can be named wrong gets an error that says what to write instead.
func TestPlainSavedModelErrors(t *testing.T) {
	resnet, u8, vector := testenv.App(t, "resnet50-export"), testenv.App(t, "uint8-module"), testenv.App(t, "vector-module")
	for _, c := range []struct {
		what string
		dir  string
		pl   *Plain
		want []string
	}{
		{"no metadata and no plain", resnet, nil, []string{"no metadata.json", "backbone.preprocess (caffe, tf, torch, none)"}},
		{"no image signature", vector, &Plain{Endpoint: "serving_default", Preprocess: "none"}, []string{"no image signature", "serving_default's input x has shape [-1 10], not 4-D"}},
		{"missing signature", resnet, &Plain{Endpoint: "features", Preprocess: "caffe"}, []string{`"features": no such signature`, "serve, serving_default"}},
		{"missing output", u8, &Plain{Endpoint: "serving_default/probs", Preprocess: "none", Height: 8, Width: 8}, []string{`no output "probs"`, "[features, logits]"}},
		{"several outputs", u8, &Plain{Endpoint: "serving_default", Preprocess: "none", Height: 8, Width: 8}, []string{"2 outputs", "serving_default/features, serving_default/logits"}},
		{"preprocess missing", resnet, &Plain{Endpoint: "serving_default"}, []string{"backbone.preprocess: required", "it is missing", "caffe, tf, torch, none"}},
		{"uint8 needs none", u8, &Plain{Endpoint: "serving_default/features", Preprocess: "tf", Height: 8, Width: 8}, []string{"uint8", "none"}},
		{"dynamic size without images.size", u8, &Plain{Endpoint: "serving_default/features", Preprocess: "none"}, []string{"dynamic", "images.size"}},
		{"preprocess against metadata", testenv.SavedModel(t, "tiny"), &Plain{Endpoint: "fc2", Preprocess: "tf"}, []string{`"tf"`, `"caffe"`, "leave backbone.preprocess out"}},
	} {
		_, err := Describe(c.dir, c.pl)
		if err == nil {
			t.Errorf("%s: no error", c.what)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.what, err, w)
			}
		}
	}
}

// TestExporterBadInput: the exporter refuses a .keras file that is not
// one, an --endpoint the model does not have and an --arch Keras does not
// have, listing the names it has.
func TestExporterBadInput(t *testing.T) {
	py, root := testenv.Python(t), testenv.Root(t)
	userCNN := filepath.Join(filepath.Dir(testenv.App(t, "user-cnn")), "user-cnn.keras")
	notKeras := filepath.Join(t.TempDir(), "model.keras")
	if err := os.WriteFile(notKeras, []byte("not a zip archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--keras", notKeras, "--preprocess", "tf"}, []string{"not a Keras 3 model file"}},
		{[]string{"--keras", userCNN, "--preprocess", "none", "--endpoint", "conv3"}, []string{"--endpoint conv3", "no such layer", "conv1, bn1, conv2, features, scores"}},
		{[]string{"--arch", "ResNet51", "--weights", "random"}, []string{"no such architecture", "ResNet50V2", "EfficientNetB0", "ConvNeXtTiny"}},
	} {
		cmd := exec.Command(py, append([]string{filepath.Join(root, "scripts", "export_backbone.py"), "--out", filepath.Join(t.TempDir(), "out")}, c.args...)...)
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != 2 {
			t.Errorf("%v: exit %d (%v), want 2\n%s", c.args, code, err, out)
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%v: output does not mention %q:\n%s", c.args, w, out)
			}
		}
	}
}
