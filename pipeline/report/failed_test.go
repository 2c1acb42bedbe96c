package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// report marks a model whose training failed (diverged) as failed, and
// shows "—" for a number that is not there (no test metrics, or a ratio
// hand-edited to null), never 0.00%.
func TestCompareMarksFailures(t *testing.T) {
	parent := t.TempDir()
	failed := filepath.Join(parent, "failed")
	fsutil.WriteFile(filepath.Join(failed, rundir.ConfigFile), []byte(configA))
	r := sampleRun(t)
	r.Models[1].Test = nil
	r.Models[1].Failed = "training diverged: the loss is NaN at epoch 1, batch 3"
	if err := Write(failed, r); err != nil {
		t.Fatal(err)
	}
	edited := makeRun(t, parent, "edited", configB)
	path := filepath.Join(edited, rundir.MetricsFile)
	b, _ := os.ReadFile(path)
	before, after, ok := strings.Cut(string(b), `"test": {`) // the first model's test metrics
	if !ok || !strings.Contains(after, `"accuracy": 0.75`) {
		t.Fatalf("metrics.json has no test accuracy 0.75 to edit:\n%s", b)
	}
	os.WriteFile(path, []byte(before+`"test": {`+strings.Replace(after, `"accuracy": 0.75`, `"accuracy": null`, 1)), 0o644)

	tab, err := Compare([]string{failed, edited})
	if err != nil {
		t.Fatal(err)
	}
	md := tab.Markdown()
	rows := strings.Split(strings.TrimSpace(md), "\n")[2:]
	if len(rows) != 4 {
		t.Fatalf("%d rows:\n%s", len(rows), md)
	}
	for _, row := range rows {
		if strings.Contains(row, "| 0.00% |") {
			t.Errorf("a missing number shows as 0.00%%: %s", row)
		}
	}
	if r := rows[1]; !strings.Contains(r, "| rnd |") || !strings.Contains(r, "| failed |") || strings.Count(r, " — |") != 5 {
		t.Errorf("the diverged model's row is not marked failed with — for its numbers:\n%s", r)
	}
	if r := rows[2]; !strings.Contains(r, "| vgg |") || !strings.Contains(r, "| — |") || !strings.Contains(r, "| finished |") {
		t.Errorf("a null accuracy does not show as —:\n%s", r)
	}
}

// Class names are text in results.md: Markdown in them is escaped, not
// rendered; names whose underscores are inside words stay as they are.
func TestMarkdownEscapesClassNames(t *testing.T) {
	r := sampleRun(t)
	r.Dataset.Classes = []string{"*bold*", "t-shirt_top", "_x_", "a`b", "[link](http://x)", "<b>"}
	md := string(Markdown(r))
	want := `Classes: \*bold\*, t-shirt_top, \_x\_, a\` + "`" + `b, \[link\](http://x), \<b\>.`
	if !strings.Contains(md, want) {
		t.Errorf("results.md does not escape the class names; want %s in\n%s", want, md)
	}
}
