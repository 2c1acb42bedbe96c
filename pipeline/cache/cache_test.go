package cache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
)

func TestStore(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Ext: ".bin", Size: 4}
	a := dataset.Example{Path: "a.png", Hash: "aa11", Label: 1}
	b := dataset.Example{Path: "b.png", Hash: "bb22", Label: 0}
	dupA := dataset.Example{Path: "copy-of-a.png", Hash: "aa11"}

	todo, hits, _, err := s.Missing([]dataset.Example{a, b, dupA})
	if err != nil || len(todo) != 2 || hits != 1 {
		t.Fatalf("Missing on an empty store: todo %v, hits %d, err %v; want a and b, 1 hit (the duplicate)", todo, hits, err)
	}
	if err := s.Put(a.Hash, []byte{1, 2, 3}); err == nil {
		t.Fatal("a short entry was accepted")
	}
	if err := s.Put(a.Hash, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	// A truncated entry (a crash) counts as missing.
	os.MkdirAll(filepath.Dir(s.Path(b.Hash)), 0o755)
	os.WriteFile(s.Path(b.Hash), []byte{9}, 0o644)
	todo, hits, _, _ = s.Missing([]dataset.Example{a, b})
	if len(todo) != 1 || todo[0].Path != "b.png" || hits != 1 {
		t.Fatalf("after caching a: todo %v, hits %d", todo, hits)
	}
	got := make([]byte, 4)
	if err := s.Get(a, got); err != nil || got[3] != 4 {
		t.Fatalf("Get: %v %v", got, err)
	}
	if err := s.Get(b, got); err == nil || !strings.Contains(err.Error(), "b.png") {
		t.Fatalf("Get of a truncated entry: %v", err)
	}
	kept := s.Cached([]dataset.Example{b, a})
	if kept.Len() != 1 || kept.Example(0).Path != "a.png" || kept.Label(0) != 1 {
		t.Fatalf("Cached = %v", kept)
	}
	if _, _, _, err := s.Missing([]dataset.Example{{Path: "x.png"}}); err == nil {
		t.Fatal("an example without a hash was accepted")
	}
}

// TestCorruptCacheEntryRecomputed (issue 8, item 2): a byte changed in an
// entry of the right size is caught by the checksum: Missing counts it as
// bad and asks for it again, Get refuses it.
func TestCorruptCacheEntryRecomputed(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Ext: ".rgb", Size: 6}
	a := dataset.Example{Path: "a.png", Hash: "aa11"}
	if err := s.Put(a.Hash, []byte{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(s.Path(a.Hash))
	b[2] ^= 0x40
	os.WriteFile(s.Path(a.Hash), b, 0o644)
	todo, hits, bad, err := s.Missing([]dataset.Example{a})
	if err != nil || len(todo) != 1 || hits != 0 || bad != 1 {
		t.Fatalf("Missing with a corrupt entry: todo %v, hits %d, bad %d, err %v; want a, 0, 1", todo, hits, bad, err)
	}
	if err := s.Get(a, make([]byte, 6)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "a.png") {
		t.Fatalf("Get of a corrupt entry: %v", err)
	}
}

// A temporary entry a killed process left is removed at the next fill of
// the same store, once it is older than any live write; a fresh one (a
// process writing now) is kept.
func TestStaleTempRemoved(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Ext: ".f32", Size: 4}
	stale := filepath.Join(s.Dir, "ab", ".abcd.f32.123.tmp")
	fresh := filepath.Join(s.Dir, "ab", ".abce.f32.456.tmp")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte("x"), 0o644)
	os.WriteFile(fresh, []byte("x"), 0o644)
	old := time.Now().Add(-StaleTemp - time.Minute)
	os.Chtimes(stale, old, old)
	if _, _, _, err := s.Missing([]dataset.Example{{Path: "a.png", Hash: "abcd"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("a stale temporary entry is still there")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temporary entry (a live writer's) was removed: %v", err)
	}
}
