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
	if got := Model("out/t-1", "m"); filepath.ToSlash(got) != "out/t-1/models/m" {
		t.Errorf("Model = %q", got)
	}
}
