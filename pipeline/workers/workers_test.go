package workers

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestEachRunsEveryItemOnce: every index is handed out exactly once, on
// at most the given number of goroutines.
func TestEachRunsEveryItemOnce(t *testing.T) {
	const n = 1000
	var seen [n]atomic.Int32
	var running, most atomic.Int32
	err := Each(context.Background(), n, 3, func(i int) {
		r := running.Add(1)
		for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
		}
		seen[i].Add(1)
		running.Add(-1)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if c := seen[i].Load(); c != 1 {
			t.Fatalf("item %d ran %d times", i, c)
		}
	}
	if m := most.Load(); m > 3 {
		t.Errorf("%d calls ran at once; want at most 3", m)
	}
}

// TestEachStopsWhenCancelled: after cancellation no new item starts, and
// Each says why it stopped.
func TestEachStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	err := Each(ctx, 1000, 2, func(i int) {
		if ran.Add(1) == 10 {
			cancel()
		}
		time.Sleep(time.Millisecond)
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Each = %v; want context.Canceled", err)
	}
	if r := ran.Load(); r > 12 {
		t.Errorf("%d items ran after cancellation at the 10th; want at most 12 (two workers)", r)
	}
}
