package inspect

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// Pair is two images that are duplicates: the same bytes (Exact), or
// features whose cosine reaches the near-duplicate threshold.
type Pair struct {
	A, B   int     // example indexes, A < B (so A's split comes first: train, val, test)
	Exact  bool    // same SHA-256 of the file's bytes
	Cosine float64 // of their features; 1 for an exact pair without features
}

// Splits names the splits of a pair as "train/test": the first split in
// dataset.SplitNames order, then the other.
func (p Pair) Splits(examples []dataset.Example) string {
	return examples[p.A].Split + "/" + examples[p.B].Split
}

// Duplicates finds every pair of examples with the same content hash
// (Example.Hash, set by dataset.HashFiles) and, when sp is not nil, every
// other pair whose features have a cosine of at least threshold. Pairs
// are in order of A, then B.
func Duplicates(examples []dataset.Example, sp *Space, threshold float64, prod Products) ([]Pair, error) {
	byHash := map[string][]int{}
	for i, e := range examples {
		if e.Hash != "" {
			byHash[e.Hash] = append(byHash[e.Hash], i)
		}
	}
	var pairs []Pair
	for _, idx := range byHash {
		for x, a := range idx {
			for _, b := range idx[x+1:] {
				pairs = append(pairs, Pair{A: a, B: b, Exact: true, Cosine: 1})
			}
		}
	}
	if sp != nil {
		near, err := sp.above(float32(threshold), prod)
		if err != nil {
			return nil, err
		}
		for _, p := range near {
			if h := examples[p.A].Hash; h == "" || h != examples[p.B].Hash { // exact pairs are listed already
				pairs = append(pairs, p)
			}
		}
		// Exact pairs get their measured cosine too.
		for i, p := range pairs {
			if p.Exact {
				pairs[i].Cosine = dot(sp.Row(p.A), sp.Row(p.B))
			}
		}
	}
	slices.SortFunc(pairs, func(p, q Pair) int { return cmp.Or(cmp.Compare(p.A, q.A), cmp.Compare(p.B, q.B)) })
	return pairs, nil
}

// above returns every pair of rows (A < B) whose cosine is at least t,
// computing each block of rows against the rows from the block on (half
// of all products).
func (s *Space) above(t float32, prod Products) ([]Pair, error) {
	if prod == nil {
		prod = Dot
	}
	n := s.Len()
	var out []Pair
	for lo := 0; lo < n; lo += block {
		hi := min(lo+block, n)
		cols := n - lo
		sims, err := prod(s.X[lo*s.Dim:hi*s.Dim], s.X[lo*s.Dim:], s.Dim)
		if err != nil {
			return nil, fmt.Errorf("inspect: cosines: %w", err)
		}
		if len(sims) != (hi-lo)*cols {
			return nil, fmt.Errorf("inspect: cosines: got %d values for %d×%d", len(sims), hi-lo, cols)
		}
		for a := lo; a < hi; a++ {
			row := sims[(a-lo)*cols : (a-lo+1)*cols]
			for b := a + 1; b < n; b++ {
				if c := row[b-lo]; c >= t {
					out = append(out, Pair{A: a, B: b, Cosine: float64(c)})
				}
			}
		}
	}
	return out, nil
}

func dot(x, y []float32) float64 {
	var s float64
	for i, v := range x {
		s += float64(v) * float64(y[i])
	}
	return s
}

// CountBySplits counts pairs per pair of splits ("train/test", ...); every
// pair of splits that has an example is listed, with zeros.
func CountBySplits(examples []dataset.Example, pairs []Pair) map[string]report.DuplicateCount {
	has := map[string]bool{}
	for _, e := range examples {
		has[e.Split] = true
	}
	out := map[string]report.DuplicateCount{}
	for i, a := range dataset.SplitNames {
		for _, b := range dataset.SplitNames[i:] {
			if has[a] && has[b] {
				out[a+"/"+b] = report.DuplicateCount{}
			}
		}
	}
	for _, p := range pairs {
		k := p.Splits(examples)
		c := out[k]
		if p.Exact {
			c.Exact++
		} else {
			c.Near++
		}
		out[k] = c
	}
	return out
}

// Leaks are the pairs of a test image with a training or validation
// image: the test split then measures memory, not generalisation.
func Leaks(examples []dataset.Example, pairs []Pair) []Pair {
	var out []Pair
	for _, p := range pairs {
		if examples[p.B].Split == dataset.Test && examples[p.A].Split != dataset.Test {
			out = append(out, p)
		}
	}
	return out
}

// LeakedTest are the example indexes of the test images in leaks, each
// once, in order.
func LeakedTest(leaks []Pair) []int {
	var out []int
	for _, p := range leaks {
		out = append(out, p.B)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
