package tune

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/cpuinfo"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// BatchSizes are the batch sizes auto tries, smallest first. On CPU a
// bigger batch rarely helps float32 (measured: VGG16 8.9 → 9.2 images/s
// from 8 to 32) but can double bfloat16 on AMX (29 → 58), while memory
// grows with it (VGG16 float32 peak RSS 1.0, 1.4, 2.1 GiB at 8, 16, 32).
var BatchSizes = []int{8, 16, 32}

// NearBest is how close to the fastest rate a smaller batch may be and
// still be chosen: within it, memory wins over noise.
const NearBest = 0.95

// BatchRequest is what the batch size choice depends on.
type BatchRequest struct {
	Model     *backbone.Model // loaded in the precision it will run in
	Endpoint  string
	BudgetMiB int         // peak RSS the process may reach while the backbone runs
	CPU       cpuinfo.CPU // this machine's CPU
	MemoDir   string      // where probes are remembered
}

// BatchSize is one batch size measured: images/s and the process's peak
// RSS while the backbone ran at that size.
type BatchSize struct {
	Batch      int     `json:"batch"`
	Rate       float64 `json:"images_per_second"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// BatchProbe is the measurement a batch size choice is made from.
type BatchProbe struct {
	Key   ProbeKey    `json:"key"`
	Sizes []BatchSize `json:"sizes"` // in BatchSizes order, stopped at the first over budget
	When  time.Time   `json:"measured"`
}

// BatchChoice is the batch size chosen and why, in words for the log.
type BatchChoice struct {
	Batch int
	Why   string
	Probe *BatchProbe
}

// ChooseBatch picks the batch size for r.Model by measurement: each of
// BatchSizes in turn, a warm-up call and the best of two timed calls on a
// synthetic batch, with the process's peak RSS (VmHWM, reset before each
// size where the kernel allows) read after each; it stops at the first
// size over r.BudgetMiB. Of the sizes within budget it takes the smallest
// within NearBest of the fastest; if none fits, the smallest there is. The
// probe is remembered in r.MemoDir per backbone, endpoint, precision,
// budget, CPU and TensorFlow version.
func ChooseBatch(r BatchRequest) (BatchChoice, error) {
	m := r.Model
	fp, err := backbone.Fingerprint(m.Dir)
	if err != nil {
		return BatchChoice{}, err
	}
	key := ProbeKey{Architecture: m.Meta.Architecture, Fingerprint: fp, Endpoint: r.Endpoint,
		Precision: m.Precision.String(), BudgetMiB: r.BudgetMiB, Batches: BatchSizes,
		CPU: r.CPU.Model, Flags: r.CPU.Flags, Cores: r.CPU.Cores, TensorFlow: tf.Version()}
	path := filepath.Join(r.MemoDir, "batch-"+key.file())
	p, how := &BatchProbe{}, "measured now"
	b, err := os.ReadFile(path)
	switch {
	case err == nil && json.Unmarshal(b, p) == nil && len(p.Sizes) > 0:
		how = "measured " + p.When.Format("2006-01-02 15:04")
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return BatchChoice{}, fmt.Errorf("tune: %w", err)
	default:
		if p, err = measureBatches(m, r.Endpoint, r.BudgetMiB); err != nil {
			return BatchChoice{}, err
		}
		p.Key = key
		b, _ := json.MarshalIndent(p, "", "  ")
		if err := fsutil.WriteFile(path, append(b, '\n')); err != nil {
			return BatchChoice{}, fmt.Errorf("tune: remembering the probe: %w", err)
		}
	}
	return pickBatch(p, r.BudgetMiB, m.Precision, how), nil
}

func pickBatch(p *BatchProbe, budget int, prec backbone.Precision, how string) BatchChoice {
	var sizes []string
	best := 0.0
	for _, s := range p.Sizes {
		sizes = append(sizes, fmt.Sprintf("%d: %.1f images/s, peak RSS %.0f MiB", s.Batch, s.Rate, s.PeakRSSMiB))
		if s.PeakRSSMiB <= float64(budget) {
			best = max(best, s.Rate)
		}
	}
	table := strings.Join(sizes, "; ")
	for _, s := range p.Sizes {
		if best > 0 && s.PeakRSSMiB <= float64(budget) && s.Rate >= NearBest*best {
			return BatchChoice{Batch: s.Batch, Probe: p,
				Why: fmt.Sprintf("auto: the smallest within %.0f%% of the fastest under %d MiB in %s (%s; %s)", 100*NearBest, budget, prec, table, how)}
		}
	}
	return BatchChoice{Batch: p.Sizes[0].Batch, Probe: p,
		Why: fmt.Sprintf("auto: no batch size fits features.memory_budget_mib %d in %s (%s; %s): the smallest", budget, prec, table, how)}
}

func measureBatches(m *backbone.Model, endpoint string, budget int) (*BatchProbe, error) {
	p := &BatchProbe{When: time.Now().UTC().Truncate(time.Second)}
	for _, n := range BatchSizes {
		x, err := syntheticBatch(m, n)
		if err != nil {
			return nil, err
		}
		resetPeakRSS()
		if _, err := m.Run(endpoint, x, n); err != nil {
			return nil, err
		}
		best := math.Inf(1)
		for range 2 {
			t := time.Now()
			if _, err := m.Run(endpoint, x, n); err != nil {
				return nil, err
			}
			best = min(best, time.Since(t).Seconds())
		}
		s := BatchSize{Batch: n, Rate: float64(n) / best, PeakRSSMiB: peakRSSMiB()}
		p.Sizes = append(p.Sizes, s)
		if s.PeakRSSMiB > float64(budget) {
			break // bigger batches need more
		}
	}
	return p, nil
}

// resetPeakRSS sets the process's VmHWM to its current RSS (Linux: "5" to
// /proc/self/clear_refs). Where that fails the peak stays the process's
// lifetime peak: an upper bound, since sizes are tried smallest first.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMiB is VmHWM from /proc/self/status; 0 where there is none.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
