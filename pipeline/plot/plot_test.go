package plot

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// decode reads the PNG file at path.
func decode(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not a PNG file: %v", path, err)
	}
	return img
}

// count returns how many pixels of img in r satisfy f.
func count(img image.Image, r image.Rectangle, f func(c color.RGBA) bool) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if f(color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)) {
				n++
			}
		}
	}
	return n
}

func isWhite(c color.RGBA) bool { return c.R == 0xff && c.G == 0xff && c.B == 0xff }

func equal(want color.Color) func(color.RGBA) bool {
	w := color.RGBAModel.Convert(want).(color.RGBA)
	return func(c color.RGBA) bool { return c == w }
}

// notBlank fails t unless at least frac of the pixels of img in r are not
// white.
func notBlank(t *testing.T, img image.Image, r image.Rectangle, frac float64) {
	t.Helper()
	ink := r.Dx()*r.Dy() - count(img, r, isWhite)
	if float64(ink) < frac*float64(r.Dx()*r.Dy()) {
		t.Errorf("only %d of %d pixels in %v are drawn; want at least %.0f%%", ink, r.Dx()*r.Dy(), r, 100*frac)
	}
}

// sameBytes fails t unless the files at a and b are identical.
func sameBytes(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s and %s differ: the same input must give the same bytes", a, b)
	}
}

// noFile fails t if path exists.
func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after a failed call (stat: %v)", path, err)
	}
}

// model returns a model with n epochs of smoothly improving metrics;
// without val its validation metrics are NaN, as with no validation split.
func model(name string, n int, val bool, scale float64) report.Model {
	m := report.Model{Name: name, BestEpoch: n}
	for e := 1; e <= n; e++ {
		l := scale*math.Exp(-0.3*float64(e)) + 0.2
		ep := history.Epoch{Epoch: e, Loss: 0.8 * l, Accuracy: 1 - l/4, ValLoss: l, ValAccuracy: 0.9 - l/4}
		if !val {
			ep.ValLoss, ep.ValAccuracy = math.NaN(), math.NaN()
		}
		m.History = append(m.History, ep)
	}
	return m
}

func TestHistory(t *testing.T) {
	dir := t.TempDir()
	diverged := model("diverged", 6, true, 1)
	diverged.History[2].ValLoss = math.Inf(1)
	diverged.History[3].ValLoss = math.NaN()
	diverged.History[3].ValAccuracy = math.NaN()
	models := []report.Model{
		model("vgg16", 10, true, 2),
		model("scratch", 8, true, 3),
		model("no-val", 5, false, 1.5), // NaN validation metrics
		diverged,
	}
	path := filepath.Join(dir, "history.png")
	if err := History(path, models); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	if b := img.Bounds(); b.Dx() != historyWidth || b.Dy() != historyHeight {
		t.Fatalf("history is %dx%d; want %dx%d", b.Dx(), b.Dy(), historyWidth, historyHeight)
	}
	left := image.Rect(0, 0, historyWidth/2-100, historyHeight)
	right := image.Rect(historyWidth/2-100, 0, historyWidth-200, historyHeight)
	notBlank(t, img, left, 0.02)
	notBlank(t, img, right, 0.02)
	// Each model has its colour, in both panels; no fifth colour is used.
	for i := range models {
		for name, r := range map[string]image.Rectangle{"left": left, "right": right} {
			if n := count(img, r, equal(colors[i])); n < 20 {
				t.Errorf("model %d (%s): %d pixels of its colour %v in the %s panel; want its line", i, models[i].Name, n, colors[i], name)
			}
		}
	}
	if n := count(img, img.Bounds(), equal(colors[len(models)])); n > 0 {
		t.Errorf("%d pixels of colour %v, which no model has", n, colors[len(models)])
	}

	again := filepath.Join(dir, "again.png")
	if err := History(again, models); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, path, again)
}

