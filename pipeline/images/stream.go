package images

import (
	"context"
	"fmt"
	"image"
	"iter"
	"runtime"
	"sync"
)

// StreamOptions says how Stream loads, preprocesses and groups images.
type StreamOptions struct {
	// H and W are the target height and width; both must be positive.
	H, W int
	// Resize is Nearest (the default when empty) or Bilinear.
	Resize string
	// Mode is the preprocessing mode: Caffe, TF, Torch or None.
	Mode string
	// Divide255 divides the preprocessed values by 255 (see Preprocess).
	Divide255 bool
	// BatchSize is the number of images per batch; it must be positive.
	BatchSize int
	// Workers is the number of goroutines decoding images; 0 means one per
	// CPU (GOMAXPROCS).
	Workers int
	// Ahead bounds memory: at most this many images are decoded ahead of
	// the batch being filled. 0 means max(BatchSize, 2*Workers), enough to
	// decode the next batch while the caller works on the current one.
	Ahead int
	// SkipBad skips images that cannot be loaded and reports them in
	// Batch.Skipped. Otherwise the first such image, in input order, ends
	// the stream with its error.
	SkipBad bool
	// Transform, when set, makes image i's H×W pixels from its decoded
	// file (an augmented view) instead of the plain resize Load does.
	Transform func(i int, src image.Image, dst *RGB) error
}

// Batch is a group of consecutive loaded images, in input order.
type Batch struct {
	// N is the number of images in the batch: BatchSize, except in the
	// last batch, which may be smaller.
	N int
	// Index gives, for each image, its position in the paths passed to
	// Stream; it increases.
	Index []int
	// X holds the N preprocessed images back to back, N×H×W×3 float32
	// values in NHWC order. Its memory is reused for the next batch: copy
	// what you need to keep before the loop body returns.
	X []float32
	// Skipped lists the images that could not be loaded (only with
	// SkipBad) whose positions lie after the previous batch's last image
	// and, except in the last batch, before this batch's last image.
	Skipped []Skipped
}

// Skipped is an image that Stream could not load and skipped.
type Skipped struct {
	Index int    // position in the paths passed to Stream
	Path  string // the file
	Err   error  // why; it names the file
}

// testHookLoaded, when set by a test, is called by a worker after it has
// loaded and preprocessed image i, or failed to.
var testHookLoaded func(i int)

// check validates the options and fills in defaults.
func (o *StreamOptions) check() error {
	if o.H <= 0 || o.W <= 0 {
		return fmt.Errorf("images: stream target size %dx%d: height and width must be positive", o.H, o.W)
	}
	if err := checkSize(o.H, o.W, o.Resize); err != nil {
		return err
	}
	if err := checkMode(o.Mode); err != nil {
		return err
	}
	if o.BatchSize <= 0 {
		return fmt.Errorf("images: batch size %d: must be positive", o.BatchSize)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Ahead <= 0 {
		o.Ahead = max(o.BatchSize, 2*o.Workers)
	}
	return nil
}

// Stream loads the images at paths, preprocesses them as opts says and
// yields them in batches, in input order whatever the order in which the
// workers finish.
//
//	for b, err := range images.Stream(ctx, paths, opts) {
//		if err != nil {
//			return err
//		}
//		use(b.X, b.Index) // b.N images of opts.H×opts.W×3 values
//	}
//
// Images are decoded by opts.Workers goroutines, at most opts.Ahead images
// ahead of the batch being filled, so memory does not grow with the number
// of paths. An error is yielded at most once, as the last value: bad
// options, a bad image (without SkipBad), the cancellation of ctx, or,
// with SkipBad, every image being bad. Breaking out of the loop or
// cancelling ctx stops the workers; all goroutines have ended by the time
// the loop is over.
func Stream(ctx context.Context, paths []string, opts StreamOptions) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		if err := opts.check(); err != nil {
			yield(nil, err)
			return
		}
		if len(paths) == 0 {
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait() // runs after cancel
		defer cancel()

		size := 3 * opts.H * opts.W
		ahead := min(opts.Ahead, len(paths))
		// Image i is decoded into slots[i%ahead]. Images are handed out
		// in order and at most ahead are outstanding (a token in free
		// each), and they are consumed in order, so the outstanding ones
		// always use distinct slots.
		slots := make([][]float32, ahead)
		free := make(chan struct{}, ahead)
		jobs := make(chan int)
		type result struct {
			i   int
			err error
		}
		results := make(chan result, ahead) // never blocks: at most ahead outstanding

		wg.Go(func() {
			defer close(jobs)
			for i := range paths {
				select {
				case free <- struct{}{}:
				case <-ctx.Done():
					return
				}
				select {
				case jobs <- i:
				case <-ctx.Done():
					return
				}
			}
		})
		for range min(opts.Workers, len(paths)) {
			wg.Go(func() {
				var img RGB
				for i := range jobs {
					if ctx.Err() != nil {
						continue
					}
					var err error
					if opts.Transform == nil {
						err = load(&img, paths[i], opts.H, opts.W, opts.Resize)
					} else {
						var src image.Image
						if src, err = Decode(paths[i]); err == nil {
							err = opts.Transform(i, src, &img)
						}
						if err == nil && (img.H != opts.H || img.W != opts.W) {
							err = fmt.Errorf("images: %s: transform gave %dx%d pixels, want %dx%d", paths[i], img.H, img.W, opts.H, opts.W)
						}
					}
					if err == nil {
						k := i % ahead
						if slots[k] == nil {
							slots[k] = make([]float32, size)
						}
						preprocess(slots[k], img.Pix, opts.Mode, opts.Divide255)
					}
					if testHookLoaded != nil {
						testHookLoaded(i)
					}
					results <- result{i, err}
				}
			})
		}

		stopped := func(next int) error {
			return fmt.Errorf("images: stream stopped at image %d of %d: %w", next, len(paths), context.Cause(ctx))
		}
		done := make([]bool, ahead)
		errs := make([]error, ahead)
		buf := make([]float32, opts.BatchSize*size)
		b := &Batch{}
		for next := range paths {
			if ctx.Err() != nil {
				yield(nil, stopped(next))
				return
			}
			k := next % ahead
			for !done[k] {
				select {
				case r := <-results:
					done[r.i%ahead], errs[r.i%ahead] = true, r.err
				case <-ctx.Done():
					yield(nil, stopped(next))
					return
				}
			}
			done[k] = false
			if err := errs[k]; err != nil {
				if !opts.SkipBad {
					yield(nil, err)
					return
				}
				b.Skipped = append(b.Skipped, Skipped{Index: next, Path: paths[next], Err: err})
			} else {
				// A full batch is held until the next good image, so
				// that skips before it are reported with it.
				if b.N == opts.BatchSize {
					if !yield(b, nil) {
						return
					}
					b = &Batch{}
				}
				copy(buf[b.N*size:], slots[k])
				b.Index = append(b.Index, next)
				b.N++
				b.X = buf[:b.N*size]
			}
			<-free
		}
		if b.N > 0 {
			yield(b, nil)
			return
		}
		if len(b.Skipped) > 0 {
			yield(nil, fmt.Errorf("images: none of the %d images could be loaded; first: %w", len(paths), b.Skipped[0].Err))
		}
	}
}
