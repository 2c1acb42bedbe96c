// Command bench measures the pipeline against Keras on this machine, one run
// of each, and prints the ratios the project's goals are stated in:
//
//   - feature extraction, images/s: Go (pipeline features stage) vs Python
//     (load_img + model.predict) through the same SavedModel;
//   - time per epoch of the new top on cached features: Go vs Keras fit;
//   - the whole Go pipeline vs a Keras reference that trains the notebook's
//     way (whole dataset in RAM, frozen backbone recomputed every epoch):
//     wall time, test accuracy, peak RSS;
//   - time per epoch of the scratch CNN: Go vs Keras fit, same data;
//   - the Go pipeline's peak RSS on the full 6,000-image dataset.
//
// Usage: go run ./pipeline/bench [-per-class 100] [-out bench] (make bench).
// Each side runs as its own process, so wall time and peak RSS (rusage) are
// measured the same way for both.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/features"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/pixels"
	"github.com/gotransfer/gotransfer/pipeline/reference"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

var (
	out       = flag.String("out", "bench", "folder for the benchmark's runs, caches and results")
	perClass  = flag.Int("per-class", 100, "images per class for the Go-vs-Keras comparisons (Fashion-MNIST, 10 classes)")
	vggImages = flag.Int("vgg-images", 48, "images for the VGG16 feature-extraction comparison (0: skip)")
	fullRSS   = flag.Bool("full", true, "also run the Go pipeline on the full data/fashion-mnist (6,000 images) for its peak RSS")
	python    = flag.String("python", ".venv/bin/python", "the venv's Python")
)

// proc is one measured process.
type proc struct {
	Seconds float64 `json:"seconds"`
	RSSMiB  float64 `json:"peak_rss_mib"`
	Stdout  []byte  `json:"-"`
}

