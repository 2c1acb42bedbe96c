package main

import (
	"os"
	"os/exec"
	"testing"
)

// pureGo are the packages of plain Go: they must build without cgo, and so
// without TensorFlow's C library, so that they can be built, tested and
// reused anywhere. Only nn, backbone, features, tensors, train and the
// packages that wire them need TensorFlow.
var pureGo = []string{
	"./config", "./dataset", "./evaluate", "./report", "./plot",
	"./images", "./layers", "./history", "./rundir", "./num", "./inspect", "./workers", "./schedule", "./augment",
}

// TestPlainGoPackagesBuildWithoutCgo runs `CGO_ENABLED=0 go vet` on
// pureGo: it fails as soon as one of them imports TensorFlow, directly or
// through another package. `make purego` runs it.
func TestPlainGoPackagesBuildWithoutCgo(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goTool, append([]string{"vet"}, pureGo...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("CGO_ENABLED=0 go vet %v: %v\n%s", pureGo, err, out)
	}
}
