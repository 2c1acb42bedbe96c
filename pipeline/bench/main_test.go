package main

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
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
	if _, err := parseFlags([]string{"-only", "backbone-cuts"}); err == nil || !strings.Contains(err.Error(), "-describe FILE") {
		t.Errorf("-only backbone-cuts without a description: %v", err)
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
// sorted, a failed export says why, numbers keep their units, and the
// fine-tuning column shows the cuts part's findings where it ran (the
// trainable weights above each cut, what stops Go, why none is offered),
// else the cuts the export listed.
func TestBackbonesTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	rows := `{"architecture":"VGG19","input":[224,224],"preprocess":"caffe","feature_endpoint":"fc2","feature_size":4096,"params":143667240,"export_seconds":27.2,"max_abs_diff":0,"max_rel_diff":0,"images":60,"batch":16,"float32_images_per_s":1.5,"bfloat16_images_per_s":7.3,"bfloat16_images":60,"fine_tune":["block5_conv1"],"when":"2026-12-06T18:06:00Z","load":"6.95","machine":"m"}
{"architecture":"MobileNet","input":[224,224],"preprocess":"tf","feature_endpoint":"global_average_pooling2d","feature_size":1024,"params":1,"images":60,"batch":16,"when":"2026-12-06T18:03:25Z","load":"7","machine":"m"}
{"architecture":"MobileNet","input":[224,224],"preprocess":"tf","feature_endpoint":"global_average_pooling2d","feature_size":1024,"params":4253864,"export_seconds":7.4,"max_abs_diff":1.5e-06,"max_rel_diff":2e-07,"images":60,"batch":16,"float32_images_per_s":27.12,"bfloat16_images_per_s":32.04,"bfloat16_images":56,"when":"2026-12-06T18:03:25Z","load":"7.68","machine":"m"}
{"architecture":"NASNetLarge","error":"export failed: out of memory | killed","when":"2026-12-06T18:09:00Z","load":"9","machine":"m"}
{"architecture":"ResNet50","input":[224,224],"preprocess":"caffe","feature_endpoint":"avg_pool","feature_size":2048,"params":25636712,"export_seconds":12,"images":64,"batch":8,"float32_images_per_s":10,"bfloat16_images_per_s":20,"bfloat16_images":64,"when":"2026-12-06T18:05:00Z","load":"5","machine":"m","cuts":[{"name":"conv5_block3_1_conv","trainable_params":4465664,"built":true},{"name":"conv5_block2_1_conv","trainable_params":8931328,"built":false,"error":"layer conv5_block2_x: keras.layers.Foo: no layer kind of this package reproduces it"}],"cuts_when":"2026-12-06T21:00:00Z"}
{"architecture":"NASNetMobile","cuts_note":"none offered: stem_bn1 would have 700 of the model's 750 operations above it","cuts_when":"2026-12-06T21:00:00Z"}
{"architecture":"DenseNet121","input":[224,224],"preprocess":"torch","feature_endpoint":"avg_pool","feature_size":1024,"params":8062504,"export_seconds":9,"images":64,"batch":8,"float32_images_per_s":10,"bfloat16_images_per_s":20,"bfloat16_images":64,"when":"2026-12-06T18:04:00Z","load":"5","machine":"m","fine_tune":["conv5_block16_0_bn"],"cuts_error":"describe failed: killed","cuts_when":"2026-12-06T21:00:00Z"}
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
		"6 architectures, measured 2026-12-06T18:03:25Z to 2026-12-06T18:09:00Z",
		"Fine-tuning from: the cuts the exporter finds in the graph",
		"| MobileNet | 224×224 | tf | `global_average_pooling2d` (1024) | 4,253,864 | 7 | 1.5e-06 (2e-07) | 27.1 (60) | 32.0 (56) | — |",
		"| NASNetLarge | not measured: export failed: out of memory \\| killed |||||||| — |",
		"| VGG19 | 224×224 | caffe | `fc2` (4096) | 143,667,240 | 27 | 0 (0) | 1.5 (60) | 7.3 (60) | `block5_conv1` |",
		"| ResNet50 | 224×224 | caffe | `avg_pool` (2048) | 25,636,712 | 12 | 0 (0) | 10.0 (64) | 20.0 (64) | `conv5_block3_1_conv` (4.5M); " +
			"`conv5_block2_1_conv` (8.9M): not built: layer conv5_block2_x: keras.layers.Foo: no layer kind of this package reproduces it |",
		"| NASNetMobile | not measured |||||||| none offered: stem_bn1 would have 700 of the model's 750 operations above it |",
		"| DenseNet121 | 224×224 | torch | `avg_pool` (1024) | 8,062,504 | 9 | 0 (0) | 10.0 (64) | 20.0 (64) | not described: describe failed: killed |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if strings.Index(md, "| MobileNet") > strings.Index(md, "| VGG19") {
		t.Errorf("rows not sorted:\n%s", md)
	}
	for _, r := range got {
		if r.Architecture == "NASNetMobile" {
			if md := backbonesMarkdown([]backboneRow{r}); !strings.HasPrefix(md, "1 architectures, none measured yet") {
				t.Errorf("a table of the cuts alone:\n%s", md)
			}
		}
	}
}

// TestUpdateBackboneRow: the cuts part rewrites an architecture's last
// row in place, keeping its measurements and every other line as it was,
// and appends a row with only the cuts for an architecture with none.
func TestUpdateBackboneRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	other := `{"architecture":"VGG19","params":143667240,"when":"2026-12-06T18:06:00Z","unknown_key":1}` + "\n"
	old := `{"architecture":"ResNet50","params":1,"when":"2026-12-06T18:00:00Z"}` + "\n"
	last := `{"architecture":"ResNet50","params":25636712,"float32_images_per_s":10.5,"fine_tune":["conv5_block3_1_conv"],"when":"2026-12-06T18:05:00Z","load":"5","machine":"m"}` + "\n"
	if err := os.WriteFile(path, []byte(old+other+last), 0o644); err != nil {
		t.Fatal(err)
	}
	cut := backboneCut{Name: "conv5_block3_1_conv", TrainableParams: 4465664, Built: true}
	for _, arch := range []string{"ResNet50", "NASNetMobile"} {
		if err := updateBackboneRow(path, arch, func(r *backboneRow) { r.Cuts, r.CutsWhen = []backboneCut{cut}, "2026-12-06T21:00:00Z" }); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) != 5 || lines[4] != "" || lines[0] != old || lines[1] != other {
		t.Fatalf("want the first two lines as they were, two rows after them:\n%s", b)
	}
	rows, err := readBackboneRows(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(rows), rows)
	}
	for _, r := range rows {
		switch r.Architecture {
		case "ResNet50":
			if r.Params != 25636712 || r.Float32 != 10.5 || r.Load != "5" || len(r.FineTune) != 1 || len(r.Cuts) != 1 || r.Cuts[0] != cut {
				t.Errorf("ResNet50's row lost its measurements or lacks the cuts: %+v", r)
			}
		case "NASNetMobile":
			if r.When != "" || r.CutsWhen == "" || len(r.Cuts) != 1 {
				t.Errorf("NASNetMobile's row: %+v, want the cuts alone", r)
			}
		}
	}
}

// TestBackboneCutsPart: scripts/export_backbone.py --describe builds
// InceptionResNetV2 (seconds: no export) and the cuts part records its
// two cuts in the architecture's row, keeping the measurements: the last
// block's start, conv_7b, and the one below, whose tail holds its scaled
// residual join (CustomScaleLayer); Go rebuilds both. With that join
// renamed to a class no Go kind reproduces, the lower cut is recorded as
// not built, naming the class.
func TestBackboneCutsPart(t *testing.T) {
	py, root := testenv.Python(t), testenv.Root(t)
	desc := filepath.Join(t.TempDir(), "describe.json")
	cmd := exec.Command(py, filepath.Join(root, "scripts", "export_backbone.py"), "--describe", "--arch", "InceptionResNetV2")
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=2")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("--describe: %v", err)
	}
	if err := os.WriteFile(desc, out, 0o644); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Cuts     []string `json:"cuts"`
		FineTune map[string]struct {
			TrainableParams int `json:"trainable_params"`
		} `json:"fine_tune"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	rows := filepath.Join(t.TempDir(), "rows.jsonl")
	measured := `{"architecture":"InceptionResNetV2","params":55873736,"float32_images_per_s":3.5,"when":"2026-12-06T18:05:00Z"}` + "\n"
	if err := os.WriteFile(rows, []byte(measured), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &options{only: "backbone-cuts", describe: desc, backbonesFile: rows}
	if err := o.backbonePart(); err != nil {
		t.Fatal(err)
	}
	got, err := readBackboneRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Params != 55873736 || got[0].Float32 != 3.5 || got[0].CutsWhen == "" {
		t.Fatalf("rows %+v: want InceptionResNetV2's row with its measurements and the cuts", got)
	}
	r := got[0]
	if len(r.Cuts) != 2 || len(d.Cuts) != 2 || r.Cuts[0].Name != "conv_7b" || r.Cuts[1].Name != d.Cuts[1] {
		t.Fatalf("cuts %+v, want conv_7b and the one below as --describe lists them (%v)", r.Cuts, d.Cuts)
	}
	for _, c := range r.Cuts {
		if c.TrainableParams != d.FineTune[c.Name].TrainableParams || c.TrainableParams == 0 {
			t.Errorf("%s: %d trainable weights, --describe says %d", c.Name, c.TrainableParams, d.FineTune[c.Name].TrainableParams)
		}
	}
	if !r.Cuts[0].Built || r.Cuts[0].Error != "" {
		t.Errorf("conv_7b: %+v, want its tail built", r.Cuts[0])
	}
	if c := r.Cuts[1]; !c.Built || c.Error != "" {
		t.Errorf("%s: %+v, want its tail (with CustomScaleLayer) built", c.Name, c)
	}

	odd := strings.ReplaceAll(string(out), `"CustomScaleLayer"`, `"ScaledSum"`)
	if err := os.WriteFile(desc, []byte(odd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := o.backbonePart(); err != nil {
		t.Fatal(err)
	}
	if got, err = readBackboneRows(rows); err != nil || len(got) != 1 {
		t.Fatalf("rows %+v: %v", got, err)
	}
	if c := got[0].Cuts[0]; !c.Built {
		t.Errorf("conv_7b: %+v, want its tail built (it has no scaled join)", c)
	}
	if c := got[0].Cuts[1]; c.Built || !strings.Contains(c.Error, "keras.layers.ScaledSum") || strings.Contains(c.Error, "(have ") {
		t.Errorf("%s: %+v, want not built, the gist naming ScaledSum", c.Name, c)
	}
}
