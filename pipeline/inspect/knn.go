package inspect

import (
	"fmt"
)

// KNNChoices are the k a kNN baseline chooses from (those below the
// number of training images).
var KNNChoices = []int{1, 3, 5, 7, 11, 15, 21}

// KNN is a cosine k-nearest-neighbour classifier over the training images'
// features: no training, the floor a trained top has to beat.
type KNN struct {
	K int // chosen on the validation split (leave-one-out on train without one)
	// ValAccuracy is the chosen k's accuracy on validation (or
	// leave-one-out on train).
	ValAccuracy float64
	// Probs are the test images' class probabilities (n×classes,
	// row-major): each class's share of the k neighbours' votes.
	Probs []float32
}

// FitKNN chooses k for a kNN classifier of train (example indexes; labels
// holds every example's label) on val (or, when val is empty, by
// leave-one-out on train), and classifies test with it.
func FitKNN(sp *Space, labels []int32, classes int, train, val, test []int, prod Products) (*KNN, error) {
	if len(train) == 0 || len(test) == 0 {
		return nil, fmt.Errorf("inspect: kNN needs training and test images (have %d and %d)", len(train), len(test))
	}
	var ks []int
	for _, k := range KNNChoices {
		if k <= len(train)-1 || k == 1 {
			ks = append(ks, k)
		}
	}
	kmax := ks[len(ks)-1]
	choose := val
	if len(choose) == 0 {
		choose = train // Nearest leaves each query out of its own neighbours
	}
	nv, err := sp.Nearest(choose, train, kmax, prod)
	if err != nil {
		return nil, err
	}
	best := &KNN{K: ks[0], ValAccuracy: -1}
	for _, k := range ks {
		right := 0
		for i, nb := range nv {
			if vote(nb, labels, classes, k) == int(labels[choose[i]]) {
				right++
			}
		}
		if acc := float64(right) / float64(len(choose)); acc > best.ValAccuracy {
			best.K, best.ValAccuracy = k, acc
		}
	}
	nt, err := sp.Nearest(test, train, best.K, prod)
	if err != nil {
		return nil, err
	}
	best.Probs = make([]float32, 0, len(test)*classes)
	for _, nb := range nt {
		best.Probs = append(best.Probs, shares(nb, labels, classes, best.K)...)
	}
	return best, nil
}

// shares are the classes' shares of the votes of the first k neighbours.
func shares(nb []Neighbour, labels []int32, classes, k int) []float32 {
	p := make([]float32, classes)
	k = min(k, len(nb))
	for _, n := range nb[:k] {
		p[labels[n.Index]] += 1 / float32(k)
	}
	return p
}

// vote is the class most of the first k neighbours have; a tie goes to
// the class of the nearest of the tied ones.
func vote(nb []Neighbour, labels []int32, classes, k int) int {
	counts := make([]int, classes)
	k = min(k, len(nb))
	top := 0
	for _, n := range nb[:k] {
		counts[labels[n.Index]]++
		top = max(top, counts[labels[n.Index]])
	}
	for _, n := range nb[:k] {
		if counts[labels[n.Index]] == top {
			return int(labels[n.Index])
		}
	}
	return 0
}