func TestHistorySeries(t *testing.T) {
	s := newSeries(0, model("val", 4, true, 1))
	if s.name+s.note != "val" || !s.val || len(s.loss) != 4 || len(s.acc) != 4 {
		t.Errorf("model with validation metrics: label %q, val %v, %d loss and %d accuracy points; want \"val\", true, 4, 4", s.name+s.note, s.val, len(s.loss), len(s.acc))
	}
	m := model("noval", 4, false, 1)
	s = newSeries(1, m)
	if s.name+s.note != "noval (train)" || s.val {
		t.Errorf("model without validation metrics: label %q, val %v; want \"noval (train)\", false", s.name+s.note, s.val)
	}
	for i, xy := range s.loss {
		if xy.Y != m.History[i].Loss {
			t.Errorf("model without validation metrics: loss point %d is %v; want the training loss %v", i, xy.Y, m.History[i].Loss)
		}
	}

	m = model("gaps", 5, true, 1)
	m.History[1].ValLoss = math.NaN()
	m.History[2].ValLoss = math.Inf(1)
	s = newSeries(2, m)
	var epochs []float64
	for _, xy := range s.loss {
		epochs = append(epochs, xy.X)
	}
	if len(epochs) != 3 || epochs[0] != 1 || epochs[1] != 4 || epochs[2] != 5 {
		t.Errorf("NaN and Inf validation losses: points at epochs %v; want [1 4 5]", epochs)
	}
	if len(s.gapsLoss) != 1 || s.gapsLoss[0] != 1 {
		t.Errorf("NaN and Inf validation losses: gaps before points %v; want [1]", s.gapsLoss)
	}
	if len(s.acc) != 5 {
		t.Errorf("finite validation accuracies: %d points; want 5", len(s.acc))
	}

	s = newSeries(3, report.Model{Name: "empty"})
	if s.name+s.note != "empty (no data)" {
		t.Errorf("model without history: label %q; want \"empty (no data)\"", s.name+s.note)
	}
}

func TestHistoryDegenerate(t *testing.T) {
	dir := t.TempDir()
	flat := model("flat", 3, true, 0)
	for i := range flat.History {
		flat.History[i].ValAccuracy = 1
	}
	for name, models := range map[string][]report.Model{
		"one epoch":         {model("one", 1, true, 1)},
		"constant":          {flat},
		"only training":     {model("a", 3, false, 1), model("b", 4, false, 2)},
		"one model no data": {model("a", 3, true, 1), {Name: "empty"}},
		"long names":        {model(strings.Repeat("very long model name ", 20), 3, false, 1), model(strings.Repeat("x", 500), 3, true, 1)},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".png")
		if err := History(path, models); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		notBlank(t, decode(t, path), image.Rect(0, 0, historyWidth, historyHeight), 0.01)
	}
}

func TestHistoryErrors(t *testing.T) {
	dir := t.TempDir()
	nan := model("nan", 3, false, 1)
	for i := range nan.History {
		nan.History[i].Loss, nan.History[i].Accuracy = math.NaN(), math.NaN()
	}
	for name, models := range map[string][]report.Model{
		"no models":  nil,
		"no history": {{Name: "empty"}},
		"all NaN":    {nan},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".png")
		err := History(path, models)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
		noFile(t, path)
	}
}

func TestEpochTicks(t *testing.T) {
	labels := func(lo, hi float64) []string {
		var l []string
		for _, tk := range (epochTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				l = append(l, tk.Label)
			}
		}
		return l
	}
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0.5, 1.5, "1"},
		{0.5, 5.5, "1 2 3 4 5"},
		{0.5, 10.5, "1 2 3 4 5 6 7 8 9 10"},
		{0.5, 12.5, "2 4 6 8 10 12"},
		{-0.5, 60.5, "0 10 20 30 40 50 60"},
		{0.5, 0.7, ""},
	} {
		if got := strings.Join(labels(c.lo, c.hi), " "); got != c.want {
			t.Errorf("epoch ticks on [%v, %v]: %q; want %q", c.lo, c.hi, got, c.want)
		}
	}
}

func TestValueTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 1, "0.0 0.2 0.4 0.6 0.8 1.0"},
		{0.22, 2.9, "0.5 1.0 1.5 2.0 2.5"},
		{-1, 1, "-1.0 -0.5 0.0 0.5 1.0"},
		{0.63, 0.71, "0.64 0.66 0.68 0.70"},
		{0, 300, "0 50 100 150 200 250 300"},
	} {
		var l []string
		for _, tk := range (valueTicks{}).Ticks(c.lo, c.hi) {
			l = append(l, tk.Label)
		}
		if got := strings.Join(l, " "); got != c.want {
			t.Errorf("value ticks on [%v, %v]: %q; want %q", c.lo, c.hi, got, c.want)
		}
	}
}

// metrics returns Metrics holding confusion.
func metrics(confusion [][]int) *evaluate.Metrics {
	return &evaluate.Metrics{Confusion: confusion}
}

func isBlue(c color.RGBA) bool { return int(c.B) > int(c.R)+60 }

