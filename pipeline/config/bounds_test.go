package config

import (
	"strings"
	"testing"
)

// images.size has an upper bound, checked when the config is read (before
// any work), and a batch of a scratch model's images must fit TensorFlow's
// int32 shapes; an error a -set caused names the -set, also when the check
// is of the whole it changed a part of (a split's sum).
func TestBoundsAndSetBlame(t *testing.T) {
	const src = `name: s
data:
  dir: d
  split:
    train: 0.7
    val: 0.15
    test: 0.15
models:
  - name: m
    layers: [{flatten: {}}, {dense: {units: classes, activation: softmax}}]
`
	for _, c := range []struct {
		sets []string
		want string
	}{
		{[]string{"images.size=[20000, 20000]"}, "-set images.size=[20000, 20000]: images.size: want at most 4096 pixels a side"},
		{[]string{"images.size=[100000, 100000]"}, "images.size: want at most 4096"},
		{[]string{"images.size=[4096, 4096]", "train.batch_size=64"}, "train.batch_size: model m: a batch of 64 images of 4096x4096"},
		{[]string{"data.split.val=0.25"}, "-set data.split.val=0.25: data.split: train + val + test must be 1, got 1.1"},
	} {
		_, err := Parse("s.yaml", []byte(src), c.sets)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("-set %q: error %v, want %q", c.sets, err, c.want)
		}
	}
	if _, err := Parse("s.yaml", []byte(src), []string{"images.size=[4096, 4096]", "train.batch_size=32"}); err != nil {
		t.Errorf("images.size=[4096, 4096] at batch size 32: %v", err)
	}
}
