package plot

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gotransfer/gotransfer/pipeline/evaluate"
)

// MaxCountClasses is the largest number of classes for which Confusion
// prints the count in each cell; beyond it the cells are too small.
const MaxCountClasses = 20

// Confusion layout, in pixels.
const (
	confusionMinData = 600 // the least width and height of the matrix
	confusionMinCell = 14  // the least cell size, which fits an 8 point label
	confusionMargin  = 16
	colorBarWidth    = 18
	maxClassText     = 200  // longer class names are shortened with "…"
	maxConfusionData = 8000 // the largest matrix drawn, to bound memory
)

// blues are the control colours of the heat map, light to dark: the
// ColorBrewer "Blues" scheme that scikit-learn's confusion matrix plots
// use. Its luminance decreases monotonically.
var blues = []color.Color{
	color.RGBA{0x08, 0x30, 0x6b, 0xff},
	color.RGBA{0x08, 0x51, 0x9c, 0xff},
	color.RGBA{0x21, 0x71, 0xb5, 0xff},
	color.RGBA{0x42, 0x92, 0xc6, 0xff},
	color.RGBA{0x6b, 0xae, 0xd6, 0xff},
	color.RGBA{0x9e, 0xca, 0xe1, 0xff},
	color.RGBA{0xc6, 0xdb, 0xef, 0xff},
	color.RGBA{0xde, 0xeb, 0xf7, 0xff},
	color.RGBA{0xf7, 0xfb, 0xff, 0xff},
}

// noExamples is the colour of the row of a class with no example.
var noExamples = color.RGBA{0xe0, 0xe0, 0xe0, 0xff}

// Confusion draws the confusion matrix m.Confusion of a classifier as a
// heat map PNG file at path: rows are the true classes and columns the
// predicted ones, both in classes order from the top left, and a cell's
// colour is its row-normalised fraction, the share of the true class's
// examples predicted as the column's class (the diagonal is each class's
// recall), shown by a colour bar. The row of a class with no example is
// grey. Class names label both axes, the column names turned upright when
// they do not fit; the counts are printed in the cells when there are at
// most MaxCountClasses classes. The figure grows with the number of
// classes (cells are at least 14 pixels), so that 100 classes stay
// legible; class names longer than 200 pixels are shortened with "…".
// More than 571 classes (8000 pixels of cells) are an error. An empty title leaves the figure untitled.
func Confusion(path string, m *evaluate.Metrics, classes []string, title string) error {
	if m == nil {
		return fmt.Errorf("plot: confusion %s: no metrics", path)
	}
	n := len(m.Confusion)
	if n == 0 {
		return fmt.Errorf("plot: confusion %s: empty confusion matrix", path)
	}
	if len(classes) != n {
		return fmt.Errorf("plot: confusion %s: %d class names for a %d×%d confusion matrix", path, len(classes), n, n)
	}
	if n*confusionMinCell > maxConfusionData {
		return fmt.Errorf("plot: confusion %s: %d classes are too many to draw; at most %d fit", path, n, maxConfusionData/confusionMinCell)
	}
	frac := make([][]float64, n)
	for i, row := range m.Confusion {
		if len(row) != n {
			return fmt.Errorf("plot: confusion %s: row %d (%s) has %d counts; want %d", path, i, classes[i], len(row), n)
		}
		sum := 0
		for j, c := range row {
			if c < 0 {
				return fmt.Errorf("plot: confusion %s: negative count %d at true %s, predicted %s", path, c, classes[i], classes[j])
			}
			sum += c
		}
		frac[i] = make([]float64, n)
		for j, c := range row {
			frac[i][j] = math.NaN()
			if sum > 0 {
				frac[i][j] = float64(c) / float64(sum)
			}
		}
	}
	return render(path, "confusion", func() (image.Image, error) {
		return drawConfusion(m.Confusion, frac, classes, title)
	})
}

