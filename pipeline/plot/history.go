package plot

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/num"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// History figure size in pixels; the height grows when the legend needs it.
const (
	historyWidth  = 1200
	historyHeight = 450
	maxLegendText = 300 // longer model names are shortened with "…"
)

// colors are the line colours of the models, in order: matplotlib's
// "tab10" palette, the notebook's colours. They repeat after ten models,
// when the marker shape still tells models apart.
var colors = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x94, 0x67, 0xbd, 0xff}, // purple
	{0x8c, 0x56, 0x4b, 0xff}, // brown
	{0xe3, 0x77, 0xc2, 0xff}, // pink
	{0x7f, 0x7f, 0x7f, 0xff}, // grey
	{0xbc, 0xbd, 0x22, 0xff}, // olive
	{0x17, 0xbe, 0xcf, 0xff}, // cyan
}

// shapes are the point markers of the models, in order.
var shapes = []draw.GlyphDrawer{
	draw.CircleGlyph{},
	draw.BoxGlyph{},
	draw.PyramidGlyph{},
	draw.CrossGlyph{},
	draw.SquareGlyph{},
	draw.TriangleGlyph{},
	draw.PlusGlyph{},
}

// series is what History draws of one model.
type series struct {
	name      string
	note      string // " (train)" or " (no data)" after the name in the legend
	val       bool   // the points are validation metrics
	line      draw.LineStyle
	glyph     draw.GlyphStyle
	loss, acc plotter.XYs // finite points only
	gapsLoss  []int       // indexes into loss where a gap (a non-finite epoch) precedes the point
	gapsAcc   []int
	best      int // 1-based best epoch, 0 if none
}

// History draws the training history of models as a PNG file at path: the
// notebook's comparison figure, with the validation loss per epoch on the
// left and the validation accuracy on the right, one line with point
// markers per model in the same colour in both panels, and a legend of the
// model names. A model without validation metrics (NaN: the run had no
// validation split) is drawn with its training loss and accuracy instead,
// and its legend entry says "(train)". Non-finite values (a diverged
// model) are left out, breaking the line. A model's best epoch
// (Model.BestEpoch) is circled. Names longer than 300 pixels are
// shortened in the legend.
//
// The figure is 1200×450 pixels, taller if the legend needs it.
func History(path string, models []report.Model) error {
	if len(models) == 0 {
		return fmt.Errorf("plot: history %s: no models", path)
	}
	ss := make([]series, len(models))
	var anyVal, anyData bool
	maxEpoch := 1
	for i, m := range models {
		ss[i] = newSeries(i, m)
		if ss[i].val {
			anyVal = true
		}
		if len(ss[i].loss)+len(ss[i].acc) > 0 {
			anyData = true
		}
		for j, e := range m.History {
			maxEpoch = max(maxEpoch, epochOf(j, e))
		}
	}
	if !anyData {
		return fmt.Errorf("plot: history %s: no model has a finite loss or accuracy to plot", path)
	}
	return render(path, "history", func() (image.Image, error) {
		return drawHistory(ss, anyVal, maxEpoch)
	})
}

// epochOf returns the 1-based epoch number of e, the j-th history entry.
func epochOf(j int, e history.Epoch) int {
	if e.Epoch > 0 {
		return e.Epoch
	}
	return j + 1
}

// newSeries collects the points History draws of model m, the i-th.
func newSeries(i int, m report.Model) series {
	s := series{
		name:  m.Name,
		line:  draw.LineStyle{Color: colors[i%len(colors)], Width: vg.Points(1.5)},
		glyph: draw.GlyphStyle{Color: colors[i%len(colors)], Radius: vg.Points(2.5), Shape: shapes[i%len(shapes)]},
		best:  m.BestEpoch,
	}
	for _, e := range m.History {
		if num.Finite(e.ValLoss) || num.Finite(e.ValAccuracy) {
			s.val = true
			break
		}
	}
	lossOf, accOf := func(e history.Epoch) float64 { return e.ValLoss }, func(e history.Epoch) float64 { return e.ValAccuracy }
	if !s.val {
		lossOf, accOf = func(e history.Epoch) float64 { return e.Loss }, func(e history.Epoch) float64 { return e.Accuracy }
		if len(m.History) > 0 {
			s.note = " (train)"
		}
	}
	s.loss, s.gapsLoss = points(m.History, lossOf)
	s.acc, s.gapsAcc = points(m.History, accOf)
	if len(s.loss)+len(s.acc) == 0 {
		s.note = " (no data)"
	}
	return s
}

