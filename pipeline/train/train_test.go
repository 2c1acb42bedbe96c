package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/schedule"
)

// memData is an in-memory split for tests.
type memData struct {
	x   []float32
	y   []int32
	dim int
	// failAt makes Read fail (once) when it reaches this many calls.
	reads, failAt int
}

func (d *memData) Len() int          { return len(d.y) }
func (d *memData) Label(i int) int32 { return d.y[i] }
func (d *memData) Read(idx []int, x []float32) error {
	d.reads++
	if d.failAt > 0 && d.reads == d.failAt {
		return errors.New("disk on fire")
	}
	for j, i := range idx {
		copy(x[j*d.dim:(j+1)*d.dim], d.x[i*d.dim:(i+1)*d.dim])
	}
	return nil
}

func blobs(n, dim, k int, seed uint64) *memData {
	r := rand.New(rand.NewPCG(seed, 0))
	d := &memData{x: make([]float32, n*dim), y: make([]int32, n), dim: dim}
	for i := range d.y {
		d.y[i] = int32(r.IntN(k))
		for j := 0; j < dim; j++ {
			c := float32(0)
			if j%k == int(d.y[i]) {
				c = 1.5
			}
			d.x[i*dim+j] = c + float32(r.NormFloat64())
		}
	}
	return d
}

