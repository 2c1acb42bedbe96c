package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// maxNodes bounds the YAML tree after aliases are expanded, so that a few
// nested aliases cannot blow up memory.
const maxNodes = 100000

// loc is where a value came from: a line of the file, or an override.
type loc struct {
	line int // line in the file; unused when set > 0
	set  int // 1 + index of the override that gave the value; 0 for the file
}

// posError is one problem with a config, located by line or override.
type posError struct {
	file string
	line int
	set  int    // as in loc
	over string // the override text when set > 0
	// label names the override instead of "-set " + over (Override.Label).
	label string
	path  string // dotted key path; "" for the whole document
	msg   string
}

func (e *posError) Error() string {
	where := fmt.Sprintf("%s:%d", e.file, e.line)
	if e.set > 0 {
		where = "-set " + e.over
		if e.label != "" {
			where = e.label
		}
	}
	if e.path == "" {
		return where + ": " + e.msg
	}
	return where + ": " + e.path + ": " + e.msg
}

// decodeFunc decodes the non-null node n, found at the dotted path, into
// the value it was made for.
type decodeFunc func(n *yaml.Node, path string)

// field is one key of a YAML map.
type field struct {
	key string
	req bool // must be present with a non-null value
	dec decodeFunc
}

// decoder walks a YAML tree, decoding it into a Config and collecting every
// error with its location.
type decoder struct {
	file string
	sets []string // the overrides as given
	// labels name overrides in errors where not "" (Override.Label).
	labels []string
	from   map[*yaml.Node]int // nodes made by an override, as 1 + its index
	locs   map[string]loc     // where each path seen sits
	errs   []*posError
}

// errorAt records an error at l.
func (d *decoder) errorAt(l loc, path, format string, args ...any) {
	e := &posError{file: d.file, line: l.line, set: l.set, path: path, msg: fmt.Sprintf(format, args...)}
	if l.set > 0 {
		e.over = d.sets[l.set-1]
		if l.set <= len(d.labels) {
			e.label = d.labels[l.set-1]
		}
	}
	d.errs = append(d.errs, e)
}

// errorf records an error at path, located where path (or, if it was
// never seen, its nearest parent) sits.
func (d *decoder) errorf(path, format string, args ...any) {
	l := d.at(path)
	if l.set == 0 {
		// A check of a whole (split's sum) blames the -set that changed
		// a part of it, not the file's line.
		for p, pl := range d.locs {
			if pl.set > 0 && strings.HasPrefix(p, path+".") && (l.set == 0 || pl.set < l.set) {
				l = pl
			}
		}
	}
	d.errorAt(l, path, format, args...)
}

// at returns where path, or its nearest seen parent, sits.
func (d *decoder) at(path string) loc {
	for {
		if l, ok := d.locs[path]; ok {
			return l
		}
		if path == "" {
			return loc{line: 1}
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

// where returns the location of a map entry (key may be nil for a list
// item): the override that made the value or key, else the key's line.
func (d *decoder) where(key, val *yaml.Node) loc {
	for _, n := range []*yaml.Node{val, key} {
		if n != nil && d.from[n] > 0 {
			return loc{set: d.from[n]}
		}
	}
	if key != nil {
		return loc{line: key.Line}
	}
	return loc{line: val.Line}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	}
	if isNull(n) {
		return "null"
	}
	return strconv.Quote(n.Value)
}

// mapping decodes the YAML map n with the given fields. It reports keys
// that are not fields, duplicate keys, and required fields that are absent
// or null. A null value keeps the field's default.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field) {
	if n.Kind != yaml.MappingNode {
		d.errorf(path, "want a map, got %s", describe(n))
		return
	}
	seen := make(map[string]int) // key -> line of first occurrence
	given := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorAt(d.where(k, v), path, "want a key, got %s", describe(k))
			continue
		}
		p := join(path, k.Value)
		d.locs[p] = d.where(k, v)
		if first, dup := seen[k.Value]; dup {
			d.errorf(p, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		j := slices.IndexFunc(fields, func(f field) bool { return f.key == k.Value })
		if j < 0 && len(fields) == 0 {
			d.errorf(p, "unknown key (none allowed here)")
			continue
		}
		if j < 0 {
			d.errorf(p, "unknown key (known: %s)", keys(fields))
			continue
		}
		if isNull(v) {
			continue
		}
		given[k.Value] = true
		fields[j].dec(v, p)
	}
	for _, f := range fields {
		if f.req && !given[f.key] {
			d.errorf(join(path, f.key), "required")
		}
	}
}

// keys returns the sorted keys of fields, comma separated.
func keys(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.key
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// list calls item for each element of the YAML list n with its index and
// path. The caller has checked that n is a list.
func (d *decoder) list(n *yaml.Node, path string, item func(i int, n *yaml.Node, path string)) {
	for i, c := range n.Content {
		p := join(path, strconv.Itoa(i))
		d.locs[p] = d.where(nil, c)
		item(i, c, p)
	}
}

// section returns a decodeFunc that decodes a map with fields.
func (d *decoder) section(fields ...field) decodeFunc {
	return func(n *yaml.Node, path string) { d.mapping(n, path, fields) }
}

// config decodes the whole document into c, as its schema says.
func (d *decoder) config(root *yaml.Node, c *Config) {
	d.mapping(root, "", d.fields(c.schema()))
	for i, e := range c.Data.Extensions {
		c.Data.Extensions[i] = strings.ToLower(e)
	}
}

// layers decodes a model's list of layers.
func (d *decoder) layerList(n *yaml.Node, path string, ls *[]layers.Layer) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(path, "want a list of layers, got %s", describe(n))
		return
	}
	out := make([]layers.Layer, len(n.Content))
	d.list(n, path, func(i int, c *yaml.Node, p string) { d.layer(c, p, &out[i]) })
	*ls = out
}