func measure(name string, args ...string) (*proc, error) {
	fmt.Fprintf(os.Stderr, "bench: %s %s\n", name, strings.Join(args, " "))
	cmd := exec.Command(name, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return &proc{Seconds: time.Since(start).Seconds(), RSSMiB: float64(ru.Maxrss) / 1024, Stdout: stdout.Bytes()}, nil
}

// benchConfig is the notebook's protocol (70/15/15, Dense(classes) on the
// frozen backbone, Adam, batch 128, 10 epochs) on Fashion-MNIST and the
// pretrained MobileNet, in folders of its own.
func benchConfig(name string, perClass int, models string) string {
	return fmt.Sprintf(`name: %s
seed: 42
runs_dir: %s/runs
data: {dir: data/fashion-mnist, max_per_class: %d, split: {train: 0.7, val: 0.15, test: 0.15}}
images: {size: [64, 64], preprocess: tf}
features: {cache_dir: %s/cache-%s}
train: {batch_size: 128, epochs: 10}
models:
%s`, name, *out, perClass, *out, name, models)
}

const transferModel = `  - name: mobilenet_transfer
    backbone: {savedmodel: savedmodels/mobilenet, endpoint: global_pool}
    layers: [{dense: {units: classes, activation: softmax}}]
`

const scratchModel = `  - name: scratch_cnn
    layers:
      - conv2d: {filters: 32, kernel_size: 3, activation: relu}
      - max_pool: {pool_size: 2}
      - conv2d: {filters: 32, kernel_size: 3, activation: relu}
      - max_pool: {pool_size: 2}
      - dropout: {rate: 0.25}
      - conv2d: {filters: 32, kernel_size: 3, activation: relu}
      - max_pool: {pool_size: 2}
      - conv2d: {filters: 32, kernel_size: 3, activation: relu}
      - max_pool: {pool_size: 2}
      - dropout: {rate: 0.25}
      - flatten: {}
      - dense: {units: 256, activation: relu}
      - dropout: {rate: 0.5}
      - dense: {units: classes, activation: softmax}
`

// goRun runs the pipeline binary on a config from a clean cache and run folder.
func goRun(bin, name, yaml string) (*proc, string, error) {
	cfgPath := filepath.Join(*out, name+".yaml")
	if err := fsutil.WriteFile(cfgPath, []byte(yaml)); err != nil {
		return nil, "", err
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		return nil, "", err
	}
	dir, _, err := experiment.RunDir(cfg)
	if err != nil {
		return nil, "", err
	}
	os.RemoveAll(dir)
	os.RemoveAll(cfg.Features.CacheDir)
	p, err := measure(bin, "-config", cfgPath)
	return p, dir, err
}

type results struct {
	Machine string         `json:"machine"`
	Rows    [][4]string    `json:"rows"` // what, Go, Keras, ratio
	Raw     map[string]any `json:"raw"`
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	res := &results{Machine: machine(), Raw: map[string]any{}}
	add := func(what, g, k, ratio string) { res.Rows = append(res.Rows, [4]string{what, g, k, ratio}) }

	bin := filepath.Join(*out, "pipeline")
	if b, err := exec.Command("go", "build", "-o", bin, "./pipeline").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}

	// 1. End to end: Go pipeline vs the notebook's way in Keras, same data.
	goE2E, dir, err := goRun(bin, "e2e", benchConfig("e2e", *perClass, transferModel))
	if err != nil {
		return err
	}
	run, err := report.Read(dir)
	if err != nil {
		return err
	}
	var timing experiment.Timing
	if b, err := os.ReadFile(filepath.Join(dir, experiment.TimingFile)); err == nil {
		json.Unmarshal(b, &timing)
	}
	manifest := filepath.Join(dir, experiment.ManifestFile)
	ref, err := transferReference(dir, run)
	if err != nil {
		return err
	}
	pyNB, err := measure(*python, "scripts/keras_bench.py", "notebook", manifest, "savedmodels/mobilenet", "global_pool", "--epochs", "10", "--batch", "128", "--init", ref)
	if err != nil {
		return err
	}
	var nb struct {
		Seconds      float64   `json:"seconds"`
		TestAccuracy float64   `json:"test_accuracy"`
		LoadSeconds  float64   `json:"load_seconds"`
		EpochSeconds []float64 `json:"epoch_seconds"`
	}
	if err := decode(pyNB.Stdout, &nb); err != nil {
		return err
	}
	goAcc := run.Models[0].Test.Accuracy
	n := run.Dataset.Train + run.Dataset.Val + run.Dataset.Test
	add(fmt.Sprintf("end to end, %d images, MobileNet + Dense, 10 epochs: wall time", n),
		secs(goE2E.Seconds), secs(pyNB.Seconds), fmt.Sprintf("%.1f× faster (goal ≥ 8×)", pyNB.Seconds/goE2E.Seconds))
	add("  test accuracy", pct(goAcc), pct(nb.TestAccuracy), fmt.Sprintf("%+.1f points (goal within ±1.5)", 100*(goAcc-nb.TestAccuracy)))
	add("  peak RSS", mib(goE2E.RSSMiB), mib(pyNB.RSSMiB), fmt.Sprintf("%.2f×", goE2E.RSSMiB/pyNB.RSSMiB))
	res.Raw["e2e_go"], res.Raw["e2e_keras"] = goE2E, nb

	// 2. Feature extraction throughput, same images and SavedModel.
	pyF, err := measure(*python, "scripts/keras_bench.py", "features", manifest, "savedmodels/mobilenet", "global_pool", "--batch", "32")
	if err != nil {
		return err
	}
	var pf struct {
		ImagesPerSecond float64 `json:"images_per_second"`
	}
	if err := decode(pyF.Stdout, &pf); err != nil {
		return err
	}
	goRate := timing.Models["mobilenet_transfer"].FeatureImagesPerSecond
	add("feature extraction, MobileNet 224×224, images/s", fmt.Sprintf("%.1f", goRate), fmt.Sprintf("%.1f", pf.ImagesPerSecond),
		fmt.Sprintf("%.2f× (goal ≥ 0.95×)", goRate/pf.ImagesPerSecond))
	if *vggImages > 0 {
		if err := vggFeatures(add, bin); err != nil {
			return err
		}
	}

	// 3. Time per epoch of the top on cached features: Go vs Keras fit.
	goEpoch := mean(timing.Models["mobilenet_transfer"].EpochSeconds)
	var h struct{ Seconds []float64 }
	if err := reference.Keras(*python, "scripts/keras_reference.py", ref, &h); err != nil {
		return err
	}
	kEpoch := mean(h.Seconds)
	add("new top on cached features, time per epoch", secs(goEpoch), secs(kEpoch), fmt.Sprintf("%.2f×", goEpoch/kEpoch))

	// 4. Scratch CNN time per epoch, same data, same batches.
	gs, ks, err := scratchEpochs(dir)
	if err != nil {
		return err
	}
	add("scratch CNN (notebook's, 64×64), time per epoch", secs(gs), secs(ks), fmt.Sprintf("%.2f× Keras' time (goal ≤ 1.1×)", gs/ks))

	// 5. Peak RSS of the Go pipeline on the full 6,000-image dataset.
	if *fullRSS {
		full, fdir, err := goRun(bin, "full", benchConfig("full", 0, transferModel+scratchModel))
		if err != nil {
			return err
		}
		fr, _ := report.Read(fdir)
		nn := fr.Dataset.Train + fr.Dataset.Val + fr.Dataset.Test
		add(fmt.Sprintf("Go pipeline on %d images (scratch CNN + MobileNet), peak RSS", nn), mib(full.RSSMiB), "", "goal < 1024 MiB")
		add("  wall time", secs(full.Seconds), "", "")
		res.Raw["full_go"] = full
	}

	md := markdown(res)
	fmt.Print(md)
	b, _ := json.MarshalIndent(res, "", "  ")
	fsutil.WriteFile(filepath.Join(*out, "results.json"), b)
	return fsutil.WriteFile(filepath.Join(*out, "results.md"), []byte(md))
}

