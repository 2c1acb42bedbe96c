package plot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

func TestDemo(t *testing.T) {
	out := os.Getenv("PLOT_DEMO")
	if out == "" {
		t.Skip()
	}
	mk := func(name string, n int, val bool, l0, rate float64, best int) report.Model {
		m := report.Model{Name: name, BestEpoch: best}
		for e := 1; e <= n; e++ {
			l := l0*math.Exp(-rate*float64(e)) + 0.3
			ep := train.Epoch{Epoch: e, Loss: l * 0.8, Accuracy: 1 - l/3, ValLoss: l, ValAccuracy: 0.95 - l/4}
			if !val {
				ep.ValLoss, ep.ValAccuracy = math.NaN(), math.NaN()
			}
			m.History = append(m.History, ep)
		}
		return m
	}
	models := []report.Model{mk("vgg16-head", 10, true, 2, 0.4, 8), mk("scratch-cnn", 10, true, 3, 0.2, 10), mk("resnet50-head", 7, false, 1.5, 0.5, 0)}
	if err := History(filepath.Join(out, "history.png"), models); err != nil {
		t.Fatal(err)
	}
	var many []report.Model
	for i := range 12 {
		many = append(many, mk(fmt.Sprintf("model-%d", i), 60, true, 1+float64(i)/4, 0.05+float64(i)/100, 30+i))
	}
	if err := History(filepath.Join(out, "history_many.png"), many); err != nil {
		t.Fatal(err)
	}
	if err := History(filepath.Join(out, "history_one.png"), []report.Model{mk("only", 1, true, 1, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	conf := func(n int, names func(int) string, file string) {
		r := rand.New(rand.NewPCG(1, 2))
		classes := make([]string, n)
		m := &evaluate.Metrics{Confusion: make([][]int, n)}
		for i := range n {
			classes[i] = names(i)
			m.Confusion[i] = make([]int, n)
			for range 5 + r.IntN(40) {
				j := i
				if r.Float64() < 0.3 {
					j = r.IntN(n)
				}
				m.Confusion[i][j]++
			}
		}
		if n > 3 {
			for j := range m.Confusion[2] {
				m.Confusion[2][j] = 0
			}
		}
		if err := Confusion(filepath.Join(out, file), m, classes, fmt.Sprintf("vgg16-head, test split (%d classes)", n)); err != nil {
			t.Fatal(err)
		}
	}
	caltech := []string{"accordion", "anchor", "ant", "barrel", "bass", "beaver", "binocular", "bonsai", "brain", "brontosaurus", "buddha", "butterfly", "camera", "cannon", "car_side", "ceiling_fan", "cellphone", "chair", "chandelier", "cougar_body", "cougar_face", "crab", "crayfish", "crocodile", "crocodile_head", "cup", "dalmatian", "dollar_bill", "dolphin", "dragonfly", "electric_guitar", "elephant", "emu", "euphonium", "ewer", "ferry", "flamingo", "flamingo_head", "garfield", "gerenuk", "gramophone", "grand_piano", "hawksbill", "headphone", "hedgehog", "helicopter", "ibis", "inline_skate", "joshua_tree", "kangaroo", "ketch", "lamp", "laptop", "Leopards", "llama", "lobster", "lotus", "mandolin", "mayfly", "menorah", "metronome", "minaret", "nautilus", "octopus", "okapi", "pagoda", "panda", "pigeon", "pizza", "platypus", "pyramid", "revolver", "rhino", "rooster", "saxophone", "schooner", "scissors", "scorpion", "sea_horse", "snoopy", "soccer_ball", "stapler", "starfish", "stegosaurus", "stop_sign", "strawberry", "sunflower", "tick", "trilobite", "umbrella", "watch", "water_lilly", "wheelchair", "wild_cat", "windsor_chair", "wrench", "yin_yang"}
	conf(3, func(i int) string { return []string{"cat", "dog", "bird"}[i] }, "conf3.png")
	conf(12, func(i int) string { return caltech[i*7] }, "conf12.png")
	conf(97, func(i int) string { return caltech[i] }, "conf97.png")

	dir := t.TempDir()
	testenv.ImageDataset(t, dir, 4, 5, 1)
	ds, err := dataset.Scan(dataset.Options{Dir: dir, Split: dataset.Split{Train: 0.8, Test: 0.2}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds.Examples {
		if i%3 == 0 {
			ds.Examples[i].Class = "a_rather_long_class_name_" + ds.Examples[i].Class
		}
	}
	if err := Samples(filepath.Join(out, "samples.png"), ds.Examples, 8, 1, 128); err != nil {
		t.Fatal(err)
	}
	if err := Samples(filepath.Join(out, "samples_small.png"), ds.Examples, 6, 2, 48); err != nil {
		t.Fatal(err)
	}
}
