package inspect

import (
	"cmp"
	"math"
	"slices"
)

// Miss is a misclassified test image.
type Miss struct {
	Index       int     // example index
	True        int     // its label
	Predicted   int     // the most probable class
	Probability float64 // of Predicted
	Loss        float64 // -log of the probability of True (clipped at 1e-7, as Keras clips)
	// Nearest are its nearest training images in feature space (only
	// for the images the gallery shows).
	Nearest []Neighbour
}

// Misclassified lists the test images (example indexes test, probs their
// probabilities, row i for test[i]) whose most probable class (the first,
// on ties, as evaluate counts) is not their label, highest loss first
// (then in test order). Rows that are not finite are left out: the
// report counts them already.
func Misclassified(probs []float32, labels []int32, classes int, test []int) []Miss {
	var out []Miss
	for i, e := range test {
		row := probs[i*classes : (i+1)*classes]
		pred, ok := 0, true
		for j, p := range row {
			if p != p || math.IsInf(float64(p), 0) {
				ok = false
			}
			if p > row[pred] {
				pred = j
			}
		}
		y := int(labels[e])
		if !ok || pred == y {
			continue
		}
		py := math.Min(math.Max(float64(row[y]), 1e-7), 1-1e-7)
		out = append(out, Miss{Index: e, True: y, Predicted: pred, Probability: float64(row[pred]), Loss: -math.Log(py)})
	}
	slices.SortStableFunc(out, func(a, b Miss) int { return cmp.Compare(b.Loss, a.Loss) })
	return out
}
