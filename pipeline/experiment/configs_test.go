package experiment

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/nn"
)

// TestShippedConfigs loads every config under configs/ and builds each of
// its models for the class count the notebook had (97), checking the
// notebook's parameter counts where they apply.
func TestShippedConfigs(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(testenv.Root(t), "configs", "*.yaml"))
	if len(paths) < 4 {
		t.Fatalf("found %d configs: %v", len(paths), paths)
	}
	// Trainable parameters with 97 classes: the notebook's, and a
	// fine-tuned model's in its second phase (VGG16's block 5, fc1, fc2
	// and the new dense; MobileNet's conv_pw_13 block and the new dense).
	want := map[string]int{"scratch_cnn": 1233473, "vgg16_transfer": 397409,
		"vgg16_finetune":     3*(3*3*512*512+512) + 25088*4096 + 4096 + 4096*4096 + 4096 + 397409,
		"mobilenet_finetune": 1024*1024 + 2*1024 + 1024*97 + 97}
	for _, p := range paths {
		cfg, err := config.Load(p, nil)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, m := range cfg.Models {
			var features []int
			var tail *nn.Tail
			if m.Transfer() {
				// Shapes of the endpoints the configs use.
				features = map[string][]int{"fc2": {4096}, "global_pool": {1024}}[m.Backbone.Endpoint]
			}
			if m.FineTuned() {
				// The layers above the cut, as vgg16-random's and
				// mobilenet's metadata.json describe them (vgg16's are
				// VGG16's too).
				sm := map[string]string{"savedmodels/vgg16": "vgg16-random", "savedmodels/mobilenet": "mobilenet"}[m.Backbone.SavedModel]
				meta, err := backbone.ReadMetadata(testenv.SavedModel(t, sm))
				if err != nil {
					t.Fatal(err)
				}
				bt, err := meta.TailFor(m.Backbone.FineTuneFrom, m.Backbone.Endpoint)
				if err != nil {
					t.Fatalf("%s: model %s: %v", p, m.Name, err)
				}
				tail = &nn.Tail{Input: bt.Shape, Layers: bt.Layers, Names: bt.Names}
			}
			spec := nn.SpecFor(cfg, m, features, tail, 97)
			if m.FineTuned() {
				spec = nn.FineTuneSpec(spec, m.FineTune)
			}
			net, err := nn.Build(spec)
			if err != nil {
				t.Errorf("%s: model %s: %v", p, m.Name, err)
				continue
			}
			if w, ok := want[m.Name]; ok && cfg.Images.Size == [2]int{224, 224} && net.Params() != w {
				t.Errorf("%s: model %s has %d trainable parameters with 97 classes; the notebook's has %d", p, m.Name, net.Params(), w)
			}
			net.Close()
		}
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
