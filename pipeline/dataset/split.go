package dataset

import (
	"math/bits"
	"math/rand/v2"
)

// seq is the PCG stream selector paired with Options.Seed. It is fixed so
// that a seed means the same thing in every version of this package.
const seq = 0x9e3779b97f4a7c15

// newRand returns the random source for seed. PCG's output is fully
// specified, and shuffle and below use only its raw 64-bit values, so the
// same seed gives the same split on every machine and Go version (the
// shuffles of math/rand/v2.Rand carry no such promise).
func newRand(seed int64) *rand.PCG {
	return rand.NewPCG(uint64(seed), seq)
}

// below returns a uniform random number in [0, n) by Lemire's
// multiply-and-reject method.
func below(r *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(r.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), n)
		}
	}
	return hi
}

// shuffle puts s in uniformly random order (Fisher-Yates, from the end).
func shuffle[T any](r *rand.PCG, s []T) {
	for i := len(s) - 1; i > 0; i-- {
		j := below(r, uint64(i+1))
		s[i], s[j] = s[j], s[i]
	}
}

// splitSizes returns how many of n examples go to train and to validation;
// the rest go to test. It follows the notebook:
//
//	idx_val = int(train_split * len(data))
//	idx_test = int((train_split + val_split) * len(data))
//
// which for 6209 images and 0.70/0.15/0.15 gives 4346/931/932.
func splitSizes(n int, s Split) (train, val int) {
	train = int(s.Train * float64(n))
	end := int((s.Train + s.Val) * float64(n))
	end = min(max(end, train), n)
	return train, end - train
}

// split assigns the examples of each class to the splits. files[label]
// holds the sorted paths of class classes[label]. The order of random
// draws is: one shuffle per class (in label order), then, when stratified,
// one shuffle per split; otherwise one shuffle of all examples.
func split(classes []string, files [][]string, opts Options) []Example {
	r := newRand(opts.Seed)
	perClass := make([][]Example, len(classes))
	for label, paths := range files {
		ex := make([]Example, len(paths))
		for i, p := range paths {
			ex[i] = Example{Path: p, Label: label, Class: classes[label]}
		}
		shuffle(r, ex)
		if opts.MaxPerClass > 0 && len(ex) > opts.MaxPerClass {
			ex = ex[:opts.MaxPerClass]
		}
		perClass[label] = ex
	}

	var parts [3][]Example // train, val, test
	add := func(ex []Example) {
		nTrain, nVal := splitSizes(len(ex), opts.Split)
		parts[0] = append(parts[0], ex[:nTrain]...)
		parts[1] = append(parts[1], ex[nTrain:nTrain+nVal]...)
		parts[2] = append(parts[2], ex[nTrain+nVal:]...)
	}
	if opts.Stratify {
		for _, ex := range perClass {
			add(ex)
		}
		for i := range parts {
			shuffle(r, parts[i])
		}
	} else {
		var all []Example
		for _, ex := range perClass {
			all = append(all, ex...)
		}
		shuffle(r, all)
		add(all)
	}

	out := make([]Example, 0, len(parts[0])+len(parts[1])+len(parts[2]))
	for i, name := range SplitNames {
		for _, e := range parts[i] {
			e.Split = name
			out = append(out, e)
		}
	}
	return out
}
