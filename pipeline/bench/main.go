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
//   - the Go pipeline's peak RSS on the full 6,000-image dataset;
//   - a fine-tuning epoch (-only finetune): Go on features cached at the
//     cut vs Keras' transfer-learning guide (the whole backbone forward on
//     every batch), for MobileNet or, with -finetune, ResNet50,
//     EfficientNetB0 and VGG16 (finetune.go);
//   - feature extraction in float32 and bfloat16 (oneDNN's rewrite), VGG16
//     and MobileNet, Go vs TF-Python with the same session settings,
//     decoding included and the backbone alone;
//   - augmentation through cached views (-only augment): the new top's
//     time per epoch with 8 views per training image vs without, the
//     one-time cost of the views' features, and their disk cost.
//
// Usage: go run ./pipeline/bench [-per-class 100] [-out bench] (make bench);
// go run ./pipeline/bench -only precision for the last part alone.
// The CPU's model and flags head the results: bfloat16's gain depends on
// them (AMX, AVX512-BF16, neither).
// Each side runs as its own process, so wall time and peak RSS (rusage) are
// measured the same way for both.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/cpuinfo"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/features"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/pixels"
	"github.com/gotransfer/gotransfer/pipeline/plan"
	"github.com/gotransfer/gotransfer/pipeline/reference"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// parts are the values of -only: the parts that run alone.
var parts = []string{"precision", "finetune", "rerun", "sweep", "augment", "backbone", "backbone-cuts", "backbones-table"}

// options are the command line's settings; every step of the benchmark
// is a method on them, so no state is global.
type options struct {
	out       string // folder for runs, caches and results
	perClass  int    // images per class for the Go-vs-Keras comparisons
	vggImages int    // images for the VGG16 comparison; 0 skips it
	fullRSS   bool   // also measure the Go pipeline on all 6,000 images
	python    string // the venv's Python

	only          string // one of parts: that part alone; "": all
	precBatches   string // batch sizes for the precision comparison, "8,32"
	precVGG       int    // images for its VGG16 part; 0 skips it
	precMobileNet int    // images for its MobileNet part; 0 skips it
	precRounds    int    // interleaved rounds; the best counts
	fineTune      string // the fine-tuning part's backbones (fineTuneCases), comma-separated

	// the backbones part (backbones.go)
	backbone        string  // an export to measure
	backboneArch    string  // its architecture's name, or one that failed
	backboneError   string  // why that one could not be exported
	exportSeconds   float64 // how long its export took
	backboneImages  int     // images for its features rate
	backboneBatch   int     // at this batch size
	backboneSeconds float64 // the time budget of each rate
	backbonesFile   string  // the rows, a JSON line each
	describe        string  // -only backbone-cuts: scripts/export_backbone.py --describe's JSON
}

