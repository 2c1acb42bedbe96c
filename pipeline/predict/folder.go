package predict

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/progress"
)

// ListImages expands args into image paths: a file is kept as given
// (whatever its extension, so that a named file is never skipped silently;
// one that is not a regular file fails when predicted, at once), a folder
// gives every regular file below it, at any depth, whose extension is one
// of exts (compared case-insensitively), in lexical order. Hidden files and
// folders (a name starting with ".") are left out of folders' listings. A
// folder given as a symbolic link is listed; links to folders below it are
// not followed. Entries of a folder with an image's extension that are not
// regular files (a named pipe, a device, a socket, a link loop) are left
// out and returned in skipped, each with why: reading one could block
// forever.
func ListImages(args, exts []string) (paths []string, skipped []Skipped, err error) {
	var out []string
	for _, arg := range args {
		fi, err := os.Stat(arg)
		if err != nil || !fi.IsDir() {
			out = append(out, arg) // a missing file fails when predicted, with the others still done
			continue
		}
		n := len(out)
		// A trailing separator makes WalkDir enter a folder given as a
		// symbolic link; links below it are not followed.
		root := strings.TrimRight(arg, string(filepath.Separator)) + string(filepath.Separator)
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !slices.Contains(exts, strings.ToLower(filepath.Ext(path))) {
				return nil
			}
			if err := fsutil.CheckRegular(path); err != nil {
				why := err.Error()
				if pe, ok := err.(*fs.PathError); ok {
					why = pe.Err.Error()
				}
				if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
					if t, terr := os.Stat(path); terr == nil && t.IsDir() {
						return nil // a link to a folder: not followed, as documented
					}
				}
				skipped = append(skipped, Skipped{Path: path, Why: why})
				return nil
			}
			out = append(out, path)
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("predict: listing %s: %w", arg, err)
		}
		if len(out) == n {
			return nil, skipped, fmt.Errorf("predict: folder %s has no images (looked for %s, any case, at any depth)", arg, strings.Join(exts, " "))
		}
	}
	return out, skipped, nil
}

// Skipped is an entry of a folder ListImages left out, and why.
type Skipped struct {
	Path, Why string
}

// CSVHeader is the header row of PredictCSV's output for k classes:
// path, class_1, prob_1, ..., class_k, prob_k, error.
func CSVHeader(k int) []string {
	h := []string{"path"}
	for i := 1; i <= k; i++ {
		h = append(h, "class_"+strconv.Itoa(i), "prob_"+strconv.Itoa(i))
	}
	return append(h, "error")
}

// PredictCSV predicts every image of paths and writes one CSV row per image
// to out, in the order of paths, as soon as its batch is done: its k most
// probable classes with their probabilities (full float32 precision), or
// an empty ranking and why it failed. Images are decoded by several
// goroutines a few batches ahead and run through the model in batches (a
// transfer model's backbone at the batch size and precision the run's
// features were computed at), so memory stays flat however many images
// there are. prog, if not nil,
// shows a progress bar; each failure is also written to errs. After
// predicting the others, it returns a *FailedError if any image failed.
func (p *Predictor) PredictCSV(ctx context.Context, paths []string, k int, out, errs, prog io.Writer) error {
	k = min(k, len(p.Classes))
	w := csv.NewWriter(out)
	if err := w.Write(CSVHeader(k)); err != nil {
		return err
	}
	failed := 0
	fail := func(path string, err error) error {
		failed++
		fmt.Fprintf(errs, "pipeline: %v\n", err)
		row := make([]string, 2+2*k)
		row[0], row[len(row)-1] = path, err.Error()
		return w.Write(row)
	}
	bar := progress.New(prog, len(paths), "predict", "images")
	batch := 8 // a scratch model has no features to match
	if p.bb != nil {
		batch = p.Plan.Backbone.FeatureBatch // the batch size its features were computed at
	}
	in := p.Plan.Input
	opts := images.StreamOptions{
		H: in.Height, W: in.Width, Resize: in.Resize, Mode: in.Preprocess,
		Divide255: in.DivideBy255, BatchSize: batch,
		Workers: p.workers, SkipBad: true,
	}
	type result struct {
		index int
		probs []float32 // nil when err is set
		err   error
	}
	write := func(rs []result) error {
		slices.SortFunc(rs, func(a, b result) int { return a.index - b.index })
		for _, r := range rs {
			path := paths[r.index]
			var preds []Prediction
			if r.err == nil {
				preds, r.err = rank(path, p.Plan.Name, r.probs, p.Classes, k)
			}
			if r.err != nil {
				if err := fail(path, r.err); err != nil {
					return err
				}
				continue
			}
			rec := []string{path}
			for _, pr := range preds {
				rec = append(rec, pr.Class, strconv.FormatFloat(pr.Prob, 'g', -1, 32))
			}
			if err := w.Write(append(rec, "")); err != nil {
				return err
			}
		}
		w.Flush()
		bar.Add(len(rs))
		return w.Error()
	}
	next := 0 // paths before next have their row
	for b, err := range images.Stream(ctx, paths, opts) {
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			break // no image could be loaded: each gets its row below
		}
		var rs []result
		for _, s := range b.Skipped {
			rs = append(rs, result{index: s.Index, err: s.Err})
			next = max(next, s.Index+1)
		}
		if b.N == 0 { // every image of the batch was skipped
			if err := write(rs); err != nil {
				return err
			}
			continue
		}
		x := b.X
		if p.bb != nil {
			if x, err = p.bb.RunBatch(p.Plan.Backbone.Features, b.X, b.N, batch); err != nil {
				return fmt.Errorf("predict: %w", err)
			}
		}
		// The network runs on one image at a time, as Predict runs it:
		// TensorFlow's matrix kernels may sum in another order for
		// another number of rows (Eigen's, on CPUs without oneDNN's
		// custom ops, move the 7th digit), and a row of the CSV must be
		// what Predict says for that image.
		per := len(x) / b.N
		for i, idx := range b.Index {
			probs, _, err := p.net.Predict(x[i*per:(i+1)*per], nil)
			if err != nil {
				return fmt.Errorf("predict: %w", err)
			}
			rs = append(rs, result{index: idx, probs: probs})
			next = max(next, idx+1)
		}
		if err := write(rs); err != nil {
			return err
		}
	}
	// When no image loads, Stream reports none of them: load each again
	// for its own error.
	var rs []result
	for i := next; i < len(paths); i++ {
		_, err := images.Load(paths[i], in.Height, in.Width, in.Resize)
		if err == nil {
			err = fmt.Errorf("predict: %s: not predicted", paths[i])
		}
		rs = append(rs, result{index: i, err: err})
	}
	if err := write(rs); err != nil {
		return err
	}
	bar.Finish()
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if failed > 0 {
		return &FailedError{Failed: failed, Total: len(paths)}
	}
	return nil
}

// FailedError says that some images could not be predicted; the others
// were, and each failure was reported.
type FailedError struct{ Failed, Total int }

func (e *FailedError) Error() string {
	return fmt.Sprintf("predict: %d of %d images failed (see above)", e.Failed, e.Total)
}
