package experiment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// hugePNG writes a PNG whose header claims 30000×30000 pixels, over the
// decoder's limit (the rest of the file is missing: the limit is checked
// from the header).
func hugePNG(t *testing.T, path string) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 30000)
	binary.BigEndian.PutUint32(ihdr[4:], 30000)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOneSkipPolicy (issue 8, item 5): with on_bad_image: skip, an image
// over the pixel limit and one that does not decode are skipped for the
// transfer model and the scratch model alike, and the report gives each
// skipped file with its reason.
func TestOneSkipPolicy(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	huge := filepath.Join(root, "data", "class_1", "huge.png")
	hugePNG(t, huge)
	broken := filepath.Join(root, "data", "class_2", "broken.jpg")
	os.WriteFile(broken, []byte("not a jpeg"), 0o644)
	dir, log, err := run(t, testConfig(t, root, "data.on_bad_image=skip"))
	if err != nil {
		t.Fatalf("skip mode stopped: %v\n%s", err, log)
	}
	r, err := report.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range r.Dataset.Skipped {
		got[s.Path] = s.Reason
	}
	if len(got) != 2 || !strings.Contains(got[huge], "pixels") || !strings.Contains(got[broken], "not a decodable image") {
		t.Errorf("skipped %+v; want %s (too many pixels) and %s (not an image)", r.Dataset.Skipped, huge, broken)
	}
	md, _ := os.ReadFile(filepath.Join(dir, rundir.ResultsFile))
	for _, want := range []string{"huge.png", "pixels", "broken.jpg", "not a decodable image"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md does not say %q", want)
		}
	}
}

// TestCountsMatchWhatWasTrained (issue 8, item 6): five identical
// zero-byte files make a class with no usable image, which is an error
// naming the class; bad files in a class that keeps images are each
// reported, and the counts in metrics.json are the examples used.
func TestCountsMatchWhatWasTrained(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	zeros := filepath.Join(root, "data", "zeros")
	os.Mkdir(zeros, 0o755)
	for i := range 5 {
		os.WriteFile(filepath.Join(zeros, strings.Repeat("z", i+1)+".jpg"), nil, 0o644)
	}
	_, log, err := run(t, testConfig(t, root, "data.on_bad_image=skip"))
	if err == nil || !strings.Contains(err.Error(), `"zeros"`) || !strings.Contains(err.Error(), "no usable") {
		t.Fatalf("a class of zero-byte files: error %v; want one naming class \"zeros\"\n%s", err, log)
	}
	os.RemoveAll(zeros)

	for i := range 3 {
		os.WriteFile(filepath.Join(root, "data", "class_0", strings.Repeat("e", i+1)+".jpg"), nil, 0o644)
	}
	res, log, err := runResult(t, testConfig(t, root, "data.on_bad_image=skip"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	r, err := report.Read(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dataset.Skipped) != 3 || len(res.Data.Skipped) != 3 || res.Data.Images != 30 {
		t.Errorf("skipped %v; want the 3 empty files", r.Dataset.Skipped)
	}
	if n := r.Dataset.Train + r.Dataset.Val + r.Dataset.Test; n != 30 {
		t.Errorf("metrics.json counts %d+%d+%d = %d images; 30 were used", r.Dataset.Train, r.Dataset.Val, r.Dataset.Test, n)
	}
	for _, m := range r.Models {
		if m.Test.N != r.Dataset.Test {
			t.Errorf("%s tested on %d images; the report says %d", m.Name, m.Test.N, r.Dataset.Test)
		}
	}
	// The second run: every one of the 30 images once in each cache,
	// none of the duplicate bad files.
	for _, m := range res.Models {
		if c := m.Cache; c.Cached+c.Recomputed+c.Computed != 30 {
			t.Errorf("%s: cache counts %+v: want 30 images in all", m.Name, c)
		}
	}
}

// TestAllBadFilesAtOnce (issue 8, item 7): in error mode every bad file of
// the dataset is named in the one error, before any model work.
func TestAllBadFilesAtOnce(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	var bad []string
	for i, c := range []string{"class_0", "class_1", "class_2"} {
		p := filepath.Join(root, "data", c, "bad"+string(rune('a'+i))+".png")
		os.WriteFile(p, []byte("garbage"), 0o644)
		bad = append(bad, p)
	}
	res, _, err := runResult(t, testConfig(t, root))
	if err == nil {
		t.Fatal("no error with three bad files")
	}
	for _, p := range bad {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error does not name %s:\n%v", p, err)
		}
	}
	if !strings.Contains(err.Error(), "3 of 33") {
		t.Errorf("error does not count the bad files: %v", err)
	}
	noModelWork(t, res)
}

// TestDivergenceStopsClearly (issue 8, item 3): a learning rate that makes
// training diverge ends the run with an error naming the model and the
// learning rate, after the other models; the run folder's report is
// readable, and a rerun stops the same way.
func TestDivergenceStopsClearly(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	for try := range 2 {
		res, log, err := runResult(t, testConfig(t, root, "train.optimizer.adam.learning_rate=1e20"))
		dir := res.Dir
		if err == nil {
			t.Fatalf("try %d: no error\n%s", try, log)
		}
		for _, want := range []string{"model top", "diverged", "learning rate 1e+20", "learning_rate"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("try %d: error %q does not say %q", try, err, want)
			}
		}
		r, rerr := report.Read(dir)
		if rerr != nil {
			t.Fatalf("try %d: the run folder's report cannot be read: %v", try, rerr)
		}
		md, _ := os.ReadFile(filepath.Join(dir, rundir.ResultsFile))
		if _, err := os.Stat(filepath.Join(dir, rundir.HistoryPlot)); err != nil && bytes.Contains(md, []byte(rundir.HistoryPlot)) {
			t.Errorf("try %d: results.md links %s, which was not drawn", try, rundir.HistoryPlot)
		}
		for i, m := range r.Models {
			if m.Test != nil && m.Failed == "" {
				continue
			}
			if m.Test != nil || !strings.Contains(m.Failed, "diverged") {
				t.Errorf("try %d: model %s: failed %q, test %+v", try, m.Name, m.Failed, m.Test)
			}
			// The end-of-run export skips it, saying why, and exports the rest.
			if _, err := os.Stat(filepath.Join(rundir.Model(dir, m.Name), rundir.SavedModelDir)); err == nil {
				t.Errorf("try %d: diverged model %s was exported", try, m.Name)
			}
			if why := res.Models[i].NotExported; !strings.Contains(why, "no usable trained weights") {
				t.Errorf("try %d: model %s was not exported because %q, want: no usable weights", try, m.Name, why)
			}
		}
	}
}

