package plot

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// LR-finder figure size in pixels.
const (
	lrWidth  = 900
	lrHeight = 500
)

// Suggestion is a marked point of an LR-finder curve: a suggested rate
// and its name.
type Suggestion struct {
	Name string
	Rate float64
}

// LRFind draws a learning-rate range test as a PNG file at path: the
// smoothed loss against the learning rate (log scale), the raw batch
// losses faintly behind it, and each suggested rate as a vertical line
// named in the legend. Non-finite losses are left out; rates must be
// positive.
func LRFind(path, title string, rates, losses, smoothed []float64, marks []Suggestion) error {
	if len(rates) == 0 || len(rates) != len(losses) || len(rates) != len(smoothed) {
		return fmt.Errorf("plot: lr-find %s: %d rates, %d losses, %d smoothed; want as many, at least one", path, len(rates), len(losses), len(smoothed))
	}
	for _, r := range rates {
		if !(r > 0) || math.IsInf(r, 0) {
			return fmt.Errorf("plot: lr-find %s: rate %g; want positive rates", path, r)
		}
	}
	return render(path, "lr-find", func() (image.Image, error) {
		p := gplot.New()
		p.Title.Text = title
		p.X.Label.Text = "learning rate"
		p.Y.Label.Text = "loss"
		p.X.Scale = gplot.LogScale{}
		p.X.Tick.Marker = decades{}
		raw, smooth := plotter.XYs{}, plotter.XYs{}
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, r := range rates {
			if v := losses[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
				raw = append(raw, plotter.XY{X: r, Y: v})
			}
			if v := smoothed[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
				smooth = append(smooth, plotter.XY{X: r, Y: v})
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if len(smooth) == 0 {
			return nil, fmt.Errorf("no finite loss")
		}
		// The smoothed curve sets the top: a diverged batch's loss
		// would flatten the rest.
		for _, r := range raw {
			lo = min(lo, r.Y)
		}
		pad := 0.05 * max(hi-lo, 1e-6)
		p.Y.Min, p.Y.Max = lo-pad, hi+(hi-lo)*0.5+pad
		for i := range raw {
			raw[i].Y = min(raw[i].Y, p.Y.Max)
		}
		if len(raw) > 0 {
			s, err := plotter.NewScatter(raw)
			if err != nil {
				return nil, err
			}
			s.GlyphStyle = draw.GlyphStyle{Color: color.RGBA{0xb0, 0xb0, 0xb0, 0xff}, Radius: vg.Points(1.2), Shape: draw.CircleGlyph{}}
			p.Add(s)
			p.Legend.Add("batch loss", s)
		}
		l, err := plotter.NewLine(smooth)
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: colors[0], Width: vg.Points(2)}
		p.Add(l)
		p.Legend.Add("smoothed", l)
		for i, m := range marks {
			if !(m.Rate > 0) {
				continue
			}
			v, err := plotter.NewLine(plotter.XYs{{X: m.Rate, Y: p.Y.Min}, {X: m.Rate, Y: p.Y.Max}})
			if err != nil {
				return nil, err
			}
			v.LineStyle = draw.LineStyle{Color: colors[(i+1)%len(colors)], Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
			p.Add(v)
			p.Legend.Add(fmt.Sprintf("%s: %.3g", m.Name, m.Rate), v)
		}
		p.Legend.Top, p.Legend.Left = true, true
		c, dc := newCanvas(lrWidth, lrHeight)
		p.Draw(dc)
		return c.Image(), nil
	})
}

// decades are the log axis's ticks: labelled at each power of ten
// ("1e-05"), unlabelled in between.
type decades struct{}

func (decades) Ticks(lo, hi float64) []gplot.Tick {
	var ts []gplot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		d := math.Pow(10, e)
		if d >= lo && d <= hi {
			ts = append(ts, gplot.Tick{Value: d, Label: strconv.FormatFloat(d, 'g', -1, 64)})
		}
		for k := 2.0; k < 10; k++ {
			if v := k * d; v >= lo && v <= hi {
				ts = append(ts, gplot.Tick{Value: v})
			}
		}
	}
	return ts
}
