// Package history holds the record of a training run that Keras' fit
// returns: one Epoch per epoch. It is plain Go, shared by the stages that
// write it (train) and those that read it (report, plot), so that those
// build without TensorFlow.
package history

import (
	"encoding/json"
	"math"

	"github.com/gotransfer/gotransfer/pipeline/num"
)

// Epoch is one row of the history, in Keras' names.
type Epoch struct {
	Epoch       int     `json:"epoch"` // 1-based
	Loss        float64 `json:"loss"`
	Accuracy    float64 `json:"accuracy"`
	ValLoss     float64 `json:"val_loss"`
	ValAccuracy float64 `json:"val_accuracy"`
	// LearningRate is the optimizer's learning_rate at the end of the
	// epoch, as Keras' callbacks (TensorBoard, ReduceLROnPlateau) read
	// it: a schedule's rate at the step reached, or the constant rate,
	// before ReduceLROnPlateau lowers it for the next epoch.
	LearningRate float64 `json:"learning_rate"`
	Seconds      float64 `json:"seconds"`
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
	Epoch        int       `json:"epoch"`
	Loss         num.Float `json:"loss"`
	Accuracy     num.Float `json:"accuracy"`
	ValLoss      num.Float `json:"val_loss"`
	ValAccuracy  num.Float `json:"val_accuracy"`
	LearningRate float64   `json:"learning_rate,omitempty"` // 0: written before the history held it
	Seconds      float64   `json:"seconds"`
	Phase        string    `json:"phase,omitempty"`
}

// MarshalJSON writes non-finite metrics (NaN validation metrics when there
// is no validation split, a diverged loss) as null, which JSON can hold, so
// that a file is never left unwritable.
func (e Epoch) MarshalJSON() ([]byte, error) {
	return json.Marshal(epochJSON{e.Epoch, num.Float(e.Loss), num.Float(e.Accuracy), num.Float(e.ValLoss), num.Float(e.ValAccuracy), e.LearningRate, e.Seconds, e.Phase})
}

// UnmarshalJSON reads null (or missing) metrics as NaN.
func (e *Epoch) UnmarshalJSON(b []byte) error {
	nan := num.Float(math.NaN())
	j := epochJSON{Loss: nan, Accuracy: nan, ValLoss: nan, ValAccuracy: nan}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Epoch{j.Epoch, float64(j.Loss), float64(j.Accuracy), float64(j.ValLoss), float64(j.ValAccuracy), j.LearningRate, j.Seconds, j.Phase}
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
