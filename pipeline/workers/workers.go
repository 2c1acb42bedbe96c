// Package workers runs one function over n items on a bounded number of
// goroutines, and stops handing out items when its context is cancelled:
// the one worker pool of the pipeline (image check, pixel cache, file
// hashing), so that Ctrl-C stops each of them the same way.
package workers

import (
	"context"
	"runtime"
	"sync"
)

// Each calls fn(i) for every i in [0, n), on at most workers goroutines
// (one per CPU when workers <= 0). It returns nil when every call has run,
// or ctx.Err() when ctx was cancelled first: the calls already started
// finish, no new one starts. fn records its own results and errors by
// index, so that every item is tried and the caller reports them in
// order.
func Each(ctx context.Context, n, workers int, fn func(i int)) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range jobs {
				fn(i)
			}
		})
	}
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return ctx.Err()
}
