package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

var testSplit = Split{Train: 0.6, Val: 0.2, Test: 0.2}

// A class folder whose name holds a newline (or another control
// character) is refused at scan: labels.txt would get one line too many.
func TestClassNameWithNewlineRefused(t *testing.T) {
	for _, name := range []string{"bad\nname", "tab\there", "bell\a"} {
		dir := makeClasses(t, 3, 3)
		for i := range 3 {
			writeFiles(t, dir, name+"/img"+string(rune('0'+i))+".jpg")
		}
		_, err := Scan(Options{Dir: dir, Split: testSplit})
		if err == nil || !strings.Contains(err.Error(), "control character") || !strings.Contains(err.Error(), "rename the folder") {
			t.Errorf("class %q: error %v, want a refusal naming the control character", name, err)
		}
	}
}

// Class folders equal up to case or Unicode normalisation are separate
// classes, and Scan says so; named pipes and link loops with an image's
// name are left out with why.
func TestAlikeClassesAndUnread(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"Cat", "cat", "caf\u00e9", "cafe\u0301", "dog"} {
		for i := range 3 {
			writeFiles(t, dir, c+"/img"+string(rune('0'+i))+".jpg")
		}
	}
	fifo := filepath.Join(dir, "dog", "pipe.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	os.Symlink("loop.jpg", filepath.Join(dir, "dog", "loop.jpg"))
	ds, err := Scan(Options{Dir: dir, Split: testSplit})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Cat", "cat"}, {"cafe\u0301", "caf\u00e9"}}
	if !slices.EqualFunc(ds.Alike, want, slices.Equal) {
		t.Errorf("Alike = %q, want %q", ds.Alike, want)
	}
	if h := AlikeHint(ds.Alike); !strings.Contains(h, `"Cat" and "cat"`) || !strings.Contains(h, `"cafe\u0301" and "caf\u00e9"`) {
		t.Errorf("hint %s", h)
	}
	if len(ds.Unread) != 2 || !strings.Contains(ds.Unread[0].Why, "too many levels") || !strings.Contains(ds.Unread[1].Why, "named pipe") {
		t.Errorf("Unread = %q, want the link loop and the pipe, with why", ds.Unread)
	}
	if len(ds.Examples) != 15 {
		t.Errorf("%d examples, want the 15 regular files", len(ds.Examples))
	}
}
