package history

import (
	"encoding/json"
	"math"
	"testing"
)

func TestEpochJSONHoldsNaNAsNull(t *testing.T) {
	e := Epoch{Epoch: 2, Loss: 0.5, Accuracy: 0.75, ValLoss: math.NaN(), ValAccuracy: math.NaN(), Seconds: 1.5}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"epoch":2,"loss":0.5,"accuracy":0.75,"val_loss":null,"val_accuracy":null,"seconds":1.5}`
	if string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	var back Epoch
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Epoch != 2 || back.Loss != 0.5 || !math.IsNaN(back.ValLoss) || !math.IsNaN(back.Metric("val_accuracy")) {
		t.Errorf("read back %+v", back)
	}
	if got := back.Metric("accuracy"); got != 0.75 {
		t.Errorf("Metric(accuracy) = %v", got)
	}
	if got := back.Metric("nope"); !math.IsNaN(got) {
		t.Errorf("Metric(nope) = %v, want NaN", got)
	}
}
