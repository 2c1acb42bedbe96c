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
		precBatches: "8,32", precVGG: 32, precMobileNet: 100, precRounds: 3}) {
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