// parseFlags reads the options from args (without the program name).
func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "bench", "folder for the benchmark's runs, caches and results")
	fs.IntVar(&o.perClass, "per-class", 100, "images per class for the Go-vs-Keras comparisons (Fashion-MNIST, 10 classes)")
	fs.IntVar(&o.vggImages, "vgg-images", 48, "images for the VGG16 feature-extraction comparison (0: skip)")
	fs.BoolVar(&o.fullRSS, "full", true, "also run the Go pipeline on the full data/fashion-mnist (6,000 images) for its peak RSS")
	fs.StringVar(&o.python, "python", ".venv/bin/python", "the venv's Python")
	fs.StringVar(&o.only, "only", "", `run one part: "precision" (float32 vs bfloat16 feature extraction), "finetune" (a fine-tuning epoch, Go from cached cut features vs Keras' guide, for each backbone of -finetune), "rerun" (the data stage of a rerun over large photos), "sweep" (24 trials as one sweep vs as separate runs), "augment" (epoch time with 8 cached views per image vs without), "backbone" (one export for docs/backbones.md, see scripts/backbones.sh), "backbone-cuts" (the cuts of one architecture and whether Go builds their tails, for that table) or "backbones-table" (that table); empty: all`)
	fs.StringVar(&o.fineTune, "finetune", "MobileNet", fmt.Sprintf("the fine-tuning part's backbones, comma-separated: any of %s", strings.Join(fineTuneNames(), ", ")))
	fs.StringVar(&o.precBatches, "precision-batches", "8,32", "backbone batch sizes for the precision comparison")
	fs.IntVar(&o.precVGG, "precision-vgg", 32, "images for the VGG16 precision comparison (0: skip)")
	fs.IntVar(&o.precMobileNet, "precision-mobilenet", 100, "images for the MobileNet precision comparison (0: skip)")
	fs.IntVar(&o.precRounds, "precision-rounds", 3, "interleaved rounds of the precision comparison; the best counts")
	fs.StringVar(&o.backbone, "backbone", "", "-only backbone: the export to measure")
	fs.StringVar(&o.backboneArch, "backbone-arch", "", "-only backbone, backbone-cuts: its architecture's name")
	fs.StringVar(&o.backboneError, "backbone-error", "", "-only backbone: record that -backbone-arch could not be exported, and why; -only backbone-cuts: that it could not be described")
	fs.Float64Var(&o.exportSeconds, "export-seconds", 0, "-only backbone: how long the export took")
	fs.IntVar(&o.backboneImages, "backbone-images", 64, "-only backbone: at most this many Fashion-MNIST images for the features rate")
	fs.IntVar(&o.backboneBatch, "backbone-batch", 8, "-only backbone: the backbone's batch size")
	fs.Float64Var(&o.backboneSeconds, "backbone-seconds", 15, "-only backbone: each precision's rate takes as many batches as fit in about this many seconds (at least one)")
	fs.StringVar(&o.backbonesFile, "backbones", "bench/backbones.jsonl", "-only backbone, backbone-cuts, backbones-table: the rows file")
	fs.StringVar(&o.describe, "describe", "", "-only backbone-cuts: the JSON scripts/export_backbone.py --describe printed for one architecture")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.only != "" && !slices.Contains(parts, o.only) {
		return nil, fmt.Errorf("-only %q: want one of %q or nothing", o.only, parts)
	}
	if o.only == "backbone" && (o.backbone == "") == (o.backboneError == "") {
		return nil, errors.New("-only backbone: want -backbone DIR, or -backbone-arch NAME with -backbone-error MSG")
	}
	if o.only == "backbone-cuts" && (o.describe == "") == (o.backboneError == "") {
		return nil, errors.New("-only backbone-cuts: want -describe FILE, or -backbone-arch NAME with -backbone-error MSG")
	}
	if _, err := parseFineTune(o.fineTune); err != nil {
		return nil, err
	}
	if o.precRounds < 1 {
		return nil, fmt.Errorf("-precision-rounds %d: want at least 1", o.precRounds)
	}
	return o, nil
}

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
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return nil, fmt.Errorf("%s: no resource usage on this system", name)
	}
	return &proc{Seconds: time.Since(start).Seconds(), RSSMiB: float64(ru.Maxrss) / 1024, Stdout: stdout.Bytes()}, nil
}

