package docs

import (
	"bytes"
	"flag"
	"fmt"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from pipeline/config/doc.go")

const (
	configDoc  = "../pipeline/config/doc.go"
	configPage = "configuration.md"
	// regenerate is the command that writes configPage.
	regenerate = "go test ./docs -run TestConfigurationPage -update"
)

// TestConfigurationPage keeps docs/configuration.md equal to the
// documentation of package config, whose schema listing and layer list are
// generated from the schema and the layer kinds (config's own tests keep
// doc.go current). With -update it writes the page instead.
func TestConfigurationPage(t *testing.T) {
	want, err := configurationPage(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := fsutil.WriteFile(configPage, want); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(configPage)
	if err != nil {
		t.Fatalf("%v: write it with %s", err, regenerate)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/%s differs from what pipeline/config/doc.go documents (first difference at line %d): regenerate it with\n\t%s\n(or make docs) and commit it", configPage, firstDiff(got, want), regenerate)
	}
}

// configurationPage renders the package comment of the Go file docGo as
// the Markdown page docs/configuration.md: paragraphs and headings as
// go/doc/comment prints them, code blocks fenced.
func configurationPage(docGo string) ([]byte, error) {
	f, err := parser.ParseFile(token.NewFileSet(), docGo, nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		return nil, fmt.Errorf("read the config documentation: %w", err)
	}
	if f.Doc == nil {
		return nil, fmt.Errorf("%s has no package comment to render", docGo)
	}
	var p comment.Parser
	d := p.Parse(f.Doc.Text())
	pr := comment.Printer{HeadingLevel: 2, HeadingID: func(*comment.Heading) string { return "" }}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!-- Generated from %s by `%s` (make docs). Do not edit: edit the package comment, or the schema it lists. -->\n\n",
		filepath.ToSlash(strings.TrimPrefix(docGo, "../")), regenerate)
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Every key of an experiment's YAML file, its default and what it means, with the rules a config must follow and how errors are reported. " +
		"This is the documentation of package `config` ([pipeline/config/doc.go](../pipeline/config/doc.go)); " +
		"its schema listing and layer list are generated from the schema itself. " +
		"How to write and run a config, and what a run writes: [runs.md](runs.md).\n\n")
	for _, blk := range d.Content {
		if c, ok := blk.(*comment.Code); ok {
			fmt.Fprintf(&b, "```\n%s```\n\n", c.Text)
			continue
		}
		b.Write(pr.Markdown(&comment.Doc{Content: []comment.Block{blk}, Links: d.Links}))
		b.WriteString("\n")
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n'), nil
}

// firstDiff returns the first line (from 1) where a and b differ.
func firstDiff(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
