package plot

import (
	"cmp"
	"fmt"
	"image"
	"maps"
	"slices"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gotransfer/gotransfer/pipeline/num"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// Size figure in pixels.
const (
	sizeWidth  = 800
	sizeHeight = 500
)

// TrainingSize draws, as a PNG file at path, the test accuracy of each
// model of runs against its run's number of training images per class
// (the train split's size over the class count): how much data a model
// needs, the question behind README's "Your own images". Models are
// matched across runs by name, one line with point markers each, in the
// colours of History; the x axis is logarithmic with a tick at every size
// present. Models without test metrics or with a non-finite accuracy are
// left out.
func TrainingSize(path string, runs []report.Run) error {
	lines := map[string]plotter.XYs{}
	var order []string // model names in order of first appearance
	sizes := map[float64]bool{}
	for _, r := range runs {
		if len(r.Dataset.Classes) == 0 {
			continue
		}
		x := float64(r.Dataset.Train) / float64(len(r.Dataset.Classes))
		for _, m := range r.Models {
			if m.Test == nil || !num.Finite(m.Test.Accuracy) || x <= 0 {
				continue
			}
			if _, ok := lines[m.Name]; !ok {
				order = append(order, m.Name)
			}
			lines[m.Name] = append(lines[m.Name], plotter.XY{X: x, Y: 100 * m.Test.Accuracy})
			sizes[x] = true
		}
	}
	if len(order) == 0 {
		return fmt.Errorf("plot: training size %s: no finished model with a test accuracy", path)
	}
	return render(path, "training size", func() (image.Image, error) {
		p := gplot.New()
		p.Title.Text = "test accuracy against training images per class"
		p.Title.TextStyle.Font.Size = vg.Points(14)
		p.X.Label.Text = "training images per class"
		p.Y.Label.Text = "test accuracy (%)"
		p.X.Scale = gplot.LogScale{}
		var ticks []gplot.Tick
		for _, x := range slices.Sorted(maps.Keys(sizes)) {
			ticks = append(ticks, gplot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', -1, 64)})
		}
		p.X.Tick.Marker = gplot.ConstantTicks(ticks)
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = false, false
		for i, name := range order {
			xys := lines[name]
			slices.SortFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
			c := colors[i%len(colors)]
			line := &plotter.Line{XYs: xys, LineStyle: draw.LineStyle{Color: c, Width: vg.Points(2)}}
			dots := &plotter.Scatter{XYs: xys, GlyphStyle: draw.GlyphStyle{Color: c, Radius: vg.Points(4), Shape: shapes[i%len(shapes)]}}
			p.Add(line, dots)
			p.Legend.Add(name, line, dots)
		}
		img, dc := newCanvas(sizeWidth, sizeHeight)
		p.Draw(dc)
		return img.Image(), nil
	})
}