// benchConfig is the notebook's protocol (70/15/15, Dense(classes) on the
// frozen backbone, Adam, batch 128, 10 epochs) on Fashion-MNIST and the
// pretrained MobileNet, in folders of its own.
func (o *options) benchConfig(name string, perClass int, models string) string {
	return fmt.Sprintf(`name: %s
seed: 42
runs_dir: %s/runs
data: {dir: data/fashion-mnist, max_per_class: %d, split: {train: 0.7, val: 0.15, test: 0.15}}
images: {size: [64, 64], preprocess: tf}
features: {cache_dir: %s/cache-%s}
train: {batch_size: 128, epochs: 10}
models:
%s`, name, o.out, perClass, o.out, name, models)
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
func (o *options) goRun(bin, name, yaml string) (*proc, string, error) {
	cfgPath := filepath.Join(o.out, name+".yaml")
	if err := fsutil.WriteFile(cfgPath, []byte(yaml)); err != nil {
		return nil, "", err
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		return nil, "", err
	}
	dir, _, err := rundir.For(cfg)
	if err != nil {
		return nil, "", err
	}
	if err := removeAll(dir, cfg.Features.CacheDir); err != nil {
		return nil, "", err
	}
	p, err := measure(bin, "-config", cfgPath)
	return p, dir, err
}

type results struct {
	Machine string         `json:"machine"`
	Rows    [][4]string    `json:"rows"` // what, Go, Keras, ratio
	Raw     map[string]any `json:"raw"`
	// Sections are parts with tables of their own (not Go vs Keras),
	// in Markdown, after the main table.
	Sections []string `json:"-"`
}

func main() {
	tfsession.SetProcess(tfsession.Defaults)
	o, err := parseFlags(os.Args[1:])
	if err == flag.ErrHelp {
		return
	}
	if err == nil {
		err = o.run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (o *options) run() error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	res := &results{Machine: machine(), Raw: map[string]any{}}
	add := func(what, g, k, ratio string) { res.Rows = append(res.Rows, [4]string{what, g, k, ratio}) }
	fmt.Fprintf(os.Stderr, "bench: machine: %s\n", res.Machine)
	if o.only == "backbone" || o.only == "backbone-cuts" || o.only == "backbones-table" {
		return o.backbonePart()
	}
	if o.only == "precision" {
		return o.writeResults(res, fmt.Sprintf("# Benchmark\n\nMachine: %s.\n", res.Machine))
	}

	bin := filepath.Join(o.out, "pipeline")
	if b, err := exec.Command("go", "build", "-o", bin, "./pipeline").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	switch o.only {
	case "finetune":
		if err := o.fineTuneEpochs(add, bin, res); err != nil {
			return err
		}
		return o.writeResults(res, markdown(res))
	case "rerun":
		if err := o.rerunData(bin, res); err != nil {
			return err
		}
		return o.writeResults(res, markdown(res))
	case "sweep":
		if err := o.sweepBench(bin, res); err != nil {
			return err
		}
		return o.writeResults(res, markdown(res))
	case "augment":
		if err := o.augmentEpochs(add, bin, res); err != nil {
			return err
		}
		return o.writeResults(res, markdown(res))
	}

	// 1. End to end: Go pipeline vs the notebook's way in Keras, same data.
	goE2E, dir, err := o.goRun(bin, "e2e", o.benchConfig("e2e", o.perClass, transferModel))
	if err != nil {
		return err
	}
	run, err := report.Read(dir)
	if err != nil {
		return err
	}
	timing, err := readTiming(dir)
	if err != nil {
		return err
	}
	manifest := filepath.Join(dir, rundir.ManifestFile)
	ref, err := o.transferReference(dir, run)
	if err != nil {
		return err
	}
	pyNB, err := measure(o.python, "scripts/keras_bench.py", "notebook", manifest, "savedmodels/mobilenet", "global_pool", "--epochs", "10", "--batch", "128", "--init", ref)
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
	pyF, err := measure(o.python, "scripts/keras_bench.py", "features", manifest, "savedmodels/mobilenet", "global_pool", "--batch", "32")
	if err != nil {
		return err
	}
	var pf struct {
		ImagesPerSecond float64 `json:"images_per_second"`
	}
	if err := decode(pyF.Stdout, &pf); err != nil {
		return err
	}
	mt, ok := timing.Models["mobilenet_transfer"]
	if !ok {
		return fmt.Errorf("%s: no timing for mobilenet_transfer", filepath.Join(dir, rundir.TimingFile))
	}
	goRate := mt.FeatureImagesPerSecond
	add("feature extraction, MobileNet 224×224, images/s", fmt.Sprintf("%.1f", goRate), fmt.Sprintf("%.1f", pf.ImagesPerSecond),
		fmt.Sprintf("%.2f× (goal ≥ 0.95×)", goRate/pf.ImagesPerSecond))
	if o.vggImages > 0 {
		if err := o.vggFeatures(add, bin); err != nil {
			return err
		}
	}

	// 3. Time per epoch of the top on cached features: Go vs Keras fit.
	goEpoch := mean(mt.EpochSeconds)
	var h struct{ Seconds []float64 }
	if err := reference.Keras(o.python, "scripts/keras_reference.py", ref, &h); err != nil {
		return err
	}
	kEpoch := mean(h.Seconds)
	add("new top on cached features, time per epoch", secs(goEpoch), secs(kEpoch), fmt.Sprintf("%.2f×", goEpoch/kEpoch))

	// 4. Scratch CNN time per epoch, same data, same batches.
	gs, ks, err := o.scratchEpochs(dir)
	if err != nil {
		return err
	}
	add("scratch CNN (notebook's, 64×64), time per epoch", secs(gs), secs(ks), fmt.Sprintf("%.2f× Keras' time (goal ≤ 1.1×)", gs/ks))

	// 5. Peak RSS of the Go pipeline on the full 6,000-image dataset.
	if o.fullRSS {
		full, fdir, err := o.goRun(bin, "full", o.benchConfig("full", 0, transferModel+scratchModel))
		if err != nil {
			return err
		}
		fr, err := report.Read(fdir)
		if err != nil {
			return err
		}
		nn := fr.Dataset.Train + fr.Dataset.Val + fr.Dataset.Test
		add(fmt.Sprintf("Go pipeline on %d images (scratch CNN + MobileNet), peak RSS", nn), mib(full.RSSMiB), "", "goal < 1024 MiB")
		add("  wall time", secs(full.Seconds), "", "")
		res.Raw["full_go"] = full
	}

	// 6. A fine-tuning epoch: Go from features cached at the cut vs
	// Keras' guide, the whole backbone forward on every batch.
	if err := o.fineTuneEpochs(add, bin, res); err != nil {
		return err
	}
	// 7. The data stage of a rerun over large photos.
	if err := o.rerunData(bin, res); err != nil {
		return err
	}
	// 8. A sweep of 24 trials vs 24 separate runs.
	if err := o.sweepBench(bin, res); err != nil {
		return err
	}
	return o.writeResults(res, markdown(res))
}

// writeResults runs the precision comparison, adds it after md (the other
// parts' table, if they ran) and writes the results.
func (o *options) writeResults(res *results, md string) error {
	if o.only == "" || o.only == "precision" {
		rows, err := o.precisionBench()
		if err != nil {
			return err
		}
		res.Raw["precision"] = rows
		md += o.precisionMarkdown(rows)
	}
	fmt.Print(md)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := fsutil.WriteFile(filepath.Join(o.out, "results.json"), append(b, '\n')); err != nil {
		return err
	}
	return fsutil.WriteFile(filepath.Join(o.out, "results.md"), []byte(md))
}

// augmentEpochs measures augmentation through cached views: the same
// new top on MobileNet's features, trained 30 epochs on the images as
// they are and on 8 views of each training image (views 1-7 flipped,
// cropped and turned, their features computed once), from a clean cache:
// the time per epoch of each (mean over epochs 2..: the first pays for
// warm-up), the one-time cost of the views' features, and the cache's
// disk use per entry (an image's or a view's). The goal is an augmented epoch within 1.5× of a
// plain one: it still reads one cached feature per image.
func (o *options) augmentEpochs(add func(string, string, string, string), bin string, res *results) error {
	const views = 8
	models := transferModel + strings.ReplaceAll(transferModel, "mobilenet_transfer", "mobilenet_augment") +
		fmt.Sprintf("    augment: {views: %d, horizontal_flip: true, random_resized_crop: {scale: [0.6, 1]}, rotation: 10}\n", views)
	yaml := strings.Replace(o.benchConfig("augment", o.perClass, models), "batch_size: 128, epochs: 10", "batch_size: 128, epochs: 30", 1)
	p, dir, err := o.goRun(bin, "augment", yaml)
	if err != nil {
		return err
	}
	timing, err := readTiming(dir)
	if err != nil {
		return err
	}
	plain, aug := timing.Models["mobilenet_transfer"], timing.Models["mobilenet_augment"]
	if len(plain.EpochSeconds) < 2 || len(aug.EpochSeconds) < 2 || aug.ViewsComputed == 0 {
		return fmt.Errorf("%s: want epochs of mobilenet_transfer and mobilenet_augment and computed views, got %+v and %+v", filepath.Join(dir, rundir.TimingFile), plain, aug)
	}
	pe, ae := mean(plain.EpochSeconds[1:]), mean(aug.EpochSeconds[1:])
	add(fmt.Sprintf("new top on cached features, time per epoch (Go): the images as they are → %d views per training image", views),
		fmt.Sprintf("%.4f s → %.4f s", pe, ae), "", fmt.Sprintf("%.2f× (goal ≤ 1.5×)", ae/pe))
	add(fmt.Sprintf("  one-time: features of %d views (%d per training image besides the image)", aug.ViewsComputed, views-1),
		secs(aug.ViewSeconds), "", fmt.Sprintf("%.1f views/s (the images' own features: %.1f images/s)", float64(aug.ViewsComputed)/aug.ViewSeconds, plain.FeatureImagesPerSecond))
	cfg, err := config.Load(filepath.Join(o.out, "augment.yaml"), nil)
	if err != nil {
		return err
	}
	files, bytes, err := diskUse(cfg.Features.CacheDir)
	if err != nil {
		return err
	}
	add("  cache on disk, every entry (the images' and the views'), per entry", fmt.Sprintf("%.0f B in %d files", float64(bytes)/float64(files), files), "", "")
	res.Raw["augment_go"], res.Raw["augment_plain"], res.Raw["augment_views"] = p, plain, aug
	return nil
}

// diskUse counts the regular files under dir and the bytes the disk holds
// for them (allocated blocks, not lengths).
func diskUse(dir string) (files int, bytes int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || filepath.Ext(path) != ".f32" {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			return err
		}
		files++
		bytes += st.Blocks * 512
		return nil
	})
	return files, bytes, err
}

