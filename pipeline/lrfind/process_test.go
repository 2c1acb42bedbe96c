package lrfind

import (
	"os"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// TestMain sets TensorFlow's process settings once, as a program's main
// does, before any test opens a session.
func TestMain(m *testing.M) {
	tfsession.SetProcess(tfsession.ForTests)
	os.Exit(m.Run())
}