// points returns the finite values of metric over history as (epoch,
// value) points, and the indexes of the points that follow a left-out one.
func points(history []history.Epoch, metric func(history.Epoch) float64) (plotter.XYs, []int) {
	var xys plotter.XYs
	var gaps []int
	skipped := false
	for j, e := range history {
		v := metric(e)
		if !num.Finite(v) {
			skipped = true
			continue
		}
		if skipped && len(xys) > 0 {
			gaps = append(gaps, len(xys))
		}
		skipped = false
		xys = append(xys, plotter.XY{X: float64(epochOf(j, e)), Y: v})
	}
	return xys, gaps
}

// drawHistory draws the two panels and the legend.
func drawHistory(ss []series, anyVal bool, maxEpoch int) (image.Image, error) {
	lossTitle, accTitle := "validation loss", "validation accuracy"
	if !anyVal {
		lossTitle, accTitle = "training loss (no validation split)", "training accuracy (no validation split)"
	}
	bestStyle := func(s series) draw.GlyphStyle {
		return draw.GlyphStyle{Color: s.line.Color, Radius: vg.Points(6), Shape: draw.RingGlyph{}}
	}
	panel := func(title, ylabel string, pts func(series) (plotter.XYs, []int)) (*gplot.Plot, bool) {
		p := gplot.New()
		p.Title.Text = title
		p.Title.TextStyle.Font.Size = vg.Points(14)
		p.Title.Padding = vg.Points(6)
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = ylabel
		p.X.Tick.Marker = epochTicks{}
		p.Add(plotter.NewGrid())
		marked := false
		for _, s := range ss {
			xys, gaps := pts(s)
			start := 0
			for _, end := range append(slices.Clip(gaps), len(xys)) {
				if end-start > 1 {
					p.Add(&plotter.Line{XYs: xys[start:end], LineStyle: s.line})
				}
				start = end
			}
			if len(xys) > 0 {
				p.Add(&plotter.Scatter{XYs: xys, GlyphStyle: s.glyph})
			}
			for _, xy := range xys {
				if s.best > 0 && xy.X == float64(s.best) {
					p.Add(&plotter.Scatter{XYs: plotter.XYs{xy}, GlyphStyle: bestStyle(s)})
					marked = true
				}
			}
		}
		// Leave room around the points for the markers, so that gonum
		// does not shrink one panel's data area to fit them and the two
		// panels stay aligned.
		xpad := max(0.5, 0.025*float64(maxEpoch))
		p.X.Min, p.X.Max = 1-xpad, float64(maxEpoch)+xpad
		if p.Y.Min > p.Y.Max { // no points at all
			p.Y.Min, p.Y.Max = 0, 1
		}
		ypad := 0.06 * (p.Y.Max - p.Y.Min)
		if ypad < 1e-9 {
			ypad = max(0.05*math.Abs(p.Y.Max), 0.01)
		}
		p.Y.Min -= ypad
		p.Y.Max += ypad
		p.Y.Tick.Marker = valueTicks{}
		return p, marked
	}
	loss, m1 := panel(lossTitle, "loss", func(s series) (plotter.XYs, []int) { return s.loss, s.gapsLoss })
	acc, m2 := panel(accTitle, "accuracy", func(s series) (plotter.XYs, []int) { return s.acc, s.gapsAcc })

	legend := gplot.NewLegend()
	legend.Left, legend.Top = true, true
	legend.ThumbnailWidth = vg.Points(24)
	legend.Padding = vg.Points(3)
	for _, s := range ss {
		name := fitText(legend.TextStyle, s.name, px(maxLegendText)-legend.TextStyle.Width(s.note))
		legend.Add(name+s.note, &plotter.Line{LineStyle: s.line}, &plotter.Scatter{GlyphStyle: s.glyph})
	}
	if m1 || m2 {
		legend.Add("best epoch", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: color.Black, Radius: vg.Points(6), Shape: draw.RingGlyph{}}})
	}
	probe := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: px(historyWidth), Y: px(historyHeight)}}}
	lsize := legend.Rectangle(probe).Size()
	const margin = 16 // pixels
	legendW := int(math.Ceil(toPx(lsize.X))) + 2*margin
	h := max(historyHeight, int(math.Ceil(toPx(lsize.Y)))+6*margin)

	img, dc := newCanvas(historyWidth, h)
	area := draw.Crop(dc, 0, -px(float64(legendW)), 0, 0)
	tiles := draw.Tiles{
		Rows: 1, Cols: 2,
		PadX:    px(3 * margin),
		PadLeft: px(margin), PadRight: px(margin),
		PadTop: px(margin), PadBottom: px(margin),
	}
	plots := [][]*gplot.Plot{{loss, acc}}
	cs := gplot.Align(plots, tiles, area)
	loss.Draw(cs[0][0])
	acc.Draw(cs[0][1])

	top := loss.DataCanvas(cs[0][0]).Max.Y
	lc := dc
	lc.Min.X = dc.Max.X - px(float64(legendW-margin))
	lc.Max.Y = top
	legend.Draw(lc)
	return img.Image(), nil
}

