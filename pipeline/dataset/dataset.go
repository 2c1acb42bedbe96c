// Package dataset finds the images of a folder-per-class image collection
// (such as Caltech-101's 101_ObjectCategories), splits them into train,
// validation and test sets reproducibly, and records the result in a CSV
// manifest so that later stages and later runs use exactly the same split.
//
// It replaces the data loading cells of ml4a's Keras transfer-learning
// notebook. Unlike the notebook, classes are sorted by name and the shuffle
// is seeded, so the same folder and seed give the same split on every run
// and every machine.
package dataset

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// Names of the three splits, as used in Example.Split and in the manifest.
const (
	Train = "train"
	Val   = "val"
	Test  = "test"
)

// SplitNames lists the split names in manifest order.
var SplitNames = []string{Train, Val, Test}

// DefaultExtensions are the file extensions treated as images when
// Options.Extensions is empty: the ones the notebook accepted.
var DefaultExtensions = []string{".jpg", ".jpeg", ".png"}

// Split holds the fractions of the examples that go to each split.
// They must be non-negative and sum to 1; Train and Test must be positive.
type Split struct {
	Train, Val, Test float64
}

// Options says which folder to scan and how to split it.
type Options struct {
	// Dir holds one subfolder per class.
	Dir string
	// Exclude names class folders to leave out (the notebook excluded
	// BACKGROUND_Google, Motorbikes, airplanes, Faces_easy and Faces).
	Exclude []string
	// Extensions are the file extensions (".jpg" or "jpg") that mark a
	// file as an image, compared case-insensitively. Empty means
	// DefaultExtensions.
	Extensions []string
	// Split gives the fraction of examples for each split.
	Split Split
	// Stratify splits each class separately, so that every class keeps the
	// same proportions in every split.
	Stratify bool
	// MaxPerClass, when positive, keeps at most that many randomly chosen
	// images of each class.
	MaxPerClass int
	// Seed drives every random choice; equal seeds give equal splits.
	Seed int64
}

// Example is one image file and where it ended up.
type Example struct {
	// Path is the file's path: Options.Dir joined with the class folder
	// and file name, so it can be opened as is.
	Path string
	// Label is the index of Class in Dataset.Classes.
	Label int
	// Class is the name of the class folder.
	Class string
	// Split is Train, Val or Test.
	Split string
	// Hash is the hex SHA-256 of the file's bytes, empty until
	// Dataset.HashFiles has run.
	Hash string
}

// Dataset is the result of a scan: the classes and the split examples.
type Dataset struct {
	// Dir is the scanned folder; empty for a dataset read from a manifest.
	Dir string
	// Classes are the class names sorted by name; labels index into it.
	Classes []string
	// Examples holds the train examples, then the validation ones, then
	// the test ones, each split in shuffled order.
	Examples []Example
	// Missing lists the Exclude names that matched no folder. That is not
	// an error, since the same exclude list may serve several data sets,
	// but callers should report it: it often means a typo.
	Missing []string
	// Ignored counts, by extension (lower case), the files in class
	// folders that look like images but are not among the extensions
	// scanned: a folder of mixed formats. Callers should report them.
	Ignored map[string]int
	// Loose counts the image files directly in Dir, outside any class
	// folder: they are not used, and callers should say so.
	Loose int
	// Unread lists the entries of class folders with an image's name
	// that are not regular files (a named pipe, a device, a socket, a
	// symbolic link loop or a broken link), left out with why: reading
	// one could block forever or never end. Callers should list them.
	Unread []Unread
	// Alike lists groups of class folders whose names are equal up to
	// case or Unicode normalisation ("Cat" and "cat", "café" composed and
	// decomposed): separate classes, which is rarely what was meant.
	// Callers should warn.
	Alike [][]string
}

// Unread is a file Scan left out, and why.
type Unread struct {
	Path, Why string
}

// MinPerClass is the fewest images a class may have: one to train on, one
// to validate with, one to test with. Far more are needed to learn well.
const MinPerClass = 3

// otherImageExts are the image file extensions a camera, phone or editor
// may write besides those scanned; files with them are counted in
// Dataset.Ignored instead of disappearing silently.
var otherImageExts = []string{".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp",
	".heic", ".heif", ".avif", ".jxl", ".jfif", ".svg", ".raw", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".psd"}

// Readable reports whether the images package can decode files with
// extension ext (lower case, with its dot), so that a user can be told to
// add it to data.extensions rather than to convert the files.
func Readable(ext string) bool {
	switch ext {
	case ".jpg", ".jpeg", ".jfif", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp":
		return true
	}
	return false
}

