package fsutil

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Lock is an exclusive lock on a file, held by this process until Unlock
// (or until the process ends: the system releases it then, so a killed
// process never leaves a stale lock behind). The file holds a line naming
// the holder, for the message another process gets.
type Lock struct {
	f *os.File
}

// LockedError says that another process holds the lock on Path.
type LockedError struct {
	Path  string
	Owner string // the holder's line ("pid 12 on host h: command (since ...)"), "" if it could not be read
}

func (e *LockedError) Error() string {
	owner := e.Owner
	if owner == "" {
		owner = "another process (it has not written its name yet)"
	}
	return fmt.Sprintf("%s is locked by %s", e.Path, owner)
}

// TryLock takes the lock on path (creating the file), or returns a
// *LockedError at once when another process holds it.
func TryLock(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	busy, err := flock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if busy {
		b := make([]byte, 1024)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		return nil, &LockedError{Path: path, Owner: strings.TrimSpace(string(b[:n]))}
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(Holder()+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing the file releases the lock
	l.f = nil
	return err
}

// Holder describes this process for a lock file: its pid, host and
// command line, and since when.
func Holder() string {
	host, err := os.Hostname()
	if err != nil {
		host = "?"
	}
	cmd := strings.Join(os.Args, " ")
	if len(cmd) > 300 {
		cmd = cmd[:300] + "..."
	}
	cmd = strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, cmd)
	return fmt.Sprintf("pid %d on host %s (%s), since %s", os.Getpid(), host, cmd, time.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
}
