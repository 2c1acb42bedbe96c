package experiment

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
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
	md, _ := os.ReadFile(filepath.Join(dir, report.ResultsFile))
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
	dir, log, err := run(t, testConfig(t, root, "data.on_bad_image=skip"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	r, err := report.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dataset.Skipped) != 3 {
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
	if strings.Contains(log, "4 cached") || strings.Contains(log, "2 cached") {
		t.Errorf("log counts duplicate bad files as cached:\n%s", log)
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
	_, log, err := run(t, testConfig(t, root))
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
	if strings.Contains(log, "features") || strings.Contains(log, "pixels") {
		t.Errorf("model work ran before the check:\n%s", log)
	}
}