// vggFeatures compares feature extraction through VGG16 (seeded random
// weights: the same computation as the ImageNet ones) on a few images.
func (o *options) vggFeatures(add func(string, string, string, string), bin string) error {
	per := max(1, o.vggImages/10)
	_, dir, err := o.goRun(bin, "vgg", o.benchConfig("vgg", per, `  - name: vgg16_transfer
    backbone: {savedmodel: savedmodels/vgg16-random, endpoint: fc2}
    layers: [{dense: {units: classes, activation: softmax}}]
`)+"")
	if err != nil {
		return err
	}
	timing, err := readTiming(dir)
	if err != nil {
		return err
	}
	py, err := measure(o.python, "scripts/keras_bench.py", "features", filepath.Join(dir, rundir.ManifestFile), "savedmodels/vgg16-random", "fc2", "--batch", "16")
	if err != nil {
		return err
	}
	var pf struct {
		ImagesPerSecond float64 `json:"images_per_second"`
	}
	if err := decode(py.Stdout, &pf); err != nil {
		return err
	}
	vt, ok := timing.Models["vgg16_transfer"]
	if !ok {
		return fmt.Errorf("%s: no timing for vgg16_transfer", filepath.Join(dir, rundir.TimingFile))
	}
	g := vt.FeatureImagesPerSecond
	add(fmt.Sprintf("feature extraction, VGG16 fc2 224×224 (%d images), images/s", per*10), fmt.Sprintf("%.2f", g), fmt.Sprintf("%.2f", pf.ImagesPerSecond),
		fmt.Sprintf("%.2f× (goal ≥ 0.95×)", g/pf.ImagesPerSecond))
	return nil
}

