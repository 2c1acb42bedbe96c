package inspect

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// LinearTop trains a softmax layer (Keras' Dense(classes, softmax)) on
// the rows x (d values each) with labels y, seeded, and returns its class
// probabilities for the rows of test (n×classes, row-major).
type LinearTop func(x []float32, y []int32, test []float32, d, classes int, seed int64) ([]float32, error)

// Folds is how many folds OutOfFold uses.
const Folds = 5

// OutOfFold returns class probabilities for each of idx (example indexes
// of sp; labels holds every example's label) from a LinearTop trained on
// the other folds: k folds, assigned by a shuffle seeded with seed, so
// that no image is predicted by a model that saw its label. The folds
// train concurrently (fit must be safe for concurrent use).
func OutOfFold(sp *Space, labels []int32, classes int, idx []int, k int, seed int64, fit LinearTop) ([]float32, error) {
	if len(idx) < k || k < 2 {
		return nil, fmt.Errorf("inspect: %d-fold predictions of %d images: need at least %d", k, len(idx), max(k, 2))
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x6f6f66))
	fold := make([]int, len(idx))
	for i, p := range r.Perm(len(idx)) {
		fold[p] = i % k
	}
	probs := make([]float32, len(idx)*classes)
	// The folds train at once, one per CPU: each writes its own rows.
	errs := make([]error, k)
	folds := make(chan int, k)
	for f := range k {
		folds <- f
	}
	close(folds)
	var wg sync.WaitGroup
	for range min(k, runtime.NumCPU()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range folds {
				errs[f] = outOfFold(sp, labels, classes, idx, fold, f, k, seed, fit, probs)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return probs, nil
}

// outOfFold trains fold f's LinearTop on the other folds and writes its
// probabilities of fold f's images into their rows of probs.
func outOfFold(sp *Space, labels []int32, classes int, idx, fold []int, f, k int, seed int64, fit LinearTop, probs []float32) error {
	var tr, te []int
	for i := range idx {
		if fold[i] == f {
			te = append(te, i)
		} else {
			tr = append(tr, i)
		}
	}
	y := make([]int32, len(tr))
	trIdx := make([]int, len(tr))
	for j, i := range tr {
		trIdx[j], y[j] = idx[i], labels[idx[i]]
	}
	teIdx := make([]int, len(te))
	for j, i := range te {
		teIdx[j] = idx[i]
	}
	p, err := fit(sp.gather(trIdx), y, sp.gather(teIdx), sp.Dim, classes, seed+int64(f))
	if err != nil {
		return fmt.Errorf("inspect: fold %d of %d: %w", f+1, k, err)
	}
	if len(p) != len(te)*classes {
		return fmt.Errorf("inspect: fold %d of %d: %d probabilities for %d images", f+1, k, len(p), len(te))
	}
	for j, i := range te {
		copy(probs[i*classes:(i+1)*classes], p[j*classes:(j+1)*classes])
	}
	return nil
}

// Suspect is an image whose given label the out-of-fold predictions
// confidently disagree with.
type Suspect struct {
	Index     int     // example index
	Given     int     // its label
	Suggested int     // the class the predictions put it in
	PGiven    float64 // predicted probability of the given label
	PSuggest  float64 // of the suggested class
}

// Suspects applies confident learning's rule (Northcutt, Jiang and Chuang,
// "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR
// 2021, the off-diagonal of the confident joint): each class j gets the
// threshold t_j, the mean predicted probability of j over the images
// labelled j (how sure the model is of j when j is right); an image is
// counted as class j when its probability of j reaches t_j (the largest
// such probability when several do), and is a suspect when that class is
// not its label. Per-class thresholds, not one cut-off, so that a class
// the model is generally unsure of still gets its errors found, and a
// confident class does not flood the list. probs are the out-of-fold
// probabilities of idx (row i for idx[i]). Suspects are sorted by
// PGiven, least likely label first.
func Suspects(probs []float32, labels []int32, classes int, idx []int) []Suspect {
	t := make([]float64, classes)
	n := make([]int, classes)
	for i, e := range idx {
		y := labels[e]
		t[y] += float64(probs[i*classes+int(y)])
		n[y]++
	}
	for j := range t {
		if n[j] > 0 {
			t[j] /= float64(n[j])
		} else {
			t[j] = 2 // no image of j: nothing is confidently j
		}
	}
	var out []Suspect
	for i, e := range idx {
		row := probs[i*classes : (i+1)*classes]
		best := -1
		for j, p := range row {
			if float64(p) >= t[j] && (best < 0 || p > row[best]) {
				best = j
			}
		}
		y := int(labels[e])
		if best >= 0 && best != y {
			out = append(out, Suspect{Index: e, Given: y, Suggested: best, PGiven: float64(row[y]), PSuggest: float64(row[best])})
		}
	}
	slices.SortStableFunc(out, func(a, b Suspect) int { return cmp.Compare(a.PGiven, b.PGiven) })
	return out
}
