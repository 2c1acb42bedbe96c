package plot

import (
	"image/color"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

func TestTiles(t *testing.T) {
	dir := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(dir, "data"), 1, 3, 1)
	imgs, _ := filepath.Glob(filepath.Join(dir, "data", "class_0", "*"))
	red := color.RGBA{0xd6, 0x27, 0x28, 0xff}
	groups := [][]Tile{
		{{Path: imgs[0], Caption: []string{"true: a", "pred: b"}, Frame: red}, {Path: imgs[1], Caption: []string{"train: b"}}},
		{{Path: imgs[2], Caption: []string{"one"}}},
	}
	path := filepath.Join(dir, "tiles.png")
	if err := Tiles(path, groups, 2, 40); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	// Two groups of two 40-pixel tiles side by side, two caption lines.
	w, h := 2*tilesMargin+2*(2*40+tilesGap)+tilesGroupX, 2*tilesMargin+40+2*tilesLineH+tilesGap
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("size %v, want %d×%d", b, w, h)
	}
	// The frame: one ring of red around the first tile only.
	if n := count(img, img.Bounds(), equal(red)); n != (40+2*tilesFrame)*(40+2*tilesFrame)-40*40 {
		t.Errorf("%d red pixels", n)
	}
	notBlank(t, img, img.Bounds(), 0.2)
	for _, bad := range [][][]Tile{nil, {{{Path: filepath.Join(dir, "missing.png")}}}} {
		if err := Tiles(filepath.Join(dir, "bad.png"), bad, 2, 40); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if err := Tiles(filepath.Join(dir, "bad.png"), groups, 0, 40); err == nil {
		t.Error("0 columns: no error")
	}
	noFile(t, filepath.Join(dir, "bad.png"))
}

func TestScatter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.png")
	xs := []float64{0, 1, 0.1, 0.9, 0.5}
	ys := []float64{0, 1, 0.1, 0.9, 0.5}
	if err := Scatter(path, "t", "x", "y", xs, ys, []int{0, 1, 0, 1, 2}, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	img := decode(t, path)
	// Each class in its own colour of the palette.
	for k := range 3 {
		c := colors[k]
		near := func(p color.RGBA) bool {
			d := func(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }
			return d(p.R, c.R) < 40 && d(p.G, c.G) < 40 && d(p.B, c.B) < 40
		}
		if n := count(img, img.Bounds(), near); n < 5 {
			t.Errorf("class %d: %d pixels of its colour %v", k, n, c)
		}
	}
	for name, call := range map[string]error{
		"no points":  Scatter(path, "", "", "", nil, nil, nil, nil),
		"lengths":    Scatter(path, "", "", "", xs, ys[:2], []int{0}, []string{"a"}),
		"label":      Scatter(path, "", "", "", xs[:1], ys[:1], []int{3}, []string{"a"}),
		"not finite": Scatter(path, "", "", "", []float64{1 / zero()}, []float64{0}, []int{0}, []string{"a"}),
	} {
		if call == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func zero() float64 { return 0 }
