package dataset

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// manifestHeader is the first row of a manifest.
var manifestHeader = []string{"path", "label", "class", "split", "sha256"}

// WriteManifest writes ds to path as CSV with the header
// path,label,class,split,sha256 and one row per example, in Examples order.
// Paths are written with forward slashes. The sha256 column is empty for
// examples not yet hashed. The file is replaced atomically, so a crash
// never leaves a half-written manifest behind.
func WriteManifest(path string, ds *Dataset) error {
	b, err := EncodeManifest(ds)
	if err == nil {
		err = fsutil.WriteFile(path, b)
	}
	if err != nil {
		return fmt.Errorf("manifest %s: %w", path, err)
	}
	return nil
}

// EncodeManifest is the manifest WriteManifest writes, as bytes: its
// SHA-256 identifies the data a run reads (rundir.Inputs).
func EncodeManifest(ds *Dataset) ([]byte, error) {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	if err := cw.Write(manifestHeader); err != nil {
		return nil, err
	}
	for _, e := range ds.Examples {
		row := []string{filepath.ToSlash(e.Path), strconv.Itoa(e.Label), e.Class, e.Split, e.Hash}
		if err := cw.Write(row); err != nil {
			return nil, err
		}
	}
	cw.Flush()
	return b.Bytes(), cw.Error()
}

// ReadManifest reads a manifest written by WriteManifest. It rebuilds
// Classes from the label and class columns and checks that they agree:
// each label has one class name and each class one label, and labels run
// from 0 without gaps. Dir and Missing are left empty.
func ReadManifest(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	defer f.Close()

	bad := func(line int, format string, args ...any) error {
		return fmt.Errorf("manifest %s line %d: %s: fix the file or write it again", path, line, fmt.Sprintf(format, args...))
	}
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = len(manifestHeader)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("manifest %s: empty file: write it again", path)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	if !slices.Equal(head, manifestHeader) {
		return nil, bad(1, "header is %q, want %q", head, manifestHeader)
	}

	ds := &Dataset{}
	labels := make(map[string]int)  // class name to label
	classes := make(map[int]string) // label to class name
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		label, err := strconv.Atoi(rec[1])
		if err != nil || label < 0 {
			return nil, bad(line, "label %q is not a non-negative integer", rec[1])
		}
		class, split := rec[2], rec[3]
		if !slices.Contains(SplitNames, split) {
			return nil, bad(line, "split %q is not one of %q", split, SplitNames)
		}
		if l, ok := labels[class]; ok && l != label {
			return nil, bad(line, "class %q has label %d here but %d before", class, label, l)
		}
		if c, ok := classes[label]; ok && c != class {
			return nil, bad(line, "label %d is class %q here but %q before", label, class, c)
		}
		labels[class] = label
		classes[label] = class
		ds.Examples = append(ds.Examples, Example{
			Path:  filepath.FromSlash(rec[0]),
			Label: label,
			Class: class,
			Split: split,
			Hash:  rec[4],
		})
	}
	ds.Classes = make([]string, len(classes))
	for label := range ds.Classes {
		c, ok := classes[label]
		if !ok {
			return nil, fmt.Errorf("manifest %s: no example has label %d, but labels must run from 0 to %d without gaps: write it again", path, label, len(classes)-1)
		}
		ds.Classes[label] = c
	}
	return ds, nil
}
