package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/plan"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// fineTuneCase is a backbone the fine-tuning part measures: a Go run
// fine-tuning it from a cut, against Keras' guide fine-tuning the same
// layers of the keras.applications class of the same name.
type fineTuneCase struct {
	arch       string // the keras.applications class, and -finetune's name for the case
	savedModel string
	endpoint   string // where the backbone's part of the network ends
	cut        string // backbone.fine_tune_from: a layer, or auto (the run's plan names the layer it chose)
	// layers are the new layers on top, in the config's YAML. With them,
	// the network is the same as Keras' base model without its top,
	// global average pooling and a Dense: the endpoint is the
	// architecture's global pooling, or, for VGG16 (whose feature
	// endpoint is fc2), block5_pool with the pooling as a new layer.
	layers string
}

// fineTuneCases are the backbones -finetune may name: MobileNet v1 and
// VGG16 (a plain stack above the cut), ResNet50 and EfficientNetB0 (a
// graph: residual adds, squeeze-and-excitation) from the start of their
// last block.
var fineTuneCases = []fineTuneCase{
	{"MobileNet", "savedmodels/mobilenet", "global_pool", "conv_pw_13", "[{dense: {units: classes, activation: softmax}}]"},
	{"ResNet50", "savedmodels/apps/ResNet50", "avg_pool", "auto", "[{dense: {units: classes, activation: softmax}}]"},
	{"EfficientNetB0", "savedmodels/apps/EfficientNetB0", "avg_pool", "auto", "[{dense: {units: classes, activation: softmax}}]"},
	{"VGG16", "savedmodels/vgg16-random", "block5_pool", "block5_conv1", "[{global_average_pooling2d: {}}, {dense: {units: classes, activation: softmax}}]"},
}

// fineTuneNames are the names -finetune accepts.
func fineTuneNames() []string {
	var n []string
	for _, c := range fineTuneCases {
		n = append(n, c.arch)
	}
	return n
}

