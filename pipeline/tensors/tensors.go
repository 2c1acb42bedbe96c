// Package tensors converts between flat Go float32 slices and TensorFlow
// tensors without going through nested Go slices.
//
// The TensorFlow Go API builds tensors from nested slices ([][][][]float32)
// and returns them the same way, which costs an allocation per row; the
// pipeline keeps batches as one contiguous NHWC []float32, so these helpers
// copy the bytes straight across.
package tensors

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// FromFloat32 returns a float32 tensor of the given shape holding a copy of x.
// len(x) must equal the product of shape.
func FromFloat32(x []float32, shape ...int64) (*tf.Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("tensors: negative dimension in shape %v", shape)
		}
		n *= d
	}
	if int64(len(x)) != n {
		return nil, fmt.Errorf("tensors: %d values do not fill shape %v (%d values)", len(x), shape, n)
	}
	if made.Add(4*n) > threshold.Load() {
		made.Store(0)
		runtime.GC()
		threshold.Store(max(collectEvery, liveHeap()))
	}
	return tf.ReadTensor(tf.Float, shape, bytes.NewReader(asBytes(x)))
}

// The binding frees a tensor's C memory only in its finalizer, which runs
// after a garbage collection; but a loop feeding batches to TensorFlow
// barely grows Go's own heap, so collections are rare and freed tensors
// pile up in C memory (about 90 MiB of predict's peak on a folder of
// MobileNet inputs). FromFloat32 therefore collects after every
// collectEvery bytes of tensors it made, or after as many bytes as the
// live Go heap held at the last collection when that is more: a
// collection of the pipeline's small Go heap takes about a millisecond,
// but one of a sweep's (its features held in memory, its data set and
// inspection: 100 MiB and more) costs in proportion, and a sweep's
// training steps make a small tensor each, thousands of them (forced
// collections every 8 MiB were a twentieth of a sweep's CPU time). Either
// way the C memory of dead tensors stays below the Go heap's own size
// (or 8 MiB).
const collectEvery = 8 << 20

var (
	made      atomic.Int64 // bytes of tensors made since the last collection
	threshold atomic.Int64 // bytes of tensors between collections
)

func init() { threshold.Store(collectEvery) }

// liveHeap is the size of the Go heap's live objects at the last
// collection.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// Float32s returns a copy of a float32 tensor's values, flattened in
// row-major order.
func Float32s(t *tf.Tensor) ([]float32, error) {
	if t.DataType() != tf.Float {
		return nil, fmt.Errorf("tensors: want a float32 tensor, got data type %v", t.DataType())
	}
	n := int64(1)
	for _, d := range t.Shape() {
		n *= d
	}
	out := make([]float32, n)
	w := bytes.NewBuffer(asBytes(out)[:0])
	if _, err := t.WriteContentsTo(w); err != nil {
		return nil, fmt.Errorf("tensors: %w", err)
	}
	if w.Len() != len(out)*4 {
		return nil, fmt.Errorf("tensors: tensor of shape %v held %d bytes, want %d", t.Shape(), w.Len(), len(out)*4)
	}
	// The buffer grew in place only if it had room; copy back otherwise.
	if b := w.Bytes(); len(b) > 0 && &b[0] != &asBytes(out)[0] {
		copy(asBytes(out), b)
	}
	return out, nil
}

// asBytes views x's memory as bytes. TensorFlow stores float32 in host byte
// order too, so no conversion is needed.
func asBytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), len(x)*4)
}
