// Package train fits an nn.Network on a split, epoch by epoch, the way
// Keras' model.fit does: seeded batch order, per-epoch loss and accuracy on
// the training batches and val_loss / val_accuracy on the validation split,
// optional early stopping. After every epoch it checkpoints the weights and
// optimizer state and records the history, atomically, so an interrupted
// run resumes from its last completed epoch and ends exactly where an
// uninterrupted one would.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/num"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/schedule"
)

// Data is a split the trainer reads in batches; nothing needs the whole
// split in memory.
type Data interface {
	Len() int
	// Label is the class index of example i.
	Label(i int) int32
	// Read fills x with the inputs of the examples idx, one row each.
	Read(idx []int, x []float32) error
}

// Epocher is Data whose rows change from epoch to epoch (augmented views
// of each image): Fit calls Epoch with the 1-based epoch before reading
// that epoch's batches. Its rows must depend on the epoch only, so that a
// resumed run reads what an uninterrupted one would.
type Epocher interface {
	Epoch(epoch int)
}

// Options control Fit.
type Options struct {
	BatchSize     int
	Epochs        int
	Shuffle       bool
	Seed          int64
	EarlyStopping *EarlyStopping // nil: train every epoch
	// Schedule gives the learning rate of each step (Keras'
	// keras.optimizers.schedules); unset: the network's Adam rate,
	// which ReduceLROnPlateau may lower.
	Schedule schedule.Schedule
	// ReduceLROnPlateau lowers the rate when a metric stops improving
	// (Keras' callback); nil: off. Not with a Schedule.
	ReduceLROnPlateau *schedule.ReduceLROnPlateau
	// BalancedSampling draws each epoch's examples class by class,
	// every class equally often (see BalancedOrder), instead of every
	// example once.
	BalancedSampling bool
	// Dir holds checkpoints and state.json; Fit resumes from it.
	Dir string
	// Log receives one line per epoch (nil: silent).
	Log func(format string, args ...any)
	// Callbacks hear about training as it goes, in order.
	Callbacks []Callback
}

// EarlyStopping stops training when a monitored metric stops improving,
// as Keras' EarlyStopping callback does.
type EarlyStopping struct {
	Monitor            string  `json:"monitor"`  // "loss", "accuracy", "val_loss" or "val_accuracy"
	Patience           int     `json:"patience"` // epochs without improvement before stopping
	MinDelta           float64 `json:"min_delta"`
	RestoreBestWeights bool    `json:"restore_best_weights"`
}

// Callback is told about training as it happens, in the shape of Keras'
// callbacks. An error from a callback stops Fit; the epoch's checkpoint is
// already saved, so a rerun resumes after it.
type Callback interface {
	// OnTrainBegin is called once, before any new epoch, with the epochs
	// already finished (by an earlier, interrupted or finished run; none
	// for a fresh one).
	OnTrainBegin(done []history.Epoch) error
	// OnEpochEnd is called after each epoch, once its checkpoint and state
	// are saved, with the network holding that epoch's weights.
	OnEpochEnd(e history.Epoch, net *nn.Network) error
}

// State is what Fit persists after each epoch (state.json).
type State struct {
	History      []history.Epoch `json:"history"`
	Step         int64           `json:"step"` // optimizer updates so far
	BestEpoch    int             `json:"best_epoch"`
	Wait         int             `json:"wait"` // epochs without improvement (early stopping)
	StoppedEarly bool            `json:"stopped_early"`
	Done         bool            `json:"done"`
	Restored     bool            `json:"restored_best_weights"`
	// LearningRate is the rate of the next epoch where ReduceLROnPlateau
	// may have lowered it, and Plateau that callback's state.
	LearningRate float64           `json:"learning_rate,omitempty"`
	Plateau      *schedule.Plateau `json:"reduce_lr_on_plateau,omitempty"`
}

