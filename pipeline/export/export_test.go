package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"maps"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"codeberg.org/sbinet/npyio"
	tf "github.com/galeone/tensorflow/tensorflow/go"
	tg "github.com/galeone/tfgo"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/export"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/predict"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// childEnv makes the test binary act as a separate program (see TestMain).
const childEnv = "GOTRANSFER_EXPORT_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "classify":
		os.Exit(classifyChild(os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]))
	case "fsize":
		os.Exit(fsizeChild(os.Args[len(os.Args)-3], os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]))
	}
	tfsession.SetProcess(tfsession.ForTests)
	code := m.Run()
	if fix.root != "" {
		os.RemoveAll(fix.root)
	}
	os.Exit(code)
}

// classifyChild is a user's Go program that knows only the export's path:
// tfgo's LoadModel with the serve tag, the image file's bytes fed to
// image_bytes:0 (classify_encoded), the top class fetched by name.
func classifyChild(dir, image string) int {
	b, err := os.ReadFile(image)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	model := tg.LoadModel(dir, []string{"serve"}, nil)
	in, _ := tf.NewTensor([]string{string(b)})
	res := model.Exec([]tf.Output{model.Op("top_k_classes", 0), model.Op("top_k_scores", 0)},
		map[tf.Output]*tf.Tensor{model.Op("image_bytes", 0): in})
	fmt.Println(res[0].Value().([][]string)[0][0], res[1].Value().([][]float32)[0][0])
	return 0
}

// fsizeChild exports with a file size limit, so that writing fails with
// EFBIG part-way, as on a full disk.
func fsizeChild(run, model, out string) int {
	signal.Ignore(syscall.SIGXFSZ)
	lim := syscall.Rlimit{Cur: 20 << 10, Max: 20 << 10}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fmt.Println("setrlimit:", err)
		return 2
	}
	m, err := export.FromRun(run, model)
	if err != nil {
		fmt.Println("from run:", err)
		return 2
	}
	err = export.Write(out, m, export.Options{})
	fmt.Println("write error:", err)
	if err == nil {
		return 3
	}
	return 0
}

