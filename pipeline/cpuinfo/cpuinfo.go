// Package cpuinfo reads the CPU's model name and feature flags, so that a
// choice that depends on the hardware (bfloat16 matrix units) is made from
// what the machine says it has and can be logged and faked in tests.
package cpuinfo

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
)

// CPU is what /proc/cpuinfo says about the first processor.
type CPU struct {
	Model string   // "model name", e.g. "AMD EPYC 9R14"
	Flags []string // feature flags, sorted
	Cores int      // logical CPUs this process can use
}

// Read returns this machine's CPU. Where /proc/cpuinfo is missing (not
// Linux) the model is unknown and no flags are reported, so nothing that
// needs a flag is chosen.
func Read() CPU {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return CPU{Model: "unknown (" + runtime.GOOS + ")", Cores: runtime.NumCPU()}
	}
	c := Parse(string(b))
	c.Cores = runtime.NumCPU()
	return c
}

// Parse reads the text of /proc/cpuinfo (its first processor's block).
func Parse(text string) CPU {
	var c CPU
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if c.Model == "" {
				c.Model = strings.TrimSpace(v)
			}
		case "flags":
			if c.Flags == nil {
				c.Flags = strings.Fields(v)
				slices.Sort(c.Flags)
			}
		}
	}
	if c.Model == "" {
		c.Model = "unknown"
	}
	return c
}

// Has reports whether the CPU has the named flag.
func (c CPU) Has(flag string) bool {
	_, ok := slices.BinarySearch(c.Flags, flag)
	return ok
}

// BFloat16 reports whether the CPU has bfloat16 arithmetic that oneDNN
// uses (Intel AMX, or AVX512-BF16 on AMD Zen 4 and some Intel parts), and
// names the flags it found or missed.
func (c CPU) BFloat16() (ok bool, why string) {
	var have []string
	for _, f := range []string{"amx_bf16", "avx512_bf16"} {
		if c.Has(f) {
			have = append(have, f)
		}
	}
	if len(have) == 0 {
		return false, fmt.Sprintf("CPU %q has neither amx_bf16 nor avx512_bf16", c.Model)
	}
	return true, fmt.Sprintf("CPU %q has %s", c.Model, strings.Join(have, " and "))
}

// String is the model and the flags that matter to TensorFlow's speed,
// for benchmark headers and logs.
func (c CPU) String() string {
	var f []string
	for _, x := range []string{"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"} {
		if c.Has(x) {
			f = append(f, x)
		}
	}
	if len(f) == 0 {
		f = []string{"none of avx2, avx512, amx"}
	}
	return fmt.Sprintf("%s, %d CPUs, flags %s", c.Model, c.Cores, strings.Join(f, " "))
}
