package config

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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

// node builds the YAML tree Marshal writes.
func (c *Config) node() *yaml.Node {
	dt, im, tr := c.Data, c.Images, c.Train
	es := null()
	if e := tr.EarlyStopping; e != nil {
		es = mapNode([]kv{
			{"monitor", str(e.Monitor)},
			{"patience", integer(int64(e.Patience))},
			{"min_delta", float(e.MinDelta)},
			{"restore_best_weights", boolean(e.RestoreBestWeights)},
		})
	}
	opt := mapNode(nil)
	if a := tr.Optimizer.Adam; a != nil {
		opt = mapNode([]kv{
			{"adam", mapNode([]kv{
				{"learning_rate", float(a.LearningRate)},
				{"beta_1", float(a.Beta1)},
				{"beta_2", float(a.Beta2)},
				{"epsilon", float(a.Epsilon)},
			})},
		})
	}
	split := mapNode([]kv{
		{"train", float(dt.Split.Train)},
		{"val", float(dt.Split.Val)},
		{"test", float(dt.Split.Test)},
	})
	split.Style = yaml.FlowStyle
	models := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, m := range c.Models {
		models.Content = append(models.Content, modelNode(m))
	}
	top := []kv{
		{"name", str(c.Name)},
		{"seed", integer(c.Seed)},
		{"runs_dir", str(c.RunsDir)},
		{"data", mapNode([]kv{
			{"dir", str(dt.Dir)},
			{"download", str(dt.Download)},
			{"exclude", strList(dt.Exclude)},
			{"extensions", strList(dt.Extensions)},
			{"split", split},
			{"stratify", boolean(dt.Stratify)},
			{"max_per_class", integer(int64(dt.MaxPerClass))},
			{"on_bad_image", str(dt.OnBadImage)},
		})},
		{"images", mapNode([]kv{
			{"size", pair(im.Size)},
			{"resize", str(im.Resize)},
			{"preprocess", str(im.Preprocess)},
			{"divide_by_255", boolean(im.DivideBy255)},
			{"workers", integer(int64(im.Workers))},
		})},
		{"features", mapNode([]kv{
			{"cache_dir", str(c.Features.CacheDir)},
			{"batch_size", integer(int64(c.Features.BatchSize))},
		})},
		{"train", mapNode([]kv{
			{"optimizer", opt},
			{"loss", str(tr.Loss)},
			{"batch_size", integer(int64(tr.BatchSize))},
			{"epochs", integer(int64(tr.Epochs))},
			{"shuffle", boolean(tr.Shuffle)},
			{"early_stopping", es},
		})},
		{"evaluate", mapNode([]kv{{"top_k", integer(int64(c.Evaluate.TopK))}})},
		{"predict", mapNode([]kv{{"top_k", integer(int64(c.Predict.TopK))}})},
	}
	// export.savedmodel is written only when off: it changes what a run
	// writes, not what it computes, and leaving the default out keeps the
	// hashes (and folders) of runs made before the key existed.
	if !c.Export.SavedModel {
		top = append(top, kv{"export", mapNode([]kv{{"savedmodel", boolean(false)}})})
	}
	return mapNode(append(top, kv{"models", models}))
}

func modelNode(m Model) *yaml.Node {
	backbone, size := null(), null()
	if b := m.Backbone; b != nil {
		backbone = mapNode([]kv{{"savedmodel", str(b.SavedModel)}, {"endpoint", str(b.Endpoint)}})
	}
	if m.ImageSize != [2]int{} {
		size = pair(m.ImageSize)
	}
	layers := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, l := range m.Layers {
		layers.Content = append(layers.Content, mapNode([]kv{{l.Kind, layerNode(l)}}))
	}
	return mapNode([]kv{
		{"name", str(m.Name)},
		{"backbone", backbone},
		{"image_size", size},
		{"layers", layers},
	})
}

// layerNode returns the settings of l, the keys of its kind only.
func layerNode(l Layer) *yaml.Node {
	var n *yaml.Node
	switch l.Kind {
	case KindDense:
		units := integer(int64(l.Units))
		if l.Units == Classes {
			units = str("classes")
		}
		n = mapNode([]kv{{"units", units}, {"activation", str(l.Activation)}, {"use_bias", boolean(l.UseBias)}})
	case KindDropout:
		n = mapNode([]kv{{"rate", float(l.Rate)}})
	case KindConv2D:
		n = mapNode([]kv{
			{"filters", integer(int64(l.Filters))},
			{"kernel_size", pair(l.KernelSize)},
			{"strides", pair(l.Strides)},
			{"padding", str(l.Padding)},
			{"activation", str(l.Activation)},
		})
	case KindMaxPool:
		n = mapNode([]kv{{"pool_size", pair(l.PoolSize)}, {"strides", pair(l.Strides)}, {"padding", str(l.Padding)}})
	default: // flatten
		n = mapNode(nil)
	}
	n.Style = yaml.FlowStyle
	return n
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
