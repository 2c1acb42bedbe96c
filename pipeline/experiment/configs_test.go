package experiment

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	want := map[string]int{"scratch_cnn": 1233473, "vgg16_transfer": 397409}
	for _, p := range paths {
		cfg, err := config.Load(p, nil)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, m := range cfg.Models {
			var features []int
			if m.Transfer() {
				// Shapes of the endpoints the configs use.
				features = map[string][]int{"fc2": {4096}, "global_pool": {1024}}[m.Backbone.Endpoint]
			}
			net, err := nn.Build(nn.SpecFor(cfg, m, features, nil, 97))
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
