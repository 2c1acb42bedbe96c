package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// TestAugmentedViewsAreCachedOnce: with augment, each training image's
// views 1..K-1 get features once; test-time augmentation's views of the
// test images too; a rerun computes nothing; more views compute only the
// new ones; the plain features' folder is the one a run without augment
// uses; results.md shows test accuracy with and without TTA.
func TestAugmentedViewsAreCachedOnce(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	aug := []string{"augment={views: 3, random_resized_crop: {scale: [0.5, 1]}, rotation: 10}", "evaluate.tta={scales: [1, 0.8]}"}
	first, log, err := runResult(t, testConfig(t, root, aug...))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	top, scratch := first.Models[0], first.Models[1]
	// 30 images: 18 train, 6 val, 6 test.
	if top.Views != (CacheCounts{Computed: 18 * 2}) || top.TTAViews != (CacheCounts{Computed: 6 * 3}) {
		t.Errorf("first run: views %+v, TTA views %+v; want 36 and 18 computed", top.Views, top.TTAViews)
	}
	if scratch.Views != (CacheCounts{}) || scratch.TTAViews != (CacheCounts{}) {
		t.Errorf("scratch model cached views: %+v %+v (it makes them on the fly)", scratch.Views, scratch.TTAViews)
	}
	r, err := report.Read(first.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range r.Models {
		if m.TTA == nil || m.Augment == "" || m.TTAViews == "" {
			t.Errorf("%s: TTA %v, augment %q, views %q", m.Name, m.TTA, m.Augment, m.TTAViews)
		}
	}
	md, err := os.ReadFile(filepath.Join(first.Dir, rundir.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "### Augmentation") || !strings.Contains(string(md), "| top | 3 views: random resized crop") {
		t.Errorf("results.md has no augmentation table:\n%s", md)
	}

	again, log, err := runResult(t, testConfig(t, root, aug...))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	top = again.Models[0]
	if top.Cache.Computed != 0 || top.Views != (CacheCounts{Cached: 36}) || top.TTAViews != (CacheCounts{Cached: 18}) {
		t.Errorf("rerun: features %+v, views %+v, TTA views %+v; want everything cached", top.Cache, top.Views, top.TTAViews)
	}

	more, log, err := runResult(t, testConfig(t, root, append(aug, "augment.views=5")...))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if v := more.Models[0].Views; v != (CacheCounts{Cached: 36, Computed: 36}) {
		t.Errorf("5 views after 3: %+v; want views 1-2 cached, 3-4 computed", v)
	}

	plain, log, err := runResult(t, testConfig(t, root))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if c := plain.Models[0].Cache; c.Computed != 0 || c.Cached != 30 {
		t.Errorf("a run without augment after augmented runs: features %+v, want all 30 cached (the same folder)", c)
	}
	if plain.Dir == first.Dir {
		t.Errorf("augmented and plain runs share the folder %s", plain.Dir)
	}
}

// TestTTAAveragedFeatures: the VGG paper's protocol, features averaged
// over the views for training, validation and test, computed for every
// image; the test split as it is gives the metrics without TTA.
func TestTTAAveragedFeatures(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	res, log, err := runResult(t, testConfig(t, root, "evaluate.tta={scales: [1, 0.8], average: features}"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if v := res.Models[0].TTAViews; v != (CacheCounts{Computed: 30 * 3}) {
		t.Errorf("TTA views %+v, want 90 computed (3 per image besides the image)", v)
	}
	r, err := report.Read(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	top := r.Models[0]
	if top.TTA == nil || top.Test == nil || top.TTA.N != top.Test.N {
		t.Fatalf("top: test %+v, with TTA %+v", top.Test, top.TTA)
	}
}
