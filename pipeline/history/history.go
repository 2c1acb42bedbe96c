// Package history holds the record of a training run that Keras' fit
// returns: one Epoch per epoch. It is plain Go, shared by the stages that
// write it (train) and those that read it (report, plot), so that those
// build without TensorFlow.
package history

import (
	"encoding/json"
	"math"
)

// Epoch is one row of the history, in Keras' names.
type Epoch struct {
	Epoch       int     `json:"epoch"` // 1-based
	Loss        float64 `json:"loss"`
	Accuracy    float64 `json:"accuracy"`
	ValLoss     float64 `json:"val_loss"`
	ValAccuracy float64 `json:"val_accuracy"`
	Seconds     float64 `json:"seconds"`
	// Phase is "" for the (first) training of a model, FineTune for the
	// epochs of a fine-tuned model's second phase, numbered on from the
	// first phase's.
	Phase string `json:"phase,omitempty"`
}

// FineTune is the Phase of a fine-tuning epoch.
const FineTune = "fine_tune"

// epochJSON is Epoch on disk: NaN (no validation split) as null, which
// JSON can hold.
type epochJSON struct {
	Epoch       int      `json:"epoch"`
	Loss        *float64 `json:"loss"`
	Accuracy    *float64 `json:"accuracy"`
	ValLoss     *float64 `json:"val_loss"`
	ValAccuracy *float64 `json:"val_accuracy"`
	Seconds     float64  `json:"seconds"`
	Phase       string   `json:"phase,omitempty"`
}

// MarshalJSON writes non-finite metrics (NaN validation metrics when there
// is no validation split, a diverged loss) as null, which JSON can hold, so
// that a file is never left unwritable.
func (e Epoch) MarshalJSON() ([]byte, error) {
	opt := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(epochJSON{e.Epoch, opt(e.Loss), opt(e.Accuracy), opt(e.ValLoss), opt(e.ValAccuracy), e.Seconds, e.Phase})
}

// UnmarshalJSON reads null validation metrics as NaN.
func (e *Epoch) UnmarshalJSON(b []byte) error {
	var j epochJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	val := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*e = Epoch{j.Epoch, val(j.Loss), val(j.Accuracy), val(j.ValLoss), val(j.ValAccuracy), j.Seconds, j.Phase}
	return nil
}

// Metric returns the named metric ("loss", "accuracy", "val_loss",
// "val_accuracy").
func (e Epoch) Metric(name string) float64 {
	switch name {
	case "loss":
		return e.Loss
	case "accuracy":
		return e.Accuracy
	case "val_loss":
		return e.ValLoss
	case "val_accuracy":
		return e.ValAccuracy
	}
	return math.NaN()
}
