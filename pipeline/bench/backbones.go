package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"codeberg.org/sbinet/npyio/npy"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/cpuinfo"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// The backbones part (scripts/backbones.sh runs it once per
// keras.applications architecture, then renders docs/backbones.md):
//
//	-only backbone -backbone DIR -export-seconds S   measure one export, append a row
//	-only backbone -backbone-arch NAME -backbone-error MSG   record one that failed
//	-only backbone-cuts -describe FILE   the cuts of one architecture (scripts/export_backbone.py --describe's JSON)
//	-only backbone-cuts -backbone-arch NAME -backbone-error MSG   record one that could not be described
//	-only backbones-table                          print the table of every row
//
// Rows go to -backbones (a JSON line each; the last row of an
// architecture counts). backbone-cuts updates that row in place, keeping
// its measurements, or writes a row with only the cuts.

// backboneRow is one architecture of the table.
type backboneRow struct {
	Architecture  string   `json:"architecture"`
	Error         string   `json:"error,omitempty"` // why it could not be measured
	Input         [2]int   `json:"input"`
	Preprocess    string   `json:"preprocess"`
	InModel       []string `json:"in_model,omitempty"`
	Feature       string   `json:"feature_endpoint"`
	FeatureSize   int      `json:"feature_size"`
	Params        int64    `json:"params"`
	ExportSeconds float64  `json:"export_seconds"`
	// MaxAbsDiff and MaxRelDiff are the largest |Go − Keras| over every
	// endpoint on the golden batch, and the largest as a fraction of that
	// endpoint's max |Keras|.
	MaxAbsDiff float64 `json:"max_abs_diff"`
	MaxRelDiff float64 `json:"max_rel_diff"`
	Endpoints  int     `json:"endpoints"`
	// Float32 and BFloat16 are the features stage's images/s (decoding
	// and the backbone, a cold cache) on Images images at Batch (see
	// boundedRate); BFloat16 is 0 where the CPU has no bfloat16 (BF16Note
	// says why).
	Images int `json:"images"`
	// BF16Images is how many images the bfloat16 rate took (Images the
	// float32 one's): each as many as fit in the time budget.
	BF16Images int      `json:"bfloat16_images,omitempty"`
	Batch      int      `json:"batch"`
	Float32    float64  `json:"float32_images_per_s"`
	BFloat16   float64  `json:"bfloat16_images_per_s"`
	BF16Note   string   `json:"bfloat16_note,omitempty"`
	FineTune   []string `json:"fine_tune"`
	Weights    string   `json:"weights"`
	When       string   `json:"when"` // when measured; "" in a row with only the cuts
	Load       string   `json:"load"` // /proc/loadavg's 1-minute figure when measured
	Machine    string   `json:"machine"`

	// The cuts part (-only backbone-cuts), set when CutsWhen is: the cuts
	// the exporter offers (the last block's start first), each with
	// whether Go rebuilds the layers above it; CutsNote is the exporter's
	// word on why it offers fewer than two, CutsError why the
	// architecture could not be described.
	Cuts      []backboneCut `json:"cuts,omitempty"`
	CutsNote  string        `json:"cuts_note,omitempty"`
	CutsError string        `json:"cuts_error,omitempty"`
	CutsWhen  string        `json:"cuts_when,omitempty"`
}

// backboneCut is one cut an architecture offers.
type backboneCut struct {
	Name string `json:"name"`
	// TrainableParams is how many weights fine-tuning from it trains, up
	// to the feature endpoint.
	TrainableParams int `json:"trainable_params"`
	// Built is whether backbone.TailFor rebuilds the layers from the cut
	// up to the feature endpoint with Go's layer kinds; Error, where not,
	// the gist of why (the first layer no kind reproduces, or a
	// mismatch).
	Built bool   `json:"built"`
	Error string `json:"error,omitempty"`
}

