package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// Target is a format an export is written in.
type Target string

// The targets. SavedModel is the export itself; TFLite and ONNX are
// converted from it by TensorFlow's TFLite converter and tf2onnx
// (scripts/convert_export.py, in the project's Python venv).
const (
	SavedModel Target = "savedmodel"
	TFLite     Target = "tflite"
	ONNX       Target = "onnx"
)

// Files the conversions write into the export folder.
const (
	TFLiteFile     = "model.tflite"      // float32
	TFLiteInt8File = "model_int8.tflite" // int8, calibrated on training images
	ONNXFile       = "model.onnx"
	LabelsFileTop  = "labels.txt" // class names beside the TFLite and ONNX files
	convertScript  = "scripts/convert_export.py"
)

// ParseTargets reads -format values: each a target name or a
// comma-separated list of them. Duplicates collapse; the order is
// savedmodel, tflite, onnx.
func ParseTargets(values []string) ([]Target, error) {
	var ts []Target
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(config.ExportFormats, s) {
				return nil, fmt.Errorf("unknown format %q; want %s (or a comma-separated list)", s, strings.Join(config.ExportFormats, ", "))
			}
			ts = append(ts, Target(s))
		}
	}
	slices.SortFunc(ts, func(a, b Target) int {
		return slices.Index(config.ExportFormats, string(a)) - slices.Index(config.ExportFormats, string(b))
	})
	return slices.Compact(ts), nil
}

// Converted is one file a conversion wrote, as metadata.json lists it.
type Converted struct {
	Format string `json:"format"`
	File   string `json:"file"`
	// Mode says how TFLite stores numbers (float32, int8 ...).
	Mode string `json:"mode,omitempty"`
	// Opset is ONNX's operator set.
	Opset int   `json:"opset,omitempty"`
	Bytes int64 `json:"bytes"`
	// Seconds is the conversion's time.
	Seconds float64 `json:"seconds"`
	// MaxAbsDiff is the largest |probability - SavedModel's| on the
	// check images (training images where the run has them).
	MaxAbsDiff        float64 `json:"max_abs_diff"`
	CalibrationImages int     `json:"calibration_images,omitempty"`
	// Test is the file's accuracy on the run's test images, measured by
	// the converter (TFLite files only).
	Test *ConvertedTest `json:"test,omitempty"`
	// FloatLayers are the layers model_int8.tflite keeps in float, and
	// Guard how they were chosen (with a run's images).
	FloatLayers []string   `json:"float_layers,omitempty"`
	Guard       *Int8Guard `json:"guard,omitempty"`
}

// ConvertedTest is a converted file's test accuracy.
type ConvertedTest struct {
	Examples int     `json:"examples"`
	Accuracy float64 `json:"accuracy"`
}

// Int8Guard is how model_int8.tflite was chosen: full-integer int8 must
// give the float file's top-1 on all but MaxDropPercent of the run's
// validation and training images (which bounds the accuracy it can lose),
// else the layers that quantize worst stay float (or weights alone are
// quantized); Tried lists every candidate, in order.
type Int8Guard struct {
	Examples       int         `json:"examples"`
	Agreement      float64     `json:"agreement"`
	MaxDropPercent float64     `json:"max_drop_percent"`
	Tried          []Int8Tried `json:"tried"`
}

// Int8Tried is one int8 candidate and its agreement with float's top-1.
type Int8Tried struct {
	Mode        string   `json:"mode"`
	FloatLayers []string `json:"float_layers"`
	Agreement   float64  `json:"agreement"`
}

// Converter runs scripts/convert_export.py with the project's Python.
type Converter struct {
	Python string // the venv's python
	Script string // scripts/convert_export.py
}

