package shard

import (
	"strings"
	"testing"
)

// Every example belongs to exactly one shard, Of agrees with Range, and
// shard sizes differ by at most one, for every count up to and past the
// number of examples.
func TestRangesPartition(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for count := 1; count <= 12; count++ {
			owner := make([]int, n)
			for i := range owner {
				owner[i] = -1
			}
			small, large := n, 0
			for k := 0; k < count; k++ {
				lo, hi := Shard{k, count}.Range(n)
				small, large = min(small, hi-lo), max(large, hi-lo)
				for i := lo; i < hi; i++ {
					if owner[i] != -1 {
						t.Fatalf("n=%d count=%d: example %d in shards %d and %d", n, count, i, owner[i], k)
					}
					owner[i] = k
				}
			}
			for i, k := range owner {
				if k == -1 {
					t.Fatalf("n=%d count=%d: example %d in no shard", n, count, i)
				}
				if got := Of(i, n, count); got != k {
					t.Fatalf("n=%d count=%d: Of(%d) = %d, Range puts it in %d", n, count, i, got, k)
				}
			}
			if n > 0 && large-small > 1 {
				t.Errorf("n=%d count=%d: shard sizes from %d to %d", n, count, small, large)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Shard{"0/4": {0, 4}, "3/4": {3, 4}, "0/1": {0, 1}, " 2 / 3 ": {2, 3}} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
		if err == nil {
			if back, err := Parse(got.String()); err != nil || back != got {
				t.Errorf("Parse(%q.String()) = %v, %v", in, back, err)
			}
		}
	}
	for in, msg := range map[string]string{
		"4/4": "from 0 to 3", "1/0": "at least 1", "-1/4": "from 0 to 3",
		"2": "want I/N", "a/4": "whole numbers", "1/4/5": "whole numbers",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Parse(%q): error %v, want one saying %q", in, err, msg)
		}
	}
}

func TestFromEnv(t *testing.T) {
	cases := []struct {
		env   map[string]string
		count int
		want  Shard
		ok    bool
		err   string
	}{
		{env: nil, ok: false},
		{env: map[string]string{SlurmIndex: "2", SlurmCount: "4", SlurmMin: "0"}, want: Shard{2, 4}, ok: true},
		// A rerun of shard 2 alone: Slurm says 1 task; the flag's count wins.
		{env: map[string]string{SlurmIndex: "2", SlurmCount: "1", SlurmMin: "2"}, count: 4, want: Shard{2, 4}, ok: true},
		{env: map[string]string{SlurmIndex: "2", SlurmCount: "1", SlurmMin: "2"}, ok: true, err: "--array=0-0, or pass -shards N"},
		{env: map[string]string{SlurmIndex: "4", SlurmCount: "4", SlurmMin: "0"}, ok: true, err: "from 0 to 3"},
		{env: map[string]string{SlurmIndex: "x"}, ok: true, err: "not a whole number"},
		{env: map[string]string{SlurmIndex: "1"}, ok: true, err: "pass the shard count"},
		{env: map[string]string{KubeIndex: "1"}, count: 3, want: Shard{1, 3}, ok: true},
		{env: map[string]string{KubeIndex: "1"}, ok: true, err: "pass -shards N"},
		{env: map[string]string{KubeIndex: "3"}, count: 3, ok: true, err: "from 0 to 2"},
	}
	for _, c := range cases {
		got, ok, err := FromEnv(func(k string) string { return c.env[k] }, c.count)
		if ok != c.ok {
			t.Errorf("%v count %d: ok %v, want %v", c.env, c.count, ok, c.ok)
		}
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%v count %d: %v, %v; want %v", c.env, c.count, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v count %d: error %v, want one saying %q", c.env, c.count, err, c.err)
		}
	}
}
