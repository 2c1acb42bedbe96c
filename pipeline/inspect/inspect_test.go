package inspect

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// space makes a Space of the given rows (normalised by NewSpace).
func space(t *testing.T, rows ...[]float32) *Space {
	t.Helper()
	var x []float32
	for _, r := range rows {
		x = append(x, r...)
	}
	s, err := NewSpace("m", len(rows[0]), x)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDuplicatesExactNearAndLeaks(t *testing.T) {
	ex := []dataset.Example{
		{Path: "a", Split: dataset.Train, Hash: "h1"},
		{Path: "b", Split: dataset.Train, Hash: "h2"},
		{Path: "c", Split: dataset.Val, Hash: "h3"},
		{Path: "d", Split: dataset.Test, Hash: "h1"}, // a's bytes
		{Path: "e", Split: dataset.Test, Hash: "h5"}, // near b
		{Path: "f", Split: dataset.Test, Hash: "h6"},
	}
	sp := space(t,
		[]float32{1, 0, 0}, []float32{0, 1, 0}, []float32{0, 0, 1},
		[]float32{2, 0, 0}, []float32{0, 10, 1}, []float32{1, 1, 1})
	for _, prod := range []Products{nil, Dot} {
		pairs, err := Duplicates(ex, sp, 0.99, prod)
		if err != nil {
			t.Fatal(err)
		}
		// a=d exactly; b~e at cosine 10/sqrt(101) = 0.995; f is 0.577 from all.
		want := []Pair{{A: 0, B: 3, Exact: true, Cosine: 1}, {A: 1, B: 4, Cosine: 10 / math.Sqrt(101)}}
		if len(pairs) != 2 || pairs[0].A != 0 || pairs[0].B != 3 || !pairs[0].Exact || pairs[1].A != 1 || pairs[1].B != 4 || pairs[1].Exact ||
			math.Abs(pairs[1].Cosine-want[1].Cosine) > 1e-6 || math.Abs(pairs[0].Cosine-1) > 1e-6 {
			t.Fatalf("pairs %+v, want %+v", pairs, want)
		}
		c := CountBySplits(ex, pairs)
		if c["train/test"] != (report.DuplicateCount{Exact: 1, Near: 1}) || len(c) != 6 || c["val/test"] != (report.DuplicateCount{}) {
			t.Errorf("counts %v", c)
		}
		if l := Leaks(ex, pairs); len(l) != 2 || !slices.Equal(LeakedTest(l), []int{3, 4}) {
			t.Errorf("leaks %v", l)
		}
	}
	// At threshold 1 only the exact pair; without features, the same.
	for _, sp := range []*Space{sp, nil} {
		pairs, err := Duplicates(ex, sp, 1, nil)
		if err != nil || len(pairs) != 1 || !pairs[0].Exact {
			t.Errorf("threshold 1 / no features: %+v, %v", pairs, err)
		}
	}
	// Drop leaves the leaked test images out and keeps the rest in order.
	c, err := CheckDuplicates(ex, sp, 0.99, nil)
	if err != nil {
		t.Fatal(err)
	}
	kept, idx := c.Drop(ex)
	if len(kept) != 4 || !slices.Equal(idx, []int{0, 1, 2, 5}) || !slices.Equal(c.Findings.Dropped, []string{"d", "e"}) {
		t.Errorf("drop: %v %v %v", kept, idx, c.Findings.Dropped)
	}
	sp.Keep(idx)
	if sp.Len() != 4 || sp.Row(3)[0] != sp.Row(3)[2] {
		t.Errorf("Keep: %d rows, last %v", sp.Len(), sp.Row(3))
	}
}

func TestNearestAcrossBlocks(t *testing.T) {
	// More rows than a block: the blocked products agree with Dot's.
	n, d := block+37, 5
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(math.Sin(float64(i) * 0.7))
	}
	sp, _ := NewSpace("m", d, x)
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	nb, err := sp.Nearest(all[n-3:], all, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for r, q := range all[n-3:] {
		best, bi := -2.0, -1
		for j := range n {
			if j != q {
				if c := dot(sp.Row(q), sp.Row(j)); c > best {
					best, bi = c, j
				}
			}
		}
		if nb[r][0].Index != bi || nb[r][0].Cosine < nb[r][1].Cosine {
			t.Errorf("query %d: nearest %+v, want %d (%.4f)", q, nb[r], bi, best)
		}
	}
	pairs, err := sp.above(0.9999, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		if p.A >= p.B || dot(sp.Row(p.A), sp.Row(p.B)) < 0.9998 {
			t.Errorf("pair %+v", p)
		}
	}
}

func TestSuspectsConfidentLearning(t *testing.T) {
	// Class 0's own images get 0.9 of class 0 (threshold 0.9 after the
	// suspect's 0.1... see below); class 1 is less sure of itself (0.6).
	labels := []int32{0, 0, 0, 1, 1, 1, 0}
	probs := []float32{
		0.9, 0.1,
		0.95, 0.05,
		0.85, 0.15,
		0.4, 0.6,
		0.3, 0.7,
		0.5, 0.5, // labelled 1, p(1) = 0.5 < t1: not confidently 1, and p(0) = 0.5 < t0: not a suspect
		0.1, 0.9, // labelled 0, confidently 1: a suspect
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6}
	s := Suspects(probs, labels, 2, idx)
	if len(s) != 1 || s[0].Index != 6 || s[0].Given != 0 || s[0].Suggested != 1 || math.Abs(s[0].PGiven-0.1) > 1e-6 {
		t.Errorf("suspects %+v", s)
	}
}

func TestFitKNNAndMisclassified(t *testing.T) {
	// Two clusters; the test image near cluster 1 but labelled 0 is
	// misclassified by kNN, with the highest loss.
	rows := [][]float32{{1, 0.1}, {1, 0.2}, {1, 0}, {0.1, 1}, {0.2, 1}, {0, 1}, // train
		{1, 0.15}, {0.15, 1}, // val
		{1, 0.05}, {0.05, 1}, {0.1, 1}} // test
	labels := []int32{0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0}
	sp := space(t, rows...)
	k, err := FitKNN(sp, labels, 2, []int{0, 1, 2, 3, 4, 5}, []int{6, 7}, []int{8, 9, 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.ValAccuracy != 1 || k.K != 1 || len(k.Probs) != 6 || k.Probs[0] != 1 || k.Probs[3] != 1 || k.Probs[5] != 1 {
		t.Errorf("kNN %+v", k)
	}
	m := Misclassified(k.Probs, labels, 2, []int{8, 9, 10})
	if len(m) != 1 || m[0].Index != 10 || m[0].Predicted != 1 || math.Abs(m[0].Loss+math.Log(1e-7)) > 1e-9 {
		t.Errorf("misclassified %+v", m)
	}
	if _, err := FitKNN(sp, labels, 2, nil, nil, []int{8}, nil); err == nil {
		t.Error("kNN without training images: no error")
	}
}

func TestOutOfFoldNeverSeesItsOwnLabel(t *testing.T) {
	sp := space(t, []float32{1, 0}, []float32{0, 1}, []float32{1, 1}, []float32{2, 1}, []float32{1, 2}, []float32{3, 1})
	labels := []int32{0, 1, 0, 1, 0, 1}
	var mu sync.Mutex // the folds train concurrently
	seen := map[int]bool{}
	fit := func(x []float32, y []int32, test []float32, d, classes int, seed int64) ([]float32, error) {
		for i := 0; i < len(test); i += d {
			for j := 0; j < len(x); j += d {
				if slices.Equal(x[j:j+d], test[i:i+d]) {
					t.Errorf("fold trains on a row it predicts")
				}
			}
		}
		out := make([]float32, len(test)/d*classes)
		for i := range len(test) / d {
			out[i*classes] = 1
		}
		mu.Lock()
		seen[len(y)] = true
		mu.Unlock()
		return out, nil
	}
	p, err := OutOfFold(sp, labels, 2, []int{0, 1, 2, 3, 4, 5}, 3, 1, fit)
	if err != nil || len(p) != 12 || !seen[4] {
		t.Errorf("OutOfFold: %v %v %v", p, err, seen)
	}
	if _, err := OutOfFold(sp, labels, 2, []int{0, 1}, 3, 1, fit); err == nil {
		t.Error("2 images in 3 folds: no error")
	}
}

func TestWriteProjector(t *testing.T) {
	dir := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(dir, "data"), 2, 3, 1)
	var ex []dataset.Example
	for k, c := range []string{"class_0", "class_1"} {
		names, _ := filepath.Glob(filepath.Join(dir, "data", c, "*"))
		for _, n := range names {
			ex = append(ex, dataset.Example{Path: n, Class: c, Label: k})
		}
	}
	x := make([]float32, len(ex)*4)
	for i := range x {
		x[i] = float32(i%7) + 1
	}
	sp, _ := NewSpace("m", 4, x)
	out := filepath.Join(dir, "tb")
	if err := WriteProjector(out, "m/test", sp, ex, []int{1, 4, 5}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, rundir.ProjectorTensor))
	if err != nil || len(b) != 3*4*4 {
		t.Fatalf("tensor file: %d bytes, %v", len(b), err)
	}
	if v := math.Float32frombits(binary.LittleEndian.Uint32(b[16:])); v != sp.Row(4)[0] {
		t.Errorf("row 2 starts with %v, want %v", v, sp.Row(4)[0])
	}
	meta, _ := os.ReadFile(filepath.Join(out, rundir.ProjectorMetadata))
	if lines := strings.Split(strings.TrimSpace(string(meta)), "\n"); len(lines) != 4 || lines[0] != "class\tpath" || !strings.HasPrefix(lines[2], "class_1\t") {
		t.Errorf("metadata:\n%s", meta)
	}
	cfg, _ := os.ReadFile(filepath.Join(out, rundir.ProjectorConfig))
	for _, want := range []string{`tensor_name: "m/test"`, "tensor_shape: 3\n", "tensor_shape: 4\n", `image_path: "projector_sprite.png"`, "single_image_dim: 48"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if err := WriteProjector(out, "m", sp, ex, nil); err == nil {
		t.Error("no images: no error")
	}
}

func TestPCASeparatesClusters(t *testing.T) {
	var rows [][]float32
	for i := range 20 {
		f := float32(i%5) * 0.01
		if i < 10 {
			rows = append(rows, []float32{1, f, 0, 0.1})
		} else {
			rows = append(rows, []float32{0, f, 1, 0.1})
		}
	}
	sp := space(t, rows...)
	idx := make([]int, 20)
	for i := range idx {
		idx[i] = i
	}
	xs, ys := PCA(sp, idx, 1)
	if len(xs) != 20 || len(ys) != 20 {
		t.Fatal(len(xs), len(ys))
	}
	// The first component splits the clusters: opposite signs, far apart.
	if xs[0]*xs[15] >= 0 || math.Abs(xs[0]-xs[15]) < 1 {
		t.Errorf("PC1 %v", xs)
	}
}
