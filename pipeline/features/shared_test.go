package features

import (
	"os"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/cache"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
)

// A batch counts as cached since only when every one of its images has an
// entry now: then Extract skips it instead of computing it again.
func TestCachedSince(t *testing.T) {
	s := &Store{Store: cache.Store{Dir: t.TempDir(), Ext: ".f32", Size: 8}}
	todo := []dataset.Example{{Path: "a", Hash: "aa01"}, {Path: "b", Hash: "bb02"}, {Path: "c", Hash: "cc03"}}
	if s.cachedSince(todo, []int{0, 1}) {
		t.Fatal("an empty cache counts as holding a batch")
	}
	if err := s.Put("aa01", make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if s.cachedSince(todo, []int{0, 1}) {
		t.Error("a batch with one image of two cached counts as cached")
	}
	if err := s.Put("bb02", make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if !s.cachedSince(todo, []int{0, 1}) {
		t.Error("a batch cached by another process is computed again")
	}
	if s.cachedSince(todo, []int{1, 2}) {
		t.Error("a batch with an uncached image counts as cached")
	}
	// A corrupt entry (right size, wrong bytes) is not a good one.
	if err := s.Put("cc03", make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path("cc03"), make([]byte, 12), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.cachedSince(todo, []int{1, 2}) {
		t.Error("a batch with a corrupt entry counts as cached")
	}
}