// fixture is one finished run (a transfer model on savedmodels/tiny, a
// scratch model, tiny fine-tuned from a cut, and MobileNetV3Small
// fine-tuned from its last block's start) with its exports, shared by the
// tests.
type fixture struct {
	root, run string
	test      []dataset.Example
	classes   []string
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func setup(t *testing.T) fixture {
	t.Helper()
	tiny := testenv.SavedModel(t, "tiny")
	fixOnce.Do(func() {
		root, err := os.MkdirTemp("", "export-test-")
		if err != nil {
			fixErr = err
			return
		}
		testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 4)
		// precision float32, not auto: the export holds the backbone's
		// float32 graph, and auto may choose bfloat16 for the run's
		// features (within 1%, not 1e-5, of float32's).
		cfg, err := config.Parse("e.yaml", []byte(fmt.Sprintf(`
name: e
runs_dir: %[1]s/runs
data: {dir: %[1]s/data, split: {train: 0.6, val: 0.2, test: 0.2}}
features: {cache_dir: %[1]s/cache, precision: float32}
train: {batch_size: 8, epochs: 2}
predict: {top_k: 2}
models:
  - name: top
    backbone: {savedmodel: %[2]s, endpoint: fc2}
    layers: [{dense: {units: 16, activation: relu}}, {dropout: {rate: 0.5}}, {dense: {units: classes, activation: softmax}}]
  - name: scratch
    image_size: [12, 12]
    layers: [{conv2d: {filters: 4, kernel_size: 3, activation: relu}}, {max_pool: {}}, {flatten: {}}, {dense: {units: classes, activation: softmax}}]
  - name: tuned
    backbone: {savedmodel: %[2]s, endpoint: fc2, fine_tune_from: block5_conv1}
    fine_tune: {epochs: 2, optimizer: {adam: {learning_rate: 1.0e-3}}}
    layers: [{dense: {units: classes, activation: softmax}}]
  - name: graph
    backbone: {savedmodel: %[3]s, endpoint: global_average_pooling2d, fine_tune_from: auto}
    fine_tune: {epochs: 1, optimizer: {adam: {learning_rate: 1.0e-3}}}
    layers: [{dense: {units: classes, activation: softmax}}]
`, root, tiny, testenv.App(t, "MobileNetV3Small"))), nil)
		if err != nil {
			fixErr = err
			return
		}
		var log bytes.Buffer
		res, err := experiment.Run(context.Background(), cfg, experiment.Options{Log: &log, Progress: &log})
		if err != nil {
			fixErr = fmt.Errorf("%v\n%s", err, log.String())
			return
		}
		dir := res.Dir
		ds, err := dataset.ReadManifest(filepath.Join(dir, rundir.ManifestFile))
		if err != nil {
			fixErr = err
			return
		}
		fix = fixture{root: root, run: dir, test: ds.Split(dataset.Test), classes: ds.Classes}
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func exportDir(f fixture, model string) string {
	return filepath.Join(rundir.Model(f.run, model), rundir.SavedModelDir)
}

// probsByClass maps class names to probabilities.
func probsByClass(preds []predict.Prediction) map[string]float64 {
	m := map[string]float64{}
	for _, p := range preds {
		m[p.Class] = p.Prob
	}
	return m
}

// TestRunAndExportAgree: the run's own predict and predict on the run's
// export (models/<name>/savedmodel, written at the end of the run) give the
// same probabilities on every test image; for the fine-tuned models,
// predict runs the tuned layers above the cut (a stack for tiny's VGG
// block, a graph for MobileNetV3's last block: its squeeze-and-excitation
// multiply, hard-swish and residual add), so the export holds the tuned
// weights, not the backbone's originals.
func TestRunAndExportAgree(t *testing.T) {
	f := setup(t)
	for _, name := range []string{"top", "scratch", "tuned", "graph"} {
		run, err := predict.Open(f.run, name)
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		exp, err := predict.OpenSavedModel(exportDir(f, name))
		if err != nil {
			t.Fatal(err)
		}
		defer exp.Close()
		worst := 0.0
		for _, e := range f.test {
			a, err := run.Predict(e.Path, len(f.classes))
			if err != nil {
				t.Fatal(err)
			}
			b, err := exp.Predict(e.Path, len(f.classes))
			if err != nil {
				t.Fatal(err)
			}
			pb := probsByClass(b)
			for _, p := range a {
				worst = max(worst, math.Abs(p.Prob-pb[p.Class]))
			}
		}
		t.Logf("%s: %d test images, max |run - export| = %.2g", name, len(f.test), worst)
		if worst > 1e-5 {
			t.Errorf("%s: run and export differ by %g, want ≤ 1e-5", name, worst)
		}
		// predict -savedmodel keeps going over a bad image, as -run does.
		bad := filepath.Join(t.TempDir(), "bad.jpg")
		os.WriteFile(bad, []byte("junk"), 0o644)
		good := f.test[0].Path
		var out, errs bytes.Buffer
		err = predict.PredictAll(exp, []string{good, bad, good}, 2, &out, &errs)
		if err == nil || !strings.Contains(err.Error(), "1 of 3") {
			t.Errorf("%s export: good, bad, good: error %v; want one saying 1 of 3 failed", name, err)
		}
		if got := strings.Count(out.String(), good+" ("+name+", exported):"); got != 2 {
			t.Errorf("%s export: %d of 2 good images predicted:\n%s", name, got, out.String())
		}
		if !strings.Contains(errs.String(), "bad.jpg") {
			t.Errorf("%s export: the bad image's failure is not reported: %q", name, errs.String())
		}
	}
}

// TestPythonLoadsExport: Python with only TensorFlow and Keras loads the
// export (tf.saved_model.load, keras.layers.TFSMLayer) and computes the
// run's probabilities; saved_model_cli lists both signatures.
func TestPythonLoadsExport(t *testing.T) {
	f := setup(t)
	py := testenv.Python(t)
	names := []string{"top", "scratch"}
	args := []string{filepath.Join(testenv.Root(t), "scripts", "check_export.py"), "probs"}
	want := map[string][][]predict.Prediction{}
	outs := map[string]string{}
	for _, name := range names {
		dir := exportDir(f, name)
		run, err := predict.Open(f.run, name)
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		exp, err := predict.OpenSavedModel(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer exp.Close()
		h, w := *exp.Meta.Input.Shape[1], *exp.Meta.Input.Shape[2]
		var x []float32
		for _, e := range f.test {
			img, err := images.Load(e.Path, h, w, "nearest")
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range img.Pix {
				x = append(x, float32(v))
			}
			p, err := run.Predict(e.Path, len(f.classes))
			if err != nil {
				t.Fatal(err)
			}
			want[name] = append(want[name], p)
		}
		tmp := t.TempDir()
		in, out := filepath.Join(tmp, "x.npy"), filepath.Join(tmp, "p.npy")
		fx, err := os.Create(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := npyio.Write(fx, x); err != nil {
			t.Fatal(err)
		}
		fx.Close()
		args = append(args, dir, in, out)
		outs[name] = out
	}
	res, err := exec.Command(py, args...).Output()
	if err != nil {
		t.Fatalf("check_export.py: %v\n%s", err, stderr(err))
	}
	lines := bytes.Split(bytes.TrimSpace(res), []byte("\n"))
	if len(lines) < len(names) {
		t.Fatalf("check_export.py printed %q, want one line per model", res)
	}
	lines = lines[len(lines)-len(names):]
	for k, name := range names {
		var top struct{ Top1 []string }
		if err := json.Unmarshal(lines[k], &top); err != nil {
			t.Fatalf("%s: %v: %s", name, err, res)
		}
		got, shape := testenv.ReadNpy(t, outs[name])
		n, c := len(f.test), len(f.classes)
		if len(shape) != 3 || shape[0] != 2 || shape[1] != n || shape[2] != c || len(top.Top1) != n {
			t.Fatalf("%s: Python's probabilities have shape %v, want [2 %d %d]; top-1 %v", name, shape, n, c, top.Top1)
		}
		worst := [2]float64{}
		for i := range n {
			if top.Top1[i] != want[name][i][0].Class {
				t.Errorf("%s: image %d: Python's top_k_classes[0] %s, run's top class %s", name, i, top.Top1[i], want[name][i][0].Class)
			}
			pw := probsByClass(want[name][i])
			for which := range 2 {
				for j, class := range f.classes {
					worst[which] = max(worst[which], math.Abs(float64(got[(which*n+i)*c+j])-pw[class]))
				}
			}
		}
		t.Logf("%s: max |Go run - Python| = %.2g (signature), %.2g (TFSMLayer in a Keras model)", name, worst[0], worst[1])
		if worst[0] > 1e-5 || worst[1] > 1e-5 {
			t.Errorf("%s: Python differs from the run by %g (signature), %g (TFSMLayer); want ≤ 1e-5", name, worst[0], worst[1])
		}
	}
	cli := filepath.Join(testenv.Root(t), ".venv", "bin", "saved_model_cli")
	res, err = exec.Command(cli, "show", "--dir", exportDir(f, "top"), "--all").Output()
	if err != nil {
		t.Fatalf("saved_model_cli: %v\n%s", err, stderr(err))
	}
	for _, s := range []string{"signature_def['serving_default']", "signature_def['classify_encoded']", "inputs['images']", "inputs['image_bytes']", "outputs['probabilities']", "outputs['top_k_classes']", "outputs['top_k_scores']"} {
		if !bytes.Contains(res, []byte(s)) {
			t.Errorf("saved_model_cli show --all does not list %s:\n%s", s, res)
		}
	}
}

// TestFreshGoProcess: a separate Go process that knows only the export's
// path classifies an image as the run does.
func TestFreshGoProcess(t *testing.T) {
	f := setup(t)
	run, err := predict.Open(f.run, "top")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	img := atInputSize(t, f.test[0].Path, 32, 32)
	want, err := run.Predict(img, 1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", exportDir(f, "top"), img)
	cmd.Env = append(os.Environ(), childEnv+"=classify")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr(err))
	}
	fields := strings.Fields(string(lastLine(out)))
	if len(fields) != 2 || fields[0] != want[0].Class {
		t.Fatalf("fresh process printed %q, want the run's top class %s (%.4f)", out, want[0].Class, want[0].Prob)
	}
	t.Logf("fresh process: %s", lastLine(out))
}

// TestClassifyEncoded: classify_encoded's top-1 against the run's own
// prediction on every test image: as stored (TensorFlow decodes and
// resizes), and saved as PNG at the input size (no resize: must agree).
func TestClassifyEncoded(t *testing.T) {
	f := setup(t)
	for _, name := range []string{"top", "scratch"} {
		dir := exportDir(f, name)
		run, err := predict.Open(f.run, name)
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		exp, err := predict.OpenSavedModel(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer exp.Close()
		h, w := *exp.Meta.Input.Shape[1], *exp.Meta.Input.Shape[2]
		model := tg.LoadModel(dir, []string{export.Tag}, nil)
		var orig, sized int
		for _, e := range f.test {
			want, err := run.Predict(e.Path, 1)
			if err != nil {
				t.Fatal(err)
			}
			if encodedTop1(t, model, e.Path) == want[0].Class {
				orig++
			}
			if encodedTop1(t, model, atInputSize(t, e.Path, h, w)) == want[0].Class {
				sized++
			}
		}
		n := len(f.test)
		t.Logf("%s: classify_encoded top-1 agrees with the run's prediction on %d/%d test images as stored (%.1f%%, TensorFlow's decode and resize), %d/%d at the input size (%.1f%%)",
			name, orig, n, 100*float64(orig)/float64(n), sized, n, 100*float64(sized)/float64(n))
		if sized != n {
			t.Errorf("%s: images at the input size: classify_encoded agrees on %d/%d, want all", name, sized, n)
		}
	}
}

func encodedTop1(t *testing.T, model *tg.Model, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := tf.NewTensor([]string{string(b)})
	res := model.Exec([]tf.Output{model.Op("top_k_classes", 0)}, map[tf.Output]*tf.Tensor{model.Op("image_bytes", 0): in})
	return res[0].Value().([][]string)[0][0]
}

// atInputSize writes the image at path, decoded and resized as the run
// does, as a PNG of h×w, and returns its path.
func atInputSize(t *testing.T, path string, h, w int) string {
	t.Helper()
	img, err := images.Load(path, h, w, "nearest")
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range h * w {
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = img.Pix[3*i], img.Pix[3*i+1], img.Pix[3*i+2], 255
	}
	p := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))+".png")
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := png.Encode(fh, out); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInput(t *testing.T) {
	f := setup(t)
	// An unfinished run: config and weights, no results.
	unfinished := filepath.Join(t.TempDir(), "run")
	os.MkdirAll(unfinished, 0o755)
	cfg, _ := os.ReadFile(filepath.Join(f.run, rundir.ConfigFile))
	os.WriteFile(filepath.Join(unfinished, rundir.ConfigFile), cfg, 0o644)
	if _, err := export.FromRun(unfinished, "top"); err == nil || !strings.Contains(err.Error(), "not finished") {
		t.Errorf("unfinished run: %v", err)
	}
	if _, err := export.FromRun(f.run, "nope"); err == nil || !strings.Contains(err.Error(), `no model "nope" (have top, scratch, tuned, graph)`) {
		t.Errorf("unknown model: %v", err)
	}
	m, err := export.FromRun(f.run, "scratch")
	if err != nil {
		t.Fatal(err)
	}
	// An existing folder is refused without Force; with it, only an
	// earlier export is replaced (TestForceReplacesOnlyAnExport).
	out := filepath.Join(t.TempDir(), "out")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "keep"), []byte("x"), 0o644)
	if err := export.Write(out, m, export.Options{}); err == nil || !strings.Contains(err.Error(), "-force") {
		t.Errorf("existing output: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "keep")); err != nil {
		t.Errorf("refused export touched the folder: %v", err)
	}
	os.Remove(filepath.Join(out, "keep"))
	if err := export.Write(out, m, export.Options{}); err == nil {
		t.Error("an existing empty folder was replaced without Force")
	}
	if err := export.Write(out, m, export.Options{Force: true}); err != nil {
		t.Fatalf("Force over an empty folder: %v", err)
	}
	if err := export.Write(out, m, export.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "saved_model.pb")); err != nil {
		t.Error(err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*"))
	if len(left) > 0 {
		t.Errorf("temporary folders left beside the export: %v", left)
	}

	// A write that fails part-way (a file size limit: EFBIG, as a full disk
	// gives ENOSPC) leaves nothing at the destination, nor beside it.
	failed := filepath.Join(t.TempDir(), "failed")
	cmd := exec.Command(os.Args[0], "-test.run=^$", f.run, "top", failed)
	cmd.Env = append(os.Environ(), childEnv+"=fsize")
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, res)
	}
	for _, l := range strings.Split(string(res), "\n") {
		if strings.HasPrefix(l, "write error:") {
			t.Logf("export under a 20 KiB file size limit: %s", l)
		}
	}
	if !strings.Contains(strings.ToLower(string(res)), "file too large") {
		t.Errorf("want a write error, got %s", res)
	}
	if entries, _ := os.ReadDir(filepath.Dir(failed)); len(entries) > 0 {
		t.Errorf("failed export left %v", entries)
	}
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// converter is the project's conversion script run by the venv's Python.
func converter(t *testing.T) export.Converter {
	return export.Converter{Python: testenv.Python(t), Script: filepath.Join(testenv.Root(t), "scripts", "convert_export.py")}
}

// TestConvertedFormats: each model (transfer, scratch, fine-tuned) exported
// as TFLite and ONNX alone gives, through TensorFlow's TFLite interpreter
// and onnxruntime, the run's own top-1 on every test image and its
// probabilities within 1e-5 (float files); each file carries the class
// names; metadata.json lists the files with the TFLite files' test
// accuracy.
func TestConvertedFormats(t *testing.T) {
	f := setup(t)
	names := []string{"top", "scratch", "tuned"}
	args := []string{filepath.Join(testenv.Root(t), "scripts", "check_export.py"), "converted"}
	want := map[string][][]predict.Prediction{}
	outs, dirs := map[string]string{}, map[string]string{}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		m, err := export.FromRun(f.run, name)
		if err != nil {
			t.Fatal(err)
		}
		dirs[name] = filepath.Join(t.TempDir(), name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = export.Write(dirs[name], m, export.Options{Formats: []export.Target{export.TFLite, export.ONNX}, Converter: converter(t)})
		}()
	}
	wg.Wait()
	for i, name := range names {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		dir := dirs[name]
		for _, file := range []string{export.TFLiteFile, export.TFLiteInt8File, export.ONNXFile, export.LabelsFileTop, export.MetadataFile} {
			if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "saved_model.pb")); err == nil {
			t.Errorf("%s: -format tflite,onnx kept the SavedModel", name)
		}
		var meta export.Metadata
		raw, _ := os.ReadFile(filepath.Join(dir, export.MetadataFile))
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		acc := map[string]float64{}
		for _, c := range meta.Converted {
			if c.Bytes <= 0 || c.Seconds <= 0 {
				t.Errorf("%s: %s: %d bytes in %gs", name, c.File, c.Bytes, c.Seconds)
			}
			if c.Format == "tflite" {
				if c.Test == nil || c.Test.Examples != len(f.test) {
					t.Errorf("%s: %s: test accuracy %+v, want one over %d images", name, c.File, c.Test, len(f.test))
					continue
				}
				acc[c.File] = c.Test.Accuracy
			}
		}
		if len(meta.Converted) != 3 {
			t.Errorf("%s: metadata.json lists %d converted files, want 3: %+v", name, len(meta.Converted), meta.Converted)
		}
		t.Logf("%s: test accuracy: run %.4f, %s %.4f, %s %.4f", name, f.accuracy(t, name), export.TFLiteFile, acc[export.TFLiteFile], export.TFLiteInt8File, acc[export.TFLiteInt8File])

		run, err := predict.Open(f.run, name)
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		h, w := *meta.Input.Shape[1], *meta.Input.Shape[2]
		var x []float32
		for _, e := range f.test {
			img, err := images.Load(e.Path, h, w, meta.Input.EncodedResize)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range img.Pix {
				x = append(x, float32(v))
			}
			p, err := run.Predict(e.Path, len(f.classes))
			if err != nil {
				t.Fatal(err)
			}
			want[name] = append(want[name], p)
		}
		in, out := filepath.Join(t.TempDir(), "x.npy"), filepath.Join(t.TempDir(), "p.npy")
		fx, err := os.Create(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := npyio.Write(fx, x); err != nil {
			t.Fatal(err)
		}
		fx.Close()
		args = append(args, dir, in, out)
		outs[name] = out
	}
	res, err := exec.Command(testenv.Python(t), args...).Output()
	if err != nil {
		t.Fatalf("check_export.py converted: %v\n%s", err, stderr(err))
	}
	lines := bytes.Split(bytes.TrimSpace(res), []byte("\n"))
	lines = lines[max(0, len(lines)-len(names)):]
	for k, name := range names {
		var labels map[string][]string
		if err := json.Unmarshal(lines[k], &labels); err != nil {
			t.Fatalf("%s: %v: %s", name, err, res)
		}
		for file, l := range labels {
			if !slices.Equal(l, f.classes) {
				t.Errorf("%s: %s carries classes %q, want %q", name, file, l, f.classes)
			}
		}
		got, shape := testenv.ReadNpy(t, outs[name])
		n, c := len(f.test), len(f.classes)
		if len(shape) != 3 || shape[0] != 3 || shape[1] != n || shape[2] != c {
			t.Fatalf("%s: probabilities of shape %v, want [3 %d %d]", name, shape, n, c)
		}
		files := []string{export.TFLiteFile, export.TFLiteInt8File, export.ONNXFile}
		for which, file := range files {
			worst, agree := 0.0, 0
			for i := range n {
				pw := probsByClass(want[name][i])
				best := 0
				for j, class := range f.classes {
					p := float64(got[(which*n+i)*c+j])
					worst = max(worst, math.Abs(p-pw[class]))
					if p > float64(got[(which*n+i)*c+best]) {
						best = j
					}
				}
				if f.classes[best] == want[name][i][0].Class {
					agree++
				}
			}
			t.Logf("%s: %s: top-1 as the run on %d/%d test images, max |run - %s| = %.2g", name, file, agree, n, file, worst)
			if file == export.TFLiteInt8File {
				continue // int8: its accuracy is in metadata.json, beside float's
			}
			if agree != n || worst > 1e-5 {
				t.Errorf("%s: %s: top-1 as the run on %d/%d, max difference %g; want all, ≤ 1e-5", name, file, agree, n, worst)
			}
		}
	}
}

// TestInt8Guard: where full-integer int8 changes float's top-1 on more
// than the allowed share of the run's validation and training images, the
// conversion keeps the layers that quantize worst in float (1, 2, 4, 8 of
// them), then tries weights-only int8, and keeps the one that agrees most;
// metadata lists each candidate. A bound no candidate can meet (agreement
// above 100%) walks the whole list.
func TestInt8Guard(t *testing.T) {
	f := setup(t)
	out := t.TempDir()
	cmd := exec.Command(testenv.Python(t), filepath.Join(testenv.Root(t), "scripts", "convert_export.py"),
		exportDir(f, "top"), out, "tflite", "--manifest", filepath.Join(f.run, "manifest.csv"), "--int8-max-drop", "-1")
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("convert_export.py: %v\n%s", err, stderr(err))
	}
	lines := bytes.Split(bytes.TrimSpace(res), []byte("\n"))
	var got struct{ Files []export.Converted }
	if err := json.Unmarshal(lines[len(lines)-1], &got); err != nil {
		t.Fatalf("%v: %s", err, res)
	}
	var q *export.Converted
	for i := range got.Files {
		if got.Files[i].File == export.TFLiteInt8File {
			q = &got.Files[i]
		}
	}
	if q == nil || q.Guard == nil {
		t.Fatalf("no int8 file with its guard in %s", res)
	}
	g := q.Guard
	t.Logf("%d guard images; tried %+v; kept %q", g.Examples, g.Tried, q.Mode)
	n := len(g.Tried)
	if g.Examples == 0 || n < 3 || len(g.Tried[0].FloatLayers) != 0 || len(g.Tried[1].FloatLayers) != 1 || g.Tried[n-1].Mode != "int8 dynamic range (weights)" {
		t.Fatalf("tried %+v on %d images; want full int8, then 1, 2, ... float layers, then dynamic range", g.Tried, g.Examples)
	}
	best := g.Tried[0]
	for _, c := range g.Tried {
		if c.Agreement < 0 || c.Agreement > 1 {
			t.Errorf("agreement %g", c.Agreement)
		}
		if c.Agreement > best.Agreement {
			best = c
		}
	}
	if q.Mode != best.Mode || g.Agreement != best.Agreement || !slices.Equal(q.FloatLayers, best.FloatLayers) {
		t.Errorf("kept %q with float layers %q at %g; want the candidate that agrees most, %+v", q.Mode, q.FloatLayers, g.Agreement, best)
	}
	if _, err := os.Stat(filepath.Join(out, export.TFLiteInt8File)); err != nil {
		t.Error(err)
	}
}

