package testenv

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// ImageDataset writes a small, learnable image dataset under dir: one folder
// per class (class_0, class_1, ...), perClass images each, alternating PNG
// and JPEG. Class k is a disc of hue k on a noisy background at a random
// place and size, so features of even a random backbone separate classes.
// The same seed writes the same files.
func ImageDataset(t testing.TB, dir string, classes, perClass int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 42))
	for k := 0; k < classes; k++ {
		cdir := filepath.Join(dir, fmt.Sprintf("class_%d", k))
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			t.Fatal(err)
		}
		fg := hue(float64(k) / float64(classes))
		for i := 0; i < perClass; i++ {
			w, h := 40+r.IntN(24), 36+r.IntN(24)
			img := image.NewRGBA(image.Rect(0, 0, w, h))
			cx, cy := r.IntN(w), r.IntN(h)
			rad := 8 + r.IntN(10)
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					n := uint8(r.IntN(60))
					c := color.RGBA{n, n, n, 255}
					if (x-cx)*(x-cx)+(y-cy)*(y-cy) < rad*rad {
						c = color.RGBA{sat(int(fg.R) + int(n) - 30), sat(int(fg.G) + int(n) - 30), sat(int(fg.B) + int(n) - 30), 255}
					}
					img.Set(x, y, c)
				}
			}
			name := filepath.Join(cdir, fmt.Sprintf("img_%03d", i))
			var err error
			if i%2 == 0 {
				err = writeImage(name+".png", func(f *os.File) error { return png.Encode(f, img) })
			} else {
				err = writeImage(name+".JPG", func(f *os.File) error { return jpeg.Encode(f, img, &jpeg.Options{Quality: 90}) })
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

func writeImage(path string, enc func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := enc(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func hue(h float64) color.RGBA {
	seg := int(h * 6)
	f := h*6 - float64(seg)
	q, p := uint8(255*(1-f)), uint8(255*f)
	switch seg % 6 {
	case 0:
		return color.RGBA{255, p, 0, 255}
	case 1:
		return color.RGBA{q, 255, 0, 255}
	case 2:
		return color.RGBA{0, 255, p, 255}
	case 3:
		return color.RGBA{0, q, 255, 255}
	case 4:
		return color.RGBA{p, 0, 255, 255}
	}
	return color.RGBA{255, 0, q, 255}
}

func sat(v int) uint8 { return uint8(max(0, min(255, v))) }