// TestBitsIndependentOfCacheHistory (issue 8, item 4): MobileNet's
// features move in the low bits with the batch they are computed in. Fill
// one cache in one go and another piece by piece (part of the data first,
// a run at another feature batch size, one entry deleted and recomputed):
// the metrics files of the same config are byte-identical.
func TestBitsIndependentOfCacheHistory(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 6, 2)
	// precision float32, not auto: the cache is deleted below, and with
	// it auto's remembered probe, which a new probe could decide otherwise.
	cfgFor := func(extra ...string) *config.Config {
		yaml := fmt.Sprintf(`
name: bits
seed: 1
runs_dir: %[1]s/runs
data: {dir: %[1]s/data, split: {train: 0.5, val: 0.25, test: 0.25}}
features: {cache_dir: %[1]s/cache, batch_size: 8, precision: float32}
train: {batch_size: 4, epochs: 3}
models:
  - name: top
    backbone: {savedmodel: %[2]s, endpoint: global_pool}
    layers: [{dense: {units: classes, activation: softmax}}]
`, root, testenv.SavedModel(t, "mobilenet"))
		cfg, err := config.Parse("bits.yaml", []byte(yaml), extra)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	files := []string{rundir.MetricsFile, rundir.ResultsFile, "models/top/history.csv", "models/top/confusion.csv", "models/top/per_class.csv"}
	read := func(dir string) map[string][]byte {
		out := map[string][]byte{}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			out[f] = b
		}
		return out
	}
	dir, log, err := run(t, cfgFor())
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	want := read(dir)

	// Another history: an empty cache filled by a partial run, then a run
	// at another feature batch size, then one entry lost.
	os.RemoveAll(filepath.Join(root, "cache"))
	os.RemoveAll(filepath.Join(root, "runs"))
	for _, extra := range [][]string{{"data.max_per_class=3"}, {"features.batch_size=5"}} {
		if _, log, err := run(t, cfgFor(extra...)); err != nil {
			t.Fatalf("%v: %v\n%s", extra, err, log)
		}
	}
	// Lose one entry of the cache the config reads (batch size 8).
	keys, _ := filepath.Glob(filepath.Join(root, "cache", "*", "key.json"))
	var entries []string
	for _, k := range keys {
		if b, _ := os.ReadFile(k); bytes.Contains(b, []byte(`"batch_size": 8`)) {
			entries, _ = filepath.Glob(filepath.Join(filepath.Dir(k), "*", "*.f32"))
		}
	}
	if len(entries) == 0 {
		t.Fatalf("no entries in a batch-8 cache among %v", keys)
	}
	os.Remove(entries[0])
	res2, log, err := runResult(t, cfgFor())
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	dir2 := res2.Dir
	if dir2 != dir {
		t.Fatalf("same config, other run folder: %s, %s", dir, dir2)
	}
	// 9 images cached by the partial run, one of them lost: 8 hits, the
	// rest computed in other batches than the first time.
	if c := res2.Models[0].Cache; c != (CacheCounts{Cached: 8, Computed: 10}) {
		t.Errorf("the last run did not mix cached and computed features as planned: %+v", c)
	}
	for f, b := range read(dir2) {
		if !bytes.Equal(b, want[f]) {
			t.Errorf("%s differs with another cache history", f)
		}
	}
}

// TestBackboneCheckedBeforeTraining (issue 8, item 10): a SavedModel with
// no variables/ is found before any model trains, even when a scratch
// model comes first, with a message naming the folder and what to do.
func TestBackboneCheckedBeforeTraining(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	sm := filepath.Join(root, "tiny-novars")
	if err := os.CopyFS(sm, os.DirFS(testenv.SavedModel(t, "tiny"))); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(sm, "variables")); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("novars.yaml", []byte(fmt.Sprintf(`
name: novars
runs_dir: %[1]s/runs
data: {dir: %[1]s/data, split: {train: 0.6, val: 0.2, test: 0.2}}
features: {cache_dir: %[1]s/cache}
train: {batch_size: 8, epochs: 2}
models:
  - name: scratch
    image_size: [12, 12]
    layers: [{flatten: {}}, {dense: {units: classes, activation: softmax}}]
  - name: top
    backbone: {savedmodel: %[2]s, endpoint: fc2}
    layers: [{dense: {units: classes, activation: softmax}}]
`, root, sm)), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, log, err := runResult(t, cfg)
	if err == nil {
		t.Fatalf("a SavedModel without variables ran\n%s", log)
	}
	for _, want := range []string{"model top", sm, "variables", "export_backbone.py"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	noModelWork(t, res)
}
