package images

import (
	"image"

	"golang.org/x/image/draw"
)

// Resize methods for Load and StreamOptions.Resize.
const (
	// Nearest picks, for each output pixel, the source pixel PIL's
	// Image.resize(NEAREST) picks (Keras' default interpolation), so the
	// result is identical to PIL's for the same decoded pixels.
	Nearest = "nearest"
	// Bilinear interpolates with golang.org/x/image/draw.BiLinear. It is
	// close to, but not bit-identical with, PIL's BILINEAR.
	Bilinear = "bilinear"
)

// nearestIndex returns, for each of out output positions, the source
// position among in that PIL's nearest-neighbour resize uses.
//
// PIL (ImagingScaleAffine) starts at 0.5*in/out and adds in/out for each
// step, truncating to an integer. Accumulating the step rounds differently
// from computing floor((x+0.5)*in/out) directly: for 2 -> 7 PIL gives
// 0,0,0,0,1,1,1 where the direct formula gives 0,0,0,1,1,1,1. The
// accumulation is kept to match PIL exactly.
func nearestIndex(in, out int) []int {
	idx := make([]int, out)
	step := float64(in) / float64(out)
	pos := step * 0.5
	for i := range idx {
		idx[i] = min(int(pos), in-1)
		pos += step
	}
	return idx
}

// Resize converts img (any part of an image: its bounds are what is
// resized, so a SubImage is a crop) to RGB and resizes it to h×w with
// method into dst, as Load does after decoding, reusing dst.Pix when it
// has room.
func Resize(dst *RGB, img image.Image, h, w int, method string) error {
	if err := checkSize(h, w, method); err != nil {
		return err
	}
	resizeInto(dst, img, h, w, method)
	return nil
}

// resizeInto converts img to RGB and resizes it to h×w into dst, reusing
// dst.Pix when it has room. h == 0 (and w == 0) keeps img's size. As in
// Keras, an image already of the target size is not resampled.
func resizeInto(dst *RGB, img image.Image, h, w int, method string) {
	b := img.Bounds()
	if h == 0 || w == 0 {
		h, w = b.Dy(), b.Dx()
	}
	dst.H, dst.W = h, w
	if n := 3 * h * w; cap(dst.Pix) >= n {
		dst.Pix = dst.Pix[:n]
	} else {
		dst.Pix = make([]uint8, n)
	}

	if method == Bilinear && (h != b.Dy() || w != b.Dx()) {
		bilinear(dst, img)
		return
	}
	// Nearest: converting only the sampled pixels gives the same result
	// as PIL's convert-then-resize, since conversion is per pixel.
	xs, ys := nearestIndex(b.Dx(), w), nearestIndex(b.Dy(), h)
	at := rgbAt(img)
	i := 0
	for _, y := range ys {
		for _, x := range xs {
			dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2] = at(b.Min.X+x, b.Min.Y+y)
			i += 3
		}
	}
}

// bilinear converts img to RGB first, as PIL does, then scales it to dst's
// size.
func bilinear(dst *RGB, img image.Image) {
	src := ToRGB(img)
	s := image.NewRGBA(image.Rect(0, 0, src.W, src.H))
	for i, j := 0, 0; i < len(src.Pix); i, j = i+3, j+4 {
		s.Pix[j], s.Pix[j+1], s.Pix[j+2], s.Pix[j+3] = src.Pix[i], src.Pix[i+1], src.Pix[i+2], 0xff
	}
	d := image.NewRGBA(image.Rect(0, 0, dst.W, dst.H))
	draw.BiLinear.Scale(d, d.Bounds(), s, s.Bounds(), draw.Src, nil)
	for i, j := 0, 0; i < len(dst.Pix); i, j = i+3, j+4 {
		dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2] = d.Pix[j], d.Pix[j+1], d.Pix[j+2]
	}
}
