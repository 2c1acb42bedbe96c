package report

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/gotransfer/gotransfer/pipeline/evaluate"
	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// WorstClasses is how many classes results.md lists per model, those with
// the lowest test recall: where a model fails matters more than its
// average.
const WorstClasses = 5

// Markdown returns results.md for r: the run, its dataset, a table
// comparing the models on the test split, then per model its training
// history, confusion matrix and worst classes. The run's plots are linked
// relative to the run folder (results.md sits at its top), so that a
// Markdown viewer shows them in place. Accuracies are percentages with two
// decimals, losses have four. A backbone with random weights is written in
// bold and warned about, since its numbers say nothing about transfer
// learning. The output depends on r only.
func Markdown(r *Run) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Results: %s (seed %d)\n\n", r.Name, r.Seed)
	writeDataset(&b, &r.Dataset)
	if len(r.Models) == 0 {
		b.WriteString("No models.\n")
		return b.Bytes()
	}
	writeSummary(&b, append(slices.Clone(r.Models), r.Baselines...))
	if HasHistory(r.Models) {
		image(&b, "Validation loss and accuracy per epoch, every model", rundir.HistoryPlot)
	}
	for _, m := range r.Models {
		writeModel(&b, &m, r.Dataset.Val > 0)
	}
	if r.Inspect != nil {
		writeFindings(&b, r.Inspect)
	}
	return b.Bytes()
}

