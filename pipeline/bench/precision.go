package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/features"
	"github.com/gotransfer/gotransfer/pipeline/images"
)

// precisionRow is one backbone, batch size and precision, measured on both
// sides.
type precisionRow struct {
	Backbone  string  `json:"backbone"`
	Batch     int     `json:"batch"`
	Precision string  `json:"precision"`
	Images    int     `json:"images"`
	Go        float64 `json:"go_images_per_second"`          // features stage, decoding included
	GoAlone   float64 `json:"go_backbone_images_per_second"` // backbone calls only, images decoded beforehand
	Py        float64 `json:"python_images_per_second"`      // TF1 session, PIL decoding included
	PyAlone   float64 `json:"python_backbone_images_per_second"`
	// Every round's images/s with decoding, Go and Python: the spread
	// shows how noisy the machine was. The fields above are the best round.
	GoRounds []float64 `json:"go_rounds"`
	PyRounds []float64 `json:"python_rounds"`
}

// precisionBench measures feature extraction in float32 and bfloat16 for
// VGG16 (fc2) and MobileNet (global_pool), Go against TF-Python with the
// same session settings (scripts/keras_bench.py session), each at every
// batch size asked for. On a shared machine a neighbour's load can slow a
// measurement several times over, so each is repeated -precision-rounds
// times, the four (Go and Python, float32 and bfloat16) interleaved in
// every round, and the best round counts: load only ever slows a run down.
func (o *options) precisionBench() ([]precisionRow, error) {
	var batches []int
	for _, s := range strings.Split(o.precBatches, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || b < 1 {
			return nil, fmt.Errorf("-precision-batches %q: want a list of positive integers", o.precBatches)
		}
		batches = append(batches, b)
	}
	var rows []precisionRow
	for _, bb := range []struct {
		name, dir, endpoint string
		images              int
	}{
		{"VGG16 fc2", "savedmodels/vgg16-random", "fc2", o.precVGG},
		{"MobileNet global_pool", "savedmodels/mobilenet", "global_pool", o.precMobileNet},
	} {
		if bb.images <= 0 {
			continue
		}
		ds, manifest, err := o.benchImages(bb.images)
		if err != nil {
			return nil, err
		}
		for _, batch := range batches {
			both := []*precisionRow{
				{Backbone: bb.name, Batch: batch, Precision: backbone.Float32.String(), Images: len(ds.Examples)},
				{Backbone: bb.name, Batch: batch, Precision: backbone.BFloat16.String(), Images: len(ds.Examples)},
			}
			for round := 1; round <= o.precRounds; round++ {
				for i, p := range []backbone.Precision{backbone.Float32, backbone.BFloat16} {
					r := both[i]
					g, ga, err := o.goFeatures(bb.dir, bb.endpoint, p, batch, ds.Examples)
					if err != nil {
						return nil, err
					}
					py, err := measure(o.python, "scripts/keras_bench.py", "session", manifest, bb.dir, bb.endpoint,
						"--precision", p.String(), "--batch", strconv.Itoa(batch))
					if err != nil {
						return nil, err
					}
					var pr struct {
						Rate  float64 `json:"images_per_second"`
						Alone float64 `json:"backbone_images_per_second"`
					}
					if err := decode(py.Stdout, &pr); err != nil {
						return nil, err
					}
					fmt.Fprintf(os.Stderr, "bench: round %d: %s batch %d %s: Go %.2f (backbone alone %.2f), Python %.2f (alone %.2f) images/s\n",
						round, r.Backbone, batch, r.Precision, g, ga, pr.Rate, pr.Alone)
					r.GoRounds, r.PyRounds = append(r.GoRounds, g), append(r.PyRounds, pr.Rate)
					r.Go, r.GoAlone, r.Py, r.PyAlone = max(r.Go, g), max(r.GoAlone, ga), max(r.Py, pr.Rate), max(r.PyAlone, pr.Alone)
				}
			}
			rows = append(rows, *both[0], *both[1])
		}
	}
	return rows, nil
}

// benchImages takes n images of data/fashion-mnist (n/10 per class) and
// writes their manifest for the Python side.
func (o *options) benchImages(n int) (*dataset.Dataset, string, error) {
	ds, err := dataset.Scan(dataset.Options{Dir: "data/fashion-mnist", Extensions: []string{".png"},
		Split: dataset.Split{Train: 0.7, Val: 0.15, Test: 0.15}, MaxPerClass: max(1, n/10), Seed: 42})
	if err != nil {
		return nil, "", err
	}
	if err := ds.HashFiles(context.Background(), 2); err != nil {
		return nil, "", err
	}
	manifest := filepath.Join(o.out, fmt.Sprintf("precision-%d.csv", len(ds.Examples)))
	return ds, manifest, dataset.WriteManifest(manifest, ds)
}