// backbonePart runs -only backbone, backbone-cuts or backbones-table.
func (o *options) backbonePart() error {
	if o.only == "backbone-cuts" {
		return o.backboneCutsPart()
	}
	if o.only == "backbones-table" {
		rows, err := readBackboneRows(o.backbonesFile)
		if err != nil {
			return err
		}
		fmt.Print(backbonesMarkdown(rows))
		return nil
	}
	row := backboneRow{Architecture: o.backboneArch, Error: o.backboneError, When: time.Now().UTC().Format(time.RFC3339), Load: strings.Fields(loadAverage())[0], Machine: machine()}
	if row.Error == "" {
		if err := o.measureBackbone(&row); err != nil {
			return err
		}
	} else if row.Architecture == "" {
		return errors.New("-backbone-error needs -backbone-arch")
	}
	b, err := json.Marshal(row)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(o.backbonesFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// measureBackbone fills row from the export in o.backbone: its metadata,
// the golden batch through every endpoint, and the features stage's rate
// in float32 and bfloat16.
func (o *options) measureBackbone(row *backboneRow) error {
	dir := o.backbone
	meta, err := backbone.ReadMetadata(dir)
	if err != nil {
		return err
	}
	var extra struct {
		Feature string `json:"feature_endpoint"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &extra); err != nil || extra.Feature == "" {
		return fmt.Errorf("%s/metadata.json: no feature_endpoint (%v): export it with scripts/export_backbone.py --arch", dir, err)
	}
	if row.Architecture == "" {
		row.Architecture = meta.Architecture
	}
	row.Preprocess, row.InModel, row.Params, row.Feature = meta.Input.Preprocessing.Mode, meta.Input.Preprocessing.InModel, meta.Params, extra.Feature
	row.ExportSeconds, row.Weights = o.exportSeconds, meta.Weights.String()
	for cut := range meta.FineTune {
		row.FineTune = append(row.FineTune, cut)
	}
	slices.Sort(row.FineTune)

	m, err := backbone.Load(dir)
	if err != nil {
		return err
	}
	h, w, _ := m.InputSize()
	row.Input = [2]int{h, w}
	ep, err := m.Endpoint(extra.Feature)
	if err != nil {
		m.Close()
		return err
	}
	row.FeatureSize = ep.Size()
	x, xs, err := readNpy(filepath.Join(dir, "golden", "input.npy"))
	if err != nil {
		m.Close()
		return err
	}
	for _, name := range m.Endpoints() {
		want, _, err := readNpy(filepath.Join(dir, "golden", name+".npy"))
		if err != nil {
			m.Close()
			return err
		}
		got, err := m.Run(name, x, xs[0])
		if err != nil {
			m.Close()
			return err
		}
		var scale, worst float64
		for i := range want {
			scale = max(scale, math.Abs(float64(want[i])))
			d := math.Abs(float64(got[i]) - float64(want[i]))
			if math.IsNaN(d) {
				m.Close()
				return fmt.Errorf("%s: endpoint %s: NaN against Keras", dir, name)
			}
			worst = max(worst, d)
		}
		row.MaxAbsDiff = max(row.MaxAbsDiff, worst)
		if scale > 0 {
			row.MaxRelDiff = max(row.MaxRelDiff, worst/scale)
		}
		row.Endpoints++
	}
	m.Close()

	ds, _, err := o.benchImages(o.backboneImages)
	if err != nil {
		return err
	}
	row.Batch = o.backboneBatch
	if row.Float32, row.Images, err = o.boundedRate(dir, extra.Feature, backbone.Float32, ds.Examples); err != nil {
		return err
	}
	if ok, why := cpuinfo.Read().BFloat16(); !ok {
		row.BF16Note = why
	} else if row.BFloat16, row.BF16Images, err = o.boundedRate(dir, extra.Feature, backbone.BFloat16, ds.Examples); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: %s: %dx%d, %s, %d params, max |Go-Keras| %.3g (%.2g of scale), %.1f images/s float32, %.1f bfloat16\n",
		row.Architecture, h, w, row.Preprocess, row.Params, row.MaxAbsDiff, row.MaxRelDiff, row.Float32, row.BFloat16)
	return nil
}

// backboneCutsPart runs -only backbone-cuts: for each cut that
// scripts/export_backbone.py --describe found in one architecture, the
// trainable parameters above it and whether Go rebuilds its tail (what
// fine_tune_from would train), written into the architecture's row.
func (o *options) backboneCutsPart() error {
	arch := o.backboneArch
	var cuts []backboneCut
	var note string
	if o.backboneError == "" {
		b, err := os.ReadFile(o.describe)
		if err != nil {
			return err
		}
		// The description holds metadata.json's parts about fine-tuning.
		var d struct {
			backbone.Metadata
			Feature  string `json:"feature_endpoint"`
			CutsNote string `json:"cuts_note"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("%s: %w (want the JSON of scripts/export_backbone.py --describe)", o.describe, err)
		}
		if d.Architecture == "" || d.Feature == "" || d.FineTune == nil {
			return fmt.Errorf("%s: no architecture, feature_endpoint or fine_tune: not the JSON of scripts/export_backbone.py --describe", o.describe)
		}
		if arch == "" {
			arch = d.Architecture
		}
		note = d.CutsNote
		for _, name := range d.Cuts {
			c := backboneCut{Name: name, TrainableParams: d.FineTune[name].TrainableParams, Built: true}
			if _, err := d.TailFor(name, d.Feature); err != nil {
				c.Built, c.Error = false, errorGist(err)
			}
			cuts = append(cuts, c)
		}
	} else if arch == "" {
		return errors.New("-backbone-error needs -backbone-arch")
	}
	when := time.Now().UTC().Format(time.RFC3339)
	if err := updateBackboneRow(o.backbonesFile, arch, func(r *backboneRow) {
		r.Cuts, r.CutsNote, r.CutsError, r.CutsWhen = cuts, note, o.backboneError, when
	}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: %s: %s\n", arch, cutsCell(backboneRow{Cuts: cuts, CutsNote: note, CutsError: o.backboneError, CutsWhen: when}))
	return nil
}

// errorGist is the first part of an error of backbone.TailFor: without
// the list of the kinds Go has and the advice naming the cuts that work.
func errorGist(err error) string {
	s := err.Error()
	for _, tail := range []string{"; fine-tuning up to ", " (have "} {
		if i := strings.Index(s, tail); i >= 0 {
			s = s[:i]
		}
	}
	return s
}

// updateBackboneRow applies set to the last row of arch in the rows file
// at path, rewriting the file (atomically) with every other line as it
// was, or appends a row with only the architecture's name, set applied,
// where the file has none.
func updateBackboneRow(path, arch string, set func(*backboneRow)) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	at, row := -1, backboneRow{Architecture: arch}
	for i, l := range lines {
		var r backboneRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		if r.Architecture == arch {
			at, row = i, r
		}
	}
	set(&row)
	out, err := json.Marshal(row)
	if err != nil {
		return err
	}
	if at < 0 {
		if len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
			lines[len(lines)-1] += "\n"
		}
		lines = append(lines, "")
		at = len(lines) - 1
	}
	lines[at] = string(out) + "\n"
	return fsutil.WriteFile(path, []byte(strings.Join(lines, "")))
}

