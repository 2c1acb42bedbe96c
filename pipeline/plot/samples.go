package plot

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"

	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/images"
)

// Samples layout, in pixels and points.
const (
	samplesMinTile   = 96 // the least tile width, so that labels stay readable
	samplesGap       = 8  // between tiles
	samplesMargin    = 8  // around the strip
	samplesLabelH    = 24 // the label area under each image
	samplesFont      = 11 // label font size in points, shrunk down to samplesMinFont
	samplesMinFont   = 8
	samplesMaxPixels = 1 << 27 // the largest figure drawn, to bound memory
)

// samplesStream is the PCG stream of Samples' shuffle, so that it differs
// from other seeded choices made with the same seed.
const samplesStream = 0x5a4d706c6573

// Samples draws a strip of n example images as a PNG file at path: the
// notebook's first look at the data. The images are chosen from examples
// by a shuffle seeded with seed (the same arguments choose the same
// images), loaded with images.Load at size×size pixels (nearest
// neighbour), drawn side by side in the shuffled order, each with its
// class name under it, shrunk or shortened with "…" to fit. If n exceeds
// len(examples), all examples are drawn. An image that does not load is an
// error naming its file.
func Samples(path string, examples []dataset.Example, n int, seed int64, size int) error {
	return SamplesWith(path, examples, n, seed, size, nil)
}

// SamplesWith is Samples with the images loaded by thumbs (nil:
// images.Thumb).
func SamplesWith(path string, examples []dataset.Example, n int, seed int64, size int, thumbs images.Thumbs) error {
	if thumbs == nil {
		thumbs = images.Thumb
	}
	switch {
	case len(examples) == 0:
		return fmt.Errorf("plot: samples %s: no examples", path)
	case n < 1:
		return fmt.Errorf("plot: samples %s: %d images; want at least 1", path, n)
	case size < 1:
		return fmt.Errorf("plot: samples %s: image size %d; want at least 1", path, size)
	}
	n = min(n, len(examples))
	tile := max(size, samplesMinTile)
	w := 2*samplesMargin + n*tile + (n-1)*samplesGap
	h := 2*samplesMargin + size + samplesLabelH
	if w > samplesMaxPixels/h {
		return fmt.Errorf("plot: samples %s: %d images of %d pixels make a %d×%d figure, too large; draw fewer or smaller", path, n, size, w, h)
	}
	r := rand.New(rand.NewPCG(uint64(seed), samplesStream))
	order := r.Perm(len(examples))[:n]
	pics := make([]*images.RGB, n)
	for i, k := range order {
		img, err := thumbs(examples[k].Path, size)
		if err != nil {
			return fmt.Errorf("plot: samples %s: %w", path, err)
		}
		pics[i] = img
	}
	return render(path, "samples", func() (image.Image, error) {
		c, dc := newCanvas(w, h)
		dst, ok := c.Image().(*image.RGBA)
		if !ok {
			return nil, errors.New("canvas is not an RGBA image")
		}
		for i, k := range order {
			x0 := samplesMargin + i*(tile+samplesGap)
			pasteRGB(dst, pics[i], x0+(tile-size)/2, samplesMargin)

			name, _ := Drawable(examples[k].Class)
			sty := textStyle(vg.Points(samplesFont), color.Black, text.XCenter, text.YTop)
			for sty.Width(name) > px(float64(tile)) && sty.Font.Size > vg.Points(samplesMinFont) {
				sty.Font.Size -= vg.Points(0.5)
			}
			label := fitText(sty, name, px(float64(tile)))
			// vg's y axis points up: the label hangs from just below the image.
			pt := vg.Point{X: px(float64(x0) + float64(tile)/2), Y: px(float64(h - samplesMargin - size - 4))}
			dc.FillText(sty, pt, label)
		}
		return dst, nil
	})
}

// pasteRGB copies src into dst with its top left corner at (x, y).
func pasteRGB(dst *image.RGBA, src *images.RGB, x, y int) {
	for row := range src.H {
		d := dst.PixOffset(x, y+row)
		s := 3 * row * src.W
		for range src.W {
			dst.Pix[d], dst.Pix[d+1], dst.Pix[d+2], dst.Pix[d+3] = src.Pix[s], src.Pix[s+1], src.Pix[s+2], 0xff
			d += 4
			s += 3
		}
	}
}
