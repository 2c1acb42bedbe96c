// Package tune chooses how the frozen backbone runs on this machine: in
// float32, or in bfloat16 through oneDNN's graph rewrite.
//
// "auto" picks bfloat16 only where the CPU has bfloat16 units (amx_bf16 or
// avx512_bf16 in its flags) and a short probe measured it faster for that
// backbone: the gain depends on the model (VGG16's big convolutions gain
// several times on AMX, MobileNet's depthwise ones nothing), so it is
// measured, not assumed. The probe runs one batch of synthetic images a few
// times in each precision and is remembered in a small JSON file keyed by
// the backbone, the endpoint, the batch size, the CPU and TensorFlow's
// version, so it runs once per backbone and machine.
package tune

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/cpuinfo"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/images"
)

// Auto is the precision setting that lets Choose decide.
const Auto = "auto"

// MinGain is how much faster bfloat16 must measure than float32 for auto to
// choose it: below that the gain is within the noise of a short probe on a
// shared machine and not worth features that differ from float32.
const MinGain = 1.10

// Request is what the choice depends on.
type Request struct {
	Want       string // "auto", "float32" or "bfloat16"
	SavedModel string // backbone folder
	// Plain reads a SavedModel without metadata.json (see backbone.Open).
	Plain    *backbone.Plain
	Endpoint string      // feature endpoint
	Batch    int         // images per backbone call
	CPU      cpuinfo.CPU // this machine's CPU (cpuinfo.Read())
	MemoDir  string      // where probes are remembered
}

// Choice is the precision chosen and why, in words for the log.
type Choice struct {
	Precision backbone.Precision
	Why       string
	Probe     *Probe // the measurement auto decided on; nil if none was needed
}

// Probe is one measurement of a backbone endpoint in both precisions.
type Probe struct {
	Key      ProbeKey `json:"key"`
	Float32  float64  `json:"float32_images_per_second"`
	BFloat16 float64  `json:"bfloat16_images_per_second"`
	// Diff is max |bfloat16 − float32| / max |float32| over the probe
	// batch's features: how far bfloat16 moved them.
	Diff float64   `json:"max_diff_of_scale"`
	When time.Time `json:"measured"`
}

// ProbeKey is what a probe's result depends on.
type ProbeKey struct {
	Architecture string   `json:"architecture"`
	Fingerprint  string   `json:"savedmodel_fingerprint_sha256"`
	Endpoint     string   `json:"endpoint"`
	Batch        int      `json:"batch,omitempty"`             // precision probe: the batch size it ran
	Precision    string   `json:"precision,omitempty"`         // batch probe: the precision it ran in
	BudgetMiB    int      `json:"memory_budget_mib,omitempty"` // batch probe
	Batches      []int    `json:"batch_sizes,omitempty"`       // batch probe: the sizes tried
	CPU          string   `json:"cpu"`
	Flags        []string `json:"cpu_flags"`
	Cores        int      `json:"cores"`
	TensorFlow   string   `json:"tensorflow"`
}

func (k ProbeKey) file() string {
	b, _ := json.Marshal(k)
	h := sha256.Sum256(b)
	return "probe-" + hex.EncodeToString(h[:8]) + ".json"
}

// Faster reports whether the probe found bfloat16 worth choosing.
func (p *Probe) Faster() bool { return p.BFloat16 >= MinGain*p.Float32 }

// Choose resolves r.Want to a precision. float32 and bfloat16 are taken as
// asked. auto is float32 on a CPU without bfloat16 units (TensorFlow would
// emulate it, slower); otherwise it runs the probe, or reads it from
// r.MemoDir, and picks bfloat16 if it measured at least MinGain× faster.
func Choose(r Request) (Choice, error) {
	if r.Want != Auto {
		p, err := backbone.ParsePrecision(r.Want)
		if err != nil {
			return Choice{}, fmt.Errorf("features.precision: %w", err)
		}
		return Choice{Precision: p, Why: "features.precision is " + r.Want}, nil
	}
	if ok, why := r.CPU.BFloat16(); !ok {
		return Choice{Precision: backbone.Float32, Why: "auto: " + why}, nil
	}
	_, why := r.CPU.BFloat16()
	p, remembered, err := probe(r)
	if err != nil {
		return Choice{}, err
	}
	how := "measured now"
	if remembered {
		how = "measured " + p.When.Format("2006-01-02 15:04")
	}
	rates := fmt.Sprintf("%s at batch %d: bfloat16 %.1f images/s, float32 %.1f (%.2f×; %s), outputs within %.1f%% of float32's scale",
		r.Endpoint, r.Batch, p.BFloat16, p.Float32, p.BFloat16/p.Float32, how, 100*p.Diff)
	c := Choice{Precision: backbone.Float32, Probe: p,
		Why: fmt.Sprintf("auto: %s, but bfloat16 is not %.2f× faster for %s", why, MinGain, rates)}
	if p.Faster() {
		c.Precision, c.Why = backbone.BFloat16, fmt.Sprintf("auto: %s and bfloat16 is faster for %s", why, rates)
	}
	return c, nil
}