// drawConfusion lays out and draws the heat map and its colour bar.
func drawConfusion(counts [][]int, frac [][]float64, classes []string, title string) (image.Image, error) {
	n := len(classes)
	cell := max(confusionMinCell, int(math.Ceil(confusionMinData/float64(n))))
	data := n * cell
	cellLen := px(float64(cell))

	cm, err := moreland.NewLuminance(blues)
	if err != nil {
		return nil, err
	}
	cm.SetMin(0)
	cm.SetMax(1)
	cm = palette.Reverse(cm)

	// The heat map.
	p := gplot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.Title.Padding = vg.Points(8)
	hm := plotter.NewHeatMap(confusionGrid(frac), cm.Palette(256))
	hm.Min, hm.Max = 0, 1
	hm.NaN = noExamples
	p.Add(hm)
	if n <= MaxCountClasses {
		size := min(vg.Points(12), cellLen*0.3)
		p.Add(&cellCounts{counts: counts, frac: frac, size: size})
	}
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Label.Text, p.Y.Label.Text = "predicted class", "true class"
	tickSize := min(vg.Points(11), cellLen*0.6)
	for _, a := range []*gplot.Axis{&p.X, &p.Y} {
		a.Tick.Label.Font.Size = tickSize
		a.Tick.Length = vg.Points(3)
	}
	names := make([]string, n)
	widest := vg.Length(0)
	for i, name := range classes {
		name, _ = Drawable(name)
		names[i] = fitText(p.X.Tick.Label, name, px(maxClassText))
		widest = max(widest, p.X.Tick.Label.Width(names[i]))
	}
	// Column names that do not fit their cell are turned upright, reading
	// upwards and ending at the axis. gonum places a rotated label so that
	// its end overlaps the tick mark by the font's descent: two trailing
	// spaces keep the text clear of it.
	upright := widest > cellLen*0.9
	if upright {
		p.X.Tick.Label.Rotation = math.Pi / 2
		p.X.Tick.Label.XAlign = text.XRight
		p.X.Tick.Label.YAlign = text.YCenter
	}
	xt, yt := make(gplot.ConstantTicks, n), make(gplot.ConstantTicks, n)
	for i, name := range names {
		xt[i] = gplot.Tick{Value: float64(i), Label: name}
		if upright {
			xt[i].Label += "  "
		}
		yt[i] = gplot.Tick{Value: float64(n - 1 - i), Label: name}
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt

	// The colour bar.
	bar := gplot.New()
	bar.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true, Colors: 256})
	bar.HideX()
	bar.Y.Label.Text = "fraction of the true class"
	bar.Y.Padding = 0
	bar.Y.Min, bar.Y.Max = 0, 1

	// Size the figure so that the matrix gets data×data pixels: measure
	// what the axes and title take around the data area of each plot.
	big := px(10 * float64(data+1000))
	probe := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: big, Y: big}}}
	pd := p.DataCanvas(probe)
	bd := bar.DataCanvas(probe)
	left, right := toPx(pd.Min.X), toPx(big-pd.Max.X)
	bottom, top := toPx(pd.Min.Y), toPx(big-pd.Max.Y)
	barLeft := toPx(bd.Min.X)
	w := int(math.Ceil(confusionMargin + left + float64(data) + right + 2*confusionMargin + barLeft + colorBarWidth + confusionMargin))
	h := int(math.Ceil(confusionMargin + top + float64(data) + bottom + confusionMargin))

	img, dc := newCanvas(w, h)
	pc := dc
	pc.Min.X += px(confusionMargin)
	pc.Max.X = pc.Min.X + px(left+float64(data)+right)
	pc.Min.Y += px(confusionMargin)
	pc.Max.Y -= px(confusionMargin)
	p.Draw(pc)

	dataC := p.DataCanvas(pc)
	bc := dc
	bc.Min.X = pc.Max.X + px(2*confusionMargin)
	bc.Max.X = bc.Min.X + px(barLeft+colorBarWidth)
	bc.Min.Y = dataC.Min.Y - (bd.Min.Y - probe.Min.Y)
	bc.Max.Y = dataC.Max.Y + (probe.Max.Y - bd.Max.Y)
	bar.Draw(bc)
	return img.Image(), nil
}

// confusionGrid is the row-normalised confusion matrix as a
// plotter.GridXYZ: column c is predicted class c, and row r (counted from
// the bottom) is true class n-1-r, so that class 0 is at the top left.
type confusionGrid [][]float64

func (g confusionGrid) Dims() (c, r int)   { return len(g), len(g) }
func (g confusionGrid) Z(c, r int) float64 { return g[len(g)-1-r][c] }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }

// cellCounts is a gplot.Plotter printing the count of each confusion
// matrix cell at its centre, white on dark cells.
type cellCounts struct {
	counts [][]int
	frac   [][]float64
	size   vg.Length
}

// Plot implements gplot.Plotter.
func (cc *cellCounts) Plot(c draw.Canvas, p *gplot.Plot) {
	trX, trY := p.Transforms(&c)
	n := len(cc.counts)
	for i, row := range cc.counts {
		for j, v := range row {
			ink := color.Color(color.Black)
			if cc.frac[i][j] > 0.55 {
				ink = color.White
			}
			sty := textStyle(cc.size, ink, text.XCenter, text.YCenter)
			c.FillText(sty, vg.Point{X: trX(float64(j)), Y: trY(float64(n - 1 - i))}, strconv.Itoa(v))
		}
	}
}