// IgnoredHint says what to do about files Scan left out for their
// extension (Dataset.Ignored), or "" when there are none.
func IgnoredHint(ignored map[string]int) string {
	if len(ignored) == 0 {
		return ""
	}
	var exts, add, convert []string
	n := 0
	for e := range ignored {
		exts = append(exts, e)
	}
	slices.Sort(exts)
	var parts []string
	for _, e := range exts {
		n += ignored[e]
		parts = append(parts, fmt.Sprintf("%d %s", ignored[e], e))
		if Readable(e) {
			add = append(add, e)
		} else {
			convert = append(convert, e)
		}
	}
	msg := fmt.Sprintf("%d image file(s) left out for their extension (%s)", n, strings.Join(parts, ", "))
	if len(add) > 0 {
		msg += fmt.Sprintf("; to use them, add %s to data.extensions", strings.Join(add, " "))
	}
	if len(convert) > 0 {
		msg += fmt.Sprintf("; %s cannot be read: convert them to JPEG or PNG", strings.Join(convert, " "))
	}
	return msg
}

// Scan lists the class folders and images under opts.Dir and splits them as
// opts says. Scan only reads folder listings; call HashFiles to read the
// files and fill in Example.Hash.
//
// Class folders are the subfolders of opts.Dir that are not hidden (their
// name does not start with ".") and not excluded. Images are the files
// directly inside a class folder whose extension matches; hidden files and
// deeper folders are ignored. Files directly inside opts.Dir are ignored.
func Scan(opts Options) (*Dataset, error) {
	if err := opts.Split.check(); err != nil {
		return nil, err
	}
	if opts.MaxPerClass < 0 {
		return nil, fmt.Errorf("dataset: max per class is %d: use 0 for no limit or a positive number", opts.MaxPerClass)
	}
	exts := normalizeExts(opts.Extensions)
	if err := checkDir(opts.Dir); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", opts.Dir, err)
	}

	excluded := make(map[string]bool, len(opts.Exclude))
	for _, name := range opts.Exclude {
		excluded[name] = true
	}
	seen := make(map[string]bool)
	ds := &Dataset{Dir: opts.Dir, Ignored: map[string]int{}}
	var files [][]string        // files[label] are the class's image paths
	for _, e := range entries { // os.ReadDir sorts by name
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if !isDir(opts.Dir, e) {
			if isFile(opts.Dir, e) && slices.Contains(otherImageExts, strings.ToLower(filepath.Ext(name))) {
				ds.Loose++
			}
			continue
		}
		if excluded[name] {
			seen[name] = true
			continue
		}
		if err := checkClassName(opts.Dir, name); err != nil {
			return nil, err
		}
		paths, err := listImages(filepath.Join(opts.Dir, name), exts, ds)
		if err != nil {
			return nil, err
		}
		ds.Classes = append(ds.Classes, name)
		files = append(files, paths)
	}
	for _, name := range opts.Exclude {
		if !seen[name] && !slices.Contains(ds.Missing, name) {
			ds.Missing = append(ds.Missing, name)
		}
	}
	if len(ds.Classes) < 2 {
		return nil, fewClasses(opts.Dir, ds.Classes, ds.Loose)
	}
	ds.Alike = alike(ds.Classes)
	var small []string
	for label, paths := range files {
		n := len(paths)
		if opts.MaxPerClass > 0 {
			n = min(n, opts.MaxPerClass)
		}
		if n < MinPerClass {
			small = append(small, fmt.Sprintf("%s (%d)", ds.Classes[label], n))
		}
	}
	if len(small) > 0 {
		return nil, fmt.Errorf("dataset %s: class folder(s) with fewer than %d images: %s: a class needs images to train on, to validate with and to test with (%d at the very least, 20 or more to learn it well): add images, or leave the class out with data.exclude",
			opts.Dir, MinPerClass, strings.Join(small, ", "), MinPerClass)
	}

	ds.Examples = split(ds.Classes, files, opts)
	if n := len(ds.Split(Train)); n == 0 {
		return nil, fmt.Errorf("dataset %s: the train split is empty (%d images in all): add images or raise the train fraction", opts.Dir, len(ds.Examples))
	}
	if n := len(ds.Split(Test)); n == 0 {
		return nil, fmt.Errorf("dataset %s: the test split is empty (%d images in all): add images or raise the test fraction", opts.Dir, len(ds.Examples))
	}
	return ds, nil
}

// check reports whether s is a usable split.
func (s Split) check() error {
	if s.Train < 0 || s.Val < 0 || s.Test < 0 {
		return fmt.Errorf("dataset: split %v/%v/%v has a negative fraction: use fractions between 0 and 1", s.Train, s.Val, s.Test)
	}
	if sum := s.Train + s.Val + s.Test; math.Abs(sum-1) > 1e-6 || math.IsNaN(sum) {
		return fmt.Errorf("dataset: split %v/%v/%v sums to %v, not 1: adjust the fractions", s.Train, s.Val, s.Test, sum)
	}
	if s.Train == 0 || s.Test == 0 {
		return fmt.Errorf("dataset: split %v/%v/%v leaves no train or no test examples: give both a positive fraction", s.Train, s.Val, s.Test)
	}
	return nil
}