// probe returns the remembered probe for r, or measures and remembers it.
func probe(r Request) (p *Probe, remembered bool, err error) {
	meta, err := backbone.Describe(r.SavedModel, r.Plain)
	if err != nil {
		return nil, false, err
	}
	fp, err := backbone.Fingerprint(r.SavedModel)
	if err != nil {
		return nil, false, err
	}
	key := ProbeKey{Architecture: meta.Architecture, Fingerprint: fp, Endpoint: r.Endpoint, Batch: r.Batch,
		CPU: r.CPU.Model, Flags: r.CPU.Flags, Cores: r.CPU.Cores, TensorFlow: tf.Version()}
	path := filepath.Join(r.MemoDir, key.file())
	if b, err := os.ReadFile(path); err == nil {
		var p Probe
		if err := json.Unmarshal(b, &p); err == nil && p.Float32 > 0 && p.BFloat16 > 0 {
			return &p, true, nil
		}
		// A damaged memo is measured again and overwritten.
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("tune: %w", err)
	}
	p, err = Measure(r.SavedModel, r.Plain, r.Endpoint, r.Batch)
	if err != nil {
		return nil, false, err
	}
	p.Key = key
	b, _ := json.MarshalIndent(p, "", "  ")
	if err := fsutil.WriteFile(path, append(b, '\n')); err != nil {
		return nil, false, fmt.Errorf("tune: remembering the probe: %w", err)
	}
	return p, false, nil
}

// Measure runs one batch of synthetic images (seeded random pixels,
// preprocessed as the model expects) through the endpoint in float32 and
// in bfloat16: a warm-up call (where TensorFlow optimizes the graph), then
// the best of three timed calls, so that a busy neighbour on a shared
// machine slows one call rather than the result.
func Measure(dir string, plain *backbone.Plain, endpoint string, batch int) (*Probe, error) {
	var x []float32
	var ref []float32
	p := &Probe{When: time.Now().UTC().Truncate(time.Second)}
	for _, prec := range []backbone.Precision{backbone.Float32, backbone.BFloat16} {
		y, rate, err := measure(dir, plain, endpoint, prec, batch, &x)
		if err != nil {
			return nil, err
		}
		if prec == backbone.Float32 {
			p.Float32, ref = rate, y
		} else {
			p.BFloat16, p.Diff = rate, maxDiff(y, ref)
		}
	}
	return p, nil
}

// measure loads the backbone in dir in precision prec, runs the batch *x
// (made on the first call) through endpoint, and returns its outputs and
// images/s, the best of three timed calls after the first. The model is
// closed before the next precision loads, so one session at a time holds
// its weights.
func measure(dir string, plain *backbone.Plain, endpoint string, prec backbone.Precision, batch int, x *[]float32) (y []float32, rate float64, err error) {
	m, err := backbone.Open(dir, plain, prec)
	if err != nil {
		return nil, 0, err
	}
	defer m.Close()
	if *x == nil {
		if *x, err = syntheticBatch(m, batch); err != nil {
			return nil, 0, err
		}
	}
	if y, err = m.Run(endpoint, *x, batch); err != nil {
		return nil, 0, err
	}
	best := math.Inf(1)
	for range 3 {
		t := time.Now()
		if _, err := m.Run(endpoint, *x, batch); err != nil {
			return nil, 0, err
		}
		best = min(best, time.Since(t).Seconds())
	}
	return y, float64(batch) / best, nil
}

func syntheticBatch(m *backbone.Model, n int) ([]float32, error) {
	h, w, c := m.InputSize()
	rng := rand.New(rand.NewPCG(1, 2))
	img := &images.RGB{H: h, W: w, Pix: make([]uint8, h*w*c)}
	x := make([]float32, n*h*w*c)
	for i := range n {
		for j := range img.Pix {
			img.Pix[j] = uint8(rng.IntN(256))
		}
		if err := images.Preprocess(x[i*h*w*c:(i+1)*h*w*c], img, m.Meta.Input.Preprocessing.Mode, false); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// maxDiff is max |a−b| / max |b|.
func maxDiff(a, b []float32) float64 {
	var scale, worst float64
	for i := range b {
		scale = max(scale, math.Abs(float64(b[i])))
		worst = max(worst, math.Abs(float64(a[i])-float64(b[i])))
	}
	if scale == 0 {
		return 0
	}
	return worst / scale
}
