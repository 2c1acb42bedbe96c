package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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
	path string // dotted key path; "" for the whole document
	msg  string
}

func (e *posError) Error() string {
	where := fmt.Sprintf("%s:%d", e.file, e.line)
	if e.set > 0 {
		where = "-set " + e.over
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
	sets []string           // the overrides as given
	from map[*yaml.Node]int // nodes made by an override, as 1 + its index
	locs map[string]loc     // where each path seen sits
	errs []*posError
}

// errorAt records an error at l.
func (d *decoder) errorAt(l loc, path, format string, args ...any) {
	e := &posError{file: d.file, line: l.line, set: l.set, path: path, msg: fmt.Sprintf(format, args...)}
	if l.set > 0 {
		e.over = d.sets[l.set-1]
	}
	d.errs = append(d.errs, e)
}

// errorf records an error at path, located where path (or, if it was
// never seen, its nearest parent) sits.
func (d *decoder) errorf(path, format string, args ...any) {
	d.errorAt(d.at(path), path, format, args...)
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

// str decodes any scalar, as written, into p.
func (d *decoder) str(p *string) decodeFunc {
	return func(n *yaml.Node, path string) {
		if n.Kind != yaml.ScalarNode || isNull(n) {
			d.errorf(path, "want a string, got %s", describe(n))
			return
		}
		*p = n.Value
	}
}

// strs decodes a list of scalars into p; the list may be empty.
func (d *decoder) strs(p *[]string) decodeFunc {
	return func(n *yaml.Node, path string) {
		if n.Kind != yaml.SequenceNode {
			d.errorf(path, "want a list of strings, got %s", describe(n))
			return
		}
		s := make([]string, len(n.Content))
		d.list(n, path, func(i int, c *yaml.Node, p string) { d.str(&s[i])(c, p) })
		*p = s
	}
}

// integer decodes a YAML integer into p.
func (d *decoder) integer(p *int) decodeFunc {
	return func(n *yaml.Node, path string) {
		var v int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
			d.errorf(path, "want an integer, got %s", describe(n))
			return
		}
		*p = v
	}
}

// int64 decodes a YAML integer into p.
func (d *decoder) int64(p *int64) decodeFunc {
	return func(n *yaml.Node, path string) {
		var v int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
			d.errorf(path, "want an integer, got %s", describe(n))
			return
		}
		*p = v
	}
}

// float decodes a YAML number, integer or not, into p.
func (d *decoder) float(p *float64) decodeFunc {
	return func(n *yaml.Node, path string) {
		var v float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&v) != nil {
			d.errorf(path, "want a number, got %s", describe(n))
			return
		}
		*p = v
	}
}

// boolean decodes true or false into p.
func (d *decoder) boolean(p *bool) decodeFunc {
	return func(n *yaml.Node, path string) {
		var v bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
			d.errorf(path, "want true or false, got %s", describe(n))
			return
		}
		*p = v
	}
}

// pair decodes [height, width] into p; if square is true, an integer n
// also does, meaning [n, n].
func (d *decoder) pair(p *[2]int, square bool) decodeFunc {
	return func(n *yaml.Node, path string) {
		want := "[height, width]"
		if square {
			want = "an integer or [height, width]"
		}
		var v [2]int
		switch {
		case square && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int":
			var x int
			if n.Decode(&x) != nil {
				d.errorf(path, "want %s, got %s", want, describe(n))
				return
			}
			v = [2]int{x, x}
		case n.Kind == yaml.SequenceNode && len(n.Content) == 2:
			before := len(d.errs)
			d.list(n, path, func(i int, c *yaml.Node, p string) { d.integer(&v[i])(c, p) })
			if len(d.errs) > before {
				return
			}
		case n.Kind == yaml.SequenceNode:
			d.errorf(path, "want %s, got a list of %d", want, len(n.Content))
			return
		default:
			d.errorf(path, "want %s, got %s", want, describe(n))
			return
		}
		*p = v
	}
}

