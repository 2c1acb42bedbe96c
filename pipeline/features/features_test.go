package features

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/cpuinfo"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

func setup(t *testing.T) (*backbone.Model, *dataset.Dataset, string) {
	t.Helper()
	m, err := backbone.Load(testenv.SavedModel(t, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	data := filepath.Join(t.TempDir(), "data")
	testenv.ImageDataset(t, data, 3, 8, 1)
	ds, err := dataset.Scan(dataset.Options{Dir: data, Split: dataset.Split{Train: .5, Val: .25, Test: .25}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.HashFiles(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	return m, ds, filepath.Join(t.TempDir(), "cache")
}

func TestExtractCachesAndMatchesBackbone(t *testing.T) {
	m, ds, cache := setup(t)
	s, err := Open(cache, m, "fc2", "nearest", false, 8)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Workers: 2}
	r, err := s.Extract(context.Background(), ds.Examples, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Computed != 24 || r.Hits != 0 {
		t.Fatalf("first extraction: computed %d, hits %d; want 24, 0", r.Computed, r.Hits)
	}
	// A second pass over the same data does no backbone work.
	r, err = s.Extract(context.Background(), ds.Examples, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Computed != 0 || r.Hits != 24 {
		t.Fatalf("second extraction: computed %d, hits %d; want 0, 24", r.Computed, r.Hits)
	}

	// The cached row is what the backbone gives for that image.
	e := ds.Examples[3]
	img, err := images.Load(e.Path, 32, 32, "nearest")
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 32*32*3)
	if err := images.Preprocess(x, img, "caffe", false); err != nil {
		t.Fatal(err)
	}
	want, err := m.Run("fc2", x, 1)
	if err != nil {
		t.Fatal(err)
	}
	split := s.Split(ds.Examples)
	got := make([]float32, s.Dim)
	if err := split.Read([]int{3}, got); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("cached feature %d = %v, backbone gives %v", i, got[i], want[i])
		}
	}
}

func TestKeyMissesOnlyOnWhatMatters(t *testing.T) {
	m, ds, cache := setup(t)
	base, err := Open(cache, m, "fc2", "nearest", false, 8)
	if err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]func() (*Store, error){
		"endpoint":   func() (*Store, error) { return Open(cache, m, "block5_pool", "nearest", false, 8) },
		"resize":     func() (*Store, error) { return Open(cache, m, "fc2", "bilinear", false, 8) },
		"divide255":  func() (*Store, error) { return Open(cache, m, "fc2", "nearest", true, 8) },
		"batch size": func() (*Store, error) { return Open(cache, m, "fc2", "nearest", false, 5) },
		"precision": func() (*Store, error) {
			bf, err := backbone.LoadPrecision(m.Dir, backbone.BFloat16)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { bf.Close() })
			return Open(cache, bf, "fc2", "nearest", false, 8)
		},
	} {
		s, err := other()
		if err != nil {
			t.Fatal(err)
		}
		if s.Dir == base.Dir {
			t.Errorf("changing %s kept the cache folder %s", name, s.Dir)
		}
		if name == "precision" && (s.Key.Precision != "bfloat16" || base.Key.Precision != "float32") {
			t.Errorf("key precision: %q and %q, want bfloat16 and float32", s.Key.Precision, base.Key.Precision)
		}
	}
	// The same setting opened again (another run, another top) shares it.
	again, _ := Open(cache, m, "fc2", "nearest", false, 8)
	if again.Dir != base.Dir {
		t.Errorf("same setting, different folders: %s vs %s", base.Dir, again.Dir)
	}

	// Changing an image's bytes misses for that image only.
	if _, err := base.Extract(context.Background(), ds.Examples, Options{}); err != nil {
		t.Fatal(err)
	}
	e := &ds.Examples[0]
	b, _ := os.ReadFile(ds.Examples[1].Path)
	if err := os.WriteFile(e.Path, b, 0o644); err != nil { // different image content
		t.Fatal(err)
	}
	if err := ds.HashFiles(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	r, err := base.Extract(context.Background(), ds.Examples, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Example 0 now has example 1's bytes, which are cached already.
	if r.Computed != 0 {
		t.Errorf("recomputed %d images after copying a cached image's bytes", r.Computed)
	}
	if err := os.WriteFile(e.Path, append(b, 0), 0o644); err != nil { // new bytes
		t.Fatal(err)
	}
	ds.HashFiles(context.Background(), 2)
	if r, _ = base.Extract(context.Background(), ds.Examples, Options{}); r.Computed != 1 {
		t.Errorf("changed one image's bytes: computed %d, want 1", r.Computed)
	}
}

func TestInterruptedExtractionResumes(t *testing.T) {
	m, ds, cache := setup(t)
	s, _ := Open(cache, m, "fc2", "nearest", false, 8)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Extract(ctx, ds.Examples, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled extraction: %v", err)
	}
	// Do part of the work, then the rest.
	if _, err := s.Extract(context.Background(), ds.Examples[:10], Options{}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Extract(context.Background(), ds.Examples, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Hits != 10 || r.Computed != 14 {
		t.Errorf("resumed: hits %d computed %d, want 10 and 14", r.Hits, r.Computed)
	}
}

func TestBadImage(t *testing.T) {
	m, ds, cache := setup(t)
	bad := ds.Examples[5].Path
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds.HashFiles(context.Background(), 2)
	s, _ := Open(cache, m, "fc2", "nearest", false, 8)
	_, err := s.Extract(context.Background(), ds.Examples, Options{})
	if err == nil || !contains(err.Error(), bad) {
		t.Fatalf("bad image: error %v does not name %s", err, bad)
	}
	r, err := s.Extract(context.Background(), ds.Examples, Options{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Skipped) != 1 || r.Skipped[0].Path != bad {
		t.Fatalf("skipped %v, want just %s", r.Skipped, bad)
	}
	if n := s.Split(ds.Examples).Len(); n != 23 {
		t.Errorf("split without the bad image has %d examples, want 23", n)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestCorruptCacheEntryRecomputed (issue 8, item 2): an entry overwritten
// with NaNs of the same size is caught by its checksum, recomputed and
// counted; training reads the backbone's values, never the NaNs.
func TestCorruptCacheEntryRecomputed(t *testing.T) {
	m, ds, cache := setup(t)
	s, err := Open(cache, m, "fc2", "nearest", false, 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Extract(context.Background(), ds.Examples, Options{}); err != nil {
		t.Fatal(err)
	}
	split := s.Split(ds.Examples)
	want := make([]float32, s.Dim)
	if err := split.Read([]int{3}, want); err != nil {
		t.Fatal(err)
	}
	path := s.Path(ds.Examples[3].Hash)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	nan := make([]float32, st.Size()/4)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	if err := os.WriteFile(path, asBytes(nan), 0o644); err != nil {
		t.Fatal(err)
	}
	// Reading it now fails, naming the image, rather than giving NaNs.
	got := make([]float32, s.Dim)
	if err := split.Read([]int{3}, got); err == nil || !strings.Contains(err.Error(), ds.Examples[3].Path) {
		t.Fatalf("reading a corrupt entry: %v (values %v)", err, got[:2])
	}
	r, err := s.Extract(context.Background(), ds.Examples, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Bad != 1 || r.Computed != 1 || r.Hits != 23 {
		t.Errorf("after corrupting one entry: hits %d, bad %d, computed %d; want 23, 1, 1", r.Hits, r.Bad, r.Computed)
	}
	if err := s.Split(ds.Examples).Read([]int{3}, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("recomputed entry differs at %d: %v vs %v", i, got[i], want[i])
		}
	}
}

// Features computed in bfloat16 are the float32 ones moved by bfloat16's
// rounding (the rewrite is applied through the whole stage), and land in
// their own folder.
func TestBFloat16Features(t *testing.T) {
	if ok, why := cpuinfo.Read().BFloat16(); !ok {
		t.Skipf("TensorFlow skips the bfloat16 rewrite here: %s", why)
	}
	m, ds, cache := setup(t)
	bf, err := backbone.LoadPrecision(m.Dir, backbone.BFloat16)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	rows := func(m *backbone.Model) []float32 {
		s, err := Open(cache, m, "fc2", "nearest", false, 8)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Extract(context.Background(), ds.Examples, Options{}); err != nil {
			t.Fatal(err)
		}
		idx := make([]int, len(ds.Examples))
		for i := range idx {
			idx[i] = i
		}
		x := make([]float32, len(idx)*s.Dim)
		if err := s.Split(ds.Examples).Read(idx, x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	f32, b16 := rows(m), rows(bf)
	var scale, worst float64
	for i := range f32 {
		scale = max(scale, math.Abs(float64(f32[i])))
		worst = max(worst, math.Abs(float64(b16[i]-f32[i])))
	}
	t.Logf("bfloat16 vs float32 features: max |diff| %.3g of scale %.3g", worst/scale, scale)
	if worst == 0 {
		t.Error("bfloat16 features equal float32's: the rewrite was not applied")
	}
	if worst > 0.02*scale {
		t.Errorf("bfloat16 features differ from float32's by %.3g of their scale, want <= 2%%", worst/scale)
	}
}
