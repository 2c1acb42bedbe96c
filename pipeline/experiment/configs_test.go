package experiment

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/plan"
)

// TestShippedConfigs loads every config under configs/, plans each of its
// models through its backbone's metadata and builds it for its dataset's
// class count (Fashion-MNIST's 10; the
// notebook's 97 for Caltech-101 and for own-images.yaml), checking every
// model's trainable parameters (in its second phase for a fine-tuned one)
// against the count README.md gives: a model of a shipped config with no
// count here fails too.
func TestShippedConfigs(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(testenv.Root(t), "configs", "*.yaml"))
	if len(paths) < 4 {
		t.Fatalf("found %d configs: %v", len(paths), paths)
	}
	// Trainable parameters by model name and class count: the notebook's
	// (97 classes, 224×224), README's default run (10 classes, 64×64),
	// and a fine-tuned model's in its second phase (VGG16's block 5, fc1,
	// fc2 and the new dense; MobileNet's conv_pw_13 block and the new
	// dense).
	type model struct {
		name    string
		classes int
	}
	want := map[model]int{
		{"scratch_cnn", 97}:        1233473,
		{"vgg16_transfer", 97}:     397409,
		{"vgg16_finetune", 97}:     3*(3*3*512*512+512) + 25088*4096 + 4096 + 4096*4096 + 4096 + 397409,
		{"scratch_cnn", 10}:        64234,
		{"mobilenet_transfer", 10}: 10250,
		{"mobilenet_finetune", 10}: 1060874,
		{"mobilenet_transfer", 97}: 1024*97 + 97,
		{"mobilenet_augment4", 10}: 10250,
		{"mobilenet_augment8", 10}: 10250,
		{"mobilenet_paper", 10}:    10250,
		{"vgg16_paper", 97}:        397409,
		// configs/finetune-any.yaml: the last block (as the exporter's
		// trainable_params counts it) and the new dense.
		{"MobileNetV2_finetune", 10}:    412160 + 1280*10 + 10,
		{"EfficientNetB0_finetune", 10}: 1129392 + 1280*10 + 10,
	}
	// configs/backbones.yaml: a Dense(10) on each pooled feature vector.
	for name, features := range map[string]int{"MobileNetV2": 1280, "MobileNetV3Small": 576, "EfficientNetB0": 1280, "EfficientNetV2B0": 1280,
		"ResNet50": 2048, "ResNet50V2": 2048, "DenseNet121": 1024, "InceptionV3": 2048, "ConvNeXtTiny": 768} {
		want[model{name, 10}] = features*10 + 10
	}
	checked := 0
	for _, p := range paths {
		cfg, err := config.Load(p, nil)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, m := range cfg.Models {
			if m.Transfer() {
				// The backbones the configs name, or exports with
				// their metadata (vgg16-random's layers and shapes
				// are VGG16's).
				b := *m.Backbone
				if app, ok := strings.CutPrefix(b.SavedModel, "savedmodels/apps/"); ok {
					b.SavedModel = testenv.App(t, app)
				} else {
					b.SavedModel = testenv.SavedModel(t, map[string]string{"savedmodels/vgg16": "vgg16-random", "savedmodels/mobilenet": "mobilenet"}[b.SavedModel])
				}
				m.Backbone = &b
			}
			classes := 97
			if cfg.Data.Download == config.FashionMNIST {
				classes = 10
			}
			pl, err := plan.For(cfg, m)
			if err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			for i := range classes {
				pl.Classes = append(pl.Classes, fmt.Sprint("c", i))
			}
			net, err := nn.Build(pl.Final())
			if err != nil {
				t.Errorf("%s: model %s: %v", p, m.Name, err)
				continue
			}
			w, ok := want[model{m.Name, classes}]
			switch {
			case !ok:
				t.Errorf("%s: model %s with %d classes has no expected parameter count; add it to this test (%d now)", p, m.Name, classes, net.Params())
			case net.Params() != w:
				t.Errorf("%s: model %s has %d trainable parameters with %d classes; want %d", p, m.Name, net.Params(), classes, w)
			default:
				checked++
			}
			net.Close()
		}
	}
	if checked < len(paths) {
		t.Errorf("checked %d models in %d configs", checked, len(paths))
	}
}

// TestVGG16OfflineFailsFast: without the ImageNet export, configs/vgg16.yaml
// stops within seconds and says how to supply the weights.
func TestVGG16OfflineFailsFast(t *testing.T) {
	root := testenv.Root(t)
	cfg, err := config.Load(filepath.Join(root, "configs", "vgg16.yaml"), []string{
		"models.0.backbone.savedmodel=" + filepath.Join(t.TempDir(), "vgg16"),
		"runs_dir=" + t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Run(context.Background(), cfg, Options{Log: &strings.Builder{}, Progress: &strings.Builder{}})
	if err == nil || !strings.Contains(err.Error(), "--weights imagenet") || !strings.Contains(err.Error(), ".h5") {
		t.Fatalf("error %v: want one saying how to export VGG16 with ImageNet weights", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to fail", d)
	}
}
