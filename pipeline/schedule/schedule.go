// Package schedule is the learning rate of a training phase as Keras
// defines it: a constant, one of keras.optimizers.schedules (CosineDecay
// with its linear warmup, ExponentialDecay, PiecewiseConstantDecay), each
// a function of the optimizer's step (optimizer.iterations, the updates
// made so far), and keras.callbacks.ReduceLROnPlateau, which lowers a
// constant rate at the end of an epoch whose monitored metric did not
// improve. It is plain Go: config decodes into these types, train asks
// them for the rate of each step.
package schedule

import (
	"math"
	"slices"
	"strings"
)

// Schedule is a keras.optimizers.schedules schedule: exactly one field is
// set. Its zero value (none set) is no schedule.
type Schedule struct {
	CosineDecay            *CosineDecay            `json:"cosine_decay,omitempty"`
	ExponentialDecay       *ExponentialDecay       `json:"exponential_decay,omitempty"`
	PiecewiseConstantDecay *PiecewiseConstantDecay `json:"piecewise_constant_decay,omitempty"`
}

// Names are the schedules' keys, as Keras' snake_case class names.
var Names = []string{"cosine_decay", "exponential_decay", "piecewise_constant_decay"}

// Set reports whether s names a schedule.
func (s Schedule) Set() bool {
	return s.CosineDecay != nil || s.ExponentialDecay != nil || s.PiecewiseConstantDecay != nil
}

// Name is the key of the schedule s names, or "".
func (s Schedule) Name() string {
	switch {
	case s.CosineDecay != nil:
		return "cosine_decay"
	case s.ExponentialDecay != nil:
		return "exponential_decay"
	case s.PiecewiseConstantDecay != nil:
		return "piecewise_constant_decay"
	}
	return ""
}

// Rate is the learning rate of the update made at step (0 for the first
// update of a phase), as Keras' schedule computes it in float32 and the
// optimizer applies it.
func (s Schedule) Rate(step int64) float64 {
	switch {
	case s.CosineDecay != nil:
		return s.CosineDecay.Rate(step)
	case s.ExponentialDecay != nil:
		return s.ExponentialDecay.Rate(step)
	case s.PiecewiseConstantDecay != nil:
		return s.PiecewiseConstantDecay.Rate(step)
	}
	return math.NaN()
}

// Initial is the rate of step 0.
func (s Schedule) Initial() float64 { return s.Rate(0) }

// CosineDecay is keras.optimizers.schedules.CosineDecay: with a warmup
// target, the rate rises linearly from InitialLearningRate to
// WarmupTarget over WarmupSteps, then follows a half cosine from
// WarmupTarget down to Alpha × WarmupTarget over DecaySteps and stays
// there; without one (WarmupTarget 0, Keras' None), the cosine starts at
// InitialLearningRate at step 0.
type CosineDecay struct {
	InitialLearningRate float64 `json:"initial_learning_rate"`
	DecaySteps          int     `json:"decay_steps"`
	Alpha               float64 `json:"alpha"`
	WarmupTarget        float64 `json:"warmup_target"` // 0: none (Keras' None)
	WarmupSteps         int     `json:"warmup_steps"`
}

// Rate follows CosineDecay.__call__ in Keras 3.8, in float32.
func (c *CosineDecay) Rate(step int64) float64 {
	initial := float32(c.InitialLearningRate)
	decay := float32(c.DecaySteps)
	s := float32(step)
	decayed := func(s float32, from float32) float32 {
		fraction := s / decay
		cosine := 0.5 * (1 + float32(math.Cos(float64(float32(math.Pi)*fraction))))
		alpha := float32(c.Alpha)
		return from * ((1-alpha)*cosine + alpha)
	}
	if c.WarmupTarget == 0 {
		return float64(decayed(min(s, decay), initial))
	}
	target, warmup := float32(c.WarmupTarget), float32(c.WarmupSteps)
	s = min(s, decay+warmup)
	if s < warmup {
		return float64((target-initial)*(s/warmup) + initial)
	}
	return float64(decayed(s-warmup, target))
}

