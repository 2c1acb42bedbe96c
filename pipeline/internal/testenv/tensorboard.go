package testenv

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
)

// Events is what TensorBoard's own reader
// (tensorboard.backend.event_processing.event_accumulator) finds in one
// event folder; scripts/read_tensorboard.py prints it.
type Events struct {
	Scalars    map[string][][2]float64 `json:"scalars"`    // tag -> [step, value]...
	Histograms map[string][][4]float64 `json:"histograms"` // tag -> [step, count, min, max]...
	Images     map[string][][4]int     `json:"images"`     // tag -> [step, width, height, PNG bytes]...
	HParams    map[string]any          `json:"hparams"`    // session start info: number, string or bool values
	EndStatus  *int                    `json:"session_end_status"`
}

// TensorBoard reads each folder with TensorBoard's reader from the venv.
func TensorBoard(t testing.TB, dirs ...string) map[string]Events {
	t.Helper()
	cmd := exec.Command(Python(t), append([]string{filepath.Join(Root(t), "scripts", "read_tensorboard.py")}, dirs...)...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("read_tensorboard.py: %v\n%s", err, msg)
	}
	var ev map[string]Events
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatalf("read_tensorboard.py output: %v", err)
	}
	return ev
}