// checkDir reports whether dir exists and is a folder.
func checkDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("dataset: no data folder given: set data.dir")
	}
	fi, err := os.Stat(dir)
	if os.IsNotExist(err) {
		return fmt.Errorf("dataset %s: data folder does not exist: create it or set data.dir: %w", dir, err)
	}
	if err != nil {
		return fmt.Errorf("dataset %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("dataset %s: not a folder: set data.dir to the folder that holds one subfolder per class", dir)
	}
	return nil
}

// isDir reports whether the entry e of dir is a folder or a link to one.
func isDir(dir string, e os.DirEntry) bool {
	if e.Type()&os.ModeSymlink == 0 {
		return e.IsDir()
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && fi.IsDir()
}

// isFile reports whether the entry e of dir is a regular file or a link to
// one.
func isFile(dir string, e os.DirEntry) bool {
	if e.Type()&os.ModeSymlink == 0 {
		return e.Type().IsRegular()
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && fi.Mode().IsRegular()
}

// normalizeExts lowercases exts and gives each a leading dot.
func normalizeExts(exts []string) []string {
	if len(exts) == 0 {
		exts = DefaultExtensions
	}
	out := make([]string, 0, len(exts))
	for _, e := range exts {
		e = strings.ToLower(e)
		if !strings.HasPrefix(e, ".") {
			e = "." + e
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// fewClasses explains a data folder with fewer than two class folders,
// recognising the usual mistake: images directly in the folder.
func fewClasses(dir string, classes []string, loose int) error {
	if loose > 0 {
		return fmt.Errorf("dataset %s: %d image(s) directly in the folder and %d class folder(s) %q: the class of an image is the name of the folder it is in, so put each class's images in its own subfolder (%s/cat/*.jpg, %s/dog/*.jpg, ...), at least 2 classes",
			dir, loose, len(classes), classes, dir, dir)
	}
	return fmt.Errorf("dataset %s: found %d class folder(s) %q, need at least 2: put each class's images in its own subfolder", dir, len(classes), classes)
}

// listImages returns the sorted paths of the image files directly in dir,
// counting in ds.Ignored the other image files by extension and listing in
// ds.Unread the entries with an image's name that are not regular files.
func listImages(dir string, exts []string, ds *Dataset) ([]string, error) {
	ignored := ds.Ignored
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset class folder %s: %w", dir, err)
	}
	var paths []string
	here := map[string]int{} // other image files, by extension
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if strings.HasPrefix(name, ".") {
			continue
		}
		if !isFile(dir, e) {
			if (slices.Contains(exts, ext) || slices.Contains(otherImageExts, ext)) && !isDir(dir, e) {
				path := filepath.Join(dir, name)
				why := "not a regular file"
				if err := fsutil.CheckRegular(path); err != nil {
					why = err.Error()
					if pe, ok := err.(*fs.PathError); ok {
						why = pe.Err.Error()
					} else {
						why = strings.TrimPrefix(why, path+": ")
					}
				}
				ds.Unread = append(ds.Unread, Unread{Path: path, Why: why})
			}
			continue
		}
		if slices.Contains(exts, ext) {
			paths = append(paths, filepath.Join(dir, name))
		} else if slices.Contains(otherImageExts, ext) {
			here[ext]++
		}
	}
	var folders []string // in case dir is one level above the classes
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && isDir(dir, e) {
			folders = append(folders, e.Name())
		}
	}
	for e, n := range here {
		ignored[e] += n
	}
	if len(paths) == 0 {
		hint := "add images, remove the folder or add it to data.exclude"
		if len(here) > 0 {
			hint = IgnoredHint(here)
		} else if len(folders) > 0 {
			// As unpacking an archive often leaves it: data/photos/photos/cat.
			hint = fmt.Sprintf("it holds folders %q; if those are the classes, set data.dir=%s", folders, dir)
		}
		return nil, fmt.Errorf("dataset class folder %s: no images (looked for %s, any case): %s", dir, strings.Join(exts, " "), hint)
	}
	slices.Sort(paths)
	return paths, nil
}

// Split returns the examples of the named split (Train, Val or Test) in
// their shuffled order; nil for an unknown name.
func (d *Dataset) Split(name string) []Example {
	var out []Example
	for _, e := range d.Examples {
		if e.Split == name {
			out = append(out, e)
		}
	}
	return out
}

// NumClasses returns the number of classes.
func (d *Dataset) NumClasses() int { return len(d.Classes) }

// Counts returns, for each split name, the number of examples of each
// class, indexed by label. Every split in SplitNames has an entry.
func (d *Dataset) Counts() map[string][]int {
	c := make(map[string][]int, len(SplitNames))
	for _, s := range SplitNames {
		c[s] = make([]int, len(d.Classes))
	}
	for _, e := range d.Examples {
		if n, ok := c[e.Split]; ok && e.Label >= 0 && e.Label < len(n) {
			n[e.Label]++
		}
	}
	return c
}