func newNet(t *testing.T) *nn.Network {
	t.Helper()
	net, err := nn.Build(nn.Spec{
		Input: []int{6},
		Layers: []layers.Layer{
			&layers.Dense{Units: 12, Activation: "relu", UseBias: true},
			&layers.Dropout{Rate: 0.3},
			&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
		},
		Classes: 3,
		Adam:    nn.Adam{LearningRate: 0.01, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := net.SetWeights(net.InitialWeights(5)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { net.Close() })
	return net
}

// TestResumeMatchesUninterrupted stops a run in the middle of epoch 3 and
// resumes it in a new network; the history and final weights must equal
// those of a run that was never interrupted.
func TestResumeMatchesUninterrupted(t *testing.T) {
	tr, val := blobs(96, 6, 3, 1), blobs(30, 6, 3, 2)
	opts := Options{BatchSize: 16, Epochs: 5, Shuffle: true, Seed: 9}

	opts.Dir = t.TempDir()
	full, err := Fit(context.Background(), newNet(t), tr, val, opts)
	if err != nil {
		t.Fatal(err)
	}
	netFull := newNet(t)
	if _, err := Fit(context.Background(), netFull, tr, val, opts); err != nil { // finished: loads, no training
		t.Fatal(err)
	}

	opts.Dir = t.TempDir()
	broken := *tr
	broken.reads = 0
	broken.failAt = 2*6 + 3 // the 3rd batch of epoch 3 (6 batches per epoch)
	if _, err := Fit(context.Background(), newNet(t), &broken, val, opts); err == nil {
		t.Fatal("a failing read did not stop training")
	}
	st := mustLoadState(t, opts.Dir)
	if len(st.History) != 2 {
		t.Fatalf("after a failure in epoch 3, %d epochs are recorded; want 2", len(st.History))
	}
	netResumed := newNet(t)
	resumed, err := Fit(context.Background(), netResumed, tr, val, opts)
	if err != nil {
		t.Fatal(err)
	}
	sameAsUninterrupted(t, full, resumed, netFull, netResumed)
}

// sameWeights reports how the weights of a and b differ: a variable one
// has and the other lacks, a size, a value (bit for bit). Networks without
// weights, or whose weights cannot be read, are an error too.
func sameWeights(a, b *nn.Network) error {
	wa, err := a.Weights()
	if err != nil {
		return err
	}
	wb, err := b.Weights()
	if err != nil {
		return err
	}
	if len(wa) == 0 {
		return errors.New("the networks have no weights")
	}
	if len(wa) != len(wb) {
		return fmt.Errorf("%d variables and %d", len(wa), len(wb))
	}
	for k, va := range wa {
		vb, ok := wb[k]
		if !ok {
			return fmt.Errorf("%s missing", k)
		}
		if len(va) != len(vb) {
			return fmt.Errorf("%s has %d values and %d", k, len(va), len(vb))
		}
		for j := range va {
			if math.Float32bits(va[j]) != math.Float32bits(vb[j]) {
				return fmt.Errorf("%s[%d] = %v and %v", k, j, va[j], vb[j])
			}
		}
	}
	return nil
}

// mustLoadState reads the training state in dir, failing the test if it
// cannot.
func mustLoadState(t *testing.T, dir string) *State {
	t.Helper()
	st, err := loadState(dir)
	if err != nil {
		t.Fatalf("training state in %s: %v", dir, err)
	}
	return st
}

func TestCancelKeepsCompletedEpochs(t *testing.T) {
	tr := blobs(64, 6, 3, 1)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	opts := Options{BatchSize: 16, Epochs: 4, Seed: 1, Dir: t.TempDir(), Log: func(string, ...any) {
		if n++; n == 2 {
			cancel()
		}
	}}
	_, err := Fit(ctx, newNet(t), tr, nil, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled fit: %v", err)
	}
	st := mustLoadState(t, opts.Dir)
	if len(st.History) != 2 || st.Done {
		t.Fatalf("state after cancel: %d epochs, done %v; want 2, false", len(st.History), st.Done)
	}
}

func TestEarlyStopping(t *testing.T) {
	tr, val := blobs(96, 6, 3, 1), blobs(30, 6, 3, 2)
	// A monitor that cannot improve much: stop after patience epochs
	// without a 10-point accuracy gain, and restore the best weights.
	es := &EarlyStopping{Monitor: "val_accuracy", Patience: 2, MinDelta: 0.1, RestoreBestWeights: true}
	net := newNet(t)
	st, err := Fit(context.Background(), net, tr, val, Options{BatchSize: 16, Epochs: 30, Seed: 3, Shuffle: true, EarlyStopping: es, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !st.StoppedEarly || len(st.History) >= 30 {
		t.Fatalf("did not stop early: %d epochs", len(st.History))
	}
	if len(st.History) != st.BestEpoch+es.Patience {
		t.Errorf("stopped after %d epochs with best epoch %d and patience %d", len(st.History), st.BestEpoch, es.Patience)
	}
	// The network holds the best epoch's weights: its val accuracy.
	r, err := Evaluate(net, val, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := st.History[st.BestEpoch-1].ValAccuracy; r.Accuracy != want {
		t.Errorf("restored weights give val accuracy %.4f, best epoch had %.4f", r.Accuracy, want)
	}
}

// recorder is a Callback that notes what it is told.
type recorder struct {
	calls   []string
	weights []int // trainable values seen at each epoch end
	failAt  int   // OnEpochEnd fails at this epoch
}

func (r *recorder) OnTrainBegin(h []history.Epoch) error {
	r.calls = append(r.calls, fmt.Sprintf("begin %d", len(h)))
	return nil
}

func (r *recorder) OnEpochEnd(e history.Epoch, net *nn.Network) error {
	r.calls = append(r.calls, fmt.Sprintf("end %d", e.Epoch))
	ws, err := net.TrainableWeights()
	if err != nil {
		return err
	}
	n := 0
	for _, w := range ws {
		n += len(w.Values)
	}
	r.weights = append(r.weights, n)
	if e.Epoch == r.failAt {
		return errors.New("callback failed")
	}
	return nil
}

// TestCallbacks: a callback hears the start (with the epochs already done)
// and each new epoch after its checkpoint; its error stops training with
// that epoch kept; a finished run calls only OnTrainBegin.
func TestCallbacks(t *testing.T) {
	tr, val := blobs(48, 6, 3, 1), blobs(12, 6, 3, 2)
	rec := &recorder{failAt: 2}
	opts := Options{BatchSize: 16, Epochs: 3, Seed: 1, Dir: t.TempDir(), Callbacks: []Callback{rec}}
	if _, err := Fit(context.Background(), newNet(t), tr, val, opts); err == nil || !strings.Contains(err.Error(), "callback failed") {
		t.Fatalf("a failing callback gave %v", err)
	}
	if st := mustLoadState(t, opts.Dir); len(st.History) != 2 {
		t.Fatalf("after the callback failed at epoch 2, %d epochs are saved; want 2", len(st.History))
	}
	rec.failAt = 0
	if _, err := Fit(context.Background(), newNet(t), tr, val, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := Fit(context.Background(), newNet(t), tr, val, opts); err != nil {
		t.Fatal(err)
	}
	want := []string{"begin 0", "end 1", "end 2", "begin 2", "end 3", "begin 3"}
	if !slices.Equal(rec.calls, want) {
		t.Errorf("calls %v, want %v", rec.calls, want)
	}
	// 6×12+12 + 12×3+3 trainable values: the layers' weights, not Adam's slots.
	for _, n := range rec.weights {
		if n != 123 {
			t.Errorf("OnEpochEnd saw %d trainable values, want 123", n)
		}
	}
}

// ReduceLROnPlateau in Fit: the history holds each epoch's rate, lowered
// after epochs the monitored loss did not improve, and a run interrupted
// after a reduction resumes at the lowered rate with the callback's
// state, ending where an uninterrupted run ends, weights bit for bit.
func TestReduceLROnPlateauResumes(t *testing.T) {
	tr, val := blobs(96, 6, 3, 1), blobs(30, 6, 3, 2)
	// patience 0 and a min_delta no epoch reaches: a reduction after
	// every epoch, down to min_lr.
	rp := &schedule.ReduceLROnPlateau{Monitor: "val_loss", Factor: 0.5, Patience: 0, MinDelta: 10, MinLR: 0.002}
	opts := Options{BatchSize: 16, Epochs: 5, Shuffle: true, Seed: 9, ReduceLROnPlateau: rp, Dir: t.TempDir()}
	netFull := newNet(t)
	full, err := Fit(context.Background(), netFull, tr, val, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Epoch 1 sets best (no reduction), then 0.01 halves each epoch,
	// floored at min_lr.
	want := []float64{0.01, 0.01, 0.005, 0.0025, 0.002}
	for i, e := range full.History {
		if e.LearningRate != float64(float32(want[i])) {
			t.Errorf("epoch %d: learning rate %v, want %v", i+1, e.LearningRate, want[i])
		}
	}

	opts.Dir = t.TempDir()
	broken := *tr
	broken.reads = 0
	broken.failAt = 3*6 + 2 // in epoch 4, after two reductions
	if _, err := Fit(context.Background(), newNet(t), &broken, val, opts); err == nil {
		t.Fatal("a failing read did not stop training")
	}
	netResumed := newNet(t)
	resumed, err := Fit(context.Background(), netResumed, tr, val, opts)
	if err != nil {
		t.Fatal(err)
	}
	sameAsUninterrupted(t, full, resumed, netFull, netResumed)
	if _, err := Fit(context.Background(), newNet(t), tr, val, Options{BatchSize: 16, Epochs: 1, ReduceLROnPlateau: rp, Dir: t.TempDir(),
		Schedule: schedule.Schedule{ExponentialDecay: &schedule.ExponentialDecay{InitialLearningRate: 0.1, DecaySteps: 1, DecayRate: 0.5}}}); err == nil {
		t.Error("ReduceLROnPlateau with a schedule trained")
	}
}

// BalancedOrder draws every class equally often, whatever the split's
// imbalance, from the split's own examples of the class, and depends only
// on (seed, epoch).
func TestBalancedOrder(t *testing.T) {
	d := &memData{dim: 1}
	for i := range 100 {
		c := int32(0)
		if i >= 90 {
			c = 1 + int32(i%2) // 5 of class 1, 5 of class 2
		}
		d.y = append(d.y, c)
		d.x = append(d.x, float32(i))
	}
	order := BalancedOrder(d, 3, 1)
	if len(order) != 100 {
		t.Fatalf("%d draws, want 100", len(order))
	}
	counts := make([]int, 3)
	for _, i := range order {
		counts[d.y[i]]++
	}
	if counts[0] != 34 || counts[1] != 33 || counts[2] != 33 {
		t.Errorf("draws per class %v, want [34 33 33]", counts)
	}
	if !slices.Equal(order, BalancedOrder(d, 3, 1)) || slices.Equal(order, BalancedOrder(d, 3, 2)) {
		t.Error("the draw is not a function of (seed, epoch)")
	}
	st, err := Fit(context.Background(), newNet(t), blobs(60, 6, 3, 4), nil, Options{BatchSize: 16, Epochs: 2, Seed: 1, BalancedSampling: true, Dir: t.TempDir()})
	if err != nil || len(st.History) != 2 {
		t.Fatalf("balanced sampling: %v %+v", err, st)
	}
}

// sameAsUninterrupted wants a resumed run's history (wall times aside)
// and final weights equal to the uninterrupted run's.
func sameAsUninterrupted(t *testing.T, full, resumed *State, netFull, netResumed *nn.Network) {
	t.Helper()
	if len(resumed.History) != len(full.History) {
		t.Fatalf("resumed run has %d epochs, want %d", len(resumed.History), len(full.History))
	}
	for i := range full.History {
		a, b := full.History[i], resumed.History[i]
		a.Seconds, b.Seconds = 0, 0
		if a != b {
			t.Errorf("epoch %d: uninterrupted %+v, resumed %+v", i+1, a, b)
		}
	}
	if err := sameWeights(netFull, netResumed); err != nil {
		t.Fatalf("final weights after resuming: %v", err)
	}
}
