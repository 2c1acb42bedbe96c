//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package fsutil

import (
	"fmt"
	"os"
	"runtime"
)

// flock is not available here: locking fails with a message rather than
// letting two processes share a run folder unknowingly.
func flock(*os.File) (bool, error) {
	return false, fmt.Errorf("file locks (flock) are not supported on %s", runtime.GOOS)
}
