package images

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// numbered writes n 4x4 PNGs whose red channel is i%256 and green i/256,
// so a preprocessed image (mode None) tells which file it came from.
func numbered(t *testing.T, n int) []string {
	t.Helper()
	dir := t.TempDir()
	paths := make([]string, n)
	for i := range paths {
		img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
		for j := 0; j < len(img.Pix); j += 4 {
			copy(img.Pix[j:], []uint8{uint8(i), uint8(i / 256), 7, 255})
		}
		paths[i] = writeImage(t, dir, fmt.Sprintf("%04d.png", i), img)
	}
	return paths
}

// whichImage returns the number encoded in image n of b.
func whichImage(b *Batch, n, size int) int {
	x := b.X[n*size:]
	return int(x[0]) + 256*int(x[1])
}

// setHook installs f as the worker hook for the rest of the test.
func setHook(t *testing.T, f func(int)) {
	testHookLoaded = f
	t.Cleanup(func() { testHookLoaded = nil })
}

// checkNoLeak fails if more goroutines run than before the stream started.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines running, %d before the stream", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var smallOpts = StreamOptions{H: 2, W: 2, Mode: None, BatchSize: 5, Workers: 4}

func TestStreamKeepsInputOrder(t *testing.T) {
	paths := numbered(t, 43)
	var mu sync.Mutex
	var finished []int
	setHook(t, func(i int) {
		time.Sleep(time.Duration(5-i%5) * time.Millisecond) // earlier images finish later
		mu.Lock()
		finished = append(finished, i)
		mu.Unlock()
	})
	before := runtime.NumGoroutine()
	size := 2 * 2 * 3
	var got []int
	for b, err := range Stream(context.Background(), paths, smallOpts) {
		if err != nil {
			t.Fatal(err)
		}
		if want := min(5, 43-len(got)); b.N != want || len(b.Index) != b.N || len(b.X) != b.N*size {
			t.Fatalf("batch of N=%d, %d indices, %d values; want N=%d", b.N, len(b.Index), len(b.X), want)
		}
		for n, i := range b.Index {
			if w := whichImage(b, n, size); w != i {
				t.Errorf("image %d of batch holds file %d, index says %d", n, w, i)
			}
			got = append(got, i)
		}
		if len(b.Skipped) != 0 {
			t.Errorf("skipped %v", b.Skipped)
		}
	}
	if want := seq(0, 43); !slices.Equal(got, want) {
		t.Errorf("indices %v, want %v", got, want)
	}
	if slices.IsSorted(finished) {
		t.Error("workers finished in input order; the test did not exercise reordering")
	}
	checkNoLeak(t, before)
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestStreamBadFileEndsStream(t *testing.T) {
	paths := numbered(t, 40)
	for _, i := range []int{17, 30} {
		paths[i] = writeFile(t, t.TempDir(), fmt.Sprintf("bad%d.jpg", i), []byte("not an image"))
	}
	// Let image 30 fail long before image 17 does: the error must still
	// be 17's, the first bad one in input order.
	var failed30 atomic.Bool
	setHook(t, func(i int) {
		switch i {
		case 17:
			time.Sleep(50 * time.Millisecond)
		case 30:
			failed30.Store(true)
		}
	})
	opts := smallOpts
	opts.Ahead = 20
	before := runtime.NumGoroutine()
	var batches int
	var streamErr error
	for b, err := range Stream(context.Background(), paths, opts) {
		if err != nil {
			streamErr = err
			continue
		}
		batches++
		if last := b.Index[b.N-1]; last >= 17 {
			t.Errorf("batch up to image %d yielded, past the bad image 17", last)
		}
	}
	if !errors.Is(streamErr, ErrNotImage) || !strings.Contains(streamErr.Error(), paths[17]) {
		t.Errorf("error %v, want ErrNotImage naming %s", streamErr, paths[17])
	}
	if batches != 3 {
		t.Errorf("%d batches before the error, want 3 (images 0-14)", batches)
	}
	if !failed30.Load() {
		t.Log("image 30 was not loaded before the stream ended; order check weaker")
	}
	checkNoLeak(t, before)
}

func TestStreamSkipBad(t *testing.T) {
	paths := numbered(t, 40)
	bad := []int{17, 30, 39}
	for _, i := range bad {
		paths[i] = writeFile(t, t.TempDir(), fmt.Sprintf("bad%d.jpg", i), nil)
	}
	opts := smallOpts
	opts.SkipBad = true
	size := 2 * 2 * 3
	var got, skipped []int
	prevLast := -1
	var batches []*Batch
	for b, err := range Stream(context.Background(), paths, opts) {
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
		for n, i := range b.Index {
			if w := whichImage(b, n, size); w != i {
				t.Errorf("image %d of batch holds file %d, index says %d", n, w, i)
			}
		}
		got = append(got, b.Index...)
		for _, s := range b.Skipped {
			if s.Index <= prevLast {
				t.Errorf("skip %d reported after batch ending at %d", s.Index, prevLast)
			}
			if s.Path != paths[s.Index] || !errors.Is(s.Err, ErrNotImage) || !strings.Contains(s.Err.Error(), s.Path) {
				t.Errorf("skip %+v: want path %s and an ErrNotImage naming it", s, paths[s.Index])
			}
			skipped = append(skipped, s.Index)
		}
		prevLast = b.Index[b.N-1]
	}
	if !slices.Equal(skipped, bad) {
		t.Errorf("skipped %v, want %v", skipped, bad)
	}
	var want []int
	for i := range 40 {
		if !slices.Contains(bad, i) {
			want = append(want, i)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("indices %v, want %v", got, want)
	}
	// Batches are filled up despite skips: 37 images give 7 full batches
	// and one of 2, which also reports the trailing bad image 39.
	for i, b := range batches[:len(batches)-1] {
		if b.N != 5 {
			t.Errorf("batch %d has %d images, want 5", i, b.N)
		}
	}
	if last := batches[len(batches)-1]; last.N != 2 || len(last.Skipped) != 1 || last.Skipped[0].Index != 39 {
		t.Errorf("last batch N=%d skipped %v, want N=2 and the skip of 39", last.N, last.Skipped)
	}
}

func TestStreamAllBad(t *testing.T) {
	dir := t.TempDir()
	paths := []string{writeFile(t, dir, "a.jpg", nil), writeFile(t, dir, "b.jpg", []byte("x"))}
	opts := smallOpts
	opts.SkipBad = true
	var errs []error
	for b, err := range Stream(context.Background(), paths, opts) {
		if b != nil {
			t.Errorf("got a batch of %d", b.N)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrNotImage) || !strings.Contains(errs[0].Error(), "none of the 2") {
		t.Errorf("errors %v, want one saying none could be loaded", errs)
	}
}

func TestStreamCancelStopsPromptly(t *testing.T) {
	paths := numbered(t, 3)
	for len(paths) < 400 {
		paths = append(paths, paths[:3]...)
	}
	setHook(t, func(int) { time.Sleep(20 * time.Millisecond) })
	opts := smallOpts
	opts.Workers = 2
	before := runtime.NumGoroutine()

	// Cancel from elsewhere while the stream waits for workers. Loading
	// all 400 images would take 4 s.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	var last error
	for _, err := range Stream(ctx, paths, opts) {
		last = err
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("stream ran %v after cancel at 100ms", elapsed)
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("last error %v, want context.Canceled", last)
	}
	checkNoLeak(t, before)

	// Cancel from the loop body.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	n := 0
	last = nil
	for _, err := range Stream(ctx, paths, opts) {
		n++
		if err != nil {
			last = err
			continue
		}
		cancel()
	}
	if n != 2 || !errors.Is(last, context.Canceled) {
		t.Errorf("%d values, last error %v; want one batch then context.Canceled", n, last)
	}
	checkNoLeak(t, before)
}

func TestStreamBreakStopsWorkers(t *testing.T) {
	paths := numbered(t, 3)
	for len(paths) < 300 {
		paths = append(paths, paths[:3]...)
	}
	var loaded atomic.Int64
	setHook(t, func(int) { loaded.Add(1) })
	before := runtime.NumGoroutine()
	for b, err := range Stream(context.Background(), paths, smallOpts) {
		if err != nil {
			t.Fatal(err)
		}
		if b.Index[0] >= 10 {
			break
		}
	}
	checkNoLeak(t, before)
	n := loaded.Load()
	time.Sleep(50 * time.Millisecond)
	if m := loaded.Load(); m != n || m >= 300 {
		t.Errorf("images loaded: %d at the break, %d later; want it to stop well before 300", n, m)
	}
}

func TestStreamBoundsImagesAhead(t *testing.T) {
	paths := numbered(t, 3)
	for len(paths) < 200 {
		paths = append(paths, paths[:3]...)
	}
	paths = paths[:200]
	var loaded atomic.Int64
	setHook(t, func(int) { loaded.Add(1) })
	opts := StreamOptions{H: 2, W: 2, Mode: Caffe, BatchSize: 4, Workers: 3} // Ahead = max(4, 6)
	// While the first batch is held, the 4 images in it are consumed and
	// at most Ahead = 6 more are loaded.
	const bound = 4 + 6
	first := true
	for _, err := range Stream(context.Background(), paths, opts) {
		if err != nil {
			t.Fatal(err)
		}
		if !first {
			continue
		}
		first = false
		deadline := time.Now().Add(2 * time.Second)
		for loaded.Load() < bound && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // give runaway workers time to show
		if n := loaded.Load(); n != bound {
			t.Errorf("%d images loaded while the consumer held the first batch, want %d", n, bound)
		}
	}
	if n := loaded.Load(); n != 200 {
		t.Errorf("%d images loaded in all, want 200", n)
	}
}

func TestStreamOptionErrors(t *testing.T) {
	paths := numbered(t, 1)
	for _, o := range []StreamOptions{
		{H: 0, W: 2, Mode: None, BatchSize: 1},
		{H: 2, W: 2, Mode: "bgr", BatchSize: 1},
		{H: 2, W: 2, Mode: None, BatchSize: 0},
		{H: 2, W: 2, Mode: None, BatchSize: 1, Resize: "lanczos"},
	} {
		var errs []error
		for b, err := range Stream(context.Background(), paths, o) {
			if b != nil {
				t.Errorf("%+v: got a batch", o)
			}
			errs = append(errs, err)
		}
		if len(errs) != 1 || errs[0] == nil {
			t.Errorf("%+v: got %v, want one error", o, errs)
		}
	}
	for range Stream(context.Background(), nil, smallOpts) {
		t.Error("empty input yielded something")
	}
}

func TestStreamPreprocessesLikeLoad(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 9, 7))
	for y := range 7 {
		for x := range 9 {
			src.SetNRGBA(x, y, color.NRGBA{uint8(20 * x), uint8(30 * y), uint8(x * y), 255})
		}
	}
	path := writeImage(t, t.TempDir(), "a.png", src)
	opts := StreamOptions{H: 5, W: 4, Mode: Torch, Divide255: true, BatchSize: 2, Workers: 2}
	want := make([]float32, 5*4*3)
	m, err := Load(path, 5, 4, Nearest)
	if err != nil {
		t.Fatal(err)
	}
	if err := Preprocess(want, m, Torch, true); err != nil {
		t.Fatal(err)
	}
	for b, err := range Stream(context.Background(), []string{path, path, path}, opts) {
		if err != nil {
			t.Fatal(err)
		}
		for n := range b.N {
			if !slices.Equal(b.X[n*60:(n+1)*60], want) {
				t.Errorf("batch image %d differs from Load+Preprocess", n)
			}
		}
	}
}
