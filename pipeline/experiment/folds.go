package experiment

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// FoldsDir is where a model's cross-validation trainings keep their
// checkpoints: models/<name>/folds/<k>/<phase>/, so that an interrupted
// run resumes them.
const FoldsDir = "folds"

// crossValidate trains model j once per fold of r.folds, as configured
// (every phase, from the model's initial weights), on the other folds,
// and scores it on the fold held out.
func (r *runner) crossValidate(ctx context.Context, j *job) (*report.CrossValidation, error) {
	k := len(r.folds)
	var acc, loss []float64
	var epochs []int
	// Each fold's training examples in the run's order (train then val,
	// each shuffled by the split), whichever folds they came from.
	pos := make(map[string]int, len(r.ds.Examples))
	for i, e := range r.ds.Examples {
		pos[e.Path] = i
	}
	for f := range r.folds {
		var tr []dataset.Example
		for g, fold := range r.folds {
			if g != f {
				tr = append(tr, fold...)
			}
		}
		slices.SortFunc(tr, func(a, b dataset.Example) int { return pos[a.Path] - pos[b.Path] })
		a, l, n, err := r.trainFold(ctx, j, f, j.data(tr), j.data(r.folds[f]))
		if err != nil {
			return nil, fmt.Errorf("fold %d of %d: %w", f+1, k, err)
		}
		r.logf("%s: fold %d/%d: val_accuracy %.4f, val_loss %.4f (%d epochs)", j.m.Name, f+1, k, a, l, n)
		acc, loss, epochs = append(acc, a), append(loss, l), append(epochs, n)
	}
	cv := report.NewCrossValidation(acc, loss, epochs)
	r.logf("%s: %d-fold cross-validation: val_accuracy %.2f%% ± %.2f, val_loss %.4f ± %.4f", j.m.Name, k, 100*cv.MeanAccuracy, 100*cv.StdAccuracy, cv.MeanLoss, cv.StdLoss)
	return cv, nil
}

// trainFold trains j through every phase on tr, validating on val, and
// returns the accuracy and loss on val of the weights training ended
// with, and the epochs trained.
func (r *runner) trainFold(ctx context.Context, j *job, f int, tr, val train.Data) (acc, loss float64, epochs int, err error) {
	var w map[string][]float32
	var net *nn.Network
	defer func() {
		if net != nil {
			net.Close()
		}
	}()
	for i, ph := range j.plan.Phases {
		if net != nil {
			if w, err = net.Weights(); err != nil {
				return 0, 0, 0, err
			}
			net.Close()
		}
		if net, err = nn.Build(j.plan.Spec(i)); err != nil {
			return 0, 0, 0, err
		}
		if err := r.initialize(j, net, w); err != nil {
			return 0, 0, 0, err
		}
		opts := ph.Options()
		opts.Dir = filepath.Join(rundir.Model(r.dir, j.m.Name), FoldsDir, strconv.Itoa(f+1), ph.Name)
		st, err := train.Fit(ctx, net, tr, val, opts)
		if err != nil {
			return 0, 0, 0, err
		}
		epochs += len(st.History)
	}
	ev, err := train.Evaluate(net, val, r.cfg.Train.BatchSize, r.cfg.Evaluate.TopK)
	if err != nil {
		return 0, 0, 0, err
	}
	return ev.Accuracy, ev.Loss, epochs, nil
}
