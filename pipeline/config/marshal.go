package config

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// Marshal writes c as YAML: every key, defaults filled in, in the order of
// the schema, optional sections that are off written as null. Parsing the
// result gives a Config equal to c (except Path), so it can be stored in a
// run folder as the record of what ran.
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c.node()); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	return buf.Bytes(), nil
}

// Flatten returns every leaf of the config as written by Marshal, keyed by
// its dotted path ("train.epochs", "models.0.layers.1.dropout.rate"). A
// list of scalars is one leaf ("data.exclude" -> "[a, b]"), as are null
// ("train.early_stopping" -> "null") and an empty map
// ("models.1.layers.2.flatten" -> "{}"). Each value is YAML flow text, so
// "path=value" is a valid override. Comparing the maps of two configs shows
// which settings differ between runs.
func (c *Config) Flatten() map[string]string {
	out := make(map[string]string)
	flatten(c.node(), "", out)
	return out
}

func flatten(n *yaml.Node, path string, out map[string]string) {
	switch {
	case n.Kind == yaml.MappingNode && len(n.Content) > 0:
		for i := 0; i+1 < len(n.Content); i += 2 {
			flatten(n.Content[i+1], join(path, n.Content[i].Value), out)
		}
		return
	case n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				for i, c := range n.Content {
					flatten(c, join(path, strconv.Itoa(i)), out)
				}
				return
			}
		}
	}
	flow := *n
	if n.Kind != yaml.ScalarNode {
		flow.Style |= yaml.FlowStyle
	}
	b, err := yaml.Marshal(&flow)
	if err != nil {
		// Nodes built by node() always encode; keep the raw value just in case.
		out[path] = n.Value
		return
	}
	out[path] = strings.TrimSuffix(string(b), "\n")
}

// node builds the YAML tree Marshal writes, from the schema: the
// canonical form (see form).
func (c *Config) node() *yaml.Node { return nodeOf(c.schema(), Default().schema()) }

// layerNode returns the settings of l, its kind's Fields in order.
func layerNode(l layers.Layer) *yaml.Node {
	return settingsNode(l, func() (layers.Layer, bool) { return layers.New(l.Kind()) })
}

// settingsNode returns the settings of l in the canonical form: a setting
// newer than baseForm (Field.Since) is left out while it holds the value it
// takes when left out, which a layer of l's kind from fresh, given l's
// other settings, shows.
func settingsNode(l layers.Layer, fresh func() (layers.Layer, bool)) *yaml.Node {
	fields := l.Fields()
	var entries []kv
	for i, f := range fields {
		v, err := fieldValue(l, f)
		if err != nil {
			// Decoding refused this setting already; a test keeps every
			// kind's settings in the table.
			entries = append(entries, kv{f.Key, null()})
			continue
		}
		n := v.node()
		if f.Since > baseForm {
			if def, ok := settingDefault(l, i, fresh); ok && sameNode(n, def) {
				continue
			}
		}
		entries = append(entries, kv{f.Key, n})
	}
	n := mapNode(entries)
	n.Style = yaml.FlowStyle
	return n
}

// settingDefault returns the value l's i-th setting takes when it is left
// out and the others are as in l.
func settingDefault(l layers.Layer, i int, fresh func() (layers.Layer, bool)) (*yaml.Node, bool) {
	d, ok := fresh()
	if !ok {
		return nil, false
	}
	lf, df := l.Fields(), d.Fields()
	if len(lf) != len(df) {
		return nil, false
	}
	for j := range lf {
		if j != i {
			copyField(df[j].Value, lf[j].Value)
		}
	}
	if c, ok := d.(layers.Completer); ok {
		c.Complete(func(key string) bool { return key != lf[i].Key })
	}
	v, err := fieldValue(d, df[i])
	if err != nil {
		return nil, false
	}
	return v.node(), true
}

// kv is one entry of a YAML map.
type kv struct {
	key string
	val *yaml.Node
}

// mapNode returns a YAML map of the entries, in order.
func mapNode(entries []kv) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, e := range entries {
		n.Content = append(n.Content, str(e.key), e.val)
	}
	return n
}

func scalar(tag, v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
}

func null() *yaml.Node          { return scalar("!!null", "null") }
func str(s string) *yaml.Node   { return scalar("!!str", s) }
func boolean(b bool) *yaml.Node { return scalar("!!bool", strconv.FormatBool(b)) }
func integer(i int64) *yaml.Node {
	return scalar("!!int", strconv.FormatInt(i, 10))
}

// float writes f exactly (the shortest text that parses back to f), with
// a decimal point so that it reads as a float.
func float(f float64) *yaml.Node {
	switch {
	case math.IsNaN(f):
		return scalar("!!float", ".nan")
	case math.IsInf(f, 1):
		return scalar("!!float", ".inf")
	case math.IsInf(f, -1):
		return scalar("!!float", "-.inf")
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return scalar("!!float", s)
}

func strList(s []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, v := range s {
		n.Content = append(n.Content, str(v))
	}
	return n
}

func pair(p [2]int) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle,
		Content: []*yaml.Node{integer(int64(p[0])), integer(int64(p[1]))}}
}