// vggFeatures compares feature extraction through VGG16 (seeded random
// weights: the same computation as the ImageNet ones) on a few images.
func vggFeatures(add func(string, string, string, string), bin string) error {
	per := max(1, *vggImages/10)
	_, dir, err := goRun(bin, "vgg", benchConfig("vgg", per, `  - name: vgg16_transfer
    backbone: {savedmodel: savedmodels/vgg16-random, endpoint: fc2}
    layers: [{dense: {units: classes, activation: softmax}}]
`)+"")
	if err != nil {
		return err
	}
	var timing experiment.Timing
	b, err := os.ReadFile(filepath.Join(dir, experiment.TimingFile))
	if err != nil {
		return err
	}
	json.Unmarshal(b, &timing)
	py, err := measure(*python, "scripts/keras_bench.py", "features", filepath.Join(dir, experiment.ManifestFile), "savedmodels/vgg16-random", "fc2", "--batch", "16")
	if err != nil {
		return err
	}
	var pf struct {
		ImagesPerSecond float64 `json:"images_per_second"`
	}
	if err := decode(py.Stdout, &pf); err != nil {
		return err
	}
	g := timing.Models["vgg16_transfer"].FeatureImagesPerSecond
	add(fmt.Sprintf("feature extraction, VGG16 fc2 224×224 (%d images), images/s", per*10), fmt.Sprintf("%.2f", g), fmt.Sprintf("%.2f", pf.ImagesPerSecond),
		fmt.Sprintf("%.2f× (goal ≥ 0.95×)", g/pf.ImagesPerSecond))
	return nil
}

// transferReference writes the e2e run's transfer model as a reference
// folder for the Keras scripts: its cached features, the Go run's initial
// weights (same seed as the run) and its batch order for every epoch.
func transferReference(dir string, run *report.Run) (string, error) {
	cfg, err := config.Load(filepath.Join(dir, report.ConfigFile), nil)
	if err != nil {
		return "", err
	}
	m := cfg.Models[0]
	bb, err := backbone.Load(m.Backbone.SavedModel)
	if err != nil {
		return "", err
	}
	store, err := features.Open(cfg.Features.CacheDir, bb, m.Backbone.Endpoint, cfg.Images.Resize, cfg.Images.DivideBy255, cfg.Features.BatchSize)
	if err != nil {
		return "", err
	}
	ds, err := dataset.ReadManifest(filepath.Join(dir, experiment.ManifestFile))
	if err != nil {
		return "", err
	}
	tr, val := store.Split(ds.Split(dataset.Train)), store.Split(ds.Split(dataset.Val))
	spec := nn.Spec{Input: []int{store.Dim}, Layers: m.Layers, Classes: len(run.Dataset.Classes), Adam: *cfg.Train.Optimizer.Adam}
	net, err := nn.Build(spec)
	if err != nil {
		return "", err
	}
	seed := experiment.ModelSeed(cfg.Seed, m.Name)
	init := net.InitialWeights(seed)
	net.Close()
	var orders [][]int
	for e := 1; e <= cfg.Train.Epochs; e++ {
		orders = append(orders, train.Order(tr.Len(), seed, e, cfg.Train.Shuffle))
	}
	ref := filepath.Join(*out, "keras-top")
	os.RemoveAll(ref)
	return ref, reference.Write(ref, reference.Run{Spec: spec, Init: init, Train: tr, Val: val, Orders: orders, BatchSize: cfg.Train.BatchSize})
}

