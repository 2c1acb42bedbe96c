package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var notebookSplit = Split{Train: 0.7, Val: 0.15, Test: 0.15}

// writeFiles creates each named file (slash-separated, relative to dir)
// with its name as content, creating folders as needed.
func writeFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// makeClasses creates classes named c00, c01, ... with sizes[i] images each.
func makeClasses(t *testing.T, sizes ...int) string {
	t.Helper()
	dir := t.TempDir()
	for c, n := range sizes {
		for i := range n {
			writeFiles(t, dir, fmt.Sprintf("c%02d/img%03d.jpg", c, i))
		}
	}
	return dir
}

func TestScanFindsClassesAndImages(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir,
		"zebra/1.jpg", "zebra/2.JPG", "zebra/3.Jpeg", "zebra/4.png",
		"zebra/notes.txt", "zebra/._5.jpg", "zebra/deeper/6.jpg",
		"ant/b.jpg", "ant/a.jpg", "ant/c.jpg",
		"Motorbikes/m.jpg",
		".hidden/h.jpg",
		"top.jpg",
	)
	ds, err := Scan(Options{
		Dir:     dir,
		Exclude: []string{"Motorbikes", "Faces"},
		Split:   Split{Train: 0.5, Val: 0, Test: 0.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ant", "zebra"}; !slices.Equal(ds.Classes, want) {
		t.Errorf("Classes = %q, want %q", ds.Classes, want)
	}
	if ds.Loose != 1 {
		t.Errorf("Loose = %d, want 1 (top.jpg)", ds.Loose)
	}
	if want := []string{"Faces"}; !slices.Equal(ds.Missing, want) {
		t.Errorf("Missing = %q, want %q", ds.Missing, want)
	}
	if ds.NumClasses() != 2 {
		t.Errorf("NumClasses = %d, want 2", ds.NumClasses())
	}
	var got []string
	for _, e := range ds.Examples {
		if ds.Classes[e.Label] != e.Class {
			t.Errorf("%s: label %d but class %q", e.Path, e.Label, e.Class)
		}
		if filepath.Dir(e.Path) != filepath.Join(dir, e.Class) {
			t.Errorf("path %s is not in %s", e.Path, filepath.Join(dir, e.Class))
		}
		got = append(got, e.Class+"/"+filepath.Base(e.Path))
	}
	slices.Sort(got)
	want := []string{"ant/a.jpg", "ant/b.jpg", "ant/c.jpg", "zebra/1.jpg", "zebra/2.JPG", "zebra/3.Jpeg", "zebra/4.png"}
	if !slices.Equal(got, want) {
		t.Errorf("examples = %q, want %q", got, want)
	}
	counts := ds.Counts()
	if n := counts[Train][0] + counts[Val][0] + counts[Test][0]; n != 3 {
		t.Errorf("ant count = %d, want 3", n)
	}
	if n := counts[Train][1] + counts[Val][1] + counts[Test][1]; n != 4 {
		t.Errorf("zebra count = %d, want 4", n)
	}
}

func TestScanExtensions(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, "a/1.bmp", "a/2.BMP", "a/3.jpg", "a/4.bmp", "b/1.Bmp", "b/2.bmp", "b/3.bmp", "b/4.heic")
	ds, err := Scan(Options{Dir: dir, Extensions: []string{"bmp"}, Split: Split{Train: 0.5, Test: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Examples) != 6 {
		t.Errorf("got %d examples, want the 6 .bmp files", len(ds.Examples))
	}
	if want := map[string]int{".jpg": 1, ".heic": 1}; !reflect.DeepEqual(ds.Ignored, want) {
		t.Errorf("Ignored = %v, want %v", ds.Ignored, want)
	}
}

func TestScanErrors(t *testing.T) {
	good := makeClasses(t, 4, 4)
	file := filepath.Join(good, "c00", "img000.jpg")
	emptyClass := makeClasses(t, 4, 4)
	writeFiles(t, emptyClass, "c02/readme.txt")
	oneClass := makeClasses(t, 5)

	tests := []struct {
		name  string
		opts  Options
		wants []string // substrings of the error
	}{
		{"missing dir", Options{Dir: filepath.Join(good, "nope"), Split: notebookSplit},
			[]string{"nope", "create it or set data.dir"}},
		{"no dir", Options{Split: notebookSplit}, []string{"data.dir"}},
		{"not a dir", Options{Dir: file, Split: notebookSplit}, []string{file, "not a folder"}},
		{"class without images", Options{Dir: emptyClass, Split: notebookSplit},
			[]string{filepath.Join(emptyClass, "c02"), "no images", ".jpg .jpeg .png"}},
		{"one class", Options{Dir: oneClass, Split: notebookSplit}, []string{"at least 2"}},
		{"negative", Options{Dir: good, Split: Split{1.2, -0.2, 0}}, []string{"negative"}},
		{"sum", Options{Dir: good, Split: Split{0.7, 0.2, 0.2}}, []string{"sums to"}},
		{"no train", Options{Dir: good, Split: Split{0, 0.5, 0.5}}, []string{"no train or no test"}},
		{"no test", Options{Dir: good, Split: Split{0.5, 0.5, 0}}, []string{"no train or no test"}},
		{"max per class", Options{Dir: good, Split: notebookSplit, MaxPerClass: -1}, []string{"max per class"}},
		{"too few", Options{Dir: makeClasses(t, 3, 3), Split: Split{0.1, 0, 0.9}}, []string{"train split is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Scan(tt.opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSplitSizesFollowNotebook(t *testing.T) {
	tests := []struct{ n, train, val, test int }{
		{6209, 4346, 931, 932}, // Caltech-101 without the 5 excluded classes
		{13, 9, 2, 2},          // int(0.15*13) would give 1 and leave 3 to test
		{10, 7, 1, 2},
		{1, 0, 0, 1},
		{0, 0, 0, 0},
	}
	for _, tt := range tests {
		train, val := splitSizes(tt.n, notebookSplit)
		if train != tt.train || val != tt.val || tt.n-train-val != tt.test {
			t.Errorf("n=%d: got %d/%d/%d, want %d/%d/%d", tt.n, train, val, tt.n-train-val, tt.train, tt.val, tt.test)
		}
	}
}

func TestShuffleIsPinned(t *testing.T) {
	// Seeded splits must not change between machines or Go versions;
	// if this fails, every saved manifest's split silently changes.
	s := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	shuffle(newRand(42), s)
	want := []int{1, 9, 2, 6, 5, 4, 8, 0, 7, 3}
	if !slices.Equal(s, want) {
		t.Errorf("shuffle(seed 42) = %v, want %v", s, want)
	}
}

func TestBelowIsInRangeAndCoversIt(t *testing.T) {
	r := newRand(1)
	seen := make([]int, 7)
	for range 7000 {
		v := below(r, 7)
		if v >= 7 {
			t.Fatalf("below(7) = %d", v)
		}
		seen[v]++
	}
	for v, n := range seen {
		if n < 800 || n > 1200 { // expected 1000 each
			t.Errorf("value %d drawn %d times out of 7000", v, n)
		}
	}
}

func TestSplitIsDeterministicPartition(t *testing.T) {
	dir := makeClasses(t, 30, 17, 9, 4)
	opts := Options{Dir: dir, Split: notebookSplit, Seed: 7}
	a, err := Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Examples, b.Examples) {
		t.Error("two scans with the same seed differ")
	}
	opts.Seed = 8
	c, err := Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Examples, c.Examples) {
		t.Error("scans with seeds 7 and 8 give the same order")
	}

	n := 30 + 17 + 9 + 4
	train, val := splitSizes(n, notebookSplit)
	if got := []int{len(a.Split(Train)), len(a.Split(Val)), len(a.Split(Test))}; !slices.Equal(got, []int{train, val, n - train - val}) {
		t.Errorf("split sizes %v, want %d/%d/%d", got, train, val, n-train-val)
	}
	// Examples holds train, then val, then test.
	order := map[string]int{Train: 0, Val: 1, Test: 2}
	for i := 1; i < len(a.Examples); i++ {
		if order[a.Examples[i-1].Split] > order[a.Examples[i].Split] {
			t.Fatalf("example %d (%s) comes after %s", i, a.Examples[i].Split, a.Examples[i-1].Split)
		}
	}
	// Every file appears exactly once.
	seen := map[string]bool{}
	for _, e := range a.Examples {
		if seen[e.Path] {
			t.Errorf("%s appears twice", e.Path)
		}
		seen[e.Path] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct files, want %d", len(seen), n)
	}
	// The shuffle mixes classes: the train split is not sorted by path.
	if slices.IsSortedFunc(a.Split(Train), func(x, y Example) int { return strings.Compare(x.Path, y.Path) }) {
		t.Error("train split is in path order: not shuffled")
	}
}

func TestStratifiedKeepsClassProportions(t *testing.T) {
	sizes := []int{30, 17, 9, 4}
	ds, err := Scan(Options{Dir: makeClasses(t, sizes...), Split: notebookSplit, Stratify: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	counts := ds.Counts()
	for label, n := range sizes {
		train, val := splitSizes(n, notebookSplit)
		got := []int{counts[Train][label], counts[Val][label], counts[Test][label]}
		if want := []int{train, val, n - train - val}; !slices.Equal(got, want) {
			t.Errorf("class %d: counts %v, want %v", label, got, want)
		}
	}
	// Each split is shuffled across classes, not grouped by label.
	if slices.IsSortedFunc(ds.Split(Train), func(x, y Example) int { return x.Label - y.Label }) {
		t.Error("stratified train split is grouped by class: not shuffled")
	}
}

func TestMaxPerClass(t *testing.T) {
	dir := makeClasses(t, 30, 5, 12)
	opts := Options{Dir: dir, Split: notebookSplit, MaxPerClass: 10, Seed: 1}
	ds, err := Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	perClass := make([]int, 3)
	for _, e := range ds.Examples {
		perClass[e.Label]++
	}
	if want := []int{10, 5, 10}; !slices.Equal(perClass, want) {
		t.Errorf("per class %v, want %v", perClass, want)
	}
	// The kept images are a random sample, not the first ten by name.
	var firstTen = true
	for _, e := range ds.Examples {
		if e.Label == 0 && filepath.Base(e.Path) >= "img010.jpg" {
			firstTen = false
		}
	}
	if firstTen {
		t.Error("class 0 kept exactly its first 10 files: no random sample")
	}
	again, err := Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.Examples, again.Examples) {
		t.Error("same seed chose different samples")
	}
}

func TestHashFiles(t *testing.T) {
	dir := makeClasses(t, 5, 6)
	ds, err := Scan(Options{Dir: dir, Split: notebookSplit})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.HashFiles(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	for _, e := range ds.Examples {
		b, err := os.ReadFile(e.Path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if want := hex.EncodeToString(sum[:]); e.Hash != want {
			t.Errorf("%s: hash %s, want %s", e.Path, e.Hash, want)
		}
	}

	gone := ds.Examples[4].Path
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	err = ds.HashFiles(context.Background(), 0)
	if err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("after removing %s, HashFiles error = %v, want it named", gone, err)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	dir := makeClasses(t, 8, 7, 6)
	writeFiles(t, dir, `c01/with,comma "quoted".jpg`)
	ds, err := Scan(Options{Dir: dir, Split: notebookSplit, Stratify: true, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.HashFiles(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	path := filepath.Join(out, "manifest.csv")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteManifest(path, ds); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Classes, ds.Classes) {
		t.Errorf("classes %q, want %q", got.Classes, ds.Classes)
	}
	if !reflect.DeepEqual(got.Examples, ds.Examples) {
		t.Errorf("examples differ after round trip:\n got %v\nwant %v", got.Examples, ds.Examples)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if first != "path,label,class,split,sha256" {
		t.Errorf("header %q", first)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %d files after writing, want only the manifest (temporary file left?)", len(entries))
	}
}

func TestWriteManifestUnwritable(t *testing.T) {
	// A folder that cannot be made (a file stands in its way).
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	path := filepath.Join(file, "manifest.csv")
	err := WriteManifest(path, &Dataset{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want one naming %s", err, path)
	}
}

func TestReadManifestErrors(t *testing.T) {
	const head = "path,label,class,split,sha256\n"
	tests := []struct{ name, body, want string }{
		{"empty", "", "empty file"},
		{"header", "file,label,class,split,sha256\n", "header"},
		{"columns", head + "a.jpg,0,a,train\n", "wrong number of fields"},
		{"label", head + "a.jpg,x,a,train,\n", "label \"x\""},
		{"split", head + "a.jpg,0,a,dev,\n", "split \"dev\""},
		{"class two labels", head + "a.jpg,0,a,train,\nb.jpg,1,a,test,\n", "class \"a\" has label 1"},
		{"label two classes", head + "a.jpg,0,a,train,\nb.jpg,0,b,test,\n", "label 0 is class \"b\""},
		{"gap", head + "a.jpg,0,a,train,\nb.jpg,2,b,test,\n", "no example has label 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.csv")
			if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadManifest(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error = %v, want one naming %s and containing %q", err, path, tt.want)
			}
		})
	}
}

// Issue 16: the mistakes a newcomer makes with their own photos each get
// a message that says what is wrong and what to do.
func TestOwnImagesMistakes(t *testing.T) {
	loose := t.TempDir()
	writeFiles(t, loose, "cat1.jpg", "cat2.jpg", "dog1.JPG", "notes.txt")
	oneUp := t.TempDir()
	writeFiles(t, oneUp, "photos/cat/1.jpg", "photos/cat/2.jpg", "photos/cat/3.jpg",
		"photos/dog/1.jpg", "photos/dog/2.jpg", "photos/dog/3.jpg")
	small := makeClasses(t, 10, 2, 1)
	heic := makeClasses(t, 5, 5)
	writeFiles(t, heic, "c02/IMG_0001.HEIC", "c02/IMG_0002.heic")
	webp := makeClasses(t, 5, 5)
	writeFiles(t, webp, "c02/a.webp", "c02/b.webp", "c02/c.webp")

	tests := []struct {
		name  string
		dir   string
		max   int
		wants []string
	}{
		{"images directly in data.dir", loose, 0, []string{"3 image(s) directly in the folder", "its own subfolder", loose + "/cat/*.jpg"}},
		{"data.dir one level too high", oneUp, 0, []string{filepath.Join(oneUp, "photos") + ": no images", `holds folders ["cat" "dog"]`, "set data.dir=" + filepath.Join(oneUp, "photos")}},
		{"classes with 1-2 images", small, 0, []string{"fewer than 3 images: c01 (2), c02 (1)", "data.exclude", "20 or more"}},
		{"capped below 3", makeClasses(t, 5, 5), 2, []string{"c00 (2), c01 (2)"}},
		{"a class of HEIC photos", heic, 0, []string{filepath.Join(heic, "c02"), "no images", "2 .heic", "convert them to JPEG or PNG"}},
		{"a class of WebP images", webp, 0, []string{"3 .webp", "add .webp to data.extensions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Scan(Options{Dir: tt.dir, Split: notebookSplit, Stratify: true, MaxPerClass: tt.max})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	// Mixed formats in one class: the others are used, the left-out ones
	// counted with what to do about them.
	mixed := makeClasses(t, 5, 5)
	writeFiles(t, mixed, "c00/x.webp", "c01/y.HEIC", "c01/z.heic", "c01/notes.txt")
	ds, err := Scan(Options{Dir: mixed, Split: notebookSplit, Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Examples) != 10 {
		t.Errorf("%d examples, want the 10 JPEGs", len(ds.Examples))
	}
	want := "3 image file(s) left out for their extension (2 .heic, 1 .webp); to use them, add .webp to data.extensions; .heic cannot be read: convert them to JPEG or PNG"
	if got := IgnoredHint(ds.Ignored); got != want {
		t.Errorf("IgnoredHint = %q\nwant          %q", got, want)
	}
}

// TestHashFilesStopsWhenCancelled: Ctrl-C (a cancelled context) stops
// hashing at once instead of reading every file first.
func TestHashFilesStopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	ds := &Dataset{}
	for i := range 200 {
		p := filepath.Join(dir, fmt.Sprintf("f%03d", i))
		if err := os.WriteFile(p, []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		ds.Examples = append(ds.Examples, Example{Path: p})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ds.HashFiles(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("HashFiles after Ctrl-C = %v; want context.Canceled", err)
	}
	hashed := 0
	for _, e := range ds.Examples {
		if e.Hash != "" {
			hashed++
		}
	}
	if hashed > 1 {
		t.Errorf("%d of 200 files hashed after Ctrl-C; want at most the one in flight", hashed)
	}
}
