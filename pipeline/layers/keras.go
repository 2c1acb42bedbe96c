package layers

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// FromKeras returns the layer a Keras layer's class name and get_config()
// describe (as a backbone's exporter records the layers above a cut), or
// an error naming the setting this package cannot reproduce. Settings that
// do not change the forward pass (names, initialisers, regularisers,
// constraints, batch normalisation's momentum) are ignored; settings this
// package does not implement are accepted only at Keras' default (NHWC
// layout, no dilation, ...).
//
// A Dropout, and ConvNeXt's StochasticDepth (built when drop_path_rate >
// 0), become the identity (activation linear): the transfer-learning guide
// calls the base model with training=False, so a backbone's own dropout
// (EfficientNet's drop-connect, noise_shape [None, 1, 1, 1]) is inactive
// while its upper layers are fine-tuned. A dropout written in a model's
// layers keeps dropping in training.
func FromKeras(class string, cfg map[string]any) (Layer, error) {
	if class == "Dropout" || class == "StochasticDepth" {
		return &Activation{Activation: "linear"}, nil
	}
	var l Layer
	for _, k := range Kinds() {
		if c, _ := New(k); c.KerasClass() == class {
			l = c
		}
	}
	if l == nil {
		return nil, fmt.Errorf("keras.layers.%s: no layer kind of this package reproduces it (have %s)", class, strings.Join(kerasClasses(), ", "))
	}
	fields := map[string]Field{}
	for _, f := range l.Fields() {
		fields[f.Key] = f
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := cfg[k]
		if f, ok := fields[k]; ok {
			if err := setField(f, v); err != nil {
				return nil, fmt.Errorf("keras.layers.%s: %s: %w", class, k, err)
			}
			continue
		}
		if ignoredKeras(k) {
			continue
		}
		want, ok := kerasDefaults[k]
		if !ok {
			return nil, fmt.Errorf("keras.layers.%s: setting %s = %v is not supported", class, k, v)
		}
		if !sameJSON(v, want) {
			return nil, fmt.Errorf("keras.layers.%s: %s = %v is not supported (only %v)", class, k, v, want)
		}
	}
	if ps := l.Check(); len(ps) > 0 {
		return nil, fmt.Errorf("keras.layers.%s: %s: %s", class, ps[0].Key, ps[0].Msg)
	}
	return l, nil
}

// kerasDefaults are Keras settings this package supports only at these
// values, as they appear in get_config() (JSON).
var kerasDefaults = map[string]any{
	"data_format":    "channels_last",
	"dilation_rate":  []any{1.0, 1.0},
	"groups":         1.0,
	"axis":           -1.0,
	"center":         true,
	"scale":          true,
	"negative_slope": 0.0,
	"threshold":      0.0,
	"keepdims":       false,
	"rms_scaling":    false,
	"noise_shape":    nil,
	"synchronized":   false,
}

// ignoredKeras reports whether a Keras setting leaves the forward pass in
// inference mode unchanged.
func ignoredKeras(k string) bool {
	switch k {
	case "name", "trainable", "dtype", "momentum", "activity_regularizer", "seed":
		return true
	}
	for _, suffix := range []string{"_initializer", "_regularizer", "_constraint"} {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// setField sets a field from a JSON value.
func setField(f Field, v any) error {
	num := func() (float64, error) {
		x, ok := v.(float64)
		if !ok {
			return 0, fmt.Errorf("want a number, got %v", v)
		}
		return x, nil
	}
	integer := func(x any) (int, error) {
		n, ok := x.(float64)
		if !ok || n != float64(int(n)) {
			return 0, fmt.Errorf("want an integer, got %v", x)
		}
		return int(n), nil
	}
	switch p := f.Value.(type) {
	case *int:
		n, err := integer(v)
		*p = n
		return err
	case *Units:
		n, err := integer(v)
		*p = Units(n)
		return err
	case *float64:
		if v == nil && f.Key == "max_value" {
			*p = 0 // Keras' None: no cap
			return nil
		}
		x, err := num()
		*p = x
		return err
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %v", v)
		}
		*p = b
	case *string:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %v", v)
		}
		if f.OneOf != nil && !slices.Contains(f.OneOf, s) {
			return fmt.Errorf("%q is not supported (want one of %s)", s, strings.Join(f.OneOf, ", "))
		}
		*p = s
	case *[]int:
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want a list of integers, got %v", v)
		}
		*p = make([]int, len(list))
		for i, x := range list {
			n, err := integer(x)
			if err != nil {
				return err
			}
			(*p)[i] = n
		}
	case *[2][2]int:
		// ((top, bottom), (left, right)), as get_config() writes it.
		list, ok := v.([]any)
		if !ok || len(list) != 2 {
			return fmt.Errorf("want [[top, bottom], [left, right]], got %v", v)
		}
		for i, side := range list {
			pair, ok := side.([]any)
			if !ok || len(pair) != 2 {
				return fmt.Errorf("want [[top, bottom], [left, right]], got %v", v)
			}
			for j, x := range pair {
				n, err := integer(x)
				if err != nil {
					return err
				}
				p[i][j] = n
			}
		}
	case *[2]int:
		if list, ok := v.([]any); ok && len(list) == 2 {
			a, err := integer(list[0])
			if err != nil {
				return err
			}
			b, err := integer(list[1])
			*p = [2]int{a, b}
			return err
		}
		n, err := integer(v)
		*p = [2]int{n, n}
		return err
	default:
		return fmt.Errorf("unsupported field type %T", f.Value)
	}
	return nil
}

func sameJSON(a, b any) bool {
	if x, ok := a.([]any); ok && len(x) == 1 && b == -1.0 { // axis: [-1] or [3]
		a = x[0]
	}
	if a == 3.0 && b == -1.0 { // axis: 3 is an image's last, counting the batch's
		return true
	}
	return reflect.DeepEqual(a, b)
}

func kerasClasses() []string {
	var out []string
	for _, k := range Kinds() {
		l, _ := New(k)
		out = append(out, l.KerasClass())
	}
	return out
}
