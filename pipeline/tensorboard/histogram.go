package tensorboard

import (
	"fmt"
	"math"
	"sort"
	"sync"

	summarypb "github.com/galeone/tensorflow/tensorflow/go/core/framework/summary_go_proto"
	"google.golang.org/protobuf/proto"
)

// A weight's histogram is the one TensorFlow's WriteHistogramSummary op
// makes (tensorflow::AddTensorAsHistogramToSummary with
// tsl::histogram::Histogram's default buckets), computed here and handed
// to TensorFlow's writer as a serialized Summary (WriteRawProtoSummary):
// the same event, field for field (TestHistogramEqualsTensorFlows), for a
// fraction of the time. TensorFlow looks up each value's bucket by binary
// search over its 1,549 bucket limits, through a type switch per value;
// on a sweep of small tops, whose every epoch writes the histogram of
// every weight, that was a tenth of the sweep's CPU time.

// bucketLimits are tsl::histogram's default bucket limits: 0, ±1e-12
// growing by 10% up to 1e20, and ±DBL_MAX, in ascending order.
func bucketLimits() []float64 {
	var pos, neg []float64
	for v := 1.0e-12; v < 1.0e20; v *= 1.1 {
		pos = append(pos, v)
		neg = append(neg, -v)
	}
	pos = append(pos, math.MaxFloat64)
	neg = append(neg, -math.MaxFloat64)
	out := make([]float64, 0, len(neg)+1+len(pos))
	for i := len(neg) - 1; i >= 0; i-- {
		out = append(out, neg[i])
	}
	out = append(out, 0)
	return append(out, pos...)
}

// bucketTable finds a float32's bucket (the number of limits at or below
// it, as std::upper_bound counts them) from the top 16 bits of the value
// (sign, exponent and 7 bits of mantissa): the values sharing them span
// less than a factor 1.01, so at most one limit falls among them, and
// base plus one comparison with that limit (thr) gives the bucket. The
// few ranges that hold more limits (none with the default limits; kept
// for safety) are searched.
type bucketTable struct {
	limits []float64
	base   [1 << 16]int32
	thr    [1 << 16]float64
	search [1 << 16]bool
}

var (
	tableOnce sync.Once
	table     *bucketTable
)

func defaultTable() *bucketTable {
	tableOnce.Do(func() {
		t := &bucketTable{limits: bucketLimits()}
		for hi := range 1 << 16 {
			a := float64(math.Float32frombits(uint32(hi) << 16))
			b := float64(math.Float32frombits(uint32(hi)<<16 | 0xffff))
			lo, top := min(a, b), max(a, b)
			if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsInf(top, 0) {
				continue // NaN and infinities are refused before the lookup
			}
			n, m := t.upperBound(lo), t.upperBound(top)
			t.base[hi] = int32(n)
			switch m - n {
			case 0:
				t.thr[hi] = math.Inf(1)
			case 1:
				t.thr[hi] = t.limits[n]
			default:
				t.search[hi] = true
			}
		}
		table = t
	})
	return table
}

// upperBound is the index of the first limit above v.
func (t *bucketTable) upperBound(v float64) int {
	return sort.Search(len(t.limits), func(i int) bool { return t.limits[i] > v })
}

// histogram is TensorFlow's histogram of values, as
// AddTensorAsHistogramToSummary makes it (EncodeToProto without the empty
// buckets): the same sums, in the same order, in float64.
func histogram(tag string, values []float32) (*summarypb.HistogramProto, error) {
	t := defaultTable()
	buckets := make([]float64, len(t.limits))
	lo, hi := math.MaxFloat64, -math.MaxFloat64
	var num, sum, squares float64
	for _, x := range values {
		v := float64(x)
		if math.IsNaN(v) {
			return nil, fmt.Errorf("tensorboard: NaN in the histogram of %s", tag)
		}
		if math.IsInf(v, 0) {
			return nil, fmt.Errorf("tensorboard: infinity in the histogram of %s", tag)
		}
		// A subnormal counts as the value it is, as TensorFlow's op
		// counts it in a thread without the x86 DAZ flag (its pool's
		// threads may set it, and then count it as a signed zero).
		k := math.Float32bits(x) >> 16
		b := int(t.base[k])
		switch {
		case t.search[k]:
			b = t.upperBound(v)
		case v >= t.thr[k]:
			b++
		}
		buckets[b]++
		if lo > v {
			lo = v
		}
		if hi < v {
			hi = v
		}
		num++
		sum += v
		squares += v * v
	}
	h := &summarypb.HistogramProto{Min: lo, Max: hi, Num: num, Sum: sum, SumSquares: squares}
	// Runs of empty buckets are merged into one, ending at the run's last
	// limit (EncodeToProto, preserve_zero_buckets false).
	for i := 0; i < len(buckets); {
		end, count := t.limits[i], buckets[i]
		j := i + 1
		for count <= 0 && j < len(buckets) && buckets[j] <= 0 {
			end, count = t.limits[j], buckets[j]
			j++
		}
		h.BucketLimit = append(h.BucketLimit, end)
		h.Bucket = append(h.Bucket, count)
		i = j
	}
	return h, nil
}

// histogramSummary is the serialized Summary of values' histogram under
// tag, as WriteRawProtoSummary takes it.
func histogramSummary(tag string, values []float32) (string, error) {
	h, err := histogram(tag, values)
	if err != nil {
		return "", err
	}
	b, err := proto.Marshal(&summarypb.Summary{Value: []*summarypb.Summary_Value{{Tag: tag, Value: &summarypb.Summary_Value_Histo{Histo: h}}}})
	if err != nil {
		return "", fmt.Errorf("tensorboard: histogram of %s: %w", tag, err)
	}
	return string(b), nil
}
