package config

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// TestEveryLayerSettingHasALeafType: the table of leaf types takes every
// setting of every layer kind, so that no kind's setting meets a user as
// an error saying config cannot read it.
func TestEveryLayerSettingHasALeafType(t *testing.T) {
	for _, k := range layers.Kinds() {
		l, _ := layers.New(k)
		for _, f := range l.Fields() {
			if _, err := fieldValue(l, f); err != nil {
				t.Errorf("%v", err)
			}
			n := 0
			for _, lt := range leafTypes {
				if _, ok := lt.bind(f.Value); ok {
					n++
				}
			}
			if n > 1 {
				t.Errorf("%s.%s: %d leaf types take a %T; mark one for layer settings", k, f.Key, n, f.Value)
			}
			if f.Since > form {
				t.Errorf("%s.%s: since %d, but the latest form is %d", k, f.Key, f.Since, form)
			}
		}
	}
}

// odd is a layer kind with a setting of a Go type no leaf type takes, and
// a setting added in form 1 whose default depends on another (as a
// max_pool's strides do on its pool size).
type odd struct {
	layers.Dense
	Bits  uint8
	Scale int
	Shift int // since form 1; left out: Scale
}

func (o *odd) Kind() string { return "odd" }
func (o *odd) Fields() []layers.Field {
	return []layers.Field{{Key: "bits", Value: &o.Bits}, {Key: "scale", Value: &o.Scale}, {Key: "shift", Value: &o.Shift, Since: 1}}
}
func (o *odd) Complete(given func(string) bool) {
	if !given("shift") {
		o.Shift = o.Scale
	}
}

// A setting of a type the table lacks is an error naming it, not a panic.
func TestUnknownLeafTypeIsAnError(t *testing.T) {
	l := &odd{}
	_, err := fieldValue(l, l.Fields()[0])
	if err == nil || !strings.Contains(err.Error(), "odd.bits holds a *uint8") {
		t.Errorf("error %v, want one naming odd.bits and its type", err)
	}
	n := settingsNode(l, func() (layers.Layer, bool) { return &odd{}, true })
	if got := flowText(n); got != "{bits: null, scale: 0}" {
		t.Errorf("settings written as %s", got)
	}
}

// A layer setting newer than the base form is written only away from the
// value it takes when left out, which may depend on the other settings.
func TestNewerLayerSettingLeftOutAtDefault(t *testing.T) {
	fresh := func() (layers.Layer, bool) { return &odd{}, true }
	for _, tc := range []struct {
		l    odd
		want string
	}{
		{odd{Scale: 3, Shift: 3}, "{bits: null, scale: 3}"},
		{odd{Scale: 3, Shift: 0}, "{bits: null, scale: 3, shift: 0}"},
		{odd{Scale: 0, Shift: 0}, "{bits: null, scale: 0}"},
	} {
		if got := flowText(settingsNode(&tc.l, fresh)); got != tc.want {
			t.Errorf("scale %d, shift %d: written %s, want %s", tc.l.Scale, tc.l.Shift, got, tc.want)
		}
	}
}

// A key newer than the base form is written only away from its default; a
// section left empty goes; older keys are always written; a newer section
// is compared whole.
func TestNewerKeyLeftOutAtDefault(t *testing.T) {
	type s struct {
		Old, New int
		Flag     bool
	}
	schema := func(v *s) []key {
		return []key{
			{name: "old", val: intType.of(&v.Old)},
			{name: "sec", keys: []key{{name: "new", since: 1, val: intType.of(&v.New)}}},
			{name: "flags", since: 1, keys: []key{{name: "flag", val: boolType.of(&v.Flag)}}},
		}
	}
	def := s{Old: 1, New: 2}
	for _, tc := range []struct {
		v    s
		want string
	}{
		{s{Old: 1, New: 2}, "{old: 1}"},
		{s{Old: 5, New: 2}, "{old: 5}"},
		{s{Old: 1, New: 3}, "{old: 1, sec: {new: 3}}"},
		{s{Old: 1, New: 2, Flag: true}, "{old: 1, flags: {flag: true}}"},
	} {
		if got := flowText(nodeOf(schema(&tc.v), schema(&def))); got != tc.want {
			t.Errorf("%+v: written %s, want %s", tc.v, got, tc.want)
		}
		if got := flowText(nodeOf(schema(&tc.v), nil)); !strings.Contains(got, "new:") {
			t.Errorf("%+v without defaults: written %s, want every key", tc.v, got)
		}
	}
}