// boundedRate is the features stage's rate in precision p on the first
// images of examples: as many whole batches as the first (warm-up)
// batch's pace fits in o.backboneSeconds, at least one, so that the
// largest architectures (ConvNeXtXLarge, EfficientNetB7: under an image a
// second here) cost seconds, not many minutes. It returns the rate and
// how many images it took.
func (o *options) boundedRate(dir, endpoint string, p backbone.Precision, examples []dataset.Example) (float64, int, error) {
	m, err := backbone.LoadPrecision(dir, p)
	if err != nil {
		return 0, 0, err
	}
	defer m.Close()
	batch := o.backboneBatch
	took, err := warmUp(m, endpoint, batch)
	if err != nil {
		return 0, 0, err
	}
	fit := int(o.backboneSeconds / took.Seconds()) // batches at the warm-up pace (an overestimate of the time)
	n := min(len(examples), max(1, fit)*batch)
	rate, err := o.featuresStage(m, endpoint, batch, examples[:n])
	return rate, n, err
}

// readNpy reads a float32 .npy file: its values and shape.
func readNpy(path string) ([]float32, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r, err := npy.NewReader(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var x []float32
	if err := r.Read(&x); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, r.Header.Descr.Shape, nil
}

// readBackboneRows reads the rows file, the last row of each
// architecture winning, sorted by architecture.
func readBackboneRows(path string) ([]backboneRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	by := map[string]backboneRow{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var r backboneRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		by[r.Architecture] = r
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	rows := make([]backboneRow, 0, len(by))
	for _, r := range by {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b backboneRow) int { return strings.Compare(a.Architecture, b.Architecture) })
	return rows, nil
}

// backbonesMarkdown is docs/backbones.md's table part.
func backbonesMarkdown(rows []backboneRow) string {
	var b strings.Builder
	machines, loads, imgs := map[string]bool{}, []string{}, map[string]bool{}
	first, last := "", ""
	cutsPass := false
	for _, r := range rows {
		cutsPass = cutsPass || r.CutsWhen != ""
		if r.When == "" {
			continue // only the cuts
		}
		machines[r.Machine] = true
		loads = append(loads, r.Load)
		if r.Error == "" {
			imgs[fmt.Sprintf("batch %d", r.Batch)] = true
		}
		if first == "" || r.When < first {
			first = r.When
		}
		last = max(last, r.When)
	}
	if first == "" {
		fmt.Fprintf(&b, "%d architectures, none measured yet (`scripts/backbones.sh` without CUTS=1 measures them).", len(rows))
	} else {
		fmt.Fprintf(&b, "%d architectures, measured %s to %s by `scripts/backbones.sh` on: %s. Speed: the features stage (decoding and the backbone) at %s, "+
			"on as many whole batches of Fashion-MNIST images as fit in about 15 s after a warm-up batch (at least one batch, at most 64 images; "+
			"the number in brackets). 1-minute load average while each was measured: %s.",
			len(rows), first, last, strings.Join(slices.Sorted(maps.Keys(machines)), "; "),
			strings.Join(slices.Sorted(maps.Keys(imgs)), "; "), strings.Join(loads, ", "))
	}
	if cutsPass {
		b.WriteString(" Fine-tuning from: the cuts the exporter finds in the graph, the start of the last block first (`fine_tune_from: auto`), " +
			"with the weights that train from each up to the feature vector; each tail rebuilt by Go's layer kinds (`backbone.TailFor`), " +
			"or what stops it.")
	}
	b.WriteString("\n\n")
	b.WriteString("| architecture | input | preprocessing | feature vector | params | export s | max \\|Go − Keras\\| (of scale) | images/s float32 | images/s bfloat16 | fine-tuning from |\n")
	b.WriteString("|---|--:|---|---|--:|--:|--:|--:|--:|---|\n")
	for _, r := range rows {
		ft := escapePipes(cutsCell(r))
		switch {
		case r.Error != "":
			fmt.Fprintf(&b, "| %s | not measured: %s |||||||| %s |\n", r.Architecture, escapePipes(r.Error), ft)
			continue
		case r.When == "":
			fmt.Fprintf(&b, "| %s | not measured |||||||| %s |\n", r.Architecture, ft)
			continue
		}
		bf := fmt.Sprintf("%.1f (%d)", r.BFloat16, r.BF16Images)
		if r.BF16Note != "" {
			bf = "n/a"
		}
		fmt.Fprintf(&b, "| %s | %d×%d | %s | `%s` (%d) | %s | %.0f | %.2g (%.1g) | %.1f (%d) | %s | %s |\n",
			r.Architecture, r.Input[0], r.Input[1], r.Preprocess, r.Feature, r.FeatureSize, thousands(r.Params),
			r.ExportSeconds, r.MaxAbsDiff, r.MaxRelDiff, r.Float32, r.Images, bf, ft)
	}
	return b.String()
}

// cutsCell is the table's "fine-tuning from": each cut with the weights
// that train above it (and, where Go does not rebuild its tail, what
// stops it), or why there is none; before the cuts part ran on the row,
// the cuts its export's metadata.json lists.
func cutsCell(r backboneRow) string {
	if r.CutsWhen == "" {
		if len(r.FineTune) == 0 {
			return "—"
		}
		return "`" + strings.Join(r.FineTune, "`, `") + "`"
	}
	if r.CutsError != "" {
		return "not described: " + r.CutsError
	}
	var parts []string
	sep := ", "
	for _, c := range r.Cuts {
		p := fmt.Sprintf("`%s` (%s)", c.Name, shortCount(c.TrainableParams))
		if !c.Built {
			p += ": not built: " + c.Error
			sep = "; " // the errors hold commas
		}
		parts = append(parts, p)
	}
	switch {
	case len(parts) == 0 && r.CutsNote != "":
		return r.CutsNote
	case len(parts) == 0:
		return "none offered"
	case r.CutsNote != "":
		return strings.Join(parts, sep) + "; " + r.CutsNote
	}
	return strings.Join(parts, sep)
}

// shortCount writes a parameter count as 4.5M, 830k or 96.
func shortCount(n int) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// escapePipes keeps a table cell's "|" from ending it.
func escapePipes(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// thousands writes n with commas: 25,636,712.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