// ExponentialDecay is keras.optimizers.schedules.ExponentialDecay:
// InitialLearningRate × DecayRate^(step / DecaySteps), the exponent
// floored with Staircase (step decay).
type ExponentialDecay struct {
	InitialLearningRate float64 `json:"initial_learning_rate"`
	DecaySteps          int     `json:"decay_steps"`
	DecayRate           float64 `json:"decay_rate"`
	Staircase           bool    `json:"staircase"`
}

// Rate follows ExponentialDecay.__call__ in Keras 3.8, in float32.
func (e *ExponentialDecay) Rate(step int64) float64 {
	p := float32(step) / float32(e.DecaySteps)
	if e.Staircase {
		p = float32(math.Floor(float64(p)))
	}
	return float64(float32(e.InitialLearningRate) * float32(math.Pow(float64(float32(e.DecayRate)), float64(p))))
}

// PiecewiseConstantDecay is keras.optimizers.schedules.PiecewiseConstantDecay:
// Values[0] while step <= Boundaries[0], Values[i] while Boundaries[i-1] <
// step <= Boundaries[i], and the last value after the last boundary.
type PiecewiseConstantDecay struct {
	Boundaries []int     `json:"boundaries"` // strictly increasing
	Values     []float64 `json:"values"`     // one more than Boundaries
}

// Rate is the value of the interval step is in.
func (p *PiecewiseConstantDecay) Rate(step int64) float64 {
	i, _ := slices.BinarySearch(p.Boundaries, int(step))
	return float64(float32(p.Values[i]))
}

// ReduceLROnPlateau is keras.callbacks.ReduceLROnPlateau: when Monitor
// has not improved by more than MinDelta for Patience epochs, the rate is
// multiplied by Factor (not below MinLR), and Cooldown epochs pass before
// counting again. Monitors with "acc" in their name improve upwards, the
// others (losses) downwards, as Keras' mode "auto" decides.
type ReduceLROnPlateau struct {
	Monitor  string  `json:"monitor"`
	Factor   float64 `json:"factor"`
	Patience int     `json:"patience"`
	MinDelta float64 `json:"min_delta"`
	Cooldown int     `json:"cooldown"`
	MinLR    float64 `json:"min_lr"`
}

// Plateau is the state of a ReduceLROnPlateau between epochs, saved with
// a phase's state so that a resumed run reduces when an uninterrupted one
// would.
type Plateau struct {
	Seen     bool    `json:"seen"` // Best holds a value (Keras starts from ±inf)
	Best     float64 `json:"best"`
	Wait     int     `json:"wait"`
	Cooldown int     `json:"cooldown"` // Keras' cooldown_counter
}

// EpochEnd is ReduceLROnPlateau.on_epoch_end of Keras 3.8: current is the
// epoch's monitored value, lr the rate the optimizer holds (a float32).
// It returns the rate for the next epoch, rounded to float32 as the
// optimizer's variable holds it, and whether it was reduced. A NaN
// current (a metric not measured) changes nothing, as Keras only warns.
func (r *ReduceLROnPlateau) EpochEnd(st *Plateau, current, lr float64) (float64, bool) {
	if math.IsNaN(current) {
		return lr, false
	}
	if st.Cooldown > 0 {
		st.Cooldown--
		st.Wait = 0
	}
	if r.improved(st, current) {
		st.Seen, st.Best, st.Wait = true, current, 0
		return lr, false
	}
	if st.Cooldown > 0 {
		return lr, false
	}
	st.Wait++
	if st.Wait < r.Patience || !(lr > float64(float32(r.MinLR))) {
		return lr, false
	}
	next := max(lr*r.Factor, r.MinLR)
	st.Cooldown, st.Wait = r.Cooldown, 0
	return float64(float32(next)), true
}

// improved is Keras' monitor_op against best (±inf before the first
// value).
func (r *ReduceLROnPlateau) improved(st *Plateau, current float64) bool {
	switch {
	case !st.Seen && r.Increasing():
		return current > math.Inf(-1)
	case !st.Seen:
		return current < math.Inf(1)
	case r.Increasing():
		return current > st.Best+r.MinDelta
	}
	return current < st.Best-r.MinDelta
}

// Increasing reports whether a larger monitored value is better (Keras'
// mode "auto": "acc" in the name).
func (r *ReduceLROnPlateau) Increasing() bool { return strings.Contains(r.Monitor, "acc") }