// epochTicks marks whole epochs: every one when there are few, else every
// 2nd, 5th, 10th, ... so that at most about ten are labelled, with the
// others as minor ticks while they are not too dense.
type epochTicks struct{}

// Ticks implements gplot.Ticker.
func (epochTicks) Ticks(lo, hi float64) []gplot.Tick {
	first, last := int(math.Ceil(lo)), int(math.Floor(hi))
	if first > last {
		return nil
	}
	step := niceStep(last-first, 10)
	var ticks []gplot.Tick
	for e := first; e <= last; e++ {
		switch {
		case e%step == 0 || step == 1:
			ticks = append(ticks, gplot.Tick{Value: float64(e), Label: strconv.Itoa(e)})
		case last-first <= 40:
			ticks = append(ticks, gplot.Tick{Value: float64(e)})
		}
	}
	return ticks
}

// niceStep returns the least of 1, 2, 5, 10, 20, 50, ... that splits span
// into at most most steps.
func niceStep(span, most int) int {
	for k := 1; ; k *= 10 {
		for _, m := range []int{1, 2, 5} {
			if span/(m*k) <= most {
				return m * k
			}
		}
	}
}

// valueTicks labels 3 to 7 round values (steps of 1, 2 or 5 times a power
// of ten) between lo and hi, which gonum's default ticker labels too few
// of for a 450 pixel figure.
type valueTicks struct{}

// Ticks implements gplot.Ticker.
func (valueTicks) Ticks(lo, hi float64) []gplot.Tick {
	if !num.Finite(lo) || !num.Finite(hi) || hi <= lo {
		return gplot.DefaultTicks{}.Ticks(lo, hi)
	}
	mag := math.Pow(10, math.Floor(math.Log10((hi-lo)/6)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if (hi-lo)/(m*mag) <= 6 {
			step = m * mag
			break
		}
	}
	dec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var ticks []gplot.Tick
	for i := math.Ceil(lo / step); i*step <= hi; i++ {
		v := i * step
		if i == 0 {
			v = 0 // not -0
		}
		ticks = append(ticks, gplot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', dec, 64)})
	}
	return ticks
}
