package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// TestMain lets a test run this binary as the command itself.
func TestMain(m *testing.M) {
	if os.Getenv("GOTRANSFER_BE_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	tfsession.SetProcess(tfsession.ForTests)
	os.Exit(m.Run())
}

// runBinary runs the pipeline command with args, as a user would (no
// TF_CPP_MIN_LOG_LEVEL of their own), and returns its stdout and stderr.
func runBinary(t *testing.T, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"GOTRANSFER_BE_MAIN=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TF_CPP_MIN_LOG_LEVEL=") && !strings.HasPrefix(kv, "GOTRANSFER_BE_MAIN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run() // exit codes are the commands' business here
	return out.String(), errb.String()
}

// noise are markers of TensorFlow's own log lines.
var noise = []string{"oneDNN", "tensorflow/core", "I0000", "absl::", "cpu_feature_guard"}

// TestLogNoise (issue 8, item 11): -h and a whole run print none of
// TensorFlow's banners or INFO lines; -v shows them.
func TestLogNoise(t *testing.T) {
	stdout, stderr := runBinary(t, "-h")
	if !strings.Contains(stdout, "usage:") {
		t.Fatalf("-h printed no usage:\n%s\n%s", stdout, stderr)
	}
	for _, n := range noise {
		if strings.Contains(stderr, n) {
			t.Errorf("-h prints TensorFlow's log lines (%q):\n%s", n, stderr)
		}
	}

	cfg := transferConfig(t, t.TempDir(), "quiet", "tiny", "fc2", 2, 6, "train: {epochs: 1}\n")
	stdout, stderr = runBinary(t, "-config", cfg)
	if !strings.Contains(stdout, "results:") {
		t.Fatalf("the run did not finish:\n%s\n%s", stdout, stderr)
	}
	for _, n := range noise {
		if strings.Contains(stdout+stderr, n) {
			t.Errorf("a run prints TensorFlow's log lines (%q):\n%s", n, stderr)
		}
	}

	// With -v the same run shows TensorFlow's INFO lines. The SavedModel
	// loader logs on every CPU; the oneDNN banner only where oneDNN's
	// custom ops are on (AVX-512 machines), so it proves nothing here.
	stdout, stderr = runBinary(t, "-v", "-config", cfg)
	if !strings.Contains(stdout, "results:") {
		t.Fatalf("the -v run did not finish:\n%s\n%s", stdout, stderr)
	}
	if !strings.Contains(stderr, "tensorflow/cc/saved_model") || !strings.Contains(stderr, "SavedModel") {
		t.Errorf("-v does not show TensorFlow's INFO lines (the SavedModel loader's):\n%s", stderr)
	}
}
