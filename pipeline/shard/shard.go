// Package shard splits a run's examples into N parts that every process
// computes the same way, so the N copies of one command that a cluster
// scheduler starts (a Slurm job array, a Kubernetes Indexed Job) each take
// one part without talking to each other or to a coordinator.
//
// The parts are contiguous ranges of the manifest's order (train, val,
// test, each shuffled by the seed), so they are balanced to one example
// and each mixes every class and split. A shard reads only its own
// images.
package shard

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is part Index of Count, numbered from 0.
type Shard struct {
	Index, Count int
}

// All is the whole run as one shard.
var All = Shard{0, 1}

// String is "I/N", the form Parse reads.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Check reports whether s names a part of a split into Count parts.
func (s Shard) Check() error {
	switch {
	case s.Count < 1:
		return fmt.Errorf("shard %s: the shard count must be at least 1", s)
	case s.Index < 0 || s.Index >= s.Count:
		return fmt.Errorf("shard %s: the index must be from 0 to %d (shards are numbered from 0)", s, s.Count-1)
	}
	return nil
}

// Parse reads "I/N": shard I of N, I from 0 to N-1.
func Parse(v string) (Shard, error) {
	i, n, ok := strings.Cut(v, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want I/N, e.g. 0/4 for the first of 4 shards", v)
	}
	var s Shard
	var err1, err2 error
	s.Index, err1 = strconv.Atoi(strings.TrimSpace(i))
	s.Count, err2 = strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want I/N with whole numbers, e.g. 0/4 for the first of 4 shards", v)
	}
	return s, s.Check()
}

// Environment variables a scheduler sets in each copy of a command.
const (
	SlurmIndex = "SLURM_ARRAY_TASK_ID"    // sbatch --array=0-3: 0, 1, 2, 3
	SlurmCount = "SLURM_ARRAY_TASK_COUNT" // tasks in this submission
	SlurmMin   = "SLURM_ARRAY_TASK_MIN"   // the lowest index of this submission
	KubeIndex  = "JOB_COMPLETION_INDEX"   // an Indexed Job's completion index, 0 to completions-1
)

// FromEnv finds the shard a scheduler gave this process: Slurm's job array
// index, or a Kubernetes Indexed Job's completion index. count is the
// shard count when known (a flag; 0 when not given): Kubernetes does not
// pass it, and Slurm's SLURM_ARRAY_TASK_COUNT counts only the tasks of one
// submission, so it is the count only when the whole array was submitted
// at once (a rerun of one shard, sbatch --array=2, has a count of 1). ok
// is false when neither scheduler's variable is set.
func FromEnv(getenv func(string) string, count int) (s Shard, ok bool, err error) {
	if v := getenv(SlurmIndex); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil {
			return Shard{}, true, fmt.Errorf("%s=%q is not a whole number", SlurmIndex, v)
		}
		if count == 0 {
			c := getenv(SlurmCount)
			n, err := strconv.Atoi(c)
			if err != nil {
				return Shard{}, true, fmt.Errorf("%s=%s but %s=%q: pass the shard count (-shards N)", SlurmIndex, v, SlurmCount, c)
			}
			if m := getenv(SlurmMin); m != "" && m != "0" {
				return Shard{}, true, fmt.Errorf("%s=%s: this array starts at %s, and without -shards N the count is %s=%d, which only holds for an array 0 to N-1 (shards are numbered from 0): submit --array=0-%d, or pass -shards N",
					SlurmIndex, v, m, SlurmCount, n, n-1)
			}
			count = n
		}
		s = Shard{i, count}
		if err := s.Check(); err != nil {
			return Shard{}, true, fmt.Errorf("%s=%s with %d shards: %w", SlurmIndex, v, count, err)
		}
		return s, true, nil
	}
	if v := getenv(KubeIndex); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil {
			return Shard{}, true, fmt.Errorf("%s=%q is not a whole number", KubeIndex, v)
		}
		if count == 0 {
			return Shard{}, true, fmt.Errorf("%s=%s: Kubernetes does not say how many shards there are: pass -shards N (the Job's completions)", KubeIndex, v)
		}
		s = Shard{i, count}
		if err := s.Check(); err != nil {
			return Shard{}, true, fmt.Errorf("%s=%s with %d shards: %w", KubeIndex, v, count, err)
		}
		return s, true, nil
	}
	return Shard{}, false, nil
}

// Range is the part of n examples that shard s takes: examples lo to hi-1.
// The ranges of shards 0 to Count-1 cover 0 to n-1 once each, and their
// lengths differ by at most one.
func (s Shard) Range(n int) (lo, hi int) {
	return n * s.Index / s.Count, n * (s.Index + 1) / s.Count
}

// Of is the shard, of count, that takes example i of n.
func Of(i, n, count int) int {
	// The largest k with n*k/count <= i, i.e. n*k < (i+1)*count.
	return ((i+1)*count - 1) / n
}