// goFeatures runs the features stage over examples from an empty cache
// (decoding overlapped with the backbone, as in a run) and then the
// backbone alone over the same images decoded beforehand; images/s of each.
// A warm-up call first, where TensorFlow optimizes (and rewrites) the graph,
// as the Python side does.
func (o *options) goFeatures(dir, endpoint string, p backbone.Precision, batch int, examples []dataset.Example) (withDecoding, alone float64, err error) {
	m, err := backbone.LoadPrecision(dir, p)
	if err != nil {
		return 0, 0, err
	}
	defer m.Close()
	if _, err := warmUp(m, endpoint, batch); err != nil {
		return 0, 0, err
	}
	if withDecoding, err = o.featuresStage(m, endpoint, batch, examples); err != nil {
		return 0, 0, err
	}
	h, w, c := m.InputSize()
	per := h * w * c
	paths := make([]string, len(examples))
	for i, e := range examples {
		paths[i] = e.Path
	}
	var xs [][]float32
	var ns []int
	for b, err := range images.Stream(context.Background(), paths, images.StreamOptions{
		H: h, W: w, Resize: "nearest", Mode: m.Meta.Input.Preprocessing.Mode, BatchSize: batch}) {
		if err != nil {
			return 0, 0, err
		}
		xs, ns = append(xs, append([]float32(nil), b.X[:b.N*per]...)), append(ns, b.N)
	}
	start, n := time.Now(), 0
	for i, x := range xs {
		if _, err := m.Run(endpoint, x, ns[i]); err != nil {
			return 0, 0, err
		}
		n += ns[i]
	}
	return withDecoding, float64(n) / time.Since(start).Seconds(), nil
}

// warmUp runs one batch of zeros through endpoint (the first run of a
// session optimises its graph) and returns how long it took.
func warmUp(m *backbone.Model, endpoint string, batch int) (time.Duration, error) {
	h, w, c := m.InputSize()
	start := time.Now()
	if _, err := m.Run(endpoint, make([]float32, batch*h*w*c), batch); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// featuresStage is the features stage's rate (images/s, decoding
// overlapped with the backbone) over examples, into a cold cache.
func (o *options) featuresStage(m *backbone.Model, endpoint string, batch int, examples []dataset.Example) (float64, error) {
	cache := filepath.Join(o.out, "cache-precision")
	os.RemoveAll(cache)
	defer os.RemoveAll(cache)
	store, err := features.Open(cache, m, endpoint, "nearest", false, batch)
	if err != nil {
		return 0, err
	}
	r, err := store.Extract(context.Background(), examples, features.Options{})
	if err != nil {
		return 0, err
	}
	return r.Rate, nil
}

func (o *options) precisionMarkdown(rows []precisionRow) string {
	var b strings.Builder
	b.WriteString("\n## Feature extraction: float32 vs bfloat16, Go vs TF-Python (same session settings)\n\n")
	b.WriteString("Images/s on Fashion-MNIST PNGs resized to 224×224. \"with decoding\": files to features " +
		"(Go: the features stage, decoding overlapped with the backbone; Python: load_img + session.run in turn). " +
		"\"backbone alone\": the same batches, decoded beforehand.\n\n")
	fmt.Fprintf(&b, "Best of %d interleaved rounds; the last column is every round's Go and Python rate with decoding.\n\n", o.precRounds)
	b.WriteString("| backbone | batch | precision | Go, with decoding | Go, backbone alone | Python, with decoding | Python, session alone | Go / Python | bfloat16 / float32 (Go) | bfloat16 / float32 (Python) | rounds: Go; Python |\n")
	b.WriteString("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|---|\n")
	f32 := map[string]precisionRow{}
	for _, r := range rows {
		k := fmt.Sprintf("%s/%d", r.Backbone, r.Batch)
		gain, pyGain := "", ""
		if r.Precision == "float32" {
			f32[k] = r
		} else if f, ok := f32[k]; ok {
			gain, pyGain = fmt.Sprintf("%.2f×", r.Go/f.Go), fmt.Sprintf("%.2f×", r.Py/f.Py)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.2f | %.2f | %.2f | %.2f | %.2f× | %s | %s | %s; %s |\n",
			r.Backbone, r.Batch, r.Precision, r.Go, r.GoAlone, r.Py, r.PyAlone, r.Go/r.Py, gain, pyGain, list(r.GoRounds), list(r.PyRounds))
	}
	return b.String()
}

func list(x []float64) string {
	s := make([]string, len(x))
	for i, v := range x {
		s[i] = fmt.Sprintf("%.1f", v)
	}
	return strings.Join(s, ", ")
}
