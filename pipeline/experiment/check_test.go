package experiment

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

// TestImageVerdictsCached: the image check remembers a good verdict by
// content hash, so a second check decodes nothing it has seen (a file
// changed behind a stale hash still passes: proof that it was not
// decoded), while a changed file, hashed again, is checked again, a
// corrupt verdict is not trusted, and a bad file is decoded and named on
// every check.
func TestImageVerdictsCached(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	testenv.ImageDataset(t, data, 2, 4, 1)
	broken := filepath.Join(data, "class_0", "broken.png")
	if err := os.WriteFile(broken, []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Scan(dataset.Options{Dir: data, Split: dataset.Split{Train: 0.5, Val: 0.25, Test: 0.25}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ds.HashFiles(ctx, 1); err != nil {
		t.Fatal(err)
	}
	known := verdicts(filepath.Join(root, "cache"))
	badPaths := func() []string {
		t.Helper()
		bad, err := checkImages(ctx, ds, 1, known)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range bad {
			out = append(out, s.Path)
		}
		return out
	}
	if got := badPaths(); !slices.Equal(got, []string{broken}) {
		t.Fatalf("first check: bad %v, want only %s", got, broken)
	}
	var victim dataset.Example
	for _, e := range ds.Examples {
		if known.Has(e.Hash) != (e.Path != broken) {
			t.Errorf("%s: verdict cached %v", e.Path, known.Has(e.Hash))
		}
		if e.Path != broken && victim.Path == "" {
			victim = e
		}
	}
	// The victim's bytes change; its stale hash still says it was good.
	if err := os.WriteFile(victim.Path, []byte("garbage now"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := badPaths(); !slices.Equal(got, []string{broken}) {
		t.Fatalf("second check, hashes unchanged: bad %v, want only %s (a cached verdict was not used)", got, broken)
	}
	// Hashed again, as every run does: the new content is checked.
	if err := ds.HashFiles(ctx, 1); err != nil {
		t.Fatal(err)
	}
	want := []string{broken, victim.Path}
	slices.Sort(want)
	got := badPaths()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("after the change: bad %v, want %v", got, want)
	}
	// A corrupt verdict is checked again (and the image is good).
	other := ds.Examples[len(ds.Examples)-1]
	if other.Path == broken || other.Path == victim.Path {
		t.Fatalf("test data: last example %s is one of the bad ones", other.Path)
	}
	if err := os.WriteFile(known.Path(other.Hash), []byte{0, 0, 0, 0, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	if known.Valid(other.Hash) {
		t.Fatal("a verdict with a wrong checksum counts as valid")
	}
	got = badPaths()
	slices.Sort(got)
	if !slices.Equal(got, want) || !known.Valid(other.Hash) {
		t.Fatalf("after corrupting %s's verdict: bad %v, want %v; verdict rewritten %v", other.Path, got, want, known.Valid(other.Hash))
	}
}
