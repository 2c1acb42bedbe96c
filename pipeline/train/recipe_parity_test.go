package train_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/reference"
	"github.com/gotransfer/gotransfer/pipeline/schedule"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// TestRecipeKerasParity trains the same top in Go (train.Fit) and in
// Keras (train_on_batch) for 20 steps with class weights, label smoothing
// 0.1 and a cosine decay with linear warmup, from the same initial weights
// on the same batches, and compares each step's loss (within 1e-5) and
// learning rate (within 1e-7). Each epoch is one batch of the whole
// training split, so that the history holds every step's loss and the
// rate Keras' optimizer holds after it.
func TestRecipeKerasParity(t *testing.T) {
	cached, _, dim := cachedSplits(t)
	trainSplit := unitScale(t, cached, dim)
	spec := nn.Spec{
		Input: []int{dim},
		Layers: []layers.Layer{
			&layers.Dense{Units: 16, Activation: "relu", UseBias: true},
			&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
		},
		Classes:        3,
		Adam:           nn.Adam{LearningRate: 1e-2, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
		LabelSmoothing: 0.1,
		ClassWeights:   []float64{0.5, 2.25, 1.3},
	}
	sched := schedule.Schedule{CosineDecay: &schedule.CosineDecay{InitialLearningRate: 1e-3, DecaySteps: 12, Alpha: 0.1, WarmupTarget: 2e-2, WarmupSteps: 5}}
	const steps, seed = 20, 5
	net, err := nn.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	init := net.InitialWeights(seed)
	if err := net.SetWeights(init); err != nil {
		t.Fatal(err)
	}
	n := trainSplit.Len()
	st, err := train.Fit(context.Background(), net, trainSplit, nil, train.Options{BatchSize: n, Epochs: steps, Shuffle: true, Seed: seed, Schedule: sched, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var orders [][]int
	for e := 1; e <= steps; e++ {
		orders = append(orders, train.Order(n, seed, e, true))
	}
	if err := reference.Write(dir, reference.Run{Spec: spec, Init: init, Train: trainSplit, Orders: orders, BatchSize: n, Schedule: sched}); err != nil {
		t.Fatal(err)
	}
	var keras struct {
		BatchLoss         []float64 `json:"batch_loss"`
		LearningRate      []float64 `json:"learning_rate"`
		LearningRateAfter []float64 `json:"learning_rate_after"`
	}
	if err := reference.Keras(testenv.Python(t), filepath.Join(testenv.Root(t), "scripts", "keras_reference.py"), dir, &keras, "--steps", "20"); err != nil {
		t.Fatal(err)
	}
	if len(keras.BatchLoss) != steps || len(st.History) != steps {
		t.Fatalf("Keras returned %d losses, Go %d epochs", len(keras.BatchLoss), len(st.History))
	}
	var worst float64
	for s, e := range st.History {
		d := math.Abs(e.Loss - keras.BatchLoss[s])
		worst = max(worst, d)
		if d > 1e-5 {
			t.Errorf("step %d: loss Go %.7f, Keras %.7f (|diff| %.2g > 1e-5)", s+1, e.Loss, keras.BatchLoss[s], d)
		}
		if d := math.Abs(sched.Rate(int64(s)) - keras.LearningRate[s]); d > 1e-7 {
			t.Errorf("step %d: learning rate Go %.9g, Keras %.9g", s+1, sched.Rate(int64(s)), keras.LearningRate[s])
		}
		if d := math.Abs(e.LearningRate - keras.LearningRateAfter[s]); d > 1e-7 {
			t.Errorf("epoch %d: history's learning rate %.9g, Keras' optimizer after it %.9g", s+1, e.LearningRate, keras.LearningRateAfter[s])
		}
	}
	t.Logf("largest |loss diff| over %d steps: %.2g", steps, worst)
	if !(st.History[steps-1].Loss < st.History[0].Loss) {
		t.Errorf("loss did not fall: %v", st.History)
	}
}

// scaled is a split whose inputs are multiplied by a factor.
type scaled struct {
	train.Data
	factor float32
}

func (s scaled) Read(idx []int, x []float32) error {
	if err := s.Data.Read(idx, x); err != nil {
		return err
	}
	for i := range x {
		x[i] *= s.factor
	}
	return nil
}

// unitScale scales d's inputs into [-1, 1], as a backbone's pooled
// features usually are: the tiny test backbone's fc2 values reach the
// tens, which starts the loss near 8 and makes float32 rounding (Keras'
// Adam is ops, Go's ResourceApplyAdam, equal up to rounding) grow over
// the steps faster than the loss's own definition can be checked.
func unitScale(t *testing.T, d train.Data, dim int) train.Data {
	t.Helper()
	idx := make([]int, d.Len())
	for i := range idx {
		idx[i] = i
	}
	x := make([]float32, len(idx)*dim)
	if err := d.Read(idx, x); err != nil {
		t.Fatal(err)
	}
	var m float32
	for _, v := range x {
		m = max(m, v, -v)
	}
	return scaled{d, 1 / m}
}

// TestSchedulesMatchKeras: each schedule's rate at steps 0..299 equals
// keras.optimizers.schedules' within 1e-7, and ReduceLROnPlateau lowers
// the rate after the same epochs of a sequence of monitored values as
// Keras' callback (patience, min_delta, cooldown, min_lr; a loss and an
// accuracy), logging the same per-epoch rate.
func TestSchedulesMatchKeras(t *testing.T) {
	const steps = 300
	schedules := []schedule.Schedule{
		{CosineDecay: &schedule.CosineDecay{InitialLearningRate: 0.01, DecaySteps: 200, Alpha: 0.05}},
		{CosineDecay: &schedule.CosineDecay{InitialLearningRate: 0, DecaySteps: 150, WarmupTarget: 3e-3, WarmupSteps: 40}},
		{ExponentialDecay: &schedule.ExponentialDecay{InitialLearningRate: 0.1, DecaySteps: 30, DecayRate: 0.5, Staircase: true}},
		{ExponentialDecay: &schedule.ExponentialDecay{InitialLearningRate: 1e-3, DecaySteps: 70, DecayRate: 0.96}},
		{PiecewiseConstantDecay: &schedule.PiecewiseConstantDecay{Boundaries: []int{50, 120, 121}, Values: []float64{0.1, 0.01, 0.005, 1e-4}}},
	}
	losses := []float64{1.0, 0.9, 0.95, 0.9, 0.89995, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 0.4, 0.45}
	accs := []float64{0.2, 0.3, 0.3, 0.29, 0.5, 0.5, 0.5, 0.5, 0.51, 0.49, 0.6, 0.6, 0.6, 0.6, 0.6}
	plateaus := []reference.Plateau{
		{Config: schedule.ReduceLROnPlateau{Monitor: "val_loss", Factor: 0.5, Patience: 2, MinDelta: 1e-4}, LearningRate: 0.01, Values: losses},
		{Config: schedule.ReduceLROnPlateau{Monitor: "loss", Factor: 0.1, Patience: 1, Cooldown: 2, MinLR: 2e-5}, LearningRate: 1e-3, Values: losses},
		{Config: schedule.ReduceLROnPlateau{Monitor: "val_accuracy", Factor: 0.3, Patience: 0, MinDelta: 0.05}, LearningRate: 0.01, Values: accs},
	}
	dir := t.TempDir()
	if err := reference.WriteSchedules(dir, steps, schedules, plateaus); err != nil {
		t.Fatal(err)
	}
	var keras struct {
		Schedules [][]float64
		Plateaus  []struct {
			LearningRate []float64 `json:"learning_rate"`
			Logged       []float64
		}
	}
	if err := reference.Keras(testenv.Python(t), filepath.Join(testenv.Root(t), "scripts", "keras_reference.py"), dir, &keras, "--schedules"); err != nil {
		t.Fatal(err)
	}
	if len(keras.Schedules) != len(schedules) || len(keras.Plateaus) != len(plateaus) {
		t.Fatalf("Keras returned %d schedules, %d plateaus", len(keras.Schedules), len(keras.Plateaus))
	}
	for i, s := range schedules {
		var worst float64
		for step := range steps {
			got, want := s.Rate(int64(step)), keras.Schedules[i][step]
			worst = max(worst, math.Abs(got-want))
			if math.Abs(got-want) > 1e-7 {
				t.Errorf("%s #%d step %d: rate %.9g, Keras %.9g", s.Name(), i, step, got, want)
				break
			}
		}
		t.Logf("%s #%d: largest |rate diff| over %d steps: %.2g", s.Name(), i, steps, worst)
	}
	for i, p := range plateaus {
		st, lr, reductions := &schedule.Plateau{}, float64(float32(p.LearningRate)), 0
		for e, v := range p.Values {
			logged := lr
			next, reduced := p.Config.EpochEnd(st, v, lr)
			if reduced {
				reductions++
			}
			lr = next
			if math.Abs(logged-keras.Plateaus[i].Logged[e]) > 1e-7 || math.Abs(lr-keras.Plateaus[i].LearningRate[e]) > 1e-7 {
				t.Errorf("plateau %d (%s) epoch %d: logged %.9g then %.9g, Keras %.9g then %.9g",
					i, p.Config.Monitor, e+1, logged, lr, keras.Plateaus[i].Logged[e], keras.Plateaus[i].LearningRate[e])
			}
		}
		if reductions < 2 {
			t.Errorf("plateau %d: %d reductions; the sequence should test more", i, reductions)
		}
	}
}