// accuracy is the run's own test accuracy of model name.
func (f fixture) accuracy(t *testing.T, name string) float64 {
	m, err := export.FromRun(f.run, name)
	if err != nil {
		t.Fatal(err)
	}
	return m.Test.Accuracy
}

// TestConversionFails: a conversion that fails (here: the SavedModel's
// variables are damaged, so the converters cannot read them) is reported
// with the converter's reason; the export folder is as it was, and nothing
// is left beside it. Write with a failing conversion leaves nothing at -out
// and an existing folder it would replace untouched.
func TestConversionFails(t *testing.T) {
	f := setup(t)
	dir := filepath.Join(t.TempDir(), "export")
	if err := os.CopyFS(dir, os.DirFS(exportDir(f, "scratch"))); err != nil {
		t.Fatal(err)
	}
	data, _ := filepath.Glob(filepath.Join(dir, "variables", "variables.data-*"))
	if len(data) != 1 {
		t.Fatalf("variables: %v", data)
	}
	if err := os.WriteFile(data[0], []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	err := export.Convert(context.Background(), dir, []export.Target{export.TFLite, export.ONNX}, "", converter(t))
	t.Logf("damaged variables: %v", err)
	if err == nil || !strings.Contains(err.Error(), "converting to tflite, onnx") {
		t.Errorf("Convert: %v; want an error saying the conversion failed", err)
	}
	if after := snapshot(t, dir); !maps.Equal(before, after) {
		t.Errorf("a failed conversion changed the export folder:\nbefore %v\nafter  %v", before, after)
	}
	if left, _ := os.ReadDir(filepath.Dir(dir)); len(left) != 1 {
		t.Errorf("left beside the export: %v", left)
	}

	// Write: a converter that fails (its script is missing) after the
	// SavedModel was built; -force over an existing export.
	m, err := export.FromRun(f.run, "scratch")
	if err != nil {
		t.Fatal(err)
	}
	bad := converter(t)
	bad.Script = filepath.Join(t.TempDir(), "missing.py")
	out := filepath.Join(t.TempDir(), "out")
	if err := export.Write(out, m, export.Options{Formats: []export.Target{export.ONNX}, Converter: bad}); err == nil {
		t.Error("Write with a failing converter: no error")
	}
	if left, _ := os.ReadDir(filepath.Dir(out)); len(left) > 0 {
		t.Errorf("failed Write left %v", left)
	}
	before = snapshot(t, dir)
	err = export.Write(dir, m, export.Options{Force: true, Formats: []export.Target{export.SavedModel, export.ONNX}, Converter: bad})
	if err == nil || !strings.Contains(err.Error(), "converting to onnx") {
		t.Errorf("Write -force with a failing converter: %v", err)
	}
	if after := snapshot(t, dir); !maps.Equal(before, after) {
		t.Errorf("a failed Write -force changed the folder it would replace")
	}
}

// snapshot maps each file below dir to its contents.
func snapshot(t *testing.T, dir string) map[string]string {
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseTargets(t *testing.T) {
	got, err := export.ParseTargets([]string{"onnx,tflite", "savedmodel", "onnx"})
	if err != nil || !slices.Equal(got, []export.Target{export.SavedModel, export.TFLite, export.ONNX}) {
		t.Errorf("ParseTargets: %v, %v", got, err)
	}
	if _, err := export.ParseTargets([]string{"tflite,coreml"}); err == nil || !strings.Contains(err.Error(), `unknown format "coreml"; want savedmodel, tflite, onnx`) {
		t.Errorf("unknown format: %v", err)
	}
}
