package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runFor runs the pipeline binary with args for at most limit and returns
// its exit code (-1 when it had to be killed), stdout and stderr.
func runFor(t *testing.T, limit time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GOTRANSFER_BE_MAIN=1")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, out.String(), errb.String()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// TestOnlyRegularFiles: a named pipe with an image's name and a symbolic
// link loop in the data are listed as skipped with why by training and by
// predict on the folder (which used to block forever on the pipe); predict
// on the pipe itself fails at once; -config reads only a regular file of at
// most a few MiB.
func TestOnlyRegularFiles(t *testing.T) {
	root := t.TempDir()
	cfg := transferConfig(t, root, "regular", "tiny", "fc2", 3, 6, "train: {epochs: 1}\n")
	fifo := filepath.Join(root, "data", "class_0", "x.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no named pipes here:", err)
	}
	loop := filepath.Join(root, "data", "class_1", "loop.png")
	os.Symlink("loop.png", loop)

	code, stdout, stderr := runFor(t, 5*time.Minute, "-config", cfg)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"skipped " + fifo + ": not a regular file: it is a named pipe (FIFO)", "skipped " + loop + ": too many levels of symbolic links"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the run does not say %q:\n%s", want, stdout)
		}
	}
	runs, _ := filepath.Glob(filepath.Join(root, "runs", "regular-*"))
	if len(runs) != 1 {
		t.Fatalf("run folders %q", runs)
	}
	if b, _ := os.ReadFile(filepath.Join(runs[0], "results.md")); !strings.Contains(string(b), "x.png") {
		t.Errorf("results.md does not list the skipped pipe:\n%s", b)
	}

	csv := filepath.Join(root, "p.csv")
	code, _, stderr = runFor(t, 2*time.Minute, "predict", "-run", runs[0], "-csv", csv, filepath.Join(root, "data", "class_0"))
	if code != 0 || !strings.Contains(stderr, "skipped "+fifo+": not a regular file") {
		t.Errorf("predict on a folder with a pipe: exit %d (-1: killed after 2 minutes)\n%s", code, stderr)
	}
	if b, err := os.ReadFile(csv); err != nil || strings.Count(string(b), "\n") != 7 {
		t.Errorf("predict's CSV: %v\n%s", err, b)
	}
	code, _, stderr = runFor(t, 2*time.Minute, "predict", "-run", runs[0], fifo)
	if code != 1 || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("predict on the pipe: exit %d (-1: killed after 2 minutes)\n%s", code, stderr)
	}

	pipeCfg := filepath.Join(root, "pipe.yaml")
	syscall.Mkfifo(pipeCfg, 0o644)
	if code, _, stderr := runFor(t, time.Minute, "-config", pipeCfg); code != 1 || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("-config a named pipe: exit %d (-1: killed after a minute)\n%s", code, stderr)
	}
	big := filepath.Join(root, "big.yaml")
	os.WriteFile(big, []byte(strings.Repeat("# a comment line of sixteen\n", 5<<20/28)), 0o644)
	if code, _, stderr := runFor(t, time.Minute, "-config", big); code != 1 || !strings.Contains(stderr, "larger than") {
		t.Errorf("-config a 5 MiB file: exit %d\n%s", code, stderr)
	}
}

// TestPredictKBounds: -k outside 1..classes is a usage error (exit 2)
// naming the range, with -run and with -savedmodel; it used to print every
// class.
func TestPredictKBounds(t *testing.T) {
	root := t.TempDir()
	cfg := transferConfig(t, root, "k", "tiny", "fc2", 3, 5, "train: {epochs: 1}\n")
	if code, stdout, stderr := runFor(t, 5*time.Minute, "-config", cfg); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	runs, _ := filepath.Glob(filepath.Join(root, "runs", "k-*"))
	if len(runs) != 1 {
		t.Fatalf("run folders %q", runs)
	}
	img := filepath.Join(root, "data", "class_0", "img_000.png")
	saved := filepath.Join(runs[0], "models", "top", "savedmodel")
	for _, from := range [][]string{{"-run", runs[0]}, {"-savedmodel", saved}} {
		for _, k := range []string{"0", "-1", "4", "1000"} {
			args := append(append([]string{"predict"}, from...), "-k", k, img)
			code, _, stderr := runFor(t, 2*time.Minute, args...)
			if code != 2 || !strings.Contains(stderr, "-k "+k+": want 1 to 3") {
				t.Errorf("%q: exit %d, want 2 and the range\n%s", args, code, stderr)
			}
		}
		args := append(append([]string{"predict"}, from...), "-k", "3", img)
		if code, stdout, stderr := runFor(t, 2*time.Minute, args...); code != 0 || strings.Count(stdout, "%  class_") != 3 {
			t.Errorf("%q: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
	}
}