// FindConverter locates the project's venv and conversion script: in the
// folder given by $GOTRANSFER_ROOT, else in the working directory or the
// nearest folder above it that has them (a checkout set up by
// scripts/setup.sh).
func FindConverter() (Converter, error) {
	var tried []string
	try := func(root string) (Converter, bool) {
		c := Converter{Python: filepath.Join(root, ".venv", "bin", "python"), Script: filepath.Join(root, convertScript)}
		tried = append(tried, root)
		_, e1 := os.Stat(c.Python)
		_, e2 := os.Stat(c.Script)
		return c, e1 == nil && e2 == nil
	}
	if root := os.Getenv("GOTRANSFER_ROOT"); root != "" {
		if c, ok := try(root); ok {
			return c, nil
		}
	} else if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if c, ok := try(dir); ok {
				return c, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return Converter{}, fmt.Errorf("TFLite and ONNX conversion needs the project's Python venv and %s: not found in %s; run from the gotransfer checkout after scripts/setup.sh, or set GOTRANSFER_ROOT to it", convertScript, strings.Join(tried[:min(len(tried), 3)], ", "))
}

// convert runs the conversion of the SavedModel in dir to targets (TFLite
// and ONNX; others are skipped) into the empty folder out. manifest, when
// set, is the run's manifest.csv: its training images calibrate int8 and
// check the files, its test images measure the TFLite files' accuracy.
func (c Converter) convert(ctx context.Context, dir, out, manifest string, targets []Target) ([]Converted, error) {
	var names []string
	for _, t := range targets {
		if t != SavedModel {
			names = append(names, string(t))
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	args := []string{c.Script, dir, out, strings.Join(names, ",")}
	if manifest != "" {
		args = append(args, "--manifest", manifest)
	}
	cmd := exec.CommandContext(ctx, c.Python, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := lastLines(stderr.String(), 1)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("converting to %s: %w", strings.Join(names, ", "), ctx.Err())
		}
		return nil, fmt.Errorf("converting to %s: %s (%v)", strings.Join(names, ", "), msg, err)
	}
	var res struct{ Files []Converted }
	if err := json.Unmarshal(lastLine(stdout.Bytes()), &res); err != nil {
		return nil, fmt.Errorf("converting to %s: %s printed %q: %w", strings.Join(names, ", "), convertScript, lastLine(stdout.Bytes()), err)
	}
	for _, f := range res.Files {
		if _, err := os.Stat(filepath.Join(out, f.File)); err != nil {
			return nil, fmt.Errorf("converting to %s: %s reported %s but wrote none: %w", f.Format, convertScript, f.File, err)
		}
	}
	return res.Files, nil
}

// Convert adds targets' files (TFLite, ONNX) to the export in dir, a
// SavedModel written by Write: they are converted into a temporary folder
// beside dir and moved in only when every conversion has succeeded, with
// metadata.json listing them. On failure dir is as it was.
func Convert(ctx context.Context, dir string, targets []Target, manifest string, conv Converter) (err error) {
	fail := func(err error) error { return fmt.Errorf("export %s: %w", dir, err) }
	metaPath := filepath.Join(dir, MetadataFile)
	raw, err := os.ReadFile(metaPath)
	if err != nil {
		return fail(fmt.Errorf("not an export folder (pipeline export writes one): %w", err))
	}
	var meta map[string]json.RawMessage // keeps every field as written
	if err := json.Unmarshal(raw, &meta); err != nil {
		return fail(fmt.Errorf("%s: %w", metaPath, err))
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), "."+filepath.Base(dir)+".*.convert")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	files, err := conv.convert(ctx, dir, tmp, manifest, targets)
	if err != nil {
		return fail(err)
	}
	var prev []Converted
	if old, ok := meta["converted"]; ok {
		if err := json.Unmarshal(old, &prev); err != nil {
			return fail(fmt.Errorf("%s: converted: %w", metaPath, err))
		}
	}
	prev = slices.DeleteFunc(prev, func(p Converted) bool {
		return slices.ContainsFunc(files, func(f Converted) bool { return f.File == p.File })
	})
	if meta["converted"], err = json.Marshal(append(prev, files...)); err != nil {
		return fail(err)
	}
	out, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fail(err)
	}
	// Each file lands whole (a rename within one file system); the
	// metadata that lists them last.
	for _, f := range append(files, Converted{File: LabelsFileTop}) {
		if err := os.Rename(filepath.Join(tmp, f.File), filepath.Join(dir, f.File)); err != nil {
			return fail(err)
		}
	}
	if err := fsutil.WriteFile(metaPath, append(out, '\n')); err != nil {
		return fail(err)
	}
	return nil
}

// TargetFile is the file a converted target writes into the export
// folder (TFLite: its float32 file); "" for the SavedModel.
func TargetFile(t Target) string {
	return map[Target]string{TFLite: TFLiteFile, ONNX: ONNXFile}[t]
}

// needsConverter reports whether targets include a converted format.
func needsConverter(targets []Target) bool {
	return slices.ContainsFunc(targets, func(t Target) bool { return t != SavedModel })
}

// dropSavedModel removes the SavedModel's own files from the export folder
// dir, for an export asked for without it: what stays is metadata.json,
// labels.txt and the converted files.
func dropSavedModel(dir string) error {
	for _, name := range []string{"saved_model.pb", "variables", "assets"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// lastLines is the last n non-empty lines of s, joined by " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// lastLine is the last non-empty line of b.
func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}
