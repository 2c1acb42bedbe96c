package config

import (
	"fmt"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/layers"
)

// layerDoc lists every layer kind with its keys, what they take and their
// defaults, from the kinds' own Fields: the text doc.go shows under "Layer
// types and their keys" (a test keeps the two equal).
func layerDoc() string {
	var b strings.Builder
	for _, k := range layers.Kinds() {
		l, _ := layers.New(k)
		var keys []string
		for _, f := range l.Fields() {
			var notes []string
			if f.Required {
				notes = append(notes, "required")
			}
			if f.Doc != "" {
				notes = append(notes, f.Doc)
			}
			if f.OneOf != nil {
				notes = append(notes, strings.Join(f.OneOf, ", "))
			}
			if !f.Required && !strings.HasPrefix(f.Doc, "default") {
				notes = append(notes, "default "+defaultText(f.Value))
			}
			keys = append(keys, fmt.Sprintf("%s (%s)", f.Key, strings.Join(notes, "; ")))
		}
		desc := strings.Join(keys, ", ")
		if len(keys) == 0 {
			desc = fmt.Sprintf(`no keys; write "- %s: {}" or "- %s:"`, k, k)
		}
		fmt.Fprintf(&b, "%s: %s\n", k, desc)
	}
	return b.String()
}

// defaultText writes a default as a user would: a square pair as one
// integer, anything else as YAML.
func defaultText(p any) string {
	if v, ok := p.(*[2]int); ok && v[0] == v[1] {
		return fmt.Sprint(v[0])
	}
	return valueNode(p).Value
}
