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
	for _, k := range layers.StackKinds() {
		l, _ := layers.New(k)
		fmt.Fprintf(&b, "%s: %s\n", k, layerKeys(l))
	}
	return b.String()
}

// layerKeys describes the keys of l's kind.
func layerKeys(l layers.Layer) string {
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
			notes = append(notes, "default "+defaultText(l, f))
		}
		keys = append(keys, fmt.Sprintf("%s (%s)", f.Key, strings.Join(notes, "; ")))
	}
	if len(keys) == 0 {
		return fmt.Sprintf(`no keys; write "- %s: {}" or "- %s:"`, l.Kind(), l.Kind())
	}
	return strings.Join(keys, ", ")
}

// Reference returns the configuration reference in Markdown, generated
// from the schema and the layer kinds (the same text doc.go shows): every
// key with its default and meaning, then every layer kind with its Keras
// class and keys. docs/configuration.md is this text, so that the page
// cannot drift from what the decoder accepts.
func Reference() string {
	var b strings.Builder
	b.WriteString("## Keys\n\n")
	b.WriteString("Every key with its default (an example for keys marked required, which have none) and what it means. " +
		"A key left out, or null, keeps its default; `-set path.to.key=value` overrides one from the command line.\n\n")
	b.WriteString("```yaml\n" + schemaDoc() + "```\n\n")
	b.WriteString("## Layer types\n\n")
	b.WriteString("Each item of a model's `layers` has one key naming its type, whose value maps the type's keys " +
		"(Keras' argument names) to values. kernel_size, strides and pool_size take an integer n, meaning [n, n], or [height, width].\n\n")
	b.WriteString("| type | Keras class | keys |\n|---|---|---|\n")
	for _, k := range layers.StackKinds() {
		l, _ := layers.New(k)
		fmt.Fprintf(&b, "| `%s` | `keras.layers.%s` | %s |\n", k, l.KerasClass(), strings.ReplaceAll(layerKeys(l), "|", `\|`))
	}
	return b.String()
}

// defaultText writes a setting's default as a user would (its leaf type's
// doc text: a square pair as one integer).
func defaultText(l layers.Layer, f layers.Field) string {
	v, err := fieldValue(l, f)
	if err != nil {
		return err.Error()
	}
	return v.docText()
}
