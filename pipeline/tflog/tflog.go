// Package tflog quiets TensorFlow's own log lines (the oneDNN and CPU
// feature banners, Abseil's INFO lines) unless the command line asks for
// them with -v. Importing it (for its side effect) is all a command needs;
// it has no effect in a program that does not import it. Call Close before
// the program exits.
//
// Two mechanisms, because TensorFlow logs two ways:
//
//   - TensorFlow's own logging reads TF_CPP_MIN_LOG_LEVEL, but prints its
//     banner while the shared library loads, before any Go code runs. So a
//     C function in the executable's .preinit_array, which the dynamic
//     loader runs before any shared library's initialisers, starts the
//     program again with TF_CPP_MIN_LOG_LEVEL=2 in its environment (once;
//     never when the variable is set, which keeps a value the user chose).
//   - Abseil's logging inside libtensorflow_cc ignores that variable (see
//     init), so its lines below the level are filtered out of stderr.
package tflog

/*
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Runs before TensorFlow's initialisers. setenv would not do: glibc's own
// initialiser, which runs after this, resets environ to the original
// block. So the process starts itself again with the variable added; the
// libraries are mapped but none of their initialisers has run yet.
// verboseArgs lists the spellings of -v that the flag package reads as
// true; Go's verbose() below must agree.
static const char *verboseArgs[] = {"-v", "--v", "-v=true", "--v=true", "-v=1", "--v=1", NULL};

static void gotransfer_tflog(int argc, char **argv, char **envp) {
	for (int i = 1; i < argc; i++) {
		for (const char **v = verboseArgs; *v != NULL; v++) {
			if (strcmp(argv[i], *v) == 0) {
				return;
			}
		}
	}
	int n = 0;
	for (; envp[n] != NULL; n++) {
		if (strncmp(envp[n], "TF_CPP_MIN_LOG_LEVEL=", 21) == 0) {
			return; // the user's choice
		}
	}
	char *env[n + 2];
	memcpy(env, envp, n * sizeof(char *));
	env[n] = "TF_CPP_MIN_LOG_LEVEL=2"; // hides INFO and WARNING lines; errors still show
	env[n + 1] = NULL;
	execve("/proc/self/exe", argv, env); // returns only on failure: then run as is
}

__attribute__((section(".preinit_array"), used))
static void (*gotransfer_tflog_preinit)(int, char **, char **) = gotransfer_tflog;

*/
import "C"

import (
	"bufio"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"syscall"
)

// abslLine matches a line of Abseil's log format ("I0000 00:00:1795.6 123
// file.cc:401] ..."), its severity letter first, and absl's notice that it
// writes to stderr until initialised.
var (
	abslLine   = regexp.MustCompile(`^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ ]+:\d+\] `)
	abslNotice = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
)

var filtered chan struct{} // closed when the filter has forwarded everything

// init filters Abseil's lines below TF_CPP_MIN_LOG_LEVEL out of stderr.
// libtensorflow_cc carries its own, hidden copy of Abseil, which ignores
// TF_CPP_MIN_LOG_LEVEL and, never initialised, writes every line to
// stderr (MLIR's "MLIR V1 optimization pass is not enabled", among
// others); no environment variable reaches it. So file descriptor 2, which
// TensorFlow writes to, becomes a pipe read here, and os.Stderr keeps the
// real stderr (a terminal stays a terminal for progress bars). Go's own
// crash output also goes to the real stderr.
func init() {
	level, err := strconv.Atoi(os.Getenv("TF_CPP_MIN_LOG_LEVEL"))
	if err != nil || level <= 0 || verbose(os.Args[1:]) {
		return
	}
	orig, err := syscall.Dup(2)
	if err != nil {
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		syscall.Close(orig)
		return
	}
	if err := syscall.Dup3(int(w.Fd()), 2, 0); err != nil {
		syscall.Close(orig)
		r.Close()
		w.Close()
		return
	}
	w.Close()
	os.Stderr = os.NewFile(uintptr(orig), "/dev/stderr")
	debug.SetCrashOutput(os.Stderr, debug.CrashOptions{})
	filtered = make(chan struct{})
	go func() {
		defer close(filtered)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == abslNotice {
				continue
			}
			if m := abslLine.FindStringSubmatch(line); m != nil && severity(m[1]) < level {
				continue
			}
			os.Stderr.WriteString(line + "\n")
		}
	}()
}

// verbose reports whether args ask for TensorFlow's log lines, as the C
// side's verboseArgs.
func verbose(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		return slices.Contains([]string{"-v", "--v", "-v=true", "--v=true", "-v=1", "--v=1"}, a)
	})
}

func severity(letter string) int {
	return map[string]int{"I": 0, "W": 1, "E": 2, "F": 3}[letter]
}

// Close ends the filtering: file descriptor 2 is the real stderr again,
// and every line written before has been forwarded. Call it before the
// program exits; it does nothing when nothing is filtered.
func Close() {
	if filtered == nil {
		return
	}
	syscall.Dup3(int(os.Stderr.Fd()), 2, 0) // closes the pipe's write end
	<-filtered
}

// VerboseFlag is the command-line flag that keeps TensorFlow's log lines.
const VerboseFlag = "v"

// VerboseUsage describes VerboseFlag for a command's help.
const VerboseUsage = "show TensorFlow's own log lines (banners, INFO and WARNING)"
