// Package docs holds the project's documentation pages. It has no code:
// its tests keep every relative link and #anchor in the Markdown pages
// resolving, and docs/configuration.md equal to what the config package
// documents.
package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// pages are the Markdown files whose links are checked, relative to the
// repository root; docs/*.md is added to them.
var pages = []string{"README.md", "BENCHMARK.md"}

// TestLinksResolve fails on every relative link or image in README.md,
// BENCHMARK.md and docs/*.md whose file does not exist, and on every
// #anchor that names no heading of its Markdown page (GitHub's slugs).
func TestLinksResolve(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		files = append(files, filepath.Join("..", p))
	}
	var n int
	for _, f := range files {
		links, broken, err := checkFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += links
		for _, b := range broken {
			t.Error(b)
		}
	}
	t.Logf("%d relative links in %d pages", n, len(files))
}

// TestCheckerFindsBrokenLinks shows that the checker fails: a page with a
// missing file, a missing anchor in another page and in its own, beside
// links that resolve.
func TestCheckerFindsBrokenLinks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/other.md", "# Other\n\n## Handing the model over: one `SavedModel`\n\n## Notes\n\n## Notes\n")
	write("code.go", "package x\n")
	write("README.md", strings.Join([]string{
		"# Top",
		"[ok](docs/other.md#handing-the-model-over-one-savedmodel) [ok](docs/other.md#notes-1)",
		"[ok](#top) ![ok](code.go) [ok](docs/) [ok](https://example.com/missing.md)",
		"`[not a link](missing-in-code.md)`",
		"```",
		"[not a link](missing-in-fence.md)",
		"```",
		"[missing file](docs/nothere.md)",
		"[missing anchor](docs/other.md#notes-2) and [own",
		"anchor](#nope)",
		"[ref]: docs/gone.md",
	}, "\n"))
	links, broken, err := checkFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"README.md:8: docs/nothere.md: no such file",
		"README.md:9: docs/other.md#notes-2: no heading has that anchor",
		"README.md:9: #nope: no heading has that anchor",
		"README.md:11: docs/gone.md: no such file",
	}
	for i := range broken {
		broken[i] = strings.TrimPrefix(broken[i], dir+string(filepath.Separator))
	}
	if links != 9 || !slices.Equal(broken, want) {
		t.Errorf("checked %d links, broken:\n%s\nwant 9 links, broken:\n%s", links, strings.Join(broken, "\n"), strings.Join(want, "\n"))
	}
}

// TestSlug compares with anchors GitHub gives these headings.
func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Handing the model over: one SavedModel":            "handing-the-model-over-one-savedmodel",
		"Fine-tuning the backbone's upper layers":           "fine-tuning-the-backbones-upper-layers",
		"Running on a cluster: Slurm and Kubernetes":        "running-on-a-cluster-slurm-and-kubernetes",
		"The notebook's own protocol: VGG16 on Caltech-101": "the-notebooks-own-protocol-vgg16-on-caltech-101",
		"`make run`: the default experiment":                "make-run-the-default-experiment",
		"Precision: float32 vs bfloat16 (**Go**)":           "precision-float32-vs-bfloat16-go",
		"[Link](x.md) text and fine_tune × 2":               "link-text-and-fine_tune--2",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

var (
	fence   = regexp.MustCompile("(?m)^ {0,3}(```|~~~)[^\n]*\n(?s:.*?)^ {0,3}(```|~~~)[ \t]*$")
	code    = regexp.MustCompile("`[^`]*`")
	inline  = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refDef  = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	heading = regexp.MustCompile(`(?m)^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)
	scheme  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// linkText keeps a link's text: [text](target) → text.
	linkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// checkFile returns how many relative links path holds and a line for
// each that does not resolve: "file:line: target: why".
func checkFile(path string) (links int, broken []string, err error) {
	text, err := prose(path)
	if err != nil {
		return 0, nil, err
	}
	text = code.ReplaceAllStringFunc(text, blank)
	var matches [][]int
	matches = append(matches, inline.FindAllStringSubmatchIndex(text, -1)...)
	matches = append(matches, refDef.FindAllStringSubmatchIndex(text, -1)...)
	slices.SortFunc(matches, func(a, b []int) int { return a[0] - b[0] })
	for _, m := range matches {
		target := text[m[2]:m[3]]
		if scheme.MatchString(target) || strings.HasPrefix(target, "//") {
			continue // an absolute URL: not checked offline
		}
		links++
		if why := resolve(path, target); why != "" {
			line := 1 + strings.Count(text[:m[0]], "\n")
			broken = append(broken, fmt.Sprintf("%s:%d: %s: %s", path, line, target, why))
		}
	}
	return links, broken, nil
}

// resolve says why target, a link in page from, does not resolve, or "".
func resolve(from, target string) string {
	file, anchor, _ := strings.Cut(target, "#")
	dest := from
	if file != "" {
		dest = filepath.Join(filepath.Dir(from), filepath.FromSlash(file))
		if _, err := os.Stat(dest); err != nil {
			return "no such file"
		}
	}
	if anchor == "" || !strings.HasSuffix(dest, ".md") {
		return ""
	}
	ids, err := anchors(dest)
	if err != nil {
		return err.Error()
	}
	if !ids[anchor] {
		return "no heading has that anchor"
	}
	return ""
}

// anchors returns the anchors GitHub gives the headings of a Markdown
// page: the slug of each, "-1", "-2", ... appended to repeats.
func anchors(path string) (map[string]bool, error) {
	text, err := prose(path)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool)
	seen := make(map[string]int)
	for _, m := range heading.FindAllStringSubmatch(text, -1) {
		s := slug(m[1])
		id := s
		if n := seen[s]; n > 0 {
			id = fmt.Sprintf("%s-%d", s, n)
		}
		seen[s]++
		ids[id] = true
	}
	return ids, nil
}

// prose reads a Markdown page with its fenced code blocks blanked out
// (line breaks kept, so that offsets still give line numbers).
func prose(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return fence.ReplaceAllStringFunc(string(b), blank), nil
}

// blank replaces every character of s but line breaks with a space.
func blank(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' {
			return r
		}
		return ' '
	}, s)
}

// slug is the anchor GitHub makes of a heading's text: its rendered text
// (code spans' text kept, links' text kept, emphasis dropped) in lower
// case, every character but letters, marks, digits, "_", "-" and spaces
// removed, spaces turned into hyphens.
func slug(h string) string {
	h = linkText.ReplaceAllString(h, "$1")
	h = strings.NewReplacer("`", "", "*", "").Replace(h)
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
