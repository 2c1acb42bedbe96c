package tensorboard

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	summarypb "github.com/galeone/tensorflow/tensorflow/go/core/framework/summary_go_proto"
	"github.com/galeone/tensorflow/tensorflow/go/op"
	"google.golang.org/protobuf/proto"
)

// TestHistogramEqualsTensorFlows writes the same values through
// TensorFlow's WriteHistogramSummary op and through the board (the
// histogram made in Go, written with WriteRawProtoSummary) and compares
// the events: step and summary, field for field (min, max, count, sums,
// bucket limits and counts, bit for bit).
func TestHistogramEqualsTensorFlows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	normal := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * scale)
		}
		return v
	}
	// Every bucket limit as a float32 and its neighbours: the values where
	// a lookup could be off by one. Subnormals are left to
	// TestHistogramSubnormals: TensorFlow's op counts them as zeros or as
	// themselves depending on the thread it runs in (the x86 DAZ flag).
	var edges []float32
	for _, l := range bucketLimits() {
		f := float32(l)
		if math.IsInf(float64(f), 0) {
			continue
		}
		for _, v := range []float32{f, math.Nextafter32(f, float32(math.Inf(1))), math.Nextafter32(f, float32(math.Inf(-1)))} {
			if v == 0 || math.Abs(float64(v)) >= minNormal32 {
				edges = append(edges, v)
			}
		}
	}
	cases := map[string][]float32{
		"kernel": normal(65536, 0.05),
		"bias":   make([]float32, 10), // zeros: one bucket
		"wide":   normal(4096, 1e6),
		"tiny":   normal(4096, 1e-30),
		"edges":  edges,
		"one":    {0.5},
		"signed-zero": {float32(math.Copysign(0, -1)), 0, minNormal32, -minNormal32,
			math.MaxFloat32, -math.MaxFloat32, 1e-12, -1e-12},
	}
	dir := t.TempDir()
	b := newBoard(dir)
	defer b.close()
	f, err := b.folder("tf")
	if err != nil {
		t.Fatal(err)
	}
	s := b.scope.SubScope("reference")
	step := op.Placeholder(s.SubScope("step"), tf.Int64, op.PlaceholderShape(tf.ScalarShape()))
	tag := op.Placeholder(s.SubScope("tag"), tf.String, op.PlaceholderShape(tf.ScalarShape()))
	values := op.Placeholder(s.SubScope("values"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1)))
	write := op.WriteHistogramSummary(s, f.res, step, tag, values)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	var n int64
	for name, v := range cases {
		n++
		st, _ := tf.NewTensor(n)
		tg, _ := tf.NewTensor(name)
		vt, _ := tf.NewTensor(v)
		if _, err := b.sess.Run(map[tf.Output]*tf.Tensor{step: st, tag: tg, values: vt}, nil, []*tf.Operation{write}); err != nil {
			t.Fatal(err)
		}
		if err := b.queue("go", histogramKind, name, n, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	want, got := histograms(t, filepath.Join(dir, "tf")), histograms(t, filepath.Join(dir, "go"))
	if len(want) != len(cases) || len(got) != len(cases) {
		t.Fatalf("%d histograms from TensorFlow, %d from Go; want %d each", len(want), len(got), len(cases))
	}
	for name := range cases {
		w, g := want[name], got[name]
		if w.step != g.step || !proto.Equal(w.histo, g.histo) {
			t.Errorf("%s: TensorFlow's histogram at step %d, Go's at step %d; they differ: %s", name, w.step, g.step, histoDiff(w.histo, g.histo))
		}
	}
}

// minNormal32 is the smallest normal float32.
const minNormal32 = 0x1p-126

// TestHistogramSubnormals pins what the Go histogram does with subnormal
// values, which TensorFlow's op counts differently from thread to thread:
// each counts as the value it is (no DAZ), so a negative one falls in the
// bucket below 0, a positive one with 0 in the bucket up to 1e-12, and
// they are the minimum and maximum.
func TestHistogramSubnormals(t *testing.T) {
	sub := float32(math.SmallestNonzeroFloat32)
	h, err := histogram("w", []float32{-sub, 0, sub, -minNormal32 / 2})
	if err != nil {
		t.Fatal(err)
	}
	if h.Min != -float64(minNormal32)/2 || h.Max != float64(sub) || h.Num != 4 {
		t.Errorf("min %g, max %g, num %g; want %g, %g, 4", h.Min, h.Max, h.Num, -float64(minNormal32)/2, float64(sub))
	}
	got := map[float64]float64{}
	for i, l := range h.BucketLimit {
		got[l] = h.Bucket[i]
	}
	if got[0] != 2 || got[1e-12] != 2 {
		t.Errorf("buckets %v: want 2 up to 0 (the negative subnormals) and 2 up to 1e-12 (0 and the positive one)", got)
	}
}

type stepHistogram struct {
	step  int64
	histo *summarypb.HistogramProto
}

// histograms reads the histogram events of the one event file in dir, by
// tag (the wall time aside).
func histograms(t *testing.T, dir string) map[string]stepHistogram {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("%s: %v, %d files; want one event file", dir, err, len(entries))
	}
	events, err := summaries(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]stepHistogram{}
	for _, ev := range events {
		s := ev.summary
		if len(s.Value) != 1 || s.Value[0].GetHisto() == nil || s.Value[0].Metadata != nil {
			t.Fatalf("%s: event %v: want one histogram, no metadata", dir, s)
		}
		out[s.Value[0].Tag] = stepHistogram{ev.step, s.Value[0].GetHisto()}
	}
	return out
}

// TestHistogramRefusesNaN: TensorFlow's op refuses NaN and infinities;
// so does the Go histogram, naming the weight.
func TestHistogramRefusesNaN(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		_, err := histogram("dense/kernel/histogram", []float32{1, v, 2})
		if err == nil || !strings.Contains(err.Error(), "dense/kernel/histogram") {
			t.Errorf("%v: error %v, want one naming the weight", v, err)
		}
	}
}

// histoDiff says where two histograms differ first.
func histoDiff(a, b *summarypb.HistogramProto) string {
	if a.Min != b.Min || a.Max != b.Max || a.Num != b.Num || a.Sum != b.Sum || a.SumSquares != b.SumSquares {
		return fmt.Sprintf("min, max, num, sum, sum of squares %v %v %v %v %v against %v %v %v %v %v",
			a.Min, a.Max, a.Num, a.Sum, a.SumSquares, b.Min, b.Max, b.Num, b.Sum, b.SumSquares)
	}
	for i := range min(len(a.Bucket), len(b.Bucket)) {
		if a.BucketLimit[i] != b.BucketLimit[i] || a.Bucket[i] != b.Bucket[i] {
			return fmt.Sprintf("bucket %d: limit %v count %v against limit %v count %v", i, a.BucketLimit[i], a.Bucket[i], b.BucketLimit[i], b.Bucket[i])
		}
	}
	return fmt.Sprintf("%d buckets against %d", len(a.Bucket), len(b.Bucket))
}