// layer decodes a map with one key naming the layer type, whose value is a
// map of that layer's settings (or null, for all defaults). The kind's
// Fields say which keys it takes; their Go types, which leaf type.
func (d *decoder) layer(n *yaml.Node, path string, l *layers.Layer) {
	kinds := strings.Join(layers.StackKinds(), ", ")
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		d.errorf(path, "want a map with one key naming the layer type (%s), got %s", kinds, describe(n))
		return
	}
	if len(n.Content) > 2 {
		names := make([]string, 0, len(n.Content)/2)
		for i := 0; i < len(n.Content); i += 2 {
			names = append(names, n.Content[i].Value)
		}
		d.errorAt(d.where(n.Content[2], n.Content[3]), path,
			"a layer has exactly one key naming its type, got %s", strings.Join(names, ", "))
		return
	}
	k, v := n.Content[0], n.Content[1]
	p := join(path, k.Value)
	d.locs[p] = d.where(k, v)
	layer, ok := layers.New(k.Value)
	if _, join := layer.(layers.Joiner); !ok || join { // joins exist only in a backbone's graph
		d.errorf(p, "unknown layer type (known: %s)", kinds)
		return
	}
	*l = layer
	if isNull(v) {
		v = &yaml.Node{Kind: yaml.MappingNode, Line: k.Line}
	}
	given := map[string]bool{}
	var fields []field
	for _, f := range layer.Fields() {
		val, err := fieldValue(layer, f)
		if err != nil {
			d.errorf(p, "%v", err)
			return
		}
		fields = append(fields, field{f.Key, f.Required, func(n *yaml.Node, path string) {
			given[f.Key] = true
			val.decode(d, n, path)
		}})
	}
	d.mapping(v, p, fields)
	if c, ok := layer.(layers.Completer); ok {
		c.Complete(func(key string) bool { return given[key] })
	}
}

// override applies the i-th override, "path.to.key=value", to the tree
// under root, marking every node it adds so that errors name it.
func (d *decoder) override(root *yaml.Node, i int, s string) {
	set := loc{set: i + 1}
	key, text, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		d.errorAt(set, "", "want path.to.key=value")
		return
	}
	segs := strings.Split(key, ".")
	if slices.Contains(segs, "") {
		d.errorAt(set, key, "empty key in path")
		return
	}
	val, err := parseValue(text)
	if err != nil {
		d.errorAt(set, key, "bad value: %v", err)
		return
	}
	d.mark(val, i+1)

	n := root
	for j, seg := range segs {
		path := strings.Join(segs[:j+1], ".")
		last := j == len(segs)-1
		switch n.Kind {
		case yaml.SequenceNode:
			parent := strings.Join(segs[:j], ".")
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 {
				d.errorAt(set, parent, "is a list; want an item number, got %q", seg)
				return
			}
			if idx >= len(n.Content) {
				d.errorAt(set, path, "no such item; %s has %d", parent, len(n.Content))
				return
			}
			if last {
				n.Content[idx] = val
				return
			}
			if isNull(n.Content[idx]) {
				n.Content[idx] = d.newMap(i)
			}
			n = n.Content[idx]
		case yaml.MappingNode:
			k := -1
			for c := 0; c+1 < len(n.Content); c += 2 {
				if n.Content[c].Kind == yaml.ScalarNode && n.Content[c].Value == seg {
					k = c
					break
				}
			}
			if k < 0 {
				kn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}
				d.from[kn] = i + 1
				n.Content = append(n.Content, kn, nil)
				k = len(n.Content) - 2
				if !last {
					n.Content[k+1] = d.newMap(i)
				}
			}
			if last {
				n.Content[k+1] = val
				return
			}
			if isNull(n.Content[k+1]) {
				n.Content[k+1] = d.newMap(i)
			}
			n = n.Content[k+1]
		default:
			parent := strings.Join(segs[:j], ".")
			d.errorAt(set, parent, "is %s, not a map or list, so it has no key %q", describe(n), seg)
			return
		}
	}
}

// newMap returns an empty map made by the i-th override.
func (d *decoder) newMap(i int) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	d.from[n] = i + 1
	return n
}

// mark records that n and everything under it came from override set.
func (d *decoder) mark(n *yaml.Node, set int) {
	d.from[n] = set
	for _, c := range n.Content {
		d.mark(c, set)
	}
}

// parseValue parses the value of an override as YAML. An empty value is the
// empty string.
func parseValue(text string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}, nil
	}
	n := doc.Content[0]
	budget := maxNodes
	if err := expand(n, &budget); err != nil {
		return nil, err
	}
	return n, nil
}

// expand replaces every alias under n by a copy of its anchored node, so
// that an override changes only the place it names. budget counts the
// nodes left before the tree is deemed too large.
func expand(n *yaml.Node, budget *int) error {
	for i, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			c = clone(c.Alias)
			n.Content[i] = c
		}
		if *budget--; *budget < 0 {
			return errors.New("too many YAML nodes after expanding aliases")
		}
		if err := expand(c, budget); err != nil {
			return err
		}
	}
	return nil
}

// clone returns a deep copy of n, leaving aliases in it for expand.
func clone(n *yaml.Node) *yaml.Node {
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = clone(x)
	}
	return &c
}