// Every key of the schema records a form no later than the latest.
func TestKeysWithinForm(t *testing.T) {
	var walk func(keys []key, path string)
	walk = func(keys []key, path string) {
		for _, k := range keys {
			if k.since > form {
				t.Errorf("%s: since %d, but the latest form is %d", join(path, k.name), k.since, form)
			}
			walk(k.keys, join(path, k.name))
		}
	}
	c := Default()
	walk(c.schema(), "")
	walk(modelKeys(&Model{}), "models.N")
	walk(backboneKeys(&Backbone{}), "models.N.backbone")
	walk(fineTuneKeys(defaultFineTune()), "models.N.fine_tune")
	walk(adamKeys(defaultAdam()), "train.optimizer.adam")
	walk(earlyStoppingKeys(defaultEarlyStopping(), &c.Data.Split), "train.early_stopping")
}

// Each leaf type reads back what it writes.
func TestLeafTypesRoundTrip(t *testing.T) {
	check := func(name string, v value, fresh value) {
		t.Helper()
		d := &decoder{file: "t", locs: map[string]loc{}}
		n := v.node()
		out, err := yaml.Marshal(n)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fresh.decode(d, doc.Content[0], name)
		if len(d.errs) > 0 {
			t.Errorf("%s: %v", name, d.errs[0])
		}
		if !sameNode(fresh.node(), n) {
			t.Errorf("%s: wrote %s, read back %s", name, flowText(n), flowText(fresh.node()))
		}
	}
	s, s2 := "0", ""
	ss, ss2 := []string{"a", "1"}, []string(nil)
	i, i2 := -3, 0
	i64, i642 := int64(1)<<40, int64(0)
	f, f2 := 1e-7, 0.0
	b, b2 := true, false
	p, p2 := [2]int{3, 4}, [2]int{}
	u, u2 := layers.Classes, layers.Units(0)
	a, a2 := AutoBatch, 1
	check("string", stringType.of(&s), stringType.of(&s2))
	check("strings", stringsType.of(&ss), stringsType.of(&ss2))
	check("int", intType.of(&i), intType.of(&i2))
	check("int64", int64Type.of(&i64), int64Type.of(&i642))
	check("float", floatType.of(&f), floatType.of(&f2))
	check("bool", boolType.of(&b), boolType.of(&b2))
	check("size", sizeType.of(&p), sizeType.of(&p2))
	check("square", squareType.of(&p), squareType.of(&p2))
	check("units", unitsType.of(&u), unitsType.of(&u2))
	check("batch size", batchSizeType.of(&a), batchSizeType.of(&a2))
}

// Reference holds the whole schema and a row per layer kind a stack can
// hold; the joins (add, ...) exist only in a backbone's graph.
func TestReference(t *testing.T) {
	r := Reference()
	if !strings.Contains(r, "```yaml\n"+schemaDoc()+"```\n") {
		t.Errorf("Reference lacks the schema:\n%s", r)
	}
	if strings.Contains(r, "keras.layers.Add`") {
		t.Error("Reference lists add, which a stack cannot hold")
	}
	for _, k := range layers.StackKinds() {
		l, _ := layers.New(k)
		row := "| `" + k + "` | `keras.layers." + l.KerasClass() + "` | " + layerKeys(l) + " |\n"
		if !strings.Contains(r, row) {
			t.Errorf("Reference lacks the row %q", row)
		}
	}
}
