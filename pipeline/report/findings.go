package report

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// DuplicateCount is how many pairs of duplicates there are between two splits.
type DuplicateCount struct {
	Exact int `json:"exact"`
	Near  int `json:"near"`
}

// Findings is what package inspect found in a run's data and models, as
// metrics.json stores it under "inspect" and results.md shows it.
type Findings struct {
	// Features names the transfer model whose feature space the
	// near-duplicates, suspects and kNN use; "" when the run has none (then
	// only exact duplicates are found).
	Features      string  `json:"features"`
	NearDuplicate float64 `json:"near_duplicate"`
	// Duplicates counts pairs per pair of splits ("train/test": exact,
	// near); rundir.DuplicatesFile lists them.
	Duplicates map[string]DuplicateCount `json:"duplicates"`
	// Leaks are the pairs of a test image with a train or val image.
	Leaks []PairRow `json:"leaks"`
	// OnDuplicate is data.on_duplicate; Dropped the test images it left
	// out (drop_from_test).
	OnDuplicate string   `json:"on_duplicate"`
	Dropped     []string `json:"dropped_from_test"`
	// Suspects are the images whose label out-of-fold predictions
	// disagree with (nil when not looked for), out of Checked.
	Suspects []SuspectRow `json:"suspects"`
	Checked  int          `json:"suspects_checked"`
	Folds    int          `json:"folds"` // of the out-of-fold predictions
	// Models has each model's misclassified test images.
	Models []ModelFindings `json:"models"`
	// Notes say what could not be looked at, and why.
	Notes []string `json:"notes"`
}

// PairRow is a pair of duplicates by path.
type PairRow struct {
	A      string  `json:"a"`
	ASplit string  `json:"a_split"`
	B      string  `json:"b"`
	BSplit string  `json:"b_split"`
	Exact  bool    `json:"exact"`
	Cosine float64 `json:"cosine"`
}

// SuspectRow is a suspect label by path and class name.
type SuspectRow struct {
	Path      string  `json:"path"`
	Split     string  `json:"split"`
	Given     string  `json:"given"`
	Suggested string  `json:"suggested"`
	PGiven    float64 `json:"p_given"`
	PSuggest  float64 `json:"p_suggested"`
}

// ModelFindings is one model's misclassified test images.
type ModelFindings struct {
	Name          string `json:"name"`
	Misclassified int    `json:"misclassified"` // MisclassifiedFile lists them
	Shown         int    `json:"shown"`         // in TopLossesPlot
	PCA           bool   `json:"pca"`           // PCAPlot drawn
	Projector     bool   `json:"projector"`     // Projector files written
}

