package sweep

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

func defaultConfig(t *testing.T) string {
	return filepath.Join(testenv.Root(t), "configs", "default.yaml")
}

func TestParseEntry(t *testing.T) {
	e, err := ParseEntry("images.size=[128,128], [160,160]")
	if err != nil {
		t.Fatal(err)
	}
	if e.Key != "images.size" || !slices.Equal(e.Values, []string{"[128,128]", "[160,160]"}) {
		t.Errorf("parsed %+v", e)
	}
	e, err = ParseEntry("train.optimizer.adam.learning_rate=1e-4..1e-1:log")
	if err != nil || !e.Range || !e.Log || e.Lo != 1e-4 || e.Hi != 0.1 || e.Int {
		t.Errorf("log range: %+v, %v", e, err)
	}
	e, err = ParseEntry("models.0.layers.0.dense.units=16..512")
	if err != nil || !e.Range || !e.Int {
		t.Errorf("integer range: %+v, %v", e, err)
	}
	for _, bad := range []string{"train.epochs", "=1,2", "train.epochs=", "train.epochs=1,,2", "train.epochs=1,1", "x=[1,2", "x=3..1", "x=0..1:log", "x=a..b"} {
		if _, err := ParseEntry(bad); err == nil || !strings.Contains(err.Error(), "-grid "+bad) {
			t.Errorf("ParseEntry(%q): %v, want an error naming the entry", bad, err)
		}
	}
}

func TestGridAndRandom(t *testing.T) {
	a, _ := ParseEntry("a=1,2,3")
	b, _ := ParseEntry("b=x,y")
	g, err := Grid([]Entry{a, b})
	if err != nil || len(g) != 6 || !slices.Equal(g[0].Values, []string{"1", "x"}) || !slices.Equal(g[1].Values, []string{"1", "y"}) || !slices.Equal(g[5].Values, []string{"3", "y"}) {
		t.Fatalf("grid %v, %v", g, err)
	}
	r, err := Random([]Entry{a, b}, 6, 7)
	if err != nil || len(r) != 6 {
		t.Fatalf("random: %v, %v", r, err)
	}
	seen := map[string]bool{}
	for _, p := range r {
		seen[strings.Join(p.Values, ",")] = true
	}
	if len(seen) != 6 {
		t.Errorf("6 draws of 6 combinations are not distinct: %v", r)
	}
	if _, err := Random([]Entry{a, b}, 7, 7); err == nil {
		t.Error("7 draws from 6 combinations accepted")
	}
	lr, _ := ParseEntry("lr=1e-4..1e-1:log")
	r1, err := Random([]Entry{lr}, 20, 3)
	r2, _ := Random([]Entry{lr}, 20, 3)
	if err != nil || !slices.EqualFunc(r1, r2, func(x, y Point) bool { return slices.Equal(x.Values, y.Values) }) {
		t.Fatalf("the same seed drew %v and %v (%v)", r1, r2, err)
	}
	below := 0
	for _, p := range r1 {
		var v float64
		if _, err := fmt.Sscan(p.Values[0], &v); err != nil || v < 1e-4 || v > 0.1 {
			t.Errorf("draw %s outside 1e-4..1e-1", p.Values[0])
		}
		if v < 1e-2 {
			below++
		}
	}
	if below < 8 { // two thirds of a log range lie below 1e-2
		t.Errorf("%d of 20 log-uniform draws below 1e-2: not drawn on a log scale", below)
	}
	if _, err := Grid([]Entry{lr}); err == nil || !strings.Contains(err.Error(), "-random") {
		t.Errorf("a range in a grid: %v", err)
	}
}

// TestBadInput: each mistake gets the config's usual error, naming the
// -grid entry.
func TestBadInput(t *testing.T) {
	cfg := defaultConfig(t)
	for _, c := range []struct {
		opts Options
		want []string
	}{
		{Options{Grid: []string{"train.nope=1,2"}}, []string{"-grid train.nope=1,2: train.nope: unknown key"}},
		{Options{Grid: []string{"train.epochs=5,ten"}}, []string{`-grid train.epochs=5,ten: train.epochs: want an integer, got "ten"`}},
		{Options{Grid: []string{"train.epochs=5,ten,eleven", "train.batch_size=8,-1"}}, []string{`got "ten"`, `got "eleven"`, "-grid train.batch_size=8,-1: train.batch_size"}},
		{Options{}, []string{"no -grid"}},
		{Options{Grid: []string{"train.epochs="}}, []string{"-grid train.epochs=: an empty value"}},
		{Options{Random: 5}, []string{"-random without a range"}},
		{Options{Grid: []string{"train.epochs=1..5"}}, []string{"-grid train.epochs=1..5: a range needs -random N"}},
		{Options{Grid: []string{"train.epochs=1,2", "train.epochs=3"}}, []string{"swept by another -grid"}},
		{Options{Grid: []string{"train.epochs=1,2"}, Random: 3}, []string{"-random 3: the -grid entries allow only 2 distinct trials"}},
	} {
		c.opts.Config = cfg
		_, _, err := Plan(c.opts)
		if err == nil {
			t.Errorf("%+v: no error", c.opts)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error does not say %q:\n%v", c.opts, w, err)
			}
		}
	}
	_, trials, err := Plan(Options{Config: cfg, Sets: []string{"train.epochs=3"}, Grid: []string{"train.optimizer.adam.learning_rate=0.01,0.001", "train.batch_size=16,32"}})
	if err != nil || len(trials) != 4 {
		t.Fatalf("a good grid: %d trials, %v", len(trials), err)
	}
	if c := trials[3].Config; c.Train.Epochs != 3 || c.Train.BatchSize != 32 || c.Train.Optimizer.Adam.LearningRate != 0.001 {
		t.Errorf("trial 4: epochs %d, batch %d, learning rate %g", c.Train.Epochs, c.Train.BatchSize, c.Train.Optimizer.Adam.LearningRate)
	}
}
