package dataset

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// foldData has classes of sizes n (train+val each) and a test split.
func foldData(n ...int) *Dataset {
	d := &Dataset{}
	for c, k := range n {
		d.Classes = append(d.Classes, fmt.Sprintf("c%d", c))
		for i := range k + 3 {
			split := Train
			switch {
			case i >= k:
				split = Test
			case i%3 == 0:
				split = Val
			}
			d.Examples = append(d.Examples, Example{Path: fmt.Sprintf("c%d/%d.png", c, i), Label: c, Split: split})
		}
	}
	return d
}

// TestFoldsPartitionTrainAndValStratified: the folds are disjoint, cover
// the train and val examples exactly (never a test one), hold each class
// in shares that differ by at most one, and depend on the seed alone.
func TestFoldsPartitionTrainAndValStratified(t *testing.T) {
	d := foldData(7, 12, 5, 9)
	for _, k := range []int{2, 3, 5} {
		folds, err := d.Folds(k, 11)
		if err != nil {
			t.Fatal(err)
		}
		if len(folds) != k {
			t.Fatalf("k=%d: %d folds", k, len(folds))
		}
		seen := map[int]int{}
		sizes := []int{}
		for f, idx := range folds {
			if !slices.IsSorted(idx) {
				t.Errorf("k=%d fold %d not sorted", k, f)
			}
			perClass := make([]int, len(d.Classes))
			for _, i := range idx {
				seen[i]++
				if d.Examples[i].Split == Test {
					t.Errorf("k=%d fold %d holds test example %s", k, f, d.Examples[i].Path)
				}
				perClass[d.Examples[i].Label]++
			}
			for c, n := range perClass {
				total := []int{7, 12, 5, 9}[c]
				if n != total/k && n != (total+k-1)/k {
					t.Errorf("k=%d fold %d: %d of class %d's %d, want %d or %d", k, f, n, c, total, total/k, (total+k-1)/k)
				}
			}
			sizes = append(sizes, len(idx))
		}
		for i, e := range d.Examples {
			want := 0
			if e.Split != Test {
				want = 1
			}
			if seen[i] != want {
				t.Errorf("k=%d: %s (%s) in %d folds, want %d", k, e.Path, e.Split, seen[i], want)
			}
		}
		if slices.Max(sizes)-slices.Min(sizes) > 1 {
			t.Errorf("k=%d: fold sizes %v differ by more than one", k, sizes)
		}
		again, _ := d.Folds(k, 11)
		other, _ := d.Folds(k, 12)
		if !slices.EqualFunc(folds, again, slices.Equal[[]int]) {
			t.Errorf("k=%d: the same seed gave other folds", k)
		}
		if slices.EqualFunc(folds, other, slices.Equal[[]int]) {
			t.Errorf("k=%d: seeds 11 and 12 gave the same folds", k)
		}
	}
}

func TestFoldsLargerThanAClass(t *testing.T) {
	d := foldData(7, 4, 9)
	_, err := d.Folds(5, 1)
	if err == nil || !strings.Contains(err.Error(), `class "c1" has 4 train+val images`) || !strings.Contains(err.Error(), "at most 4") {
		t.Errorf("5 folds of a 4-image class: %v", err)
	}
	if _, err := d.Folds(1, 1); err == nil {
		t.Error("1 fold accepted")
	}
	if _, err := d.Folds(4, 1); err != nil {
		t.Errorf("4 folds of a 4-image class: %v", err)
	}
}
