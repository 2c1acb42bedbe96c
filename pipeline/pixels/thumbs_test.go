package pixels

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

// TestThumbsCached: a thumbnail equals images.Thumb's, is decoded once
// and then read from the pixel cache (an entry rewritten by hand is what
// comes back), and a corrupt entry is decoded and written again.
func TestThumbsCached(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 1, 1, 1)
	paths, err := filepath.Glob(filepath.Join(root, "data", "*", "*"))
	if err != nil || len(paths) != 1 {
		t.Fatalf("test image: %v, %v", paths, err)
	}
	path := paths[0]
	want, err := images.Thumb(path, 24)
	if err != nil {
		t.Fatal(err)
	}
	thumbs := Thumbs(filepath.Join(root, "cache"))
	got, err := thumbs(path, 24)
	if err != nil || !bytes.Equal(got.Pix, want.Pix) {
		t.Fatalf("first thumbnail differs from images.Thumb's (%v)", err)
	}
	store := Open(filepath.Join(root, "cache"), 24, 24, images.Nearest)
	entries, err := filepath.Glob(filepath.Join(store.Dir, "*", "*.rgb"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache entries %v (%v), want one", entries, err)
	}
	hash := filepath.Base(entries[0][:len(entries[0])-len(".rgb")])
	marked := bytes.Repeat([]byte{7}, len(want.Pix))
	if err := store.Put(hash, marked); err != nil {
		t.Fatal(err)
	}
	if got, err := thumbs(path, 24); err != nil || !bytes.Equal(got.Pix, marked) {
		t.Fatalf("second thumbnail was not read from the cache (%v)", err)
	}
	if err := os.WriteFile(entries[0], append(marked, 0, 0, 0, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := thumbs(path, 24); err != nil || !bytes.Equal(got.Pix, want.Pix) {
		t.Fatalf("a corrupt entry was used (%v)", err)
	}
	if !store.Valid(hash) {
		t.Error("the corrupt entry was not written again")
	}
}