func TestConfusion(t *testing.T) {
	dir := t.TempDir()
	classes := []string{"cat", "dog", "bird"}
	m := metrics([][]int{{8, 1, 1}, {0, 10, 0}, {0, 0, 0}}) // no bird in the split
	path := filepath.Join(dir, "confusion.png")
	if err := Confusion(path, m, classes, "test split"); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	b := img.Bounds()
	if b.Dx() < confusionMinData || b.Dy() < confusionMinData {
		t.Errorf("confusion is %dx%d; want at least %dx%d", b.Dx(), b.Dy(), confusionMinData, confusionMinData)
	}
	notBlank(t, img, b, 0.3)
	// The diagonal cells are dark blue, each about a ninth of the matrix.
	cell := confusionMinData / 3
	if n := count(img, b, func(c color.RGBA) bool { return isBlue(c) && c.R < 0x40 }); n < cell*cell {
		t.Errorf("%d dark blue pixels; want at least the %d of a full-recall cell", n, cell*cell)
	}
	// The bird row, with no example, is grey.
	if n := count(img, b, equal(noExamples)); n < 2*cell*cell {
		t.Errorf("%d pixels of the no-example grey; want at least %d", n, 2*cell*cell)
	}

	again := filepath.Join(dir, "again.png")
	if err := Confusion(again, m, classes, "test split"); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, path, again)

	// Without an empty row there is no grey.
	m.Confusion[2] = []int{1, 0, 3}
	if err := Confusion(path, m, classes, ""); err != nil {
		t.Fatal(err)
	}
	if n := count(img, b, equal(noExamples)); n == 0 {
		t.Fatal("the earlier figure had no grey") // guards the check below
	}
	// (A few antialiased pixels may happen to match.)
	if n := count(decode(t, path), b, equal(noExamples)); n > cell {
		t.Errorf("%d pixels of the no-example grey, but every class has examples", n)
	}
}

func TestConfusionManyClasses(t *testing.T) {
	dir := t.TempDir()
	const n = 97
	classes := make([]string, n)
	conf := make([][]int, n)
	for i := range conf {
		classes[i] = "class_with_a_name_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		conf[i] = make([]int, n)
		conf[i][i] = 3
		conf[i][(i+1)%n] = 1
	}
	path := filepath.Join(dir, "confusion.png")
	if err := Confusion(path, metrics(conf), classes, "97 classes"); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	b := img.Bounds()
	if b.Dx() < confusionMinCell*n || b.Dy() < confusionMinCell*n {
		t.Errorf("confusion of %d classes is %dx%d; want at least %d pixels a side", n, b.Dx(), b.Dy(), confusionMinCell*n)
	}
	// The 97 diagonal cells (3/4 of their row) are dark blue.
	if got := count(img, b, func(c color.RGBA) bool { return isBlue(c) && c.R < 0x60 }); got < n*confusionMinCell*confusionMinCell/2 {
		t.Errorf("%d dark blue pixels; want at least half of the %d diagonal cells", got, n)
	}
}

func TestConfusionDegenerate(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		conf    [][]int
		classes []string
	}{
		"one class":   {[][]int{{3}}, []string{"only"}},
		"all empty":   {[][]int{{0, 0}, {0, 0}}, []string{"a", "b"}},
		"long names":  {[][]int{{1, 0}, {0, 1}}, []string{strings.Repeat("long ", 100), "b"}},
		"empty names": {[][]int{{1, 0}, {0, 1}}, []string{"", ""}},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".png")
		if err := Confusion(path, metrics(c.conf), c.classes, name); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		img := decode(t, path)
		notBlank(t, img, img.Bounds(), 0.3)
		if b := img.Bounds(); b.Dx() > 2*confusionMinData || b.Dy() > 2*confusionMinData {
			t.Errorf("%s: %dx%d; want the size of a small matrix", name, b.Dx(), b.Dy())
		}
	}
}

func TestConfusionErrors(t *testing.T) {
	dir := t.TempDir()
	three := []string{"a", "b", "c"}
	for name, c := range map[string]struct {
		m       *evaluate.Metrics
		classes []string
	}{
		"nil metrics":    {nil, three},
		"empty":          {metrics(nil), nil},
		"class count":    {metrics([][]int{{1, 0}, {0, 1}}), three},
		"ragged":         {metrics([][]int{{1, 0, 0}, {0, 1}, {0, 0, 1}}), three},
		"negative count": {metrics([][]int{{1, 0, 0}, {0, -1, 0}, {0, 0, 1}}), three},
		"too many":       {metrics(make([][]int, 600)), make([]string, 600)},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".png")
		err := Confusion(path, c.m, c.classes, "")
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
		noFile(t, path)
	}
}

