package plot

import (
	"errors"
	"fmt"
	"image"
	"image/color"

	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"

	"github.com/gotransfer/gotransfer/pipeline/images"
)

// Tile is one image of a Tiles figure: the file, up to three caption lines
// under it, and a frame colour (nil: none) to mark it.
type Tile struct {
	Path    string
	Caption []string
	Frame   color.Color
}

// Tiles layout, in pixels.
const (
	tilesGap     = 6
	tilesMargin  = 8
	tilesLineH   = 15
	tilesFont    = 9 // caption font size in points
	tilesGroupX  = 24
	tilesFrame   = 3
	tilesMaxSide = 16384
)

// Tiles draws groups of images as one PNG file at path: each group is a
// row of tiles (an image and the images that explain it, such as a
// misclassified test image and its nearest training images), each image
// size×size pixels (nearest neighbour) with its caption lines under it,
// shortened with "…" to fit. Groups stand in cols columns, one under the
// other. An image that does not load is an error naming its file.
func Tiles(path string, groups [][]Tile, cols, size int) error {
	return TilesWith(path, groups, cols, size, nil)
}

// TilesWith is Tiles with the thumbnails loaded by thumbs (nil:
// images.Thumb).
func TilesWith(path string, groups [][]Tile, cols, size int, thumbs images.Thumbs) error {
	if thumbs == nil {
		thumbs = images.Thumb
	}
	switch {
	case len(groups) == 0:
		return fmt.Errorf("plot: tiles %s: nothing to draw", path)
	case cols < 1 || size < 1:
		return fmt.Errorf("plot: tiles %s: %d columns of %d-pixel images; want at least 1 of 1", path, cols, size)
	}
	per, lines := 0, 0
	for _, g := range groups {
		per = max(per, len(g))
		for _, t := range g {
			lines = max(lines, len(t.Caption))
		}
	}
	cols = min(cols, len(groups))
	rows := (len(groups) + cols - 1) / cols
	groupW := per*size + (per-1)*tilesGap
	cellH := size + lines*tilesLineH + tilesGap
	w := 2*tilesMargin + cols*groupW + (cols-1)*tilesGroupX
	h := 2*tilesMargin + rows*cellH
	if w > tilesMaxSide || h > tilesMaxSide {
		return fmt.Errorf("plot: tiles %s: a %d×%d figure is too large; draw fewer or smaller images", path, w, h)
	}
	pics := make([][]*images.RGB, len(groups))
	for i, g := range groups {
		for _, t := range g {
			img, err := thumbs(t.Path, size)
			if err != nil {
				return fmt.Errorf("plot: tiles %s: %w", path, err)
			}
			pics[i] = append(pics[i], img)
		}
	}
	return render(path, "tiles", func() (image.Image, error) {
		c, dc := newCanvas(w, h)
		dst, ok := c.Image().(*image.RGBA)
		if !ok {
			return nil, errors.New("canvas is not an RGBA image")
		}
		sty := textStyle(vg.Points(tilesFont), color.Black, text.XCenter, text.YTop)
		for i, g := range groups {
			gx := tilesMargin + (i%cols)*(groupW+tilesGroupX)
			gy := tilesMargin + (i/cols)*cellH
			for j, t := range g {
				x0 := gx + j*(size+tilesGap)
				if t.Frame != nil {
					frame(dst, x0, gy, size, t.Frame)
				}
				pasteRGB(dst, pics[i][j], x0, gy)
				for k, line := range t.Caption {
					pt := vg.Point{X: px(float64(x0) + float64(size)/2), Y: px(float64(h - gy - size - 2 - k*tilesLineH))}
					dc.FillText(sty, pt, fitText(sty, line, px(float64(size+tilesGap-2))))
				}
			}
		}
		return dst, nil
	})
}

// frame draws a tilesFrame-pixel border of colour c around the size×size
// square at (x, y).
func frame(dst *image.RGBA, x, y, size int, c color.Color) {
	for yy := y - tilesFrame; yy < y+size+tilesFrame; yy++ {
		for xx := x - tilesFrame; xx < x+size+tilesFrame; xx++ {
			if image.Pt(xx, yy).In(dst.Rect) {
				dst.Set(xx, yy, c)
			}
		}
	}
}