// Fit trains net on train, validating on val (may be nil), starting from
// the state in opts.Dir if a previous run left one. The network's weights
// must be initialised by the caller for a fresh run. On return the network
// holds the final weights: the best epoch's if early stopping stopped the
// run with restore_best_weights, else the last epoch's.
func Fit(ctx context.Context, net *nn.Network, train, val Data, opts Options) (*State, error) {
	if opts.BatchSize <= 0 || opts.Epochs <= 0 {
		return nil, fmt.Errorf("train: batch size %d and epochs %d must be positive", opts.BatchSize, opts.Epochs)
	}
	if opts.Schedule.Set() && opts.ReduceLROnPlateau != nil {
		return nil, errors.New("train: ReduceLROnPlateau cannot lower a scheduled learning rate")
	}
	if train.Len() == 0 {
		return nil, errors.New("train: the training split is empty")
	}
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	st, err := loadState(opts.Dir)
	if err != nil {
		return nil, err
	}
	if len(st.History) > 0 {
		if err := net.Restore(filepath.Join(opts.Dir, rundir.LastCheckpoint)); err != nil {
			return nil, fmt.Errorf("train: resuming from %s: %w", opts.Dir, err)
		}
		if st.Done {
			logf("already trained: %d epochs (%s)", len(st.History), opts.Dir)
		} else {
			logf("resuming after epoch %d of %d (%s)", len(st.History), opts.Epochs, opts.Dir)
		}
	}
	for i := range st.History {
		if st.History[i].LearningRate == 0 {
			// Written before the history held the rate: the rate was
			// constant then.
			st.History[i].LearningRate = float64(float32(net.Spec.Adam.LearningRate))
		}
	}
	if opts.ReduceLROnPlateau != nil {
		if st.Plateau == nil {
			st.Plateau = &schedule.Plateau{}
		}
		if st.LearningRate > 0 {
			net.SetLearningRate(st.LearningRate)
		}
	}
	for _, cb := range opts.Callbacks {
		if err := cb.OnTrainBegin(st.History); err != nil {
			return st, fmt.Errorf("train: %w", err)
		}
	}
	es := opts.EarlyStopping
	for epoch := len(st.History) + 1; !st.Done && epoch <= opts.Epochs; epoch++ {
		start := time.Now()
		e := history.Epoch{Epoch: epoch}
		order := Order(train.Len(), opts.Seed, epoch, opts.Shuffle)
		if a, ok := train.(Epocher); ok {
			a.Epoch(epoch)
		}
		if opts.BalancedSampling {
			order = BalancedOrder(train, opts.Seed, epoch)
		}
		var lossSum float64
		var correct int
		var batches batcher
		for b := 0; b < len(order); b += opts.BatchSize {
			if err := ctx.Err(); err != nil {
				return st, fmt.Errorf("train: interrupted in epoch %d; rerun to resume after epoch %d: %w", epoch, epoch-1, err)
			}
			idx := order[b:min(b+opts.BatchSize, len(order))]
			x, y, err := batches.read(train, idx, net)
			if err != nil {
				return st, err
			}
			if opts.Schedule.Set() {
				net.SetLearningRate(opts.Schedule.Rate(st.Step))
			}
			l, c, err := net.TrainBatch(x, y, st.Step, [2]int64{opts.Seed, st.Step})
			if err != nil {
				return st, err
			}
			if !num.Finite(l) {
				// Nothing of this epoch is kept: the state on disk stays
				// that of the last good epoch, so a rerun stops here again
				// with the same message rather than on its own files.
				return st, &DivergedError{Epoch: epoch, Batch: b/opts.BatchSize + 1, Batches: (len(order) + opts.BatchSize - 1) / opts.BatchSize,
					LearningRate: net.LearningRate(), Loss: l}
			}
			lossSum += l * float64(len(idx))
			correct += c
			st.Step++
		}
		e.Loss = lossSum / float64(len(order))
		e.Accuracy = float64(correct) / float64(len(order))
		if val != nil && val.Len() > 0 {
			r, err := Evaluate(net, val, opts.BatchSize, 1)
			if err != nil {
				return st, fmt.Errorf("train: validation after epoch %d: %w", epoch, err)
			}
			if !num.Finite(r.Loss) {
				return st, &DivergedError{Epoch: epoch, LearningRate: net.LearningRate(), Loss: r.Loss}
			}
			e.ValLoss, e.ValAccuracy = r.Loss, r.Accuracy
		} else {
			e.ValLoss, e.ValAccuracy = math.NaN(), math.NaN()
		}
		// The rate as Keras' callbacks read it at the end of the epoch:
		// the schedule's at the step reached, or the optimizer's.
		e.LearningRate = net.LearningRate()
		if opts.Schedule.Set() {
			e.LearningRate = float64(float32(opts.Schedule.Rate(st.Step)))
		}
		e.Seconds = time.Since(start).Seconds()
		st.History = append(st.History, e)
		logf("epoch %d/%d: loss %.4f - accuracy %.4f - val_loss %.4f - val_accuracy %.4f - learning_rate %.4g (%.1fs)",
			epoch, opts.Epochs, e.Loss, e.Accuracy, e.ValLoss, e.ValAccuracy, e.LearningRate, e.Seconds)
		if rp := opts.ReduceLROnPlateau; rp != nil {
			lr, reduced := rp.EpochEnd(st.Plateau, e.Metric(rp.Monitor), net.LearningRate())
			net.SetLearningRate(lr)
			st.LearningRate = lr
			if reduced {
				logf("reduce_lr_on_plateau: %s has not improved for %d epoch(s); learning rate %.4g", rp.Monitor, rp.Patience, lr)
			}
		}

		improved := st.BestEpoch == 0 || better(e, st.History[st.BestEpoch-1], es)
		if improved {
			st.BestEpoch, st.Wait = epoch, 0
		} else {
			st.Wait++
		}
		if es != nil && !improved && st.Wait >= es.Patience && epoch > 1 {
			st.StoppedEarly = true
		}
		st.Done = st.StoppedEarly || epoch == opts.Epochs
		if err := checkpoint(net, opts.Dir, st, improved); err != nil {
			return st, err
		}
		for _, cb := range opts.Callbacks {
			if err := cb.OnEpochEnd(e, net); err != nil {
				return st, fmt.Errorf("train: after epoch %d: %w", epoch, err)
			}
		}
		if st.StoppedEarly {
			logf("early stopping: %s has not improved for %d epoch(s); best epoch %d", es.Monitor, st.Wait, st.BestEpoch)
			break
		}
	}
	// Keras restores the best weights only when early stopping stopped the
	// run. This also runs for a finished run loaded from disk.
	if st.StoppedEarly && es != nil && es.RestoreBestWeights && st.BestEpoch != len(st.History) {
		if err := net.Restore(filepath.Join(opts.Dir, rundir.BestCheckpoint)); err != nil {
			return st, fmt.Errorf("train: restoring best weights: %w", err)
		}
		st.Restored = true
		logf("restored the weights of epoch %d", st.BestEpoch)
	}
	return st, saveState(opts.Dir, st)
}

