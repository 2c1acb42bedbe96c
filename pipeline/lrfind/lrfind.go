// Package lrfind is Leslie Smith's learning-rate range test ("Cyclical
// Learning Rates for Training Neural Networks", 2017, section 3.3) as
// fastai's lr_find runs it: train from the model's first weights while
// the learning rate grows exponentially from Start to End, one rate per
// batch, record each batch's loss, smooth it (an exponential moving
// average with bias correction, beta 0.98), stop once the smoothed loss
// passes 4× its minimum, and suggest a rate: where the smoothed loss
// falls fastest against the log of the rate (fastai's steep), or a tenth
// of the rate at its minimum (fastai's minimum).
package lrfind

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// Options control Find. The zero value of a field takes fastai's
// default.
type Options struct {
	Start, End float64 // the first and the last rate (1e-7, 10)
	Steps      int     // batches, one rate each (default 200)
	BatchSize  int     // required
	Shuffle    bool    // reshuffle the batches each pass over the data (seeded)
	Seed       int64   // batch order and dropout, as train.Fit's
	Beta       float64 // smoothing of the loss (0.98)
	// NoStop runs every step even after the loss diverged.
	NoStop bool
}

func (o Options) withDefaults() Options {
	if o.Start == 0 {
		o.Start = 1e-7
	}
	if o.End == 0 {
		o.End = 10
	}
	if o.Steps == 0 {
		o.Steps = 200
	}
	if o.Beta == 0 {
		o.Beta = 0.98
	}
	return o
}

// Curve is what a range test recorded, one entry per step taken.
type Curve struct {
	Rates    []float64 // the learning rate of each step
	Losses   []float64 // the batch's loss, before the step's update
	Smoothed []float64 // Losses smoothed
	// Steep and Minimum are the suggested rates (see Suggest).
	Steep, Minimum float64
	Stopped        bool // the smoothed loss passed 4× its minimum: the test stopped there
}

// Rate is the learning rate of step i of steps from start to end:
// start·(end/start)^(i/steps), fastai's exponential schedule.
func Rate(start, end float64, i, steps int) float64 {
	return start * math.Pow(end/start, float64(i)/float64(steps))
}

// Smooth is fastai's smoothed loss of losses: an exponential moving
// average with factor beta, divided by 1-beta^(i+1) (bias correction).
func Smooth(losses []float64, beta float64) []float64 {
	out := make([]float64, len(losses))
	avg := 0.0
	for i, l := range losses {
		avg = beta*avg + (1-beta)*l
		out[i] = avg / (1 - math.Pow(beta, float64(i+1)))
	}
	return out
}

// Find runs the range test on net, which holds the model's first weights
// (it trains them: build a network for the test alone), over the batches
// of data.
func Find(ctx context.Context, net *nn.Network, data train.Data, opts Options) (*Curve, error) {
	opts = opts.withDefaults()
	switch {
	case opts.BatchSize < 1:
		return nil, fmt.Errorf("lr-find: batch size %d; want at least 1", opts.BatchSize)
	case data.Len() == 0:
		return nil, errors.New("lr-find: no training examples")
	case !(opts.Start > 0 && opts.End > opts.Start):
		return nil, fmt.Errorf("lr-find: rates from %g to %g; want 0 < start < end", opts.Start, opts.End)
	case opts.Steps < 10:
		return nil, fmt.Errorf("lr-find: %d steps; want at least 10", opts.Steps)
	}
	c := &Curve{}
	best := math.Inf(1)
	var order []int
	pos, pass := 0, 0
	for i := range opts.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if pos >= len(order) {
			order, pos = train.Order(data.Len(), opts.Seed, pass, opts.Shuffle), 0
			pass++
		}
		idx := order[pos:min(pos+opts.BatchSize, len(order))]
		pos += len(idx)
		x, y, err := train.Batch(data, idx, net)
		if err != nil {
			return nil, err
		}
		rate := Rate(opts.Start, opts.End, i, opts.Steps)
		loss, _, err := net.TrainBatchAt(x, y, int64(i), [2]int64{opts.Seed, int64(i)}, rate)
		if err != nil {
			return nil, err
		}
		c.Rates, c.Losses = append(c.Rates, rate), append(c.Losses, loss)
		c.Smoothed = Smooth(c.Losses, opts.Beta)
		s := c.Smoothed[i]
		if math.IsNaN(s) || (!opts.NoStop && s > 4*best) {
			c.Stopped = true
			break
		}
		best = min(best, s)
	}
	var err error
	c.Steep, c.Minimum, err = Suggest(c.Rates, c.Smoothed, opts.Steps)
	return c, err
}

// Suggest is fastai's suggestions from a test of steps steps: over the
// points left after the first steps/10 and the last 5 (and any from a NaN
// on), steep is the rate where the smoothed loss falls fastest against
// log(rate), minimum a tenth of the rate of the lowest smoothed loss.
func Suggest(rates, smoothed []float64, steps int) (steep, minimum float64, err error) {
	lo, hi := steps/10, len(smoothed)-5
	for i := lo; i < hi; i++ {
		if math.IsNaN(smoothed[i]) {
			hi = i
		}
	}
	if hi-lo < 2 {
		return 0, 0, fmt.Errorf("lr-find: the loss diverged after %d of %d steps, too soon to suggest a rate: lower the start rate", len(smoothed), steps)
	}
	r, l := rates[lo:hi], smoothed[lo:hi]
	g, gi := math.Inf(1), 0
	for i := range len(r) - 1 {
		if d := (l[i+1] - l[i]) / (math.Log(r[i+1]) - math.Log(r[i])); d < g {
			g, gi = d, i
		}
	}
	mi := 0
	for i := range l {
		if l[i] < l[mi] {
			mi = i
		}
	}
	return r[gi], r[mi] / 10, nil
}