// units decodes a dense layer's units: a positive integer or "classes".
func (d *decoder) units(p *int) decodeFunc {
	return func(n *yaml.Node, path string) {
		var v int
		switch {
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Value == "classes":
			*p = Classes
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && n.Decode(&v) == nil && v > 0:
			*p = v
		default:
			d.errorf(path, `want a positive integer or "classes", got %s`, describe(n))
		}
	}
}

// section returns a decodeFunc that decodes a map with fields.
func (d *decoder) section(fields ...field) decodeFunc {
	return func(n *yaml.Node, path string) { d.mapping(n, path, fields) }
}

// config decodes the whole document into c.
func (d *decoder) config(root *yaml.Node, c *Config) {
	dt, im, tr := &c.Data, &c.Images, &c.Train
	d.mapping(root, "", []field{
		{"name", true, d.str(&c.Name)},
		{"seed", false, d.int64(&c.Seed)},
		{"runs_dir", false, d.str(&c.RunsDir)},
		{"data", true, d.section(
			field{"dir", true, d.str(&dt.Dir)},
			field{"download", false, d.str(&dt.Download)},
			field{"exclude", false, d.strs(&dt.Exclude)},
			field{"extensions", false, d.strs(&dt.Extensions)},
			field{"split", false, d.section(
				field{"train", true, d.float(&dt.Split.Train)},
				field{"val", true, d.float(&dt.Split.Val)},
				field{"test", true, d.float(&dt.Split.Test)},
			)},
			field{"stratify", false, d.boolean(&dt.Stratify)},
			field{"max_per_class", false, d.integer(&dt.MaxPerClass)},
			field{"on_bad_image", false, d.str(&dt.OnBadImage)},
		)},
		{"images", false, d.section(
			field{"size", false, d.pair(&im.Size, false)},
			field{"resize", false, d.str(&im.Resize)},
			field{"preprocess", false, d.str(&im.Preprocess)},
			field{"divide_by_255", false, d.boolean(&im.DivideBy255)},
			field{"workers", false, d.integer(&im.Workers)},
		)},
		{"features", false, d.section(
			field{"cache_dir", false, d.str(&c.Features.CacheDir)},
			field{"batch_size", false, d.integer(&c.Features.BatchSize)},
		)},
		{"train", false, d.section(
			field{"optimizer", false, func(n *yaml.Node, p string) { d.optimizer(n, p, &tr.Optimizer) }},
			field{"loss", false, d.str(&tr.Loss)},
			field{"batch_size", false, d.integer(&tr.BatchSize)},
			field{"epochs", false, d.integer(&tr.Epochs)},
			field{"shuffle", false, d.boolean(&tr.Shuffle)},
			field{"early_stopping", false, func(n *yaml.Node, p string) {
				es := defaultEarlyStopping()
				d.mapping(n, p, []field{
					{"monitor", false, d.str(&es.Monitor)},
					{"patience", false, d.integer(&es.Patience)},
					{"min_delta", false, d.float(&es.MinDelta)},
					{"restore_best_weights", false, d.boolean(&es.RestoreBestWeights)},
				})
				tr.EarlyStopping = es
			}},
		)},
		{"evaluate", false, d.section(field{"top_k", false, d.integer(&c.Evaluate.TopK)})},
		{"predict", false, d.section(field{"top_k", false, d.integer(&c.Predict.TopK)})},
		{"export", false, d.section(field{"savedmodel", false, d.boolean(&c.Export.SavedModel)})},
		{"models", true, func(n *yaml.Node, p string) { d.models(n, p, &c.Models) }},
	})
	for i, e := range dt.Extensions {
		dt.Extensions[i] = strings.ToLower(e)
	}
}

