package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

// TestClassifyExample (issue 16): examples/classify, the standalone program
// a user copies, builds on its own and prints for a run's export what
// `pipeline predict` prints for the run and for the export: the same
// classes, in the same order, with the same probabilities.
func TestClassifyExample(t *testing.T) {
	root := t.TempDir()
	cfg := transferConfig(t, root, "example", "tiny", "fc2", 3, 10, "train: {epochs: 3}\npredict: {top_k: 2}\n")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr.String())
	}
	runs, _ := filepath.Glob(filepath.Join(root, "runs", "example-*"))
	if len(runs) != 1 {
		t.Fatalf("run folders %q", runs)
	}
	saved := filepath.Join(runs[0], "models", "top", "savedmodel")

	// PNGs at the model's input size (tiny: 32×32), so that TensorFlow's
	// decoding and resizing inside the export and the pipeline's give the
	// same pixels (README: "Handing the model over").
	var imgs []string
	for i := range 4 {
		img := image.NewRGBA(image.Rect(0, 0, 32, 32))
		for y := range 32 {
			for x := range 32 {
				img.SetRGBA(x, y, color.RGBA{uint8(40 * i), uint8(x * 8), uint8(y * 8 * i), 255})
			}
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		p := filepath.Join(root, fmt.Sprintf("photo_%d.png", i))
		os.WriteFile(p, b.Bytes(), 0o644)
		imgs = append(imgs, p)
	}

	bin := filepath.Join(root, "classify")
	build := exec.Command("go", "build", "-o", bin, "./examples/classify")
	build.Dir = testenv.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/classify: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append([]string{saved}, imgs...)...)
	var exErr bytes.Buffer
	cmd.Stderr = &exErr
	example, err := cmd.Output()
	if err != nil {
		t.Fatalf("classify: %v\n%s", err, exErr.String())
	}

	for _, flags := range [][]string{{"-run", runs[0]}, {"-savedmodel", saved}} {
		stdout.Reset()
		stderr.Reset()
		if code := run(context.Background(), append(append([]string{"predict"}, flags...), imgs...), &stdout, &stderr); code != 0 {
			t.Fatalf("predict %q: exit %d\n%s", flags, code, stderr.String())
		}
		// predict names the model after the path: "photo_0.png (top):".
		want := strings.NewReplacer(" (top):", ":", " (top, exported):", ":").Replace(stdout.String())
		if string(example) != want {
			t.Errorf("examples/classify printed\n%s\npipeline predict %s printed\n%s", example, flags[0], stdout.String())
		}
		if strings.Count(want, "%") != 2*len(imgs) {
			t.Errorf("predict %s: want 2 classes per image:\n%s", flags[0], want)
		}
	}
}

// TestClassifyONNXExample: a run with export.formats [onnx] converts its
// export at the end; examples/classify-onnx, built on its own with
// onnxruntime and no TensorFlow, prints for the ONNX file what
// `pipeline predict` prints for the run.
func TestClassifyONNXExample(t *testing.T) {
	testenv.Python(t) // the conversion runs in the venv
	root := t.TempDir()
	cfg := transferConfig(t, root, "onnx", "tiny", "fc2", 3, 10, "train: {epochs: 3}\npredict: {top_k: 2}\nexport: {formats: [onnx]}\n")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr.String())
	}
	runs, _ := filepath.Glob(filepath.Join(root, "runs", "onnx-*"))
	if len(runs) != 1 {
		t.Fatalf("run folders %q", runs)
	}
	model := filepath.Join(runs[0], "models", "top", "savedmodel", "model.onnx")
	var imgs []string
	for i := range 4 {
		img := image.NewRGBA(image.Rect(0, 0, 32, 32))
		for y := range 32 {
			for x := range 32 {
				img.SetRGBA(x, y, color.RGBA{uint8(40 * i), uint8(x * 8), uint8(y * 8 * i), 255})
			}
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		p := filepath.Join(root, fmt.Sprintf("photo_%d.png", i))
		os.WriteFile(p, b.Bytes(), 0o644)
		imgs = append(imgs, p)
	}
	bin := filepath.Join(root, "classify-onnx")
	build := exec.Command("go", "build", "-o", bin, "./examples/classify-onnx")
	build.Dir = testenv.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/classify-onnx: %v\n%s", err, out)
	}
	if out, _ := exec.Command("ldd", bin).Output(); bytes.Contains(out, []byte("tensorflow")) {
		t.Errorf("classify-onnx links TensorFlow:\n%s", out)
	}
	cmd := exec.Command(bin, append([]string{"-k", "2", model}, imgs...)...)
	var exErr bytes.Buffer
	cmd.Stderr = &exErr
	example, err := cmd.Output()
	if err != nil {
		t.Fatalf("classify-onnx: %v\n%s", err, exErr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), append([]string{"predict", "-run", runs[0]}, imgs...), &stdout, &stderr); code != 0 {
		t.Fatalf("predict: exit %d\n%s", code, stderr.String())
	}
	want := strings.ReplaceAll(stdout.String(), " (top):", ":")
	if string(example) != want || strings.Count(want, "%") != 2*len(imgs) {
		t.Errorf("examples/classify-onnx printed\n%s\npipeline predict -run printed\n%s", example, stdout.String())
	}
}
