package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/inspect"
)

// shared is what runs in one process share when they are a sweep's
// trials: each value computed once, by the first trial that needs it,
// and handed to the others. Only what depends on nothing but its key is
// shared (a scanned data set depends on the data options, a feature cache
// check on the cache folder and the images), so a trial computes the same
// numbers as the same config run alone. It is safe for concurrent use.
type shared struct {
	mu      sync.Mutex
	entries map[string]*sharedEntry
	memo    inspect.Memo
}

type sharedEntry struct {
	mu   sync.Mutex
	done bool
	v    any
}

// newShared returns an empty shared state.
func newShared() *shared { return &shared{entries: map[string]*sharedEntry{}} }

// once returns the value of key, making it with make the first time (a
// failed make is not remembered: the next caller tries again). Calls for
// other keys go on meanwhile; make may call once for another key.
func once[T any](sh *shared, key string, make func() (T, error)) (T, error) {
	sh.mu.Lock()
	e := sh.entries[key]
	if e == nil {
		e = &sharedEntry{}
		sh.entries[key] = e
	}
	sh.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return e.v.(T), nil
	}
	v, err := make()
	if err != nil {
		return v, err
	}
	e.v, e.done = v, true
	return v, nil
}

// close closes the backbones loaded for the trials.
func (sh *shared) close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, e := range sh.entries {
		if m, ok := e.v.(*backbone.Model); ok {
			m.Close()
		}
	}
}

// cloneDataset is a copy of ds whose examples a trial may change (drop
// bad or duplicate images) without changing ds.
func cloneDataset(ds *dataset.Dataset) *dataset.Dataset {
	c := *ds
	c.Examples = slices.Clone(ds.Examples)
	return &c
}

// examplesKey stands for a list of examples: their paths, splits, labels
// and content hashes, in order.
func examplesKey(examples []dataset.Example) string {
	h := sha256.New()
	for _, e := range examples {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\n", e.Path, e.Split, e.Label, e.Hash)
	}
	return hex.EncodeToString(h.Sum(nil))
}
