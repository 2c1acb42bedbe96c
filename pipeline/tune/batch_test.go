package tune

import (
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

func TestPickBatch(t *testing.T) {
	probe := &BatchProbe{Sizes: []BatchSize{{8, 10, 900}, {16, 20, 1100}, {32, 20.5, 1600}}}
	for _, c := range []struct {
		budget, want int
		why          string
	}{
		{2048, 16, "the smallest within 95% of the fastest"}, // 32 is barely faster
		{1024, 8, "the smallest within"},                     // 16 is faster but over budget
		{512, 8, "no batch size fits features.memory_budget_mib 512"},
	} {
		got := pickBatch(probe, c.budget, backbone.BFloat16, "measured now")
		if got.Batch != c.want || !strings.Contains(got.Why, c.why) || !strings.Contains(got.Why, "16: 20.0 images/s, peak RSS 1100 MiB") {
			t.Errorf("budget %d: batch %d (%s), want %d", c.budget, got.Batch, got.Why, c.want)
		}
	}
	fast := &BatchProbe{Sizes: []BatchSize{{8, 10, 900}, {16, 20, 1000}, {32, 40, 1100}}}
	if got := pickBatch(fast, 2048, backbone.BFloat16, ""); got.Batch != 32 {
		t.Errorf("twice as fast at 32 within budget: chose %d", got.Batch)
	}
}

// The real probe on a real model: every size measured with its peak RSS,
// remembered, and a budget below the process's size stops at the first.
func TestChooseBatchMeasuresAndRemembers(t *testing.T) {
	m, err := backbone.Load(testenv.SavedModel(t, "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	memo := t.TempDir()
	r := BatchRequest{Model: m, Endpoint: "fc2", BudgetMiB: 1 << 20, CPU: zen4, MemoDir: memo}
	c, err := ChooseBatch(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("batch %d: %s", c.Batch, c.Why)
	if len(c.Probe.Sizes) != len(BatchSizes) {
		t.Fatalf("measured %+v, want every size", c.Probe.Sizes)
	}
	for i, s := range c.Probe.Sizes {
		if s.Batch != BatchSizes[i] || s.Rate <= 0 || s.PeakRSSMiB <= 0 {
			t.Errorf("size %d: %+v", i, s)
		}
	}
	again, err := ChooseBatch(r)
	if err != nil || again.Batch != c.Batch || !strings.Contains(again.Why, "measured 20") {
		t.Errorf("second choice: %d (%s), %v; want %d, remembered", again.Batch, again.Why, err, c.Batch)
	}
	if m := memoFiles(t, memo); len(m) != 0 {
		t.Errorf("batch probe named like a precision probe: %v", m)
	}

	r.BudgetMiB = 1 // below any process
	small, err := ChooseBatch(r)
	if err != nil {
		t.Fatal(err)
	}
	if small.Batch != BatchSizes[0] || len(small.Probe.Sizes) != 1 || !strings.Contains(small.Why, "no batch size fits") {
		t.Errorf("budget 1 MiB: batch %d, %d sizes measured (%s)", small.Batch, len(small.Probe.Sizes), small.Why)
	}
}
