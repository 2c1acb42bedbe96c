package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if *o != (options{out: "bench", perClass: 100, vggImages: 48, fullRSS: true, python: ".venv/bin/python",
		fineTune: "MobileNet", precBatches: "8,32", precVGG: 32, precMobileNet: 100, precRounds: 3,
		backboneImages: 64, backboneBatch: 8, backboneSeconds: 15, backbonesFile: "bench/backbones.jsonl"}) {
		t.Errorf("defaults = %+v", *o)
	}
	o, err = parseFlags([]string{"-out", "x", "-per-class", "7", "-full=false"})
	if err != nil {
		t.Fatal(err)
	}
	if o.out != "x" || o.perClass != 7 || o.fullRSS {
		t.Errorf("parsed %+v", *o)
	}
	if !strings.Contains(o.benchConfig("e2e", o.perClass, transferModel), "runs_dir: x/runs\ndata: {dir: data/fashion-mnist, max_per_class: 7,") {
		t.Errorf("benchConfig does not use the options:\n%s", o.benchConfig("e2e", o.perClass, transferModel))
	}
	if _, err := parseFlags([]string{"-only", "vgg"}); err == nil || !strings.Contains(err.Error(), `want one of ["precision"`) {
		t.Errorf("-only vgg: %v", err)
	}
	if _, err := parseFlags([]string{"-only", "backbone"}); err == nil || !strings.Contains(err.Error(), "-backbone DIR") {
		t.Errorf("-only backbone without an export: %v", err)
	}
	o, err = parseFlags([]string{"-only", "finetune", "-finetune", "ResNet50,EfficientNetB0"})
	if err != nil {
		t.Fatal(err)
	}
	if cases, err := parseFineTune(o.fineTune); err != nil || len(cases) != 2 || cases[0].savedModel != "savedmodels/apps/ResNet50" || cases[1].arch != "EfficientNetB0" {
		t.Errorf("-finetune ResNet50,EfficientNetB0: %+v, %v", cases, err)
	}
	if _, err := parseFlags([]string{"-finetune", "ResNet50,ResNet99"}); err == nil || !strings.Contains(err.Error(), `"ResNet99" is not one of ["MobileNet" "ResNet50"`) {
		t.Errorf("-finetune ResNet99: %v", err)
	}
	if _, err := parseFlags([]string{"extra"}); err == nil {
		t.Error("a stray argument was accepted")
	}
	if _, err := parseFlags([]string{"-h"}); err != flag.ErrHelp {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestReadTimingFailsLoudly(t *testing.T) {
	dir := t.TempDir()
	if _, err := readTiming(dir); err == nil {
		t.Error("no timing.json: no error (the results would show a rate of 0)")
	}
	if err := os.WriteFile(filepath.Join(dir, rundir.TimingFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readTiming(dir); err == nil || !strings.Contains(err.Error(), rundir.TimingFile) {
		t.Errorf("broken timing.json: %v, want an error naming it", err)
	}
}

// TestBackbonesTable: the last row of an architecture wins, rows are
// sorted, a failed export says why, and numbers keep their units.
func TestBackbonesTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	rows := `{"architecture":"VGG19","input":[224,224],"preprocess":"caffe","feature_endpoint":"fc2","feature_size":4096,"params":143667240,"export_seconds":27.2,"max_abs_diff":0,"max_rel_diff":0,"images":60,"batch":16,"float32_images_per_s":1.5,"bfloat16_images_per_s":7.3,"bfloat16_images":60,"fine_tune":["block5_conv1"],"when":"2026-12-06T18:06:00Z","load":"6.95","machine":"m"}
{"architecture":"MobileNet","input":[224,224],"preprocess":"tf","feature_endpoint":"global_average_pooling2d","feature_size":1024,"params":1,"images":60,"batch":16,"when":"2026-12-06T18:03:25Z","load":"7","machine":"m"}
{"architecture":"MobileNet","input":[224,224],"preprocess":"tf","feature_endpoint":"global_average_pooling2d","feature_size":1024,"params":4253864,"export_seconds":7.4,"max_abs_diff":1.5e-06,"max_rel_diff":2e-07,"images":60,"batch":16,"float32_images_per_s":27.12,"bfloat16_images_per_s":32.04,"bfloat16_images":56,"when":"2026-12-06T18:03:25Z","load":"7.68","machine":"m"}
{"architecture":"NASNetLarge","error":"export failed: out of memory | killed","when":"2026-12-06T18:09:00Z","load":"9","machine":"m"}
`
	if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readBackboneRows(path)
	if err != nil {
		t.Fatal(err)
	}
	md := backbonesMarkdown(got)
	for _, want := range []string{
		"3 architectures, measured 2026-12-06T18:03:25Z to 2026-12-06T18:09:00Z",
		"| MobileNet | 224×224 | tf | `global_average_pooling2d` (1024) | 4,253,864 | 7 | 1.5e-06 (2e-07) | 27.1 (60) | 32.0 (56) | — |",
		"| NASNetLarge | not measured: export failed: out of memory \\| killed |",
		"| VGG19 | 224×224 | caffe | `fc2` (4096) | 143,667,240 | 27 | 0 (0) | 1.5 (60) | 7.3 (60) | `block5_conv1` |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if strings.Index(md, "| MobileNet") > strings.Index(md, "| VGG19") {
		t.Errorf("rows not sorted:\n%s", md)
	}
}
