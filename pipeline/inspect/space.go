// Package inspect looks at a run's data through the backbone features the
// run has cached: duplicates and leaks across splits (exact by content
// hash, near by feature cosine), a cosine k-nearest-neighbour baseline,
// images whose label disagrees with out-of-fold predictions (suspect
// labels), each model's misclassified test images with their nearest
// training images, and the feature space itself (TensorBoard Projector
// files, a 2-D PCA scatter).
//
// Everything here is plain Go and works from features already in memory,
// so it costs seconds, not another pass of the backbone. The two heavy
// products it needs come in as functions: Products (all dot products of
// two sets of rows: a matrix product, which TensorFlow computes a hundred
// times faster than Go on a CPU) and LinearTop (train a softmax layer and
// predict). Package inspect/tfops implements both with TensorFlow; Dot is
// a plain Go Products for small sets.
package inspect

import (
	"fmt"
	"math"
)

// Space is the cached backbone features of the examples of a run, one row
// per example (in the dataset's order), each scaled to unit length so that
// a dot product is a cosine.
type Space struct {
	Model string // the transfer model whose features these are
	Dim   int
	X     []float32 // len(examples) × Dim, row-major
}

// NewSpace makes a Space of n rows of dim features x (modified: each row
// is scaled to unit length; an all-zero row stays zero).
func NewSpace(model string, dim int, x []float32) (*Space, error) {
	if dim <= 0 || len(x)%dim != 0 {
		return nil, fmt.Errorf("inspect: %d feature values are not rows of %d", len(x), dim)
	}
	for i := 0; i < len(x); i += dim {
		row := x[i : i+dim]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
			continue
		}
		s := float32(1 / math.Sqrt(ss))
		for j := range row {
			row[j] *= s
		}
	}
	return &Space{Model: model, Dim: dim, X: x}, nil
}

// Keep keeps the rows idx (in that order) and drops the others, as the
// examples they stand for were.
func (s *Space) Keep(idx []int) { s.X = s.gather(idx) }

// Len is the number of rows.
func (s *Space) Len() int { return len(s.X) / s.Dim }

// Row is the unit feature vector of example i.
func (s *Space) Row(i int) []float32 { return s.X[i*s.Dim : (i+1)*s.Dim] }

// gather copies the rows idx into one matrix.
func (s *Space) gather(idx []int) []float32 {
	out := make([]float32, 0, len(idx)*s.Dim)
	for _, i := range idx {
		out = append(out, s.Row(i)...)
	}
	return out
}

// Products returns every dot product of the rows of a with the rows of b
// (both row-major, d values a row): len(a)/d × len(b)/d values, row-major.
type Products func(a, b []float32, d int) ([]float32, error)

// Dot is Products in plain Go: right for a few hundred rows; a matrix
// product library is far faster for thousands.
func Dot(a, b []float32, d int) ([]float32, error) {
	if d <= 0 || len(a)%d != 0 || len(b)%d != 0 {
		return nil, fmt.Errorf("inspect: products of %d and %d values in rows of %d", len(a), len(b), d)
	}
	na, nb := len(a)/d, len(b)/d
	out := make([]float32, na*nb)
	for i := range na {
		x := a[i*d : (i+1)*d]
		for j := range nb {
			y := b[j*d : (j+1)*d]
			var s float32
			for k, v := range x {
				s += v * y[k]
			}
			out[i*nb+j] = s
		}
	}
	return out, nil
}

// block is how many rows go into one Products call: a block of cosines
// against 10,000 columns is 40 MB.
const block = 1024

// cosines calls fn for each of rows with its cosines to every one of
// cols, in rows' order, computing them a block of rows at a time.
func (s *Space) cosines(rows, cols []int, prod Products, fn func(r int, sims []float32)) error {
	if len(rows) == 0 || len(cols) == 0 {
		return nil
	}
	if prod == nil {
		prod = Dot
	}
	b := s.gather(cols)
	for lo := 0; lo < len(rows); lo += block {
		hi := min(lo+block, len(rows))
		sims, err := prod(s.gather(rows[lo:hi]), b, s.Dim)
		if err != nil {
			return fmt.Errorf("inspect: cosines: %w", err)
		}
		if len(sims) != (hi-lo)*len(cols) {
			return fmt.Errorf("inspect: cosines: got %d values for %d×%d", len(sims), hi-lo, len(cols))
		}
		for r := lo; r < hi; r++ {
			fn(r, sims[(r-lo)*len(cols):(r-lo+1)*len(cols)])
		}
	}
	return nil
}

// Neighbour is one of an image's nearest images in feature space.
type Neighbour struct {
	Index  int     // example index
	Cosine float64 // of their features
}

// nearest keeps the k largest of a stream of (index, cosine), largest
// first; ties keep the earlier index first.
type nearest struct {
	k   int
	top []Neighbour
}

func (n *nearest) add(i int, c float32) {
	if len(n.top) == n.k && float64(c) <= n.top[len(n.top)-1].Cosine {
		return
	}
	at := len(n.top)
	for at > 0 && float64(c) > n.top[at-1].Cosine {
		at--
	}
	if len(n.top) < n.k {
		n.top = append(n.top, Neighbour{})
	}
	copy(n.top[at+1:], n.top[at:len(n.top)-1])
	n.top[at] = Neighbour{Index: i, Cosine: float64(c)}
}

// Nearest returns, for each of queries, its k nearest examples among pool
// (by cosine, largest first), leaving out the query itself.
func (s *Space) Nearest(queries, pool []int, k int, prod Products) ([][]Neighbour, error) {
	out := make([][]Neighbour, len(queries))
	err := s.cosines(queries, pool, prod, func(r int, sims []float32) {
		n := nearest{k: k}
		for j, c := range sims {
			if pool[j] != queries[r] {
				n.add(pool[j], c)
			}
		}
		out[r] = n.top
	})
	return out, err
}