// parseFineTune reads -finetune's comma-separated names.
func parseFineTune(s string) ([]fineTuneCase, error) {
	var out []fineTuneCase
	for _, name := range strings.Split(s, ",") {
		i := slices.IndexFunc(fineTuneCases, func(c fineTuneCase) bool { return c.arch == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("-finetune %q: %q is not one of %q", s, name, fineTuneNames())
		}
		out = append(out, fineTuneCases[i])
	}
	return out, nil
}

// fineTuneEpochs measures a fine-tuning epoch for each backbone of
// -finetune: its last block (from the cut) and a new Dense trained
// together, with Adam 1e-5, batch 32. Go: features cached once at the
// cut's input, 2 epochs of the top then 3 of fine-tuning. Keras: the
// transfer-learning guide's way on the same split (the Go run's
// manifest), 3 epochs, the whole backbone forward on every batch. Epoch
// times are means over epochs 2.. of the fine-tuning phase (the first
// pays for warm-up); peak RSS is each whole process's (Go's includes
// extracting the features). Both sides must train the same number of
// weights, or the comparison stops.
func (o *options) fineTuneEpochs(add func(string, string, string, string), bin string, res *results) error {
	cases, err := parseFineTune(o.fineTune)
	if err != nil {
		return err
	}
	for _, c := range cases {
		if err := o.fineTuneCase(add, bin, res, c); err != nil {
			return fmt.Errorf("fine-tuning %s: %w", c.arch, err)
		}
	}
	return nil
}

func (o *options) fineTuneCase(add func(string, string, string, string), bin string, res *results, c fineTuneCase) error {
	const topEpochs, fineTuneEpochs = 2, 3
	name := strings.ToLower(c.arch) + "_finetune"
	model := fmt.Sprintf(`  - name: %s
    backbone: {savedmodel: %s, endpoint: %s, fine_tune_from: %s}
    fine_tune: {epochs: %d, optimizer: {adam: {learning_rate: 1.0e-5}}}
    layers: %s
`, name, c.savedModel, c.endpoint, c.cut, fineTuneEpochs, c.layers)
	cfgName := "finetune-" + strings.ToLower(c.arch)
	yaml := strings.Replace(o.benchConfig(cfgName, o.perClass, model), "batch_size: 128, epochs: 10", fmt.Sprintf("batch_size: 32, epochs: %d", topEpochs), 1)
	goLoad := loadAverage()
	goFT, dir, err := o.goRun(bin, cfgName, yaml)
	if err != nil {
		return err
	}
	timing, err := readTiming(dir)
	if err != nil {
		return err
	}
	mt, ok := timing.Models[name]
	if !ok || len(mt.EpochSeconds) != topEpochs+fineTuneEpochs {
		return fmt.Errorf("%s: want %d epochs of %s (%d + %d fine-tuning), got %v",
			filepath.Join(dir, rundir.TimingFile), topEpochs+fineTuneEpochs, name, topEpochs, fineTuneEpochs, mt.EpochSeconds)
	}
	cut, goParams, err := fineTuned(dir, name)
	if err != nil {
		return err
	}
	kLoad := loadAverage()
	py, err := measure(o.python, "scripts/keras_bench.py", "finetune", filepath.Join(dir, rundir.ManifestFile), c.savedModel, c.arch, cut,
		"--epochs", fmt.Sprint(fineTuneEpochs), "--batch", "32")
	if err != nil {
		return err
	}
	var k struct {
		EpochSeconds []float64 `json:"epoch_seconds"`
		Trainable    int       `json:"trainable_params"`
	}
	if err := decode(py.Stdout, &k); err != nil {
		return err
	}
	if k.Trainable != goParams || len(k.EpochSeconds) != fineTuneEpochs {
		return fmt.Errorf("not the same work: scripts/keras_bench.py finetune %s %s (Keras' guide) trains %d weights for %d epochs, the Go run %s %d for %d",
			c.arch, cut, k.Trainable, len(k.EpochSeconds), dir, goParams, fineTuneEpochs)
	}
	goEpoch, kEpoch := mean(mt.EpochSeconds[topEpochs:]), mean(k.EpochSeconds) // mean drops each first epoch
	add(fmt.Sprintf("fine-tuning %s from %s (+ Dense; %s weights train), time per epoch: Go on cached cut features vs Keras' guide", c.arch, cut, thousands(int64(goParams))),
		secs(goEpoch), secs(kEpoch), fmt.Sprintf("%.1f× faster (goal ≥ 5×)", kEpoch/goEpoch))
	add("  peak RSS (Go: the whole run, feature extraction included)", mib(goFT.RSSMiB), mib(py.RSSMiB), fmt.Sprintf("%.2f×", goFT.RSSMiB/py.RSSMiB))
	add("  load average (1, 5, 15 min) as each side started", goLoad, kLoad, "")
	key := "finetune_" + strings.ToLower(c.arch)
	res.Raw[key+"_go"], res.Raw[key+"_go_epochs"], res.Raw[key+"_keras"], res.Raw[key+"_keras_epochs"] = goFT, mt.EpochSeconds, py, k
	return nil
}

// fineTuned reads, from a fine-tuned model's plan in a run, the layer
// its fine-tuning started from (what fine_tune_from: auto chose) and the
// weights its fine-tuning phase trained.
func fineTuned(dir, name string) (cut string, params int, err error) {
	p, err := plan.Read(dir, name)
	if err != nil {
		return "", 0, err
	}
	if !p.FineTuned() || p.Backbone.FineTuneFrom == "auto" {
		return "", 0, fmt.Errorf("run %s: model %s's plan does not name the layer its fine-tuning started from (backbone %+v)", dir, name, p.Backbone)
	}
	net, err := nn.Build(p.Final())
	if err != nil {
		return "", 0, err
	}
	defer net.Close()
	return p.Backbone.FineTuneFrom, net.Params(), nil
}
