package plot

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
)

// A class name the plot font cannot draw (CJK, emoji) is never drawn
// blank: its missing characters are written as code points, and Drawable
// says so for the caller's warning. Names the font covers are unchanged.
func TestUnicodeClassNamesDrawn(t *testing.T) {
	for name, want := range map[string]string{"café": "café", "Ωμέγα": "Ωμέγα", "猫": "<U+732B>", "dog 🐶": "dog <U+1F436>"} {
		got, ok := Drawable(name)
		if got != want || ok != (got == name) {
			t.Errorf("Drawable(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	f, _ := os.Create(filepath.Join(dir, "a.png"))
	png.Encode(f, img)
	f.Close()
	out := filepath.Join(dir, "samples.png")
	if err := Samples(out, []dataset.Example{{Path: filepath.Join(dir, "a.png"), Class: "猫"}}, 1, 1, 32); err != nil {
		t.Fatal(err)
	}
	f, _ = os.Open(out)
	defer f.Close()
	pic, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	dark := 0
	b := pic.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, _, _, _ := pic.At(x, y).RGBA(); r < 0x8000 {
				dark++
			}
		}
	}
	if dark < 20 {
		t.Errorf("the label of class 猫 has %d dark pixels: drawn blank", dark)
	}
}
