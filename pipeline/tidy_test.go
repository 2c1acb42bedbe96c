package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestGoModTidy fails when go.mod or go.sum differ from what `go mod tidy`
// would write: a dependency listed as indirect that the code imports, one
// no longer used, a missing checksum. `make test` runs the same check
// before the tests.
func TestGoModTidy(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command on PATH: %v", err)
	}
	out, err := exec.Command(goCmd, "mod", "tidy", "-diff").CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && strings.Contains(string(out), "diff "):
		t.Errorf("go.mod is not tidy: run `go mod tidy` and commit go.mod and go.sum:\n%s", out)
	default:
		t.Fatalf("go mod tidy -diff could not check the module: %v\n%s\n"+
			"It reads the modules that dependencies' tests import; set-up fetches them (scripts/setup.sh), "+
			"or run `go mod tidy -diff` once online.", err, out)
	}
}
