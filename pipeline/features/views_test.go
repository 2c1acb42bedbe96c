package features

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/augment"
)

// TestViewsKeepThePlainKey: a store's key without views marshals as it
// did before views existed (no "views" field), so existing caches keep
// their folders; a store of views gets a folder of its own beside it,
// and each kind of viewer another.
func TestViewsKeepThePlainKey(t *testing.T) {
	k := Key{Version: version, Architecture: "a", Endpoint: "fc2", BatchSize: 8, Precision: "float32"}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "views") {
		t.Errorf("a plain key marshals a views field: %s", b)
	}
	spec := &augment.Spec{Views: 4, HorizontalFlip: true}
	seen := map[string]bool{k.Hash(): true}
	for _, v := range []augment.Viewer{augment.Seeded{Spec: spec, Seed: 1}, augment.Seeded{Spec: spec, Seed: 2}, augment.TTA{Flip: true, Scales: []float64{1}}} {
		kv := k
		kv.Views = v.Key()
		if seen[kv.Hash()] {
			t.Errorf("viewer %s: folder %s taken already", v.Key(), kv.Hash())
		}
		seen[kv.Hash()] = true
	}
	if c, v, err := splitView(ViewHash("abc-v1", 12)); err != nil || c != "abc-v1" || v != 12 {
		t.Errorf("splitView(ViewHash(abc-v1, 12)) = %q, %d, %v", c, v, err)
	}
}