// writeFindings writes the "Look at your data" section of results.md: duplicates
// per pair of splits and the leaks' thumbnails, suspect labels, and per
// model the misclassified gallery and the PCA scatter. Links are relative
// to the run folder. The output depends on f only.
func writeFindings(b *bytes.Buffer, f *Findings) {
	b.WriteString("## Look at your data\n\n")
	for _, n := range f.Notes {
		fmt.Fprintf(b, "Note: %s.\n\n", n)
	}
	b.WriteString("### Duplicates and leaks\n\n")
	if f.Features != "" {
		fmt.Fprintf(b, "Exact duplicates have the same bytes (SHA-256); near-duplicates have %s's backbone features at a cosine of at least %g (data.near_duplicate).\n\n", f.Features, f.NearDuplicate)
	} else {
		b.WriteString("Exact duplicates have the same bytes (SHA-256).\n\n")
	}
	b.WriteString("| splits | exact | near |\n|---|--:|--:|\n")
	keys := make([]string, 0, len(f.Duplicates))
	for k := range f.Duplicates {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y string) int { return splitOrder(x) - splitOrder(y) })
	for _, k := range keys {
		near := fmt.Sprint(f.Duplicates[k].Near)
		if f.Features == "" {
			near = "n/a"
		}
		fmt.Fprintf(b, "| %s | %d | %s |\n", k, f.Duplicates[k].Exact, near)
	}
	fmt.Fprintf(b, "\nEvery pair: [%s](%s).\n\n", rundir.DuplicatesFile, runLink(rundir.InspectDir, rundir.DuplicatesFile))
	if len(f.Leaks) > 0 {
		fmt.Fprintf(b, "**Warning: %d test %s duplicate training or validation images: the test split measures memory there, not generalisation.**", len(f.Leaks), plural(len(f.Leaks), "image pair", "image pairs"))
		switch {
		case len(f.Dropped) > 0:
			fmt.Fprintf(b, " data.on_duplicate: drop_from_test left %d test %s out of every model's test.", len(f.Dropped), plural(len(f.Dropped), "image", "images"))
		default:
			b.WriteString(" Set data.on_duplicate: drop_from_test to leave them out of the test split, or error to stop.")
		}
		b.WriteString("\n\n")
		fmt.Fprintf(b, "![Test images (framed) beside the training or validation images they duplicate](%s)\n\n", runLink(rundir.InspectDir, rundir.LeaksPlot))
		fmt.Fprintf(b, "The first of them (every pair is in %s):\n\n| test image | duplicates | split | kind |\n|---|---|---|---|\n", rundir.DuplicatesFile)
		for _, p := range f.Leaks[:min(len(f.Leaks), 20)] {
			kind := fmt.Sprintf("near (cosine %.4f)", p.Cosine)
			if p.Exact {
				kind = "exact"
			}
			fmt.Fprintf(b, "| `%s` | `%s` | %s | %s |\n", p.B, p.A, p.ASplit, kind)
		}
		b.WriteString("\n")
	}
	if f.Suspects != nil {
		b.WriteString("### Suspect labels\n\n")
		fmt.Fprintf(b, "%d of %d train and val images have a label that out-of-fold predictions of a softmax layer on %s's features (%d folds) confidently disagree with (confident learning, Northcutt et al. 2021). Check them first: [%s](%s).\n\n",
			len(f.Suspects), f.Checked, f.Features, f.Folds, rundir.SuspectsFile, runLink(rundir.InspectDir, rundir.SuspectsFile))
		if len(f.Suspects) > 0 {
			fmt.Fprintf(b, "![Suspect labels: the given label, then the class the predictions suggest](%s)\n\n", runLink(rundir.InspectDir, rundir.SuspectsPlot))
		}
	}
	for _, m := range f.Models {
		if m.Misclassified == 0 && !m.PCA {
			continue
		}
		fmt.Fprintf(b, "### %s\n\n", m.Name)
		fmt.Fprintf(b, "%d misclassified test %s: [%s](%s).", m.Misclassified, plural(m.Misclassified, "image", "images"), rundir.MisclassifiedFile, runLink(rundir.ModelsDir, m.Name, rundir.MisclassifiedFile))
		if m.Shown > 0 {
			fmt.Fprintf(b, " The %d with the highest loss, each with its nearest training images in feature space:\n\n", m.Shown)
			fmt.Fprintf(b, "![%s: misclassified test images with the highest loss](%s)\n\n", m.Name, runLink(rundir.ModelsDir, m.Name, rundir.TopLossesPlot))
		} else {
			b.WriteString("\n\n")
		}
		if m.PCA {
			fmt.Fprintf(b, "![%s: test features, first two principal components](%s)\n\n", m.Name, runLink(rundir.ModelsDir, m.Name, rundir.PCAPlot))
		}
		if m.Projector {
			fmt.Fprintf(b, "Its test features are in TensorBoard's Projector (3-D PCA, t-SNE, UMAP): `tensorboard --logdir` the runs folder, tab Projector.\n\n")
		}
	}
}

// splitOrder orders "train/test" keys as the splits are ordered.
func splitOrder(k string) int {
	a, b, _ := strings.Cut(k, "/")
	return 10*slices.Index(dataset.SplitNames, a) + slices.Index(dataset.SplitNames, b)
}

// link is a relative link to a run file, its parts escaped.
func runLink(parts ...string) string {
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, " ", "%20"), "(", "%28")
	}
	return path.Join(parts...)
}
