// Package plot draws the figures of a run as PNG files: the training
// history of the models side by side (History), a confusion matrix heat
// map (Confusion) and a strip of sample images with their class names
// (Samples). They replace the matplotlib figures of ml4a's
// transfer-learning notebook.
//
// Figures are drawn with gonum.org/v1/plot at 96 dots per inch, so sizes
// given in pixels are exact. Drawing is deterministic: the same input
// gives byte-identical files. Every file is written atomically, and bad
// input (no data, NaN values, mismatched sizes) gives an error naming the
// file, never a panic.
package plot

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"strings"

	"golang.org/x/image/font/sfnt"
	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// dpi is the resolution of every figure: 96 dots per inch, at which a
// 12 point font is 16 pixels high.
const dpi = 96

// px converts a length in pixels to a vg.Length at dpi.
func px(n float64) vg.Length { return vg.Length(n) * vg.Inch / dpi }

// toPx converts a vg.Length to pixels at dpi.
func toPx(l vg.Length) float64 { return l.Dots(dpi) }

// newCanvas returns a white w×h pixel canvas and the draw.Canvas covering
// all of it.
func newCanvas(w, h int) (*vgimg.Canvas, draw.Canvas) {
	c := vgimg.NewWith(vgimg.UseWH(px(float64(w)), px(float64(h))), vgimg.UseDPI(dpi))
	return c, draw.New(c)
}

// textStyle returns the default plot font at size points in colour c,
// aligned as given.
func textStyle(size vg.Length, c color.Color, x text.XAlignment, y draw.YAlignment) text.Style {
	return text.Style{
		Color:   c,
		Font:    font.From(gplot.DefaultFont, size),
		XAlign:  x,
		YAlign:  y,
		Handler: gplot.DefaultTextHandler,
	}
}

// Drawable returns name as the plots draw it: unchanged when the plot
// font (Liberation Sans, gonum's default: Latin, Greek, Cyrillic) has a
// glyph for each of its characters; otherwise each missing one (CJK,
// emoji, ...) is written as its code point, "<U+732B>", so that no class
// name is drawn blank or two names alike, and ok is false: callers should
// say so.
func Drawable(name string) (drawn string, ok bool) {
	face := font.DefaultCache.Lookup(gplot.DefaultFont, vg.Points(12))
	if face.Face == nil {
		return name, true
	}
	var buf sfnt.Buffer
	var b strings.Builder
	ok = true
	for _, r := range name {
		if i, err := face.Face.GlyphIndex(&buf, r); err != nil || (i == 0 && r != ' ') {
			fmt.Fprintf(&b, "<%U>", r)
			ok = false
			continue
		}
		b.WriteRune(r)
	}
	return b.String(), ok
}

// render runs draw, which must not write any file, turning a panic in
// gonum/plot (which panics on some degenerate input) into an error, and
// writes the image it returns to path as a PNG file.
func render(path, what string, drawFig func() (image.Image, error)) error {
	img, err := safely(drawFig)
	if err != nil {
		return fmt.Errorf("plot: %s %s: %w", what, path, err)
	}
	return writePNG(path, img)
}

// safely calls f, returning a panic in it as an error.
func safely(f func() (image.Image, error)) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("drawing failed: %v", r)
		}
	}()
	return f()
}

// EncodePNG writes img to w as the project writes PNG files: at zlib's
// fastest level, which takes a third of the default level's time for
// files about 5% larger (a sweep draws four figures for each trial).
func EncodePNG(w io.Writer, img image.Image) error {
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, img)
}

// writePNG writes img to path atomically as a PNG file.
func writePNG(path string, img image.Image) error {
	err := fsutil.Write(path, func(f *os.File) error {
		w := bufio.NewWriter(f)
		if err := EncodePNG(w, img); err != nil {
			return err
		}
		return w.Flush()
	})
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// fitText returns s, shortened with "…" if needed, so that it is at most
// width wide in sty.
func fitText(sty text.Style, s string, width vg.Length) string {
	if sty.Width(s) <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 0 {
		r = r[:len(r)-1]
		if t := string(r) + "…"; sty.Width(t) <= width {
			return t
		}
	}
	return ""
}