func writeDataset(b *bytes.Buffer, d *Dataset) {
	fmt.Fprintf(b, "Dataset `%s`: %d %s; %d train, %d val, %d test images.\n\n",
		d.Dir, len(d.Classes), plural(len(d.Classes), "class", "classes"), d.Train, d.Val, d.Test)
	if len(d.Classes) > 0 {
		names := make([]string, len(d.Classes))
		for i, c := range d.Classes {
			names[i] = escapeText(c)
		}
		fmt.Fprintf(b, "Classes: %s.\n\n", strings.Join(names, ", "))
	}
	image(b, "Sample training images with their labels", rundir.SamplesPlot)
	if len(d.Skipped) > 0 {
		fmt.Fprintf(b, "Skipped %d %s:\n\n", len(d.Skipped), plural(len(d.Skipped), "file", "files"))
		for _, s := range d.Skipped {
			fmt.Fprintf(b, "- `%s`", s.Path)
			if s.Reason != "" {
				fmt.Fprintf(b, ": %s", s.Reason)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
}

// writeSummary writes the table of models.
func writeSummary(b *bytes.Buffer, models []Model) {
	// One k for all models goes in the header; otherwise each cell says its k.
	k := 0
	for _, m := range models {
		if m.Test == nil {
			continue
		}
		if k == 0 {
			k = m.Test.K
		} else if k != m.Test.K {
			k = -1
		}
	}
	topk := "top-k accuracy"
	if k > 0 {
		topk = fmt.Sprintf("top-%d accuracy", k)
	}
	b.WriteString("## Models\n\n")
	writeRow(b, "model", "kind", "backbone and weights", "trainable params", "epochs", "best epoch",
		"test loss", "test accuracy", topk, "mean class recall", "macro F1")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var random []string
	for _, m := range models {
		if m.RandomWeights {
			random = append(random, m.Name)
		}
		epochs := strconv.Itoa(len(m.History))
		if m.Kind == KindKNN {
			epochs = "none" // nothing trains
		}
		if m.StoppedEarly {
			epochs += " (early stop)"
		}
		row := []string{m.Name, m.Kind, backboneText(&m), thousands(m.Params), epochs, bestText(&m)}
		if t := m.Test; t != nil {
			top := percent(t.TopK)
			if k < 0 {
				top += fmt.Sprintf(" (k=%d)", t.K)
			}
			l := loss(t.Loss)
			if m.Kind == KindKNN {
				l = "n/a" // votes, not probabilities: no loss
			}
			row = append(row, l, percent(t.Accuracy), top, percent(t.MeanClassRecall), percent(t.MacroF1))
		} else if m.Failed != "" {
			row = append(row, "failed", "", "", "", "")
		} else {
			row = append(row, "not tested", "", "", "", "")
		}
		writeRow(b, row...)
	}
	b.WriteString("\nTest loss is the mean categorical cross-entropy on the test split. " +
		"Mean class recall is the mean over classes of the share of each class's test images " +
		"classified correctly (the VGG paper's Caltech-101 metric); " +
		"it and macro F1 average over the classes present in the test split.\n\n")
	writeAugmentation(b, models)
	for _, m := range models {
		if m.Test != nil && m.Test.NonFinite > 0 {
			fmt.Fprintf(b, "**Warning: %s gave non-finite probabilities for %d of %d test images; they count as wrong.**\n\n",
				m.Name, m.Test.NonFinite, m.Test.N)
		}
	}
	if len(random) > 0 {
		fmt.Fprintf(b, "**Warning: the backbone of %s has RANDOM weights, not pretrained ones; "+
			"its results say nothing about transfer learning.**\n\n", strings.Join(random, ", "))
	}
}

// writeCrossValidation writes a model's k-fold cross-validation.
func writeCrossValidation(b *bytes.Buffer, cv *CrossValidation) {
	b.WriteString("### Cross-validation\n\n")
	fmt.Fprintf(b, "%d folds of the train and val images (stratified, seeded), each validated on the model trained on the others; "+
		"the test split is not used. Validation accuracy **%s ± %s**, loss **%s ± %s** (mean ± sample standard deviation).\n\n",
		cv.Folds, percent(cv.MeanAccuracy), percent(cv.StdAccuracy), loss(cv.MeanLoss), loss(cv.StdLoss))
	writeRow(b, "fold", "val_accuracy", "val_loss", "epochs")
	b.WriteString("|--:|--:|--:|--:|\n")
	for i := range cv.ValAccuracy {
		writeRow(b, strconv.Itoa(i+1), percent(cv.ValAccuracy[i]), loss(cv.ValLoss[i]), strconv.Itoa(cv.Epochs[i]))
	}
	b.WriteString("\n")
}

// writeModel writes the section of one model.
func writeModel(b *bytes.Buffer, m *Model, hasVal bool) {
	fmt.Fprintf(b, "## %s\n\n", m.Name)
	fmt.Fprintf(b, "%s model, %s; %s trainable parameters.", capitalize(m.Kind), backboneText(m), thousands(m.Params))
	fmt.Fprintf(b, " Trained %d %s", len(m.History), plural(len(m.History), "epoch", "epochs"))
	if m.StoppedEarly {
		b.WriteString(", stopped early")
	}
	if m.BestEpoch > 0 {
		fmt.Fprintf(b, "; best epoch %d", m.BestEpoch)
		if m.RestoredBest {
			b.WriteString(", whose weights were restored")
		}
	}
	b.WriteString(".\n\n")
	if m.Failed != "" {
		fmt.Fprintf(b, "**Failed: %s.** Its numbers are not reported.\n\n", m.Failed)
	}

	if len(m.History) > 0 {
		b.WriteString("### History\n\n")
		writeRow(b, "epoch", "loss", "accuracy", "val_loss", "val_accuracy")
		b.WriteString("|--:|--:|--:|--:|--:|\n")
		for _, e := range m.History {
			epoch := strconv.Itoa(e.Epoch)
			if e.Phase == history.FineTune {
				epoch += " (fine-tune)"
			}
			if e.Epoch == m.BestEpoch {
				epoch += " (best)"
			}
			writeRow(b, epoch, loss(e.Loss), percent(e.Accuracy), valCell(e.ValLoss, loss), valCell(e.ValAccuracy, percent))
		}
		b.WriteString("\n")
		if !hasVal {
			b.WriteString("No validation split: val_loss and val_accuracy are not measured.\n\n")
		}
		if m.Loss != "" {
			fmt.Fprintf(b, "The loss is categorical cross-entropy with %s, as Keras' fit computes it.\n\n", m.Loss)
		}
	}

	if cv := m.CrossValidation; cv != nil {
		writeCrossValidation(b, cv)
	}
	if m.Test == nil {
		b.WriteString("Not evaluated on the test split.\n\n")
		return
	}
	image(b, "Confusion matrix of "+m.Name+" on the test split", rundir.ModelsDir+"/"+m.Name+"/"+rundir.ConfusionPlot)
	worst := worstClasses(m.Test.PerClass, WorstClasses)
	if len(worst) == 0 {
		return
	}
	present := 0
	for _, c := range m.Test.PerClass {
		if c.Support > 0 {
			present++
		}
	}
	fmt.Fprintf(b, "### Worst classes by test recall (%d of %d)\n\n", len(worst), present)
	writeRow(b, "class", "precision", "recall", "support")
	b.WriteString("|---|--:|--:|--:|\n")
	for _, c := range worst {
		writeRow(b, escapeText(c.Name), percent(c.Precision), percent(c.Recall), strconv.Itoa(c.Support))
	}
	b.WriteString("\n")
}

// worstClasses returns the n classes with the lowest recall among those
// with test examples, lowest first, ties in class order.
func worstClasses(classes []evaluate.Class, n int) []evaluate.Class {
	var out []evaluate.Class
	for _, c := range classes {
		if c.Support > 0 {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Recall < out[j].Recall })
	return out[:min(n, len(out))]
}

// backboneText is the backbone and weights cell: random weights in bold.
func backboneText(m *Model) string {
	if m.Backbone == "" && m.Weights == "" {
		return "none (trained from scratch)"
	}
	parts := []string{}
	if m.Backbone != "" {
		parts = append(parts, "`"+m.Backbone+"`")
	}
	if m.Precision != "" {
		parts = append(parts, m.Precision)
	}
	if w := m.Weights; w != "" {
		if m.RandomWeights {
			w = "**" + w + "**"
		}
		parts = append(parts, w)
	}
	return strings.Join(parts, ", ")
}

func bestText(m *Model) string {
	if m.BestEpoch <= 0 {
		return ""
	}
	s := strconv.Itoa(m.BestEpoch)
	if m.RestoredBest {
		s += " (restored)"
	}
	return s
}

// image writes a Markdown image of the run-folder file at the slash path
// rel, each path segment percent-escaped (a model name may hold spaces or
// parentheses) and the alt text's brackets escaped.
func image(b *bytes.Buffer, alt, rel string) {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	alt = strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, "\n", " ").Replace(alt)
	fmt.Fprintf(b, "![%s](%s)\n\n", alt, strings.Join(segs, "/"))
}

// writeRow writes one Markdown table row, escaping the cells.
func writeRow(b *bytes.Buffer, cells ...string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" ")
		b.WriteString(escapeCell(c))
		b.WriteString(" |")
	}
	b.WriteString("\n")
}