// better reports whether e improves on best for the monitored metric, with
// Keras' EarlyStopping rule (min_delta margin; lower is better for losses).
// Without early stopping, val_loss is monitored (or loss with no val split)
// only to pick the best checkpoint.
func better(e, best history.Epoch, es *EarlyStopping) bool {
	monitor, delta := "val_loss", 0.0
	if es != nil {
		monitor, delta = es.Monitor, es.MinDelta
	}
	cur, ref := e.Metric(monitor), best.Metric(monitor)
	if math.IsNaN(cur) && monitor == "val_loss" {
		cur, ref = e.Loss, best.Loss
	}
	if monitor == "accuracy" || monitor == "val_accuracy" {
		return cur-delta > ref
	}
	return cur+delta < ref
}

// checkpoint saves the last weights (and best, if improved) and then the
// state, so state.json never points at a checkpoint that is not complete.
// The best checkpoint of an improved epoch is the last one's files, linked
// (or saved again where the file system has no links).
func checkpoint(net *nn.Network, dir string, st *State, improved bool) error {
	if err := saveCheckpoint(net, dir, rundir.LastCheckpoint); err != nil {
		return err
	}
	if improved {
		if err := linkCheckpoint(dir, rundir.LastCheckpoint, rundir.BestCheckpoint); err != nil {
			if err := saveCheckpoint(net, dir, rundir.BestCheckpoint); err != nil {
				return err
			}
		}
	}
	return saveState(dir, st)
}

// checkpointSuffixes are the files of a checkpoint, after its prefix.
var checkpointSuffixes = []string{".index", ".data-00000-of-00001"}

// saveCheckpoint saves net's weights as checkpoint name of dir, under a
// temporary prefix renamed into place.
func saveCheckpoint(net *nn.Network, dir, name string) error {
	tmp := filepath.Join(dir, name+".tmp")
	if err := net.Save(tmp); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for _, suffix := range checkpointSuffixes {
		if err := os.Rename(tmp+suffix, filepath.Join(dir, name+suffix)); err != nil {
			return fmt.Errorf("train: checkpoint: %w", err)
		}
	}
	return nil
}

// linkCheckpoint makes checkpoint to of dir the files of checkpoint from,
// hard-linked under a temporary prefix renamed into place (a later save of
// from replaces its files, not their content).
func linkCheckpoint(dir, from, to string) error {
	tmp := filepath.Join(dir, to+".tmp")
	for _, suffix := range checkpointSuffixes {
		os.Remove(tmp + suffix)
		if err := os.Link(filepath.Join(dir, from+suffix), tmp+suffix); err != nil {
			return err
		}
	}
	for _, suffix := range checkpointSuffixes {
		if err := os.Rename(tmp+suffix, filepath.Join(dir, to+suffix)); err != nil {
			return err
		}
	}
	return nil
}

func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, rundir.StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("train: %s: %w (delete the folder to start over)", filepath.Join(dir, rundir.StateFile), err)
	}
	return &st, nil
}

func saveState(dir string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return fsutil.WriteFile(filepath.Join(dir, rundir.StateFile), append(b, '\n'))
}