// transferReference writes the e2e run's transfer model as a reference
// folder for the Keras scripts: its cached features, the Go run's initial
// weights (same seed as the run) and its batch order for every epoch.
func (o *options) transferReference(dir string, run *report.Run) (string, error) {
	cfg, err := config.Load(filepath.Join(dir, rundir.ConfigFile), nil)
	if err != nil {
		return "", err
	}
	p, err := plan.Read(dir, run.Models[0].Name)
	if err != nil {
		return "", err
	}
	// The features the run cached: its precision and batch size, which
	// features.precision and batch_size (auto) may have chosen.
	bb, err := backbone.Open(p.Backbone.SavedModel, p.Backbone.Plain, p.Backbone.Precision)
	if err != nil {
		return "", err
	}
	defer bb.Close()
	store, err := features.Open(cfg.Features.CacheDir, bb, p.Backbone.Features, p.Input.Resize, p.Input.DivideBy255, p.Backbone.FeatureBatch)
	if err != nil {
		return "", err
	}
	ds, err := dataset.ReadManifest(filepath.Join(dir, rundir.ManifestFile))
	if err != nil {
		return "", err
	}
	tr, val := store.Split(ds.Split(dataset.Train)), store.Split(ds.Split(dataset.Val))
	spec := p.Spec(0)
	net, err := nn.Build(spec)
	if err != nil {
		return "", err
	}
	init := net.InitialWeights(p.Seed)
	net.Close()
	var orders [][]int
	ph := p.Phases[0]
	for e := 1; e <= ph.Epochs; e++ {
		orders = append(orders, train.Order(tr.Len(), ph.Seed, e, ph.Shuffle))
	}
	ref := filepath.Join(o.out, "keras-top")
	if err := removeAll(ref); err != nil {
		return "", err
	}
	return ref, reference.Write(ref, reference.Run{Spec: spec, Init: init, Train: tr, Val: val, Orders: orders, BatchSize: cfg.Train.BatchSize})
}

