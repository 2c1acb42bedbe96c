package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
)

// Help is a request, not an error: -h, -help and "pipeline help [COMMAND]"
// print the command's usage, every flag and an example on stdout, nothing
// on stderr, and exit 0.
func TestHelpExitsZero(t *testing.T) {
	for _, c := range commands {
		for _, h := range []string{"-h", "-help", "--help", "help"} {
			args := []string{h}
			switch {
			case h == "help" && c.name != "":
				args = []string{"help", c.name}
			case c.name != "":
				args = []string{c.name, h}
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			if code != 0 || stderr.Len() > 0 {
				t.Errorf("pipeline %s: exit %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, stderr.String())
			}
			out := stdout.String()
			if want := "usage: " + c.title() + " " + c.args + "\n"; !strings.HasPrefix(out, want) {
				t.Errorf("pipeline %s: help starts %q, want %q", strings.Join(args, " "), firstLine(out), want)
			}
			if want := "\nexample:\n  " + c.example + "\n"; !strings.Contains(out, want) {
				t.Errorf("pipeline %s: help has no example %q:\n%s", strings.Join(args, " "), want, out)
			}
			fs := flag.NewFlagSet("", flag.ContinueOnError)
			c.setup(fs)
			fs.VisitAll(func(f *flag.Flag) {
				// "-name ARG  usage", or "-name" alone on its line for a bool flag.
				if !strings.Contains(out, "\n  -"+f.Name+" ") && !strings.Contains(out, "\n  -"+f.Name+"\n") {
					t.Errorf("pipeline %s: help does not list -%s:\n%s", strings.Join(args, " "), f.Name, out)
				}
			})
		}
	}
	// The main help names every other command.
	var stdout bytes.Buffer
	run(context.Background(), []string{"-h"}, &stdout, &bytes.Buffer{})
	for _, c := range commands[1:] {
		if !strings.Contains(stdout.String(), "\n  "+c.name+" ") {
			t.Errorf("pipeline -h does not list %s:\n%s", c.name, stdout.String())
		}
	}
}

// Each example is a command line its command accepts: its flags parse.
func TestHelpExamplesParse(t *testing.T) {
	for _, c := range commands {
		words := strings.Fields(c.example)
		if words[0] != "pipeline" || (c.name != "" && words[1] != c.name) {
			t.Errorf("example %q does not start with %q", c.example, c.title())
			continue
		}
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		c.setup(fs)
		if err := fs.Parse(words[len(strings.Fields(c.title())):]); err != nil {
			t.Errorf("example %q: %v", c.example, err)
		}
	}
}

// A wrong call exits 2 with the reason and the command's help on stderr,
// and prints nothing on stdout.
func TestUsageErrorsExitTwo(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "pipeline: want -config FILE"},
		{[]string{"-nosuch"}, "flag provided but not defined: -nosuch"},
		{[]string{"-config", "x.yaml", "extra"}, `pipeline: unexpected argument "extra"`},
		{[]string{"report"}, "pipeline report: name one or more run folders"},
		{[]string{"report", "-x"}, "flag provided but not defined: -x"},
		{[]string{"predict", "-run", "runs/x"}, "pipeline predict: want -run RUN and one or more image files"},
		{[]string{"predict", "-run", "runs/x", "-savedmodel", "d", "a.png"}, "pipeline predict: want -run RUN and one or more image files or folders (or -savedmodel DIR instead of -run"},
		{[]string{"predict", "-savedmodel", "d", "-csv", "x.csv", "a.png"}, "pipeline predict: -csv works with -run"},
		{[]string{"predict", "-savedmodel", "d", "-model", "m", "a.png"}, "pipeline predict: -model picks a model of a -run; a -savedmodel holds one model"},
		{[]string{"export", "-run", "runs/x"}, "pipeline export: want -run RUN and -out DIR"},
		{[]string{"export", "-run", "runs/x", "-out", "d", "extra"}, `pipeline export: unexpected argument "extra"`},
		{[]string{"export", "-run", "runs/x", "-out", "d", "-format", "tflite,coreml"}, `pipeline export: -format: unknown format "coreml"; want savedmodel, tflite, onnx`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr)
		if code != 2 || stdout.Len() > 0 {
			t.Errorf("pipeline %q: exit %d, stdout %q; want 2 and nothing", c.args, code, stdout.String())
		}
		if !strings.Contains(stderr.String(), c.want) || !strings.Contains(stderr.String(), "\nexample:\n") {
			t.Errorf("pipeline %q: stderr\n%s\nwant %q and the help", c.args, stderr.String(), c.want)
		}
	}
}

// A failing command (not a usage error) exits 1 with its error alone.
func TestErrorExitsOne(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"report", t.TempDir()}, &stdout, &stderr)
	if code != 1 || !strings.HasPrefix(stderr.String(), "pipeline: ") || strings.Contains(stderr.String(), "usage:") {
		t.Errorf("exit %d, stderr %q; want 1 and one error line", code, stderr.String())
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