// Order is the example order of an epoch: a seeded shuffle that depends
// only on (seed, epoch), so a resumed run sees the same batches.
func Order(n int, seed int64, epoch int, shuffle bool) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if shuffle {
		r := rand.New(rand.NewPCG(uint64(seed), uint64(epoch)))
		r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

// BalancedOrder is an epoch's examples drawn with every class equally
// often: as many draws as d has examples, the classes in turn, each draw a
// uniformly random example of its class (with replacement, so rare
// classes are oversampled), the whole in a shuffled order. It depends only
// on (seed, epoch), so a resumed run sees the same batches.
func BalancedOrder(d Data, seed int64, epoch int) []int {
	byClass := map[int32][]int{}
	var classes []int32
	for i := range d.Len() {
		c := d.Label(i)
		if byClass[c] == nil {
			classes = append(classes, c)
		}
		byClass[c] = append(byClass[c], i)
	}
	slices.Sort(classes)
	r := rand.New(rand.NewPCG(uint64(seed), uint64(epoch)|1<<62))
	order := make([]int, d.Len())
	for k := range order {
		members := byClass[classes[k%len(classes)]]
		order[k] = members[r.IntN(len(members))]
	}
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// Batch reads the examples idx of d as net's input and labels (what one
// training or evaluation step feeds).
func Batch(d Data, idx []int, net *nn.Network) ([]float32, []int32, error) {
	var b batcher
	return b.read(d, idx, net)
}

// batcher reads batches into buffers it reuses from one batch to the
// next: a training run reads thousands of batches, and a new buffer for
// each was half of what a sweep allocated (and collected).
type batcher struct {
	x []float32
	y []int32
}

// read is Batch into b's buffers: what it returns holds until the next
// read.
func (b *batcher) read(d Data, idx []int, net *nn.Network) ([]float32, []int32, error) {
	per := 1
	for _, s := range net.Spec.Input {
		per *= s
	}
	n := len(idx) * per
	if cap(b.x) < n {
		b.x = make([]float32, n)
	}
	if cap(b.y) < len(idx) {
		b.y = make([]int32, len(idx))
	}
	x, y := b.x[:n], b.y[:len(idx)]
	clear(x)
	for i, j := range idx {
		y[i] = d.Label(j)
	}
	if err := d.Read(idx, x); err != nil {
		return nil, nil, fmt.Errorf("train: reading a batch: %w", err)
	}
	return x, y, nil
}

// Result is an evaluation of a network on a split.
type Result struct {
	Loss       float64 // mean categorical cross-entropy
	Accuracy   float64 // top-1
	TopK       float64 // top-k accuracy, k as asked
	K          int
	Probs      []float32 // n×classes, row-major, in the split's order
	Labels     []int32
	NumClasses int
}

// Evaluate runs the network with dropout off over every example of d in
// order, batch by batch.
func Evaluate(net *nn.Network, d Data, batchSize, k int) (*Result, error) {
	n := d.Len()
	c := net.Spec.Classes
	r := &Result{K: k, NumClasses: c, Probs: make([]float32, 0, n*c), Labels: make([]int32, 0, n)}
	var lossSum float64
	var batches batcher
	idx := make([]int, 0, batchSize)
	for b := 0; b < n; b += batchSize {
		idx = idx[:0]
		for i := b; i < min(b+batchSize, n); i++ {
			idx = append(idx, i)
		}
		x, y, err := batches.read(d, idx, net)
		if err != nil {
			return nil, err
		}
		p, l, err := net.Predict(x, y)
		if err != nil {
			return nil, err
		}
		for _, v := range l {
			lossSum += float64(v)
		}
		r.Probs = append(r.Probs, p...)
		r.Labels = append(r.Labels, y...)
	}
	if n == 0 {
		return r, nil
	}
	r.Loss = lossSum / float64(n)
	r.Accuracy, r.TopK = evaluate.Accuracy(r.Probs, r.Labels, c, k)
	return r, nil
}

// DivergedError says that training stopped because a loss stopped being a
// finite number: the weights have blown up, and every number after that
// would be meaningless.
type DivergedError struct {
	Epoch        int     // 1-based
	Batch        int     // 1-based batch of the epoch; 0: the validation pass after it
	Batches      int     // batches per epoch
	LearningRate float64 // Adam's learning rate at the time (a float32, as the optimizer holds it)
	Loss         float64 // the non-finite loss
}

func (e *DivergedError) Error() string {
	where := fmt.Sprintf("batch %d of %d", e.Batch, e.Batches)
	what := "training loss"
	if e.Batch == 0 {
		where, what = "validation", "validation loss"
	}
	return fmt.Sprintf("train: diverged in epoch %d, %s: %s is %v with learning rate %g; "+
		"lower train.optimizer.adam.learning_rate (Keras' default is 0.001) and rerun", e.Epoch, where, what, e.Loss, float32(e.LearningRate))
}
