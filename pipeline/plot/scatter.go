package plot

import (
	"fmt"
	"image"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gotransfer/gotransfer/pipeline/num"
)

// Scatter figure size in pixels.
const (
	scatterWidth  = 900
	scatterHeight = 700
)

// Scatter draws points (xs[i], ys[i]) coloured by class (labels[i] indexes
// classes, in the palette of History, then repeating with other marker
// shapes) as a PNG file at path, with a legend of the classes, such as a
// 2-D projection of features. Non-finite points are an error.
func Scatter(path, title, xlabel, ylabel string, xs, ys []float64, labels []int, classes []string) error {
	switch {
	case len(xs) == 0:
		return fmt.Errorf("plot: scatter %s: no points", path)
	case len(ys) != len(xs) || len(labels) != len(xs):
		return fmt.Errorf("plot: scatter %s: %d x, %d y and %d labels", path, len(xs), len(ys), len(labels))
	}
	byClass := make([]plotter.XYs, len(classes))
	for i := range xs {
		if !num.Finite(xs[i]) || !num.Finite(ys[i]) {
			return fmt.Errorf("plot: scatter %s: point %d is not finite", path, i)
		}
		if labels[i] < 0 || labels[i] >= len(classes) {
			return fmt.Errorf("plot: scatter %s: point %d has label %d of %d classes", path, i, labels[i], len(classes))
		}
		byClass[labels[i]] = append(byClass[labels[i]], plotter.XY{X: xs[i], Y: ys[i]})
	}
	return render(path, "scatter", func() (image.Image, error) {
		p := gplot.New()
		p.Title.Text = title
		p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
		p.Legend.Top = true
		for k, pts := range byClass {
			if len(pts) == 0 {
				continue
			}
			s, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, err
			}
			c := colors[k%len(colors)]
			s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(2), Shape: shapes[(k/len(colors))%len(shapes)]}
			p.Add(s)
			p.Legend.Add(classes[k], s)
		}
		img, dc := newCanvas(scatterWidth, scatterHeight)
		p.Draw(dc)
		return img.Image(), nil
	})
}