// escapeText escapes s so that Markdown shows it as text: a class name
// such as *bold* or [x](y) is not rendered as emphasis or a link. The
// characters that can start inline markup are backslash-escaped; an
// underscore only where it could (at a word's edge), so that ankle_boot
// reads as it is. Pipes are left to escapeCell.
func escapeText(s string) string {
	var b strings.Builder
	rs := []rune(s)
	word := func(i int) bool {
		return i >= 0 && i < len(rs) && (unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i]))
	}
	for i, r := range rs {
		switch r {
		case '\\', '`', '*', '[', ']', '<', '>', '~', '&', '#', '!':
			b.WriteByte('\\')
		case '_':
			if !word(i-1) || !word(i+1) {
				b.WriteByte('\\')
			}
		}
		if r == '\n' || r == '\r' {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// escapeCell keeps a cell on its line and its pipes out of the table
// structure.
func escapeCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}

// percent formats a fraction as a percentage with two decimals: 71.57%.
func percent(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64) + "%"
}

// loss formats a loss with four decimals; NaN (a diverged model) stays
// visible as NaN.
func loss(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// valCell formats a validation metric; NaN means it was not measured.
func valCell(v float64, format func(float64) string) string {
	if math.IsNaN(v) {
		return "-"
	}
	return format(v)
}

// thousands writes n with comma thousands separators: 1,234,567.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// capitalize upper-cases the first letter of an ASCII word.
func capitalize(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// writeAugmentation writes how each augmented model trained and, for
// the models tested with test-time augmentation, their test accuracy and
// mean class recall without and with it; nothing when no model has
// either.
func writeAugmentation(b *bytes.Buffer, models []Model) {
	if !slices.ContainsFunc(models, func(m Model) bool { return m.Augment != "" || m.TTA != nil }) {
		return
	}
	b.WriteString("### Augmentation\n\n")
	writeRow(b, "model", "training images", "test views", "test accuracy", "with TTA", "mean class recall", "with TTA")
	b.WriteString("|---|---|---|--:|--:|--:|--:|\n")
	for _, m := range models {
		if m.Augment == "" && m.TTA == nil {
			continue
		}
		row := []string{m.Name, m.Augment, m.TTAViews, "", "", "", ""}
		for i := 1; i <= 2; i++ {
			if row[i] == "" {
				row[i] = "as they are"
			}
		}
		if t := m.Test; t != nil {
			row[3], row[5] = percent(t.Accuracy), percent(t.MeanClassRecall)
		}
		if t := m.TTA; t != nil {
			row[4], row[6] = percent(t.Accuracy), percent(t.MeanClassRecall)
		}
		writeRow(b, row...)
	}
	b.WriteString("\nWith test-time augmentation (TTA) a model's test prediction averages its class " +
		"probabilities over the test views (or, for the VGG paper's protocol, the backbone features, " +
		"for training too); the Models table above is without it.\n\n")
}
