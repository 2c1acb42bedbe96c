package lrfind

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// points is a train.Data of seeded random features in memory.
type points struct {
	x   [][]float32
	lab []int32
}

func (p *points) Len() int          { return len(p.x) }
func (p *points) Label(i int) int32 { return p.lab[i] }
func (p *points) Read(idx []int, x []float32) error {
	d := len(p.x[0])
	for j, i := range idx {
		copy(x[j*d:], p.x[i])
	}
	return nil
}

func data(n, dim, classes int) *points {
	r := rand.New(rand.NewPCG(1, 2))
	p := &points{}
	for i := range n {
		c := i % classes
		row := make([]float32, dim)
		for k := range row {
			row[k] = float32(r.NormFloat64())
			if k%classes == c {
				row[k] += 1.5
			}
		}
		p.x, p.lab = append(p.x, row), append(p.lab, int32(c))
	}
	return p
}

func spec(rate float64) nn.Spec {
	return nn.Spec{Input: []int{12}, Classes: 3, Adam: nn.Adam{LearningRate: rate, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
		Layers: []layers.Layer{
			&layers.Dense{Units: 8, Activation: "relu", UseBias: true},
			&layers.Dropout{Rate: 0.25},
			&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
		}}
}

// TestCurveEqualsDirectSteps: the finder's curve is, step for step, what
// a network built with that step's learning rate as its own (a fresh
// graph each step, from the weights and Adam slots the step before left)
// computes on the same batch: the same losses bit for bit, the rates of
// fastai's exponential schedule, and the smoothed loss fastai's formula
// gives; the suggestions are where the curve says.
func TestCurveEqualsDirectSteps(t *testing.T) {
	d := data(50, 12, 3)
	const steps, batch, seed = 30, 8, 3
	opts := Options{Start: 1e-4, End: 10, Steps: steps, BatchSize: batch, Shuffle: true, Seed: seed, NoStop: true}
	net, err := nn.Build(spec(0.001))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	first := net.InitialWeights(7)
	if err := net.SetWeights(first); err != nil {
		t.Fatal(err)
	}
	c, err := Find(context.Background(), net, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Losses) != steps {
		t.Fatalf("%d steps recorded, want %d", len(c.Losses), steps)
	}

	w := first
	var order []int
	pos, pass := 0, 0
	var direct []float64
	for i := range steps {
		if pos >= len(order) {
			order, pos = train.Order(d.Len(), seed, pass, true), 0
			pass++
		}
		idx := order[pos:min(pos+batch, len(order))]
		pos += len(idx)
		rate := 1e-4 * math.Pow(10/1e-4, float64(i)/steps)
		if c.Rates[i] != rate {
			t.Fatalf("step %d: rate %g, want %g", i, c.Rates[i], rate)
		}
		n, err := nn.Build(spec(rate))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.SetWeights(w); err != nil {
			t.Fatal(err)
		}
		x := make([]float32, len(idx)*12)
		y := make([]int32, len(idx))
		d.Read(idx, x)
		for k, j := range idx {
			y[k] = d.lab[j]
		}
		loss, _, err := n.TrainBatch(x, y, int64(i), [2]int64{seed, int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		if w, err = n.Weights(); err != nil {
			t.Fatal(err)
		}
		n.Close()
		direct = append(direct, loss)
		if loss != c.Losses[i] {
			t.Errorf("step %d (rate %g): finder's loss %v, direct %v", i, rate, c.Losses[i], loss)
		}
	}
	avg := 0.0
	for i, l := range direct {
		avg = 0.98*avg + 0.02*l
		if s := avg / (1 - math.Pow(0.98, float64(i+1))); math.Abs(s-c.Smoothed[i]) > 1e-12*math.Abs(s) {
			t.Errorf("step %d: smoothed %v, want %v", i, c.Smoothed[i], s)
		}
	}
	// The curve must have fallen and then blown up for the test to mean
	// anything: a rate of 10 on this data diverges.
	if !(c.Smoothed[steps-1] > c.Smoothed[steps/2]) {
		t.Errorf("the loss did not rise at high rates: %v", c.Smoothed)
	}
	steep, minimum, err := Suggest(c.Rates, c.Smoothed, steps)
	if err != nil || steep != c.Steep || minimum != c.Minimum {
		t.Fatalf("suggestions %g, %g (%v); the curve's %g, %g", steep, minimum, err, c.Steep, c.Minimum)
	}
	lo := steps / 10
	mi := lo
	for i := lo; i < steps-5; i++ {
		if c.Smoothed[i] < c.Smoothed[mi] {
			mi = i
		}
	}
	if minimum != c.Rates[mi]/10 {
		t.Errorf("minimum/10 %g, want %g", minimum, c.Rates[mi]/10)
	}
	if !(steep >= c.Rates[lo] && steep <= c.Rates[steps-6]) {
		t.Errorf("steepest %g outside the rates considered", steep)
	}
}

// TestStopsWhenTheLossDiverges: by default the test stops once the
// smoothed loss passes 4× its minimum.
func TestStopsWhenTheLossDiverges(t *testing.T) {
	net, err := nn.Build(spec(0.001))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := net.SetWeights(net.InitialWeights(7)); err != nil {
		t.Fatal(err)
	}
	c, err := Find(context.Background(), net, data(50, 12, 3), Options{Start: 1e-3, End: 1e4, Steps: 100, BatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	best := math.Inf(1)
	for _, s := range c.Smoothed[:len(c.Smoothed)-1] {
		best = min(best, s)
	}
	last := c.Smoothed[len(c.Smoothed)-1]
	if !c.Stopped || len(c.Rates) == 100 || !(last > 4*best || math.IsNaN(last)) {
		t.Errorf("stopped %v after %d steps, last smoothed %v, best %v", c.Stopped, len(c.Rates), last, best)
	}
}
