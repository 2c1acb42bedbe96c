package experiment

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// inspectConfig is a one-model experiment on MobileNet's features (real,
// pretrained ones: a random backbone's features put unrelated images at
// high cosines), no export, quick to train.
func inspectConfig(t *testing.T, root string, extra ...string) *config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
name: planted
seed: 3
runs_dir: %[1]s/runs
data:
  dir: %[1]s/data
  split: {train: 0.5, val: 0.1, test: 0.4}
features:
  cache_dir: %[1]s/cache
  batch_size: 8
train:
  batch_size: 16
  epochs: 20
export: {savedmodel: false}
models:
  - name: top
    backbone: {savedmodel: %[2]s, endpoint: global_pool}
    layers:
      - dense: {units: classes, activation: softmax}
`, root, testenv.SavedModel(t, "mobilenet"))
	cfg, err := config.Parse("test.yaml", []byte(yaml), extra)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// planted are the faults plantFaults put into a dataset, by path.
type planted struct {
	exact   [][2]string // [train original, test copy]
	near    [2]string   // [train original, test copy cropped by a few pixels]
	moved   []string    // moved to a wrong class folder, in train or val
	movedTo []string    // moved, in test
}

// plantFaults writes a 3-class dataset with planted faults: two images
// copied from train into test, one copied with a small crop, five moved
// to a wrong class folder that are in train or val (suspect labels to
// find), and two moved ones in test (the gallery's top losses). The
// split's shuffle depends only on how many files each class has and their
// sorted order, so it names the files p_000, p_001, ... after finding out
// which position goes to which split, and puts each fault at a position
// of the split it should be in.
func plantFaults(t *testing.T, dir string, opts dataset.Options) planted {
	t.Helper()
	src := filepath.Join(testenv.Root(t), "data", "fashion-mnist")
	classes := []string{"bag", "sneaker", "trouser"}
	type file struct {
		data []byte
		ext  string
		role string // "", "orig0", "copy0", "orig1", "copy1", "orig2", "crop", "moved", "movedTo"
	}
	files := make([][]file, 3)
	for k, c := range classes {
		names, err := filepath.Glob(filepath.Join(src, c, "*.png"))
		if err != nil || len(names) < 24 {
			t.Skipf("no Fashion-MNIST images in %s (make setup writes them): %v", src, err)
		}
		for _, n := range names[:24] {
			b, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			files[k] = append(files[k], file{data: b, ext: ".png"})
		}
	}
	// Copies: image 0 of classes 0 and 1 exactly, image 0 of class 2 cropped.
	for k := range 2 {
		files[k][0].role = fmt.Sprintf("orig%d", k)
		files[k] = append(files[k], file{data: files[k][0].data, ext: files[k][0].ext, role: fmt.Sprintf("copy%d", k)})
	}
	// The cropped copy: Fashion-MNIST's 28-pixel images, upscaled 8 times
	// to the backbone's input, turn a one-pixel crop into a shift of 8
	// (cosine 0.96, below natural pairs' 0.976 at most in the default
	// data). A photo is larger: the original here is the image at 4 times
	// its size, and the copy loses one pixel of its 112 on each side.
	img, _, err := image.Decode(bytes.NewReader(files[2][0].data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	big := image.NewRGBA(image.Rect(0, 0, 4*b.Dx(), 4*b.Dy()))
	for y := range big.Rect.Dy() {
		for x := range big.Rect.Dx() {
			big.Set(x, y, img.At(b.Min.X+x/4, b.Min.Y+y/4))
		}
	}
	crop := big.SubImage(image.Rect(1, 1, big.Rect.Dx()-1, big.Rect.Dy()-1))
	var ob, cb bytes.Buffer
	png.Encode(&ob, big)
	png.Encode(&cb, crop)
	files[2][0] = file{data: ob.Bytes(), ext: ".png", role: "orig2"}
	files[2] = append(files[2], file{data: cb.Bytes(), ext: ".png", role: "crop"})
	// Seven images (the last ones of each class) move to another class.
	for j := range 7 {
		from := j % 3
		last := len(files[from]) - 1
		for files[from][last].role != "" {
			last--
		}
		f := files[from][last]
		files[from] = slices.Delete(files[from], last, last+1)
		f.role = "moved"
		if j >= 5 {
			f.role = "movedTo"
		}
		to := (from + 1 + j%2) % 3
		files[to] = append(files[to], f)
	}
	name := func(k, i int, ext string) string {
		return filepath.Join(dir, fmt.Sprintf("class_%d", k), fmt.Sprintf("p_%03d%s", i, ext))
	}
	for k := range 3 {
		os.MkdirAll(filepath.Join(dir, fmt.Sprintf("class_%d", k)), 0o755)
		for i := range files[k] {
			os.WriteFile(name(k, i, ".png"), nil, 0o644)
		}
	}
	ds, err := dataset.Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	split := map[string]string{}
	for _, e := range ds.Examples {
		split[e.Path] = e.Split
	}
	var p planted
	paths := map[string]string{}
	for k := range 3 {
		free := map[string][]int{}
		for i := range files[k] {
			s := split[name(k, i, ".png")]
			free[s] = append(free[s], i)
			os.Remove(name(k, i, ".png"))
		}
		take := func(splits ...string) int {
			for _, s := range splits {
				if n := len(free[s]); n > 0 {
					i := free[s][n-1]
					free[s] = free[s][:n-1]
					return i
				}
			}
			t.Fatalf("class %d: no position left in %v", k, splits)
			return 0
		}
		at := make([]int, len(files[k]))
		for i := range at {
			at[i] = -1
		}
		for i, f := range files[k] { // the faults first, then the rest anywhere
			switch {
			case strings.HasPrefix(f.role, "orig"):
				at[i] = take(dataset.Train)
			case strings.HasPrefix(f.role, "copy"), f.role == "crop", f.role == "movedTo":
				at[i] = take(dataset.Test)
			case f.role == "moved":
				at[i] = take(dataset.Train, dataset.Val)
			}
		}
		for i := range files[k] {
			if at[i] < 0 {
				at[i] = take(dataset.Train, dataset.Val, dataset.Test)
			}
			f := files[k][i]
			path := name(k, at[i], f.ext)
			if err := os.WriteFile(path, f.data, 0o644); err != nil {
				t.Fatal(err)
			}
			switch f.role {
			case "moved":
				p.moved = append(p.moved, path)
			case "movedTo":
				p.movedTo = append(p.movedTo, path)
			case "":
			default:
				paths[f.role] = path
			}
		}
	}
	p.exact = [][2]string{{paths["orig0"], paths["copy0"]}, {paths["orig1"], paths["copy1"]}}
	p.near = [2]string{paths["orig2"], paths["crop"]}
	// The split is the one planned: same counts, same sorted order.
	again, err := dataset.Scan(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range again.Examples {
		if want := split[name(e.Label, atoi(t, e.Path), ".png")]; e.Split != want {
			t.Fatalf("%s went to %s, not %s as planned", e.Path, e.Split, want)
		}
	}
	return p
}

// atoi is the position in a p_NNN file name.
func atoi(t *testing.T, path string) int {
	var i int
	if _, err := fmt.Sscanf(filepath.Base(path), "p_%03d", &i); err != nil {
		t.Fatal(err)
	}
	return i
}

func readRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func TestInspectFindsPlantedFaults(t *testing.T) {
	root := t.TempDir()
	cfg := inspectConfig(t, root)
	p := plantFaults(t, cfg.Data.Dir, scanOptions(cfg))
	dir, log, err := run(t, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	r, err := report.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := r.Inspect
	if f == nil {
		t.Fatal("metrics.json has no inspect findings")
	}
	// Exactly the planted duplicates: two exact and one near, all train/test.
	want := map[string]report.DuplicateCount{"train/train": {}, "train/val": {}, "train/test": {Exact: 2, Near: 1}, "val/val": {}, "val/test": {}, "test/test": {}}
	if fmt.Sprint(f.Duplicates) != fmt.Sprint(want) {
		t.Errorf("duplicates %v, want %v", f.Duplicates, want)
	}
	pairs := map[[2]string]string{}
	for _, row := range readRows(t, filepath.Join(dir, rundir.InspectDir, rundir.DuplicatesFile)) {
		pairs[[2]string{row["a"], row["b"]}] = row["exact"] + " " + row["cosine"]
	}
	wantPairs := map[[2]string]bool{p.exact[0]: true, p.exact[1]: true, p.near: true}
	if len(pairs) != 3 {
		t.Errorf("duplicates.csv lists %d pairs, want the 3 planted: %v", len(pairs), pairs)
	}
	for pr := range wantPairs {
		if _, ok := pairs[pr]; !ok {
			t.Errorf("duplicates.csv lacks the planted pair %v; has %v", pr, pairs)
		}
	}
	if len(f.Leaks) != 3 || !strings.Contains(log, "warning: 3 test/train-or-val duplicate pairs") {
		t.Errorf("leaks %v; log:\n%s", f.Leaks, log)
	}
	// At least four of the five moved images are suspects, and they are
	// most of the suspects.
	var sus []string
	for _, row := range readRows(t, filepath.Join(dir, rundir.InspectDir, rundir.SuspectsFile)) {
		sus = append(sus, row["path"])
	}
	found := 0
	for _, m := range p.moved {
		if slices.Contains(sus, m) {
			found++
		}
	}
	if found < 4 || len(sus) > 10 {
		t.Errorf("%d of the 5 moved images among %d suspects %v", found, len(sus), sus)
	}
	if len(f.Suspects) != len(sus) {
		t.Errorf("metrics.json has %d suspects, suspects.csv %d", len(f.Suspects), len(sus))
	}
	// The images moved into test are misclassified, with the highest losses.
	mis := readRows(t, filepath.Join(rundir.Model(dir, "top"), rundir.MisclassifiedFile))
	var top []string
	for _, row := range mis[:min(len(mis), 4)] {
		top = append(top, row["path"])
		if row["nearest_1"] == "" || row["true"] == row["predicted"] {
			t.Errorf("misclassified row %v", row)
		}
	}
	for _, m := range p.movedTo {
		if !slices.Contains(top, m) {
			t.Errorf("%s (moved into test) is not among the top losses %v", m, top)
		}
	}
	if m := f.Models[0]; m.Misclassified != len(mis) || m.Shown != min(len(mis), 16) || !m.PCA || !m.Projector {
		t.Errorf("model findings %+v, %d misclassified rows", m, len(mis))
	}
	if len(r.Baselines) != 1 || r.Baselines[0].Kind != report.KindKNN || r.Baselines[0].Test == nil {
		t.Errorf("kNN baseline %+v", r.Baselines)
	}
	checkImageLinks(t, dir, 1)
	checkProjector(t, filepath.Dir(dir), filepath.Base(dir)+"/tensorboard/top/train", r.Dataset.Test, 1024)

	// data.on_duplicate: error stops before training, naming the copies;
	// drop_from_test leaves the three test copies out of the test split
	// and the manifest, and says which.
	_, _, err = run(t, inspectConfig(t, root, "data.on_duplicate=error"))
	if err == nil || !strings.Contains(err.Error(), "3 test images duplicate") || !strings.Contains(err.Error(), p.near[1]) {
		t.Errorf("on_duplicate error: %v", err)
	}
	dir2, log2, err := run(t, inspectConfig(t, root, "data.on_duplicate=drop_from_test"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log2)
	}
	r2, err := report.Read(dir2)
	if err != nil {
		t.Fatal(err)
	}
	dropped := []string{p.exact[0][1], p.exact[1][1], p.near[1]}
	slices.Sort(dropped)
	got := slices.Sorted(slices.Values(r2.Inspect.Dropped))
	if !slices.Equal(got, dropped) || r2.Dataset.Test != r.Dataset.Test-3 {
		t.Errorf("dropped %v (test %d, was %d), want %v", got, r2.Dataset.Test, r.Dataset.Test, dropped)
	}
	manifest, _ := os.ReadFile(filepath.Join(dir2, rundir.ManifestFile))
	for _, d := range dropped {
		if strings.Contains(string(manifest), filepath.ToSlash(d)) {
			t.Errorf("manifest still lists %s", d)
		}
	}
	if keep := os.Getenv("INSPECT_KEEP"); keep != "" { // for looking at the figures
		os.CopyFS(keep, os.DirFS(root))
	}
}

// checkProjector loads the Projector files under the runs folder runs
// with TensorBoard's own projector plugin (scripts/read_projector.py) and
// checks that run serves one embedding of n rows of dim values, its
// metadata (class and path) and its sprite.
func checkProjector(t *testing.T, runs, run string, n, dim int) {
	t.Helper()
	cmd := exec.Command(testenv.Python(t), filepath.Join(testenv.Root(t), "scripts", "read_projector.py"), runs)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("read_projector.py: %v\n%s", err, msg)
	}
	var got map[string][]struct {
		Name           string    `json:"name"`
		Shape          []int     `json:"shape"`
		Values         int       `json:"values"`
		First          []float64 `json:"first"`
		MetadataHeader []string  `json:"metadata_header"`
		MetadataRows   int       `json:"metadata_rows"`
		FirstRow       []string  `json:"first_row"`
		Sprite         [2]int    `json:"sprite"`
		Dim            [2]int    `json:"single_image_dim"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("read_projector.py output: %v\n%s", err, out)
	}
	embs, ok := got[run]
	if !ok || len(embs) != 1 {
		t.Fatalf("the projector plugin serves %s, want one embedding of run %s", out, run)
	}
	e := embs[0]
	if fmt.Sprint(e.Shape) != fmt.Sprint([]int{n, dim}) || e.Values != n*dim || e.MetadataRows != n ||
		fmt.Sprint(e.MetadataHeader) != "[class path]" || len(e.FirstRow) != 2 || e.Sprite[0] < e.Dim[0] || e.Dim[0] < 8 {
		t.Errorf("projector plugin serves %+v; want %d rows of %d", e, n, dim)
	}
	var ss float64
	for _, v := range e.First {
		ss += v * v
	}
	if ss <= 0 || ss > 1 {
		t.Errorf("first values %v: not part of a unit row", e.First)
	}
}

