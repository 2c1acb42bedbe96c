package tfsession

// #include <malloc.h>
import "C"

import "os"

// Process holds the process-wide settings TensorFlow's C library reads. A
// program sets them once, from its main (a test binary from its TestMain),
// before its first session: SetProcess(Defaults).
type Process struct {
	// MallocArenas caps glibc's malloc arenas (mallopt M_ARENA_MAX); 0
	// leaves glibc's default. glibc gives threads that allocate at the
	// same time arenas of their own, up to 8 per core, and rarely returns
	// freed arena memory to the system; TensorFlow's worker threads each
	// allocate batch-sized tensors, so resident memory grows with threads
	// × batch size. Two arenas cut the pipeline's peak RSS by a quarter
	// (MobileNet feature extraction on 1,000 images: 882 → 627 MiB) with
	// no loss of speed. A MALLOC_ARENA_MAX set by the user wins.
	MallocArenas int
	// LogLevel is TF_CPP_MIN_LOG_LEVEL for TensorFlow's C++ logging ("1"
	// hides INFO lines), read at its first log line; "" leaves it alone. A
	// value set by the user wins. The pipeline command leaves it to
	// package tflog, which sets it before TensorFlow loads (and not with
	// -v); test binaries set "1".
	LogLevel string
}

// Defaults are the settings every gotransfer program uses.
var Defaults = Process{MallocArenas: 2}

// SetProcess applies p to the running process.
func SetProcess(p Process) {
	if _, ok := os.LookupEnv("MALLOC_ARENA_MAX"); !ok && p.MallocArenas > 0 {
		C.mallopt(C.M_ARENA_MAX, C.int(p.MallocArenas))
	}
	if _, ok := os.LookupEnv("TF_CPP_MIN_LOG_LEVEL"); !ok && p.LogLevel != "" {
		os.Setenv("TF_CPP_MIN_LOG_LEVEL", p.LogLevel)
	}
}

// ForTests are the settings of a test binary: Defaults, and INFO lines
// hidden, as no tflog filters them.
var ForTests = Process{MallocArenas: Defaults.MallocArenas, LogLevel: "1"}
