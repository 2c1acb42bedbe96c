package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular marks a path that is not a regular file (or a link to
// one): a named pipe, a device, a socket or a folder. Reading one can block
// forever (a FIFO with no writer) or never end (/dev/zero), so the
// pipeline reads regular files only and lists the others as skipped.
var ErrNotRegular = errors.New("not a regular file")

// Kind names the kind of file mode m is, for messages: "a named pipe
// (FIFO)", "a device", "a socket", "a folder", "a symbolic link" or "a
// regular file".
func Kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a folder"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a regular file"
	}
	return "not a regular file"
}

// CheckRegular reports, without opening it, whether path is a regular
// file or a link to one: otherwise the error matches ErrNotRegular and says
// what it is (a symbolic link loop gives the system's "too many levels of
// symbolic links").
func CheckRegular(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return notRegular("stat", path, fi.Mode())
	}
	return nil
}

// OpenRegular opens path for reading if it is a regular file (or a link
// to one). It opens without blocking, so a named pipe with no writer is
// refused at once instead of hanging the process, and checks the opened
// file itself, so a path swapped between a check and the open cannot slip
// through. Other kinds give an error matching ErrNotRegular.
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular("open", path, fi.Mode())
	}
	return f, nil
}

// ReadRegular reads the regular file at path (see OpenRegular), at most
// limit bytes: a longer file is an error saying so (limit <= 0: no limit).
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if limit > 0 {
		r = io.LimitReader(f, limit+1)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if limit > 0 && int64(len(b)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	return b, nil
}

// notRegular is the error for a path of mode m that is not a regular file,
// in the os package's form: "open x.png: not a regular file: it is a named
// pipe (FIFO)".
func notRegular(op, path string, m fs.FileMode) error {
	return &fs.PathError{Op: op, Path: path, Err: fmt.Errorf("%w: it is %s", ErrNotRegular, Kind(m))}
}
