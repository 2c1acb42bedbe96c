package layers

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// List is a stack of layers with a JSON form: one object per layer, keyed
// by its kind, holding every setting, as a config writes it:
//
//	[{"dense": {"units": "classes", "activation": "softmax", "use_bias": true}}]
//
// A trained model's plan (model.json) stores its layers so.
type List []Layer

// MarshalJSON writes each layer as {kind: {key: value, ...}}, keys in
// Fields order.
func (ls List) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('[')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "{%q:{", l.Kind())
		for j, f := range l.Fields() {
			v, err := fieldJSON(f.Value)
			if err != nil {
				return nil, fmt.Errorf("layers: %s.%s: %w", l.Kind(), f.Key, err)
			}
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", f.Key, v)
		}
		b.WriteString("}}")
	}
	b.WriteByte(']')
	return []byte(b.String()), nil
}

// fieldJSON is the JSON text of one setting; units: classes stays
// "classes", so that the layer reads back the same.
func fieldJSON(p any) ([]byte, error) {
	switch v := p.(type) {
	case *Units:
		if *v == Classes {
			return []byte(`"classes"`), nil
		}
		return json.Marshal(int(*v))
	case *int, *float64, *string, *bool, *[2]int, *[]int, *[2][2]int:
		return json.Marshal(v)
	}
	return nil, fmt.Errorf("unsupported field type %T", p)
}

// UnmarshalJSON reads the form MarshalJSON writes. Every key must be one
// of the kind's settings; missing optional ones take their defaults.
func (ls *List) UnmarshalJSON(b []byte) error {
	var raw []map[string]map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	out := make(List, len(raw))
	for i, one := range raw {
		if len(one) != 1 {
			return fmt.Errorf("layers: layer %d: want one kind, got %d keys", i, len(one))
		}
		for kind, settings := range one {
			l, err := fromJSON(kind, settings)
			if err != nil {
				return fmt.Errorf("layers: layer %d: %w", i, err)
			}
			out[i] = l
		}
	}
	*ls = out
	return nil
}

// fromJSON is one layer of kind with settings decoded from JSON.
func fromJSON(kind string, settings map[string]any) (Layer, error) {
	l, ok := New(kind)
	if !ok {
		return nil, fmt.Errorf("unknown kind %q (have %s)", kind, strings.Join(Kinds(), ", "))
	}
	fields := l.Fields()
	for k := range settings {
		if !slices.ContainsFunc(fields, func(f Field) bool { return f.Key == k }) {
			return nil, fmt.Errorf("%s: unknown setting %q", kind, k)
		}
	}
	for _, f := range fields {
		v, ok := settings[f.Key]
		switch {
		case !ok && f.Required:
			return nil, fmt.Errorf("%s: %s is required", kind, f.Key)
		case !ok:
			continue
		}
		if u, isUnits := f.Value.(*Units); isUnits && v == "classes" {
			*u = Classes
			continue
		}
		if err := setField(f, v); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", kind, f.Key, err)
		}
	}
	if c, ok := l.(Completer); ok {
		c.Complete(func(key string) bool { _, ok := settings[key]; return ok })
	}
	if ps := l.Check(); len(ps) > 0 {
		return nil, fmt.Errorf("%s: %s: %s", kind, ps[0].Key, ps[0].Msg)
	}
	return l, nil
}