// scratchEpochs trains the notebook's scratch CNN at 64×64 for 3 epochs in
// Go and in Keras on the same images and batches; mean seconds per epoch.
func scratchEpochs(dir string) (goSec, kerasSec float64, err error) {
	cfg, err := config.Parse("scratch", []byte(benchConfig("scratch", *perClass, scratchModel)), nil)
	if err != nil {
		return 0, 0, err
	}
	ds, err := dataset.ReadManifest(filepath.Join(dir, experiment.ManifestFile))
	if err != nil {
		return 0, 0, err
	}
	store := pixels.Open(filepath.Join(*out, "cache-scratch"), 64, 64, "nearest")
	if _, err := store.Prepare(context.Background(), ds.Examples, 0, false, nil); err != nil {
		return 0, 0, err
	}
	tr, val := store.Split(ds.Split(dataset.Train), "tf", false), store.Split(ds.Split(dataset.Val), "tf", false)
	spec := nn.Spec{Input: []int{64, 64, 3}, Layers: cfg.Models[0].Layers, Classes: len(ds.Classes), Adam: *cfg.Train.Optimizer.Adam}
	const epochs = 3
	net, err := nn.Build(spec)
	if err != nil {
		return 0, 0, err
	}
	defer net.Close()
	net.SetWeights(net.InitialWeights(1))
	tdir := filepath.Join(*out, "go-scratch")
	os.RemoveAll(tdir)
	st, err := train.Fit(context.Background(), net, tr, val, train.Options{BatchSize: cfg.Train.BatchSize, Epochs: epochs, Shuffle: true, Seed: 1, Dir: tdir})
	if err != nil {
		return 0, 0, err
	}
	var s []float64
	for _, e := range st.History {
		s = append(s, e.Seconds)
	}
	k, err := kerasEpochs(spec, tr, val, cfg.Train.BatchSize, epochs, filepath.Join(*out, "keras-scratch"))
	return mean(s), k, err
}

// kerasEpochs hands a training setup to scripts/keras_reference.py and
// returns Keras' mean fit time per epoch, skipping the first (graph tracing)
// when there are more.
func kerasEpochs(spec nn.Spec, tr, val train.Data, batch, epochs int, dir string) (float64, error) {
	net, err := nn.Build(spec)
	if err != nil {
		return 0, err
	}
	init := net.InitialWeights(1)
	net.Close()
	var orders [][]int
	for e := 1; e <= epochs; e++ {
		orders = append(orders, train.Order(tr.Len(), 1, e, true))
	}
	os.RemoveAll(dir)
	if err := reference.Write(dir, reference.Run{Spec: spec, Init: init, Train: tr, Val: val, Orders: orders, BatchSize: batch}); err != nil {
		return 0, err
	}
	var h struct{ Seconds []float64 }
	if err := reference.Keras(*python, "scripts/keras_reference.py", dir, &h); err != nil {
		return 0, err
	}
	return mean(h.Seconds), nil
}

func markdown(r *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark: Go pipeline vs Keras\n\nMachine: %s. One run of each.\n\n", r.Machine)
	b.WriteString("| measure | Go | Keras | ratio |\n|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row[0], row[1], row[2], row[3])
	}
	return b.String()
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, no GPU", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH)
}

func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %q: %w", b, err)
	}
	return nil
}

func mean(x []float64) float64 {
	if len(x) > 1 {
		x = x[1:] // the first epoch includes one-off graph set-up on both sides
	}
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(max(len(x), 1))
}

func secs(s float64) string { return fmt.Sprintf("%.2f s", s) }
func pct(v float64) string  { return fmt.Sprintf("%.2f%%", 100*v) }
func mib(v float64) string  { return fmt.Sprintf("%.0f MiB", v) }