// scratchEpochs trains the notebook's scratch CNN at 64×64 for 3 epochs in
// Go and in Keras on the same images and batches; mean seconds per epoch.
func (o *options) scratchEpochs(dir string) (goSec, kerasSec float64, err error) {
	cfg, err := config.Parse("scratch", []byte(o.benchConfig("scratch", o.perClass, scratchModel)), nil)
	if err != nil {
		return 0, 0, err
	}
	ds, err := dataset.ReadManifest(filepath.Join(dir, rundir.ManifestFile))
	if err != nil {
		return 0, 0, err
	}
	store := pixels.Open(filepath.Join(o.out, "cache-scratch"), 64, 64, "nearest")
	if _, err := store.Prepare(context.Background(), ds.Examples, 0, false, nil); err != nil {
		return 0, 0, err
	}
	tr, val := store.Split(ds.Split(dataset.Train), "tf", false), store.Split(ds.Split(dataset.Val), "tf", false)
	p, err := plan.For(cfg, cfg.Models[0])
	if err != nil {
		return 0, 0, err
	}
	p.Classes = ds.Classes
	spec := p.Spec(0)
	const epochs = 3
	net, err := nn.Build(spec)
	if err != nil {
		return 0, 0, err
	}
	defer net.Close()
	if err := net.SetWeights(net.InitialWeights(1)); err != nil {
		return 0, 0, err
	}
	tdir := filepath.Join(o.out, "go-scratch")
	if err := removeAll(tdir); err != nil {
		return 0, 0, err
	}
	st, err := train.Fit(context.Background(), net, tr, val, train.Options{BatchSize: cfg.Train.BatchSize, Epochs: epochs, Shuffle: true, Seed: 1, Dir: tdir})
	if err != nil {
		return 0, 0, err
	}
	var s []float64
	for _, e := range st.History {
		s = append(s, e.Seconds)
	}
	k, err := o.kerasEpochs(spec, tr, val, cfg.Train.BatchSize, epochs, filepath.Join(o.out, "keras-scratch"))
	return mean(s), k, err
}

// kerasEpochs hands a training setup to scripts/keras_reference.py and
// returns Keras' mean fit time per epoch, skipping the first (graph tracing)
// when there are more.
func (o *options) kerasEpochs(spec nn.Spec, tr, val train.Data, batch, epochs int, dir string) (float64, error) {
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
	if err := removeAll(dir); err != nil {
		return 0, err
	}
	if err := reference.Write(dir, reference.Run{Spec: spec, Init: init, Train: tr, Val: val, Orders: orders, BatchSize: batch}); err != nil {
		return 0, err
	}
	var h struct{ Seconds []float64 }
	if err := reference.Keras(o.python, "scripts/keras_reference.py", dir, &h); err != nil {
		return 0, err
	}
	return mean(h.Seconds), nil
}

func markdown(r *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark: Go pipeline vs Keras\n\nMachine: %s. One run of each.\n\n", r.Machine)
	if len(r.Rows) > 0 {
		b.WriteString("| measure | Go | Keras | ratio |\n|---|---|---|---|\n")
		for _, row := range r.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row[0], row[1], row[2], row[3])
		}
	}
	for _, s := range r.Sections {
		b.WriteString(s)
	}
	return b.String()
}

// machine describes the CPU (model and the flags that matter to
// TensorFlow's speed, AMX or not) and TensorFlow's version.
func machine() string {
	c := cpuinfo.Read()
	amx := "no AMX"
	if c.Has("amx_bf16") {
		amx = "AMX"
	}
	return fmt.Sprintf("%s (%s), %s/%s, TensorFlow %s, no GPU", c, amx, runtime.GOOS, runtime.GOARCH, tf.Version())
}

// loadAverage is the system's 1-, 5- and 15-minute load averages, as
// /proc/loadavg gives them ("unknown" where it cannot be read): a shared
// machine's timings are read with it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if err != nil || len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// readTiming reads a run's timing.json: a missing or unreadable file is an
// error, never a zero rate in the results.
func readTiming(dir string) (*experiment.Timing, error) {
	path := filepath.Join(dir, rundir.TimingFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t experiment.Timing
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &t, nil
}

// removeAll removes each path and everything under it, so that a step
// starts clean; a path that is not there is fine.
func removeAll(paths ...string) error {
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
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
