package tune

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/cpuinfo"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

var (
	noBF16 = cpuinfo.Parse("model name : Old Xeon\nflags : fpu avx2 fma avx512f\n")
	zen4   = cpuinfo.Parse("model name : Fake EPYC\nflags : fpu avx2 fma avx512f avx512_bf16\n")
)

func memoFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "probe-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A precision set in the config is used as given, with no probe.
func TestChooseAsAsked(t *testing.T) {
	memo := t.TempDir()
	for want, p := range map[string]backbone.Precision{"float32": backbone.Float32, "bfloat16": backbone.BFloat16} {
		c, err := Choose(Request{Want: want, SavedModel: "nowhere", Endpoint: "fc2", Batch: 8, CPU: noBF16, MemoDir: memo})
		if err != nil || c.Precision != p || c.Probe != nil {
			t.Errorf("Choose(%s) = %+v, %v", want, c, err)
		}
	}
	if _, err := Choose(Request{Want: "fp16"}); err == nil || !strings.Contains(err.Error(), "features.precision") {
		t.Errorf("Choose(fp16): %v", err)
	}
	if m := memoFiles(t, memo); len(m) != 0 {
		t.Errorf("probes written: %v", m)
	}
}

// auto on a CPU without bfloat16 units is float32, says why, and measures
// nothing (the model is never loaded: a missing folder is no error).
func TestAutoWithoutBFloat16(t *testing.T) {
	memo := t.TempDir()
	c, err := Choose(Request{Want: Auto, SavedModel: "nowhere", Endpoint: "fc2", Batch: 8, CPU: noBF16, MemoDir: memo})
	if err != nil {
		t.Fatal(err)
	}
	if c.Precision != backbone.Float32 || c.Probe != nil || c.Why != `auto: CPU "Old Xeon" has neither amx_bf16 nor avx512_bf16` {
		t.Errorf("Choose = %+v", c)
	}
	if m := memoFiles(t, memo); len(m) != 0 {
		t.Errorf("probes written: %v", m)
	}
}

// auto on a CPU with bfloat16 probes once, remembers the probe, and follows
// what it measured.
func TestAutoProbeRemembered(t *testing.T) {
	memo := t.TempDir()
	r := Request{Want: Auto, SavedModel: testenv.SavedModel(t, "tiny"), Endpoint: "fc2", Batch: 4, CPU: zen4, MemoDir: memo}
	first, err := Choose(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: %s", first.Precision, first.Why)
	files := memoFiles(t, memo)
	if len(files) != 1 || first.Probe == nil || first.Probe.Float32 <= 0 || first.Probe.BFloat16 <= 0 {
		t.Fatalf("probe %+v, files %v", first.Probe, files)
	}
	if !strings.Contains(first.Why, "measured now") || !strings.Contains(first.Why, `"Fake EPYC" has avx512_bf16`) {
		t.Errorf("Why = %q", first.Why)
	}

	// The memo decides from now on: rewrite its rates and the choice follows.
	for _, c := range []struct {
		f32, bf16 float64
		want      backbone.Precision
	}{{10, 30, backbone.BFloat16}, {10, 10.5, backbone.Float32}, {10, 5, backbone.Float32}} {
		p := *first.Probe
		p.Float32, p.BFloat16 = c.f32, c.bf16
		b, _ := json.Marshal(p)
		if err := os.WriteFile(files[0], b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Choose(r)
		if err != nil {
			t.Fatal(err)
		}
		if got.Precision != c.want || !strings.Contains(got.Why, "measured 20") {
			t.Errorf("memo %v vs %v images/s: %v (%s)", c.bf16, c.f32, got.Precision, got.Why)
		}
	}
	if m := memoFiles(t, memo); len(m) != 1 {
		t.Errorf("memo files %v, want the one", m)
	}

	// Another batch size, or another CPU, is another probe.
	r.Batch = 2
	if _, err := Choose(r); err != nil {
		t.Fatal(err)
	}
	if m := memoFiles(t, memo); len(m) != 2 {
		t.Errorf("memo files %v after a new batch size, want 2", m)
	}
}
