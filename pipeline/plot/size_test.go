package plot

import (
	"image"
	"image/color"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// sizeRun is a finished run of two classes with perClass training images
// each and the given models' test accuracies.
func sizeRun(perClass int, acc map[string]float64) report.Run {
	r := report.Run{Dataset: report.Dataset{Classes: []string{"a", "b"}, Train: 2 * perClass}}
	for _, name := range []string{"scratch", "transfer", "diverged"} {
		if a, ok := acc[name]; ok {
			r.Models = append(r.Models, report.Model{Name: name, Test: &evaluate.Metrics{Accuracy: a}})
		}
	}
	return r
}

// TestTrainingSize: one line per model across runs, in History's colours;
// the more accurate model's line is drawn higher; a non-finite accuracy
// is left out rather than drawn.
func TestTrainingSize(t *testing.T) {
	dir := t.TempDir()
	runs := []report.Run{
		sizeRun(100, map[string]float64{"scratch": 0.7, "transfer": 0.9}),
		sizeRun(5, map[string]float64{"scratch": 0.5, "transfer": 0.7, "diverged": math.NaN()}),
		sizeRun(20, map[string]float64{"scratch": 0.6, "transfer": 0.8}),
	}
	path := filepath.Join(dir, "size.png")
	if err := TrainingSize(path, runs); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	if b := img.Bounds(); b.Dx() != sizeWidth || b.Dy() != sizeHeight {
		t.Fatalf("size %v, want %dx%d", b, sizeWidth, sizeHeight)
	}
	// Mean height of each model's pixels (y grows downwards).
	meanY := func(c color.RGBA) (float64, int) {
		sum, n := 0, 0
		for y := range sizeHeight {
			for x := range sizeWidth {
				if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
					sum += y
					n++
				}
			}
		}
		return float64(sum) / float64(max(n, 1)), n
	}
	ys, ns := meanY(colors[0])
	yt, nt := meanY(colors[1])
	if ns < 300 || nt < 300 {
		t.Fatalf("%d pixels of scratch's colour and %d of transfer's: the lines are missing", ns, nt)
	}
	if yt >= ys {
		t.Errorf("transfer's line (mean y %.0f) is not above scratch's (%.0f)", yt, ys)
	}
	if _, n := meanY(colors[2]); n > 0 {
		t.Errorf("the diverged model is drawn (%d pixels)", n)
	}
	notBlank(t, img, image.Rect(0, 0, sizeWidth, sizeHeight), 0.02)

	bad := filepath.Join(dir, "none.png")
	err := TrainingSize(bad, []report.Run{sizeRun(5, map[string]float64{"diverged": math.NaN()})})
	if err == nil || !strings.Contains(err.Error(), "no finished model") {
		t.Errorf("no finite accuracy: %v", err)
	}
	noFile(t, bad)
}