// optimizer decodes a map with one key naming the optimizer.
func (d *decoder) optimizer(n *yaml.Node, path string, o *Optimizer) {
	known := strings.Join(optimizerNames, ", ")
	if n.Kind != yaml.MappingNode {
		d.errorf(path, "want a map with one key naming the optimizer (%s), got %s", known, describe(n))
		return
	}
	if len(n.Content) != 2 {
		d.errorf(path, "want exactly one key naming the optimizer (%s), got %d", known, len(n.Content)/2)
		return
	}
	k, v := n.Content[0], n.Content[1]
	p := join(path, k.Value)
	d.locs[p] = d.where(k, v)
	if k.Value != "adam" {
		d.errorf(p, "unknown optimizer (known: %s)", known)
		return
	}
	a := defaultAdam()
	if !isNull(v) {
		d.mapping(v, p, []field{
			{"learning_rate", false, d.float(&a.LearningRate)},
			{"beta_1", false, d.float(&a.Beta1)},
			{"beta_2", false, d.float(&a.Beta2)},
			{"epsilon", false, d.float(&a.Epsilon)},
		})
	}
	*o = Optimizer{Adam: a}
}

// models decodes the list of models.
func (d *decoder) models(n *yaml.Node, path string, ms *[]Model) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(path, "want a list of models, got %s", describe(n))
		return
	}
	out := make([]Model, len(n.Content))
	d.list(n, path, func(i int, c *yaml.Node, p string) {
		m := &out[i]
		d.mapping(c, p, []field{
			{"name", true, d.str(&m.Name)},
			{"backbone", false, func(n *yaml.Node, p string) {
				b := &Backbone{}
				d.mapping(n, p, []field{
					{"savedmodel", true, d.str(&b.SavedModel)},
					{"endpoint", true, d.str(&b.Endpoint)},
				})
				m.Backbone = b
			}},
			{"image_size", false, d.pair(&m.ImageSize, false)},
			{"layers", true, func(n *yaml.Node, p string) { d.layers(n, p, &m.Layers) }},
		})
	})
	*ms = out
}

// layers decodes a model's list of layers.
func (d *decoder) layers(n *yaml.Node, path string, ls *[]Layer) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(path, "want a list of layers, got %s", describe(n))
		return
	}
	out := make([]Layer, len(n.Content))
	d.list(n, path, func(i int, c *yaml.Node, p string) { d.layer(c, p, &out[i]) })
	*ls = out
}

// layer decodes a map with one key naming the layer type, whose value is a
// map of that layer's settings (or null, for all defaults).
func (d *decoder) layer(n *yaml.Node, path string, l *Layer) {
	kinds := strings.Join(layerKinds, ", ")
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
	def, ok := defaultLayer(k.Value)
	if !ok {
		d.errorf(p, "unknown layer type (known: %s)", kinds)
		return
	}
	*l = def
	if isNull(v) {
		v = &yaml.Node{Kind: yaml.MappingNode, Line: k.Line}
	}
	stridesGiven := false
	strides := d.pair(&l.Strides, true)
	var fields []field
	switch l.Kind {
	case KindDense:
		fields = []field{
			{"units", true, d.units(&l.Units)},
			{"activation", false, d.str(&l.Activation)},
			{"use_bias", false, d.boolean(&l.UseBias)},
		}
	case KindDropout:
		fields = []field{{"rate", true, d.float(&l.Rate)}}
	case KindConv2D:
		fields = []field{
			{"filters", true, d.integer(&l.Filters)},
			{"kernel_size", true, d.pair(&l.KernelSize, true)},
			{"strides", false, strides},
			{"padding", false, d.str(&l.Padding)},
			{"activation", false, d.str(&l.Activation)},
		}
	case KindMaxPool:
		fields = []field{
			{"pool_size", false, d.pair(&l.PoolSize, true)},
			{"strides", false, func(n *yaml.Node, p string) { stridesGiven = true; strides(n, p) }},
			{"padding", false, d.str(&l.Padding)},
		}
	}
	d.mapping(v, p, fields)
	if l.Kind == KindMaxPool && !stridesGiven {
		l.Strides = l.PoolSize
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
