package rundir

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
)

func TestFor(t *testing.T) {
	const src = "name: t\nruns_dir: out\ndata: {dir: d}\nmodels:\n  - name: m\n    layers: [{dense: {units: classes, activation: softmax}}]\n"
	parse := func(sets ...string) *config.Config {
		c, err := config.Parse("t.yaml", []byte(src), sets)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, ya, err := For(parse())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^out/t-[0-9a-f]{8}$`).MatchString(filepath.ToSlash(a)) {
		t.Errorf("For = %q, want out/t-<8 hex digits>", a)
	}
	if again, err := config.Parse(ConfigFile, ya, nil); err != nil {
		t.Errorf("the effective config does not parse: %v", err)
	} else if b, _, _ := For(again); b != a {
		t.Errorf("the effective config gives %s, the config %s: a rerun would not find its folder", b, a)
	}
	// Defaults written out or left out are the same config.
	if b, _, _ := For(parse("train.epochs=10")); b != a {
		t.Errorf("a default set explicitly changed the folder: %s vs %s", b, a)
	}
	if b, _, _ := For(parse("train.epochs=11")); b == a {
		t.Errorf("a different config got the same folder %s", a)
	}
	// export.savedmodel changes what a run writes, not what it computes:
	// on (the default) it leaves the folders of older runs where they were.
	if b, _, _ := For(parse("export.savedmodel=true")); b != a {
		t.Errorf("export.savedmodel=true (the default) changed the folder: %s vs %s", b, a)
	}
	if b, _, _ := For(parse("export.savedmodel=false")); b == a {
		t.Errorf("export.savedmodel=false got the default's folder %s", a)
	}
	if got := Model("out/t-1", "m"); filepath.ToSlash(got) != "out/t-1/models/m" {
		t.Errorf("Model = %q", got)
	}
}

func TestPickModel(t *testing.T) {
	const src = `name: t
data: {dir: d}
models:
  - name: scratch
    layers: [{flatten: {}}, {dense: {units: classes, activation: softmax}}]
  - name: top
    backbone: {savedmodel: s, endpoint: e}
    layers: [{dense: {units: classes, activation: softmax}}]
  - name: top2
    backbone: {savedmodel: s, endpoint: e}
    layers: [{dense: {units: classes, activation: softmax}}]
`
	cfg, err := config.Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"": "top", "scratch": "scratch", "top2": "top2"} {
		if m, err := PickModel("runs/t-1", cfg, name); err != nil || m.Name != want {
			t.Errorf("PickModel(%q) = %s, %v; want %s", name, m.Name, err, want)
		}
	}
	_, err = PickModel("runs/t-1", cfg, "nope")
	if want := `run runs/t-1 has no model "nope" (have scratch, top, top2)`; err == nil || err.Error() != want {
		t.Errorf("PickModel(nope) error %v, want %q", err, want)
	}
	cfg.Models = cfg.Models[:1]
	if m, err := PickModel("runs/t-1", cfg, ""); err != nil || m.Name != "scratch" {
		t.Errorf("without a transfer model PickModel(\"\") = %s, %v; want the first model", m.Name, err)
	}
}