// cleanData copies n Fashion-MNIST images of each of three classes into
// dir, untouched.
func cleanData(t *testing.T, dir string, n int) {
	t.Helper()
	src := filepath.Join(testenv.Root(t), "data", "fashion-mnist")
	for _, c := range []string{"bag", "sneaker", "trouser"} {
		names, _ := filepath.Glob(filepath.Join(src, c, "*.png"))
		if len(names) < n {
			t.Skipf("no Fashion-MNIST images in %s (make setup writes them)", src)
		}
		os.MkdirAll(filepath.Join(dir, c), 0o755)
		for _, name := range names[:n] {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, c, filepath.Base(name)), b, 0o644)
		}
	}
}

// pipeline inspect without training: a clean data set has no duplicates;
// a run folder that stopped after its data stage is inspected from its
// manifest, with a note that no model has predictions; a config without
// a transfer model gets exact duplicates only, and says why; a folder
// that is not a run is refused.
func TestInspectWithoutTraining(t *testing.T) {
	root := t.TempDir()
	cfg := inspectConfig(t, root)
	cleanData(t, cfg.Data.Dir, 16)
	var log strings.Builder
	res, err := Inspect(context.Background(), cfg, "", Options{Log: &log, Progress: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	f := res.Findings
	for k, n := range f.Duplicates {
		if n != (report.DuplicateCount{}) {
			t.Errorf("clean data: %s has duplicates %+v", k, n)
		}
	}
	if len(f.Duplicates) != 6 || len(f.Leaks) != 0 || f.Features != "top" || f.Suspects == nil || len(res.Baselines) != 1 {
		t.Errorf("clean data: findings %+v, baselines %d", f, len(res.Baselines))
	}
	if rows := readRows(t, filepath.Join(res.Dir, rundir.InspectDir, rundir.DuplicatesFile)); len(rows) != 0 {
		t.Errorf("clean data: duplicates.csv has %d rows", len(rows))
	}
	if _, err := os.Stat(filepath.Join(rundir.Model(res.Dir, "top"), rundir.PCAPlot)); err != nil {
		t.Errorf("no PCA scatter: %v", err)
	}

	// A run that stopped after writing its config and manifest.
	ds, err := dataset.Scan(scanOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ds.HashFiles(context.Background(), 0)
	y, _ := cfg.Marshal()
	os.WriteFile(filepath.Join(res.Dir, rundir.ConfigFile), y, 0o644)
	if err := dataset.WriteManifest(filepath.Join(res.Dir, rundir.ManifestFile), ds); err != nil {
		t.Fatal(err)
	}
	res2, err := Inspect(context.Background(), nil, res.Dir, Options{Log: &log, Progress: &log})
	if err != nil {
		t.Fatalf("unfinished run: %v", err)
	}
	if len(res2.Findings.Suspects) != len(f.Suspects) || !slices.ContainsFunc(res2.Findings.Notes, func(n string) bool { return strings.Contains(n, "has not finished") }) {
		t.Errorf("unfinished run: %+v", res2.Findings)
	}

	// Scratch only: no features.
	scratch := inspectConfig(t, root, "name=scratch", "models=[{name: cnn, image_size: [16, 16], layers: [{flatten: {}}, {dense: {units: classes, activation: softmax}}]}]")
	res3, err := Inspect(context.Background(), scratch, "", Options{Log: &log, Progress: &log})
	if err != nil {
		t.Fatalf("scratch: %v", err)
	}
	if g := res3.Findings; g.Features != "" || g.Suspects != nil || len(res3.Baselines) != 0 || len(g.Notes) == 0 || !strings.Contains(g.Notes[0], "exact duplicates only") {
		t.Errorf("scratch: %+v", g)
	}

	if _, err := Inspect(context.Background(), nil, root, Options{Log: &log}); err == nil || !strings.Contains(err.Error(), "not a run folder") {
		t.Errorf("not a run folder: %v", err)
	}
}
