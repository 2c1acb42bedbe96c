package cpuinfo

import "testing"

const zen4 = `processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 9R14
flags		: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
processor	: 1
model name	: other
flags		: fpu
`

func TestParse(t *testing.T) {
	c := Parse(zen4)
	if c.Model != "AMD EPYC 9R14" {
		t.Errorf("model %q", c.Model)
	}
	if !c.Has("avx512_bf16") || c.Has("amx_bf16") || c.Has("avx512") {
		t.Errorf("flags %v", c.Flags)
	}
	if ok, why := c.BFloat16(); !ok {
		t.Errorf("BFloat16: false (%s)", why)
	}
	old := Parse("model name : Intel Xeon E5\nflags : fpu avx2 fma\n")
	if ok, why := old.BFloat16(); ok || why != `CPU "Intel Xeon E5" has neither amx_bf16 nor avx512_bf16` {
		t.Errorf("BFloat16 on an AVX2 CPU: %v, %q", ok, why)
	}
	if ok, _ := Parse("").BFloat16(); ok {
		t.Error("empty cpuinfo claims bfloat16")
	}
}