// examples writes a small image dataset and returns its examples.
func examples(t *testing.T) []dataset.Example {
	t.Helper()
	dir := t.TempDir()
	testenv.ImageDataset(t, dir, 3, 4, 7)
	ds, err := dataset.Scan(dataset.Options{Dir: dir, Split: dataset.Split{Train: 0.5, Test: 0.5}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return ds.Examples
}

func TestSamples(t *testing.T) {
	dir := t.TempDir()
	exs := examples(t)
	const n, size = 5, 100
	path := filepath.Join(dir, "samples.png")
	if err := Samples(path, exs, n, 1, size); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	wantW := 2*samplesMargin + n*size + (n-1)*samplesGap
	wantH := 2*samplesMargin + size + samplesLabelH
	if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
		t.Fatalf("samples are %dx%d; want %dx%d", b.Dx(), b.Dy(), wantW, wantH)
	}
	// Every tile is one of the examples, loaded at size×size, exactly.
	loaded := make([]*images.RGB, len(exs))
	for i, e := range exs {
		var err error
		if loaded[i], err = images.Load(e.Path, size, size, images.Nearest); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]bool{}
	for k := range n {
		x0 := samplesMargin + k*(size+samplesGap)
		match := -1
		for i, rgb := range loaded {
			if tileIs(img, rgb, x0, samplesMargin) {
				match = i
				break
			}
		}
		if match < 0 {
			t.Errorf("tile %d is none of the examples' images", k)
			continue
		}
		if seen[match] {
			t.Errorf("tile %d repeats example %d", k, match)
		}
		seen[match] = true
		// Its class name is written under it.
		label := image.Rect(x0, samplesMargin+size, x0+size, samplesMargin+size+samplesLabelH)
		if count(img, label, isWhite) == label.Dx()*label.Dy() {
			t.Errorf("tile %d has no label", k)
		}
	}

	again := filepath.Join(dir, "again.png")
	if err := Samples(again, exs, n, 1, size); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, path, again)
	other := filepath.Join(dir, "other.png")
	if err := Samples(other, exs, n, 2, size); err != nil {
		t.Fatal(err)
	}
	if a, b := readFile(t, path), readFile(t, other); bytes.Equal(a, b) {
		t.Error("seeds 1 and 2 chose the same images")
	}

	// More images than examples: all of them, each once.
	all := filepath.Join(dir, "all.png")
	if err := Samples(all, exs, 100, 1, 16); err != nil {
		t.Fatal(err)
	}
	tile := samplesMinTile
	if w := decode(t, all).Bounds().Dx(); w != 2*samplesMargin+len(exs)*tile+(len(exs)-1)*samplesGap {
		t.Errorf("100 samples of %d examples: width %d; want %d tiles", len(exs), w, len(exs))
	}
}

// tileIs reports whether img holds rgb with its top left corner at (x, y).
func tileIs(img image.Image, rgb *images.RGB, x, y int) bool {
	for r := range rgb.H {
		for c := range rgb.W {
			p := color.RGBAModel.Convert(img.At(x+c, y+r)).(color.RGBA)
			i := 3 * (r*rgb.W + c)
			if p.R != rgb.Pix[i] || p.G != rgb.Pix[i+1] || p.B != rgb.Pix[i+2] {
				return false
			}
		}
	}
	return true
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSamplesErrors(t *testing.T) {
	dir := t.TempDir()
	exs := examples(t)
	missing := append([]dataset.Example(nil), exs...)
	for i := range missing {
		missing[i].Path = filepath.Join(dir, "gone", filepath.Base(missing[i].Path))
	}
	for name, c := range map[string]struct {
		exs     []dataset.Example
		n, size int
		want    string
	}{
		"no examples":  {nil, 3, 32, "no examples"},
		"zero images":  {exs, 0, 32, "images"},
		"zero size":    {exs, 3, 0, "size"},
		"too large":    {exs, 12, 10000, "too large"},
		"missing file": {missing, 3, 32, filepath.Join(dir, "gone")},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".png")
		err := Samples(path, c.exs, c.n, 1, c.size)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q; want one naming %s and saying %q", name, err, path, c.want)
		}
		noFile(t, path)
	}
}

func TestRenderRecoversPanic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "panic.png")
	err := render(path, "test", func() (image.Image, error) { panic("degenerate input") })
	if err == nil || !strings.Contains(err.Error(), "degenerate input") || !strings.Contains(err.Error(), path) {
		t.Errorf("render of a panicking figure: error %v; want one naming the file and the panic", err)
	}
	noFile(t, path)
}

func TestFitText(t *testing.T) {
	sty := textStyle(12, color.Black, 0, 0)
	if got := fitText(sty, "cat", px(200)); got != "cat" {
		t.Errorf("fitText of a short name: %q; want it unchanged", got)
	}
	long := strings.Repeat("crocodile_head_", 5)
	got := fitText(sty, long, px(100))
	if !strings.HasSuffix(got, "…") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) || sty.Width(got) > px(100) {
		t.Errorf("fitText of a long name in 100 pixels: %q (%v wide)", got, sty.Width(got))
	}
}
