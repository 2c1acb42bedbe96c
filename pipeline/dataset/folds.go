package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// foldSeq is the PCG stream of Folds, apart from the split's.
const foldSeq = 0x6a09e667f3bcc909

// Folds splits the training and validation examples of d (the test split
// is left alone) into k folds for cross-validation, stratified: each
// class's examples, shuffled with seed, are dealt to the folds in turn,
// continuing where the class before left off, so every fold holds
// ⌊n/k⌋ or ⌈n/k⌉ of each class's n and the fold sizes differ by at most
// one. Each fold is a list of indexes into d.Examples, ascending. Every
// fold needs an example of each class: k larger than the smallest
// class's train+val count is an error naming the class.
func (d *Dataset) Folds(k int, seed int64) ([][]int, error) {
	if k < 2 {
		return nil, fmt.Errorf("data.folds: %d; want at least 2", k)
	}
	byClass := make([][]int, len(d.Classes))
	for i, e := range d.Examples {
		if e.Split == Train || e.Split == Val {
			byClass[e.Label] = append(byClass[e.Label], i)
		}
	}
	for c, idx := range byClass {
		if len(idx) < k {
			return nil, fmt.Errorf("data.folds: %d folds, but class %q has %d train+val images: each fold needs one of every class; lower data.folds to at most %d, or add images",
				k, d.Classes[c], len(idx), smallest(byClass))
		}
	}
	r := rand.NewPCG(uint64(seed), foldSeq)
	folds := make([][]int, k)
	next := 0
	for _, idx := range byClass {
		shuffle(r, idx)
		for _, i := range idx {
			folds[next] = append(folds[next], i)
			next = (next + 1) % k
		}
	}
	for _, f := range folds {
		slices.Sort(f)
	}
	return folds, nil
}

// smallest is the size of the smallest of classes.
func smallest(classes [][]int) int {
	m := len(classes[0])
	for _, c := range classes {
		m = min(m, len(c))
	}
	return m
}
