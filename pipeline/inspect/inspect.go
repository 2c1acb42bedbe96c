package inspect

import (
	"cmp"
	"fmt"
	"image/color"
	"path/filepath"
	"slices"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/plot"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// Checks are the duplicates found before training: the run acts on the
// leaks (data.on_duplicate) before any model sees the split.
type Checks struct {
	Findings *report.Findings
	Pairs    []Pair // every duplicate pair
	Leaks    []Pair // those of a test image with a train or val image
	// Thumbs loads the figures' images (nil: images.Thumb).
	Thumbs images.Thumbs
}

// CheckDuplicates finds the duplicates of examples: exact ones by content
// hash, near ones (cosine >= threshold) in sp when sp is not nil.
func CheckDuplicates(examples []dataset.Example, sp *Space, threshold float64, prod Products) (*Checks, error) {
	pairs, err := Duplicates(examples, sp, threshold, prod)
	if err != nil {
		return nil, err
	}
	leaks := Leaks(examples, pairs)
	f := &report.Findings{NearDuplicate: threshold, Duplicates: CountBySplits(examples, pairs), Leaks: pairRows(examples, leaks)}
	if sp != nil {
		f.Features = sp.Model
	} else {
		f.Notes = append(f.Notes, "no transfer model, so no backbone features: exact duplicates only (same bytes); no near-duplicates, suspect labels, kNN baseline or feature-space views")
	}
	return &Checks{Findings: f, Pairs: pairs, Leaks: leaks}, nil
}

// Write writes rundir.DuplicatesFile (every pair) and, when there are
// leaks, rundir.LeaksPlot into the run folder dir; examples are those
// CheckDuplicates was given.
func (c *Checks) Write(dir string, examples []dataset.Example) error {
	out := filepath.Join(dir, rundir.InspectDir)
	if err := writeDuplicates(filepath.Join(out, rundir.DuplicatesFile), examples, c.Pairs); err != nil {
		return err
	}
	if len(c.Leaks) == 0 {
		return nil
	}
	var groups [][]plot.Tile
	for _, p := range c.Leaks[:min(len(c.Leaks), shownPairs)] {
		a, b := examples[p.A], examples[p.B]
		kind := fmt.Sprintf("near %.3f", p.Cosine)
		if p.Exact {
			kind = "exact copy"
		}
		groups = append(groups, []plot.Tile{
			{Path: b.Path, Caption: []string{"test: " + b.Class, kind}, Frame: color.RGBA{0xd6, 0x27, 0x28, 0xff}},
			{Path: a.Path, Caption: []string{a.Split + ": " + a.Class, filepath.Base(a.Path)}},
		})
	}
	return plot.TilesWith(filepath.Join(out, rundir.LeaksPlot), groups, 4, 96, c.Thumbs)
}

// Drop removes the test images of the leaks from examples (the run's
// data.on_duplicate: drop_from_test), records them in the findings and
// returns the examples kept and their indexes in examples (see
// Space.Keep). Write first: Pairs and Leaks index the examples before the
// drop, and the findings keep the counts found in the data.
func (c *Checks) Drop(examples []dataset.Example) ([]dataset.Example, []int) {
	drop := LeakedTest(c.Leaks)
	kept := make([]dataset.Example, 0, len(examples)-len(drop))
	var idx []int
	for i, e := range examples {
		if _, found := slices.BinarySearch(drop, i); found {
			c.Findings.Dropped = append(c.Findings.Dropped, filepath.ToSlash(e.Path))
			continue
		}
		kept = append(kept, e)
		idx = append(idx, i)
	}
	return kept, idx
}

// Input is what Finish looks at, beside the duplicates.
type Input struct {
	Dir      string            // the run folder: files go there
	Examples []dataset.Example // the run's, after any drop
	Classes  []string
	Space    *Space    // the feature space of report.Findings.Features; nil for none
	Products Products  // nil: Dot
	Fit      LinearTop // for suspect labels; nil: none looked for
	Seed     int64
	// TopLosses is how many misclassified images per model the gallery
	// shows (report.top_losses).
	TopLosses int
	Models    []Model
	// Memo, when not nil, shares what is derived from the data alone
	// with other runs of the process over the same Space (a sweep).
	Memo *Memo
	// Thumbs loads the figures' images (nil: images.Thumb).
	Thumbs images.Thumbs
}

// Model is one trained model's test output.
type Model struct {
	Name  string
	Probs []float32 // test probabilities, n×classes, in the test split's order; nil: not tested
	// Space is the backbone feature space its misclassified images' nearest
	// training images are looked up in; nil: Input.Space.
	Space *Space
	// Views draws Space's PCA scatter into its folder and, with
	// TensorBoard, Projector files: set for the model whose features
	// Space is, not for a scratch or fine-tuned model that borrows one.
	Views bool
	// TensorBoard is its TensorBoard folder: Projector files go into its
	// train/ folder; "" for none.
	TensorBoard string
}

// findSuspects finds the suspect labels of in (train and val images),
// records them in f and writes rundir.SuspectsFile and SuspectsPlot, or
// takes them from in.Memo.
func findSuspects(f *report.Findings, in Input) error {
	if in.Space == nil || in.Fit == nil {
		return nil
	}
	if in.Memo == nil {
		return suspects(f, in)
	}
	key := fmt.Sprintf("suspects %p %d %d", in.Space, in.Seed, len(in.Examples))
	made, notes := false, len(f.Notes)
	files := func() []string {
		return []string{filepath.Join(rundir.InspectDir, rundir.SuspectsFile), filepath.Join(rundir.InspectDir, rundir.SuspectsPlot)}
	}
	e, err := in.Memo.do(key, in.Dir, files, func(e *memoEntry) error {
		made = true
		if err := suspects(f, in); err != nil {
			return err
		}
		e.f = report.Findings{Suspects: f.Suspects, Checked: f.Checked, Folds: f.Folds, Notes: slices.Clone(f.Notes[notes:])}
		return nil
	})
	if err != nil || made {
		return err
	}
	f.Suspects, f.Checked, f.Folds = e.f.Suspects, e.f.Checked, e.f.Folds
	f.Notes = append(f.Notes, e.f.Notes...)
	return nil
}

// suspects is findSuspects without a memo.
func suspects(f *report.Findings, in Input) error {
	idx := indexes(in.Examples, dataset.Train, dataset.Val)
	labels := labelsOf(in.Examples)
	if len(idx) < 2*Folds {
		f.Notes = append(f.Notes, fmt.Sprintf("suspect labels: %d train and val images are too few for %d folds", len(idx), Folds))
		return nil
	}
	probs, err := OutOfFold(in.Space, labels, len(in.Classes), idx, Folds, in.Seed, in.Fit)
	if err != nil {
		return err
	}
	sus := Suspects(probs, labels, len(in.Classes), idx)
	f.Checked, f.Folds = len(idx), Folds
	f.Suspects = []report.SuspectRow{}
	for _, s := range sus {
		e := in.Examples[s.Index]
		f.Suspects = append(f.Suspects, report.SuspectRow{Path: filepath.ToSlash(e.Path), Split: e.Split, Given: in.Classes[s.Given], Suggested: in.Classes[s.Suggested],
			PGiven: round(s.PGiven), PSuggest: round(s.PSuggest)})
	}
	out := filepath.Join(in.Dir, rundir.InspectDir)
	if err := writeSuspects(filepath.Join(out, rundir.SuspectsFile), f.Suspects); err != nil {
		return err
	}
	var groups [][]plot.Tile
	for _, s := range f.Suspects[:min(len(f.Suspects), shownSuspects)] {
		groups = append(groups, []plot.Tile{{Path: filepath.FromSlash(s.Path), Caption: []string{"label: " + s.Given, fmt.Sprintf("%s %.2f", s.Suggested, s.PSuggest)}}})
	}
	if len(groups) == 0 {
		return nil
	}
	return plot.TilesWith(filepath.Join(out, rundir.SuspectsPlot), groups, 8, 96, in.Thumbs)
}

// Finish looks at everything beside the duplicates: suspect labels, and
// for each model its misclassified test images (CSV, gallery with nearest
// training images), its PCA scatter and Projector files.
func (c *Checks) Finish(in Input) error {
	f := c.Findings
	// The suspect labels (f's suspects and notes) are looked for while
	// the models' findings (f.Models) are made.
	suspectsDone := make(chan error, 1)
	go func() { suspectsDone <- findSuspects(f, in) }()
	err := c.finishModels(in)
	if serr := <-suspectsDone; serr != nil {
		return serr
	}
	return err
}

// finishModels is Finish for each model: its misclassified test images,
// its PCA scatter and Projector files, into c.Findings.Models.
func (c *Checks) finishModels(in Input) error {
	f := c.Findings
	labels := labelsOf(in.Examples)
	test := indexes(in.Examples, dataset.Test)
	train := indexes(in.Examples, dataset.Train)
	for _, m := range in.Models {
		mf := report.ModelFindings{Name: m.Name}
		mdir := rundir.Model(in.Dir, m.Name)
		if m.Probs != nil {
			misses := Misclassified(m.Probs, labels, len(in.Classes), test)
			mf.Misclassified = len(misses)
			shown := misses[:min(len(misses), in.TopLosses)]
			nb := cmp.Or(m.Space, in.Space)
			if nb != nil && len(shown) > 0 {
				q := make([]int, len(shown))
				for i, s := range shown {
					q[i] = s.Index
				}
				near, err := nb.Nearest(q, train, Neighbours, in.Products)
				if err != nil {
					return err
				}
				for i := range shown {
					shown[i].Nearest = near[i]
				}
			}
			if err := writeMisclassified(filepath.Join(mdir, rundir.MisclassifiedFile), in.Examples, in.Classes, misses); err != nil {
				return err
			}
			if len(shown) > 0 {
				if err := gallery(filepath.Join(mdir, rundir.TopLossesPlot), in.Examples, in.Classes, shown, in.Thumbs); err != nil {
					return err
				}
				mf.Shown = len(shown)
			}
		}
		if m.Views && m.Space != nil && len(test) > 0 {
			if err := views(in, m, test, labels); err != nil {
				return err
			}
			mf.PCA, mf.Projector = true, m.TensorBoard != ""
		}
		f.Models = append(f.Models, mf)
	}
	return nil
}

// views draws m's PCA scatter of the test images and, with TensorBoard,
// writes its Projector files, or links them from in.Memo's run.
func views(in Input, m Model, test []int, labels []int32) error {
	mdir := rundir.Model(in.Dir, m.Name)
	draw := func(*memoEntry) error {
		xs, ys := PCA(m.Space, test, in.Seed)
		lab := make([]int, len(test))
		for i, e := range test {
			lab[i] = int(labels[e])
		}
		title := fmt.Sprintf("%s: test features, first two principal components", m.Name)
		if err := plot.Scatter(filepath.Join(mdir, rundir.PCAPlot), title, "PC 1", "PC 2", xs, ys, lab, in.Classes); err != nil {
			return err
		}
		if m.TensorBoard != "" {
			return writeProjector(filepath.Join(m.TensorBoard, "train"), m.Name+"/test", m.Space, in.Examples, test, in.Thumbs)
		}
		return nil
	}
	if in.Memo == nil {
		return draw(nil)
	}
	files := func() []string {
		out := []string{filepath.Join(mdir, rundir.PCAPlot)}
		if m.TensorBoard != "" {
			for _, f := range []string{rundir.ProjectorTensor, rundir.ProjectorMetadata, rundir.ProjectorSprite, rundir.ProjectorConfig} {
				out = append(out, filepath.Join(m.TensorBoard, "train", f))
			}
		}
		for i, p := range out {
			if rel, err := filepath.Rel(in.Dir, p); err == nil {
				out[i] = rel
			}
		}
		return out
	}
	key := fmt.Sprintf("views %p %q %d %t %d", m.Space, m.Name, in.Seed, m.TensorBoard != "", len(in.Examples))
	_, err := in.Memo.do(key, in.Dir, files, draw)
	return err
}

// gallery draws the misclassified images shown, each with its nearest
// training images.
func gallery(path string, examples []dataset.Example, classes []string, shown []Miss, thumbs images.Thumbs) error {
	groups := make([][]plot.Tile, len(shown))
	for i, m := range shown {
		e := examples[m.Index]
		g := []plot.Tile{{Path: e.Path, Frame: color.RGBA{0xd6, 0x27, 0x28, 0xff},
			Caption: []string{"true: " + classes[m.True], "pred: " + classes[m.Predicted], fmt.Sprintf("p %.2f, loss %.2f", m.Probability, m.Loss)}}}
		for _, n := range m.Nearest {
			t := examples[n.Index]
			g = append(g, plot.Tile{Path: t.Path, Caption: []string{"train: " + t.Class, fmt.Sprintf("cos %.3f", n.Cosine)}})
		}
		groups[i] = g
	}
	return plot.TilesWith(path, groups, 2, 80, thumbs)
}
