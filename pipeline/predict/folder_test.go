package predict

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/experiment"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

// TestPredictFolder (issue 16): a folder gives one CSV row per image below
// it, at any depth, in ListImages' order, each with the same ranking as
// the single-image Predict; a bad file gets a row with its error and does
// not stop the others. A fine-tuned model's backbone runs to its cut in
// both (folders once ran it to the endpoint, which the network refused).
func TestPredictFolder(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 4)
	cfg, err := config.Parse("p.yaml", []byte(fmt.Sprintf(`
name: p
runs_dir: %[1]s/runs
data: {dir: %[1]s/data, split: {train: 0.6, val: 0.2, test: 0.2}}
features: {cache_dir: %[1]s/cache}
train: {batch_size: 8, epochs: 2}
models:
  - name: top
    backbone: {savedmodel: %[2]s, endpoint: fc2}
    layers: [{dense: {units: classes, activation: softmax}}]
  - name: scratch
    image_size: [12, 12]
    layers: [{flatten: {}}, {dense: {units: classes, activation: softmax}}]
  - name: tuned
    backbone: {savedmodel: %[2]s, endpoint: fc2, fine_tune_from: block5_conv1}
    fine_tune: {epochs: 1, optimizer: {adam: {learning_rate: 1.0e-4}}}
    layers: [{dense: {units: classes, activation: softmax}}]
`, root, testenv.SavedModel(t, "tiny"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	res, err := experiment.Run(context.Background(), cfg, experiment.Options{Log: &log, Progress: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	dir := res.Dir

	// A user's folder: images at two depths, a hidden file, a text file,
	// and a broken JPEG in the middle.
	in := filepath.Join(root, "in")
	testenv.ImageDataset(t, filepath.Join(in, "a", "deeper"), 2, 7, 9)
	testenv.ImageDataset(t, in, 1, 4, 10)
	os.WriteFile(filepath.Join(in, "a", "broken.jpg"), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(in, "notes.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(in, ".hidden.png"), []byte("x"), 0o644)

	for _, name := range []string{"top", "scratch", "tuned"} {
		p, err := Open(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		paths, _, err := ListImages([]string{in}, p.Extensions())
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) != 14+4+1 || !slices.IsSorted(paths) {
			t.Fatalf("ListImages: %d paths, want 19 in lexical order: %q", len(paths), paths)
		}
		var out, errs bytes.Buffer
		err = p.PredictCSV(context.Background(), paths, 2, &out, &errs, nil)
		if fe, ok := errors.AsType[*FailedError](err); !ok || fe.Failed != 1 || fe.Total != 19 {
			t.Errorf("%s: error %v, want 1 of 19 failed", name, err)
		}
		if !strings.Contains(errs.String(), "broken.jpg") {
			t.Errorf("%s: the broken file is not reported: %q", name, errs.String())
		}
		rows, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows[0], CSVHeader(2)) || len(rows) != 1+len(paths) {
			t.Fatalf("%s: header %q and %d rows, want %q and %d", name, rows[0], len(rows)-1, CSVHeader(2), len(paths))
		}
		for i, row := range rows[1:] {
			if row[0] != paths[i] {
				t.Fatalf("%s: row %d is %s, want %s", name, i, row[0], paths[i])
			}
			want, err := p.Predict(paths[i], 2)
			if err != nil {
				if row[5] == "" || row[1] != "" {
					t.Errorf("%s: %s fails alone (%v) but its row is %q", name, paths[i], err, row)
				}
				continue
			}
			for j, pr := range want {
				got, _ := strconv.ParseFloat(row[2+2*j], 32)
				// A transfer model gives the same bits (its backbone runs
				// every batch at its features' batch size, and its dense top
				// computes each row alone); a scratch model's convolutions,
				// or a fine-tuned model's above its cut, may sum in another
				// order for a batch of 8 than for 1.
				tol := 0.0
				if name != "top" {
					tol = 1e-5
				}
				if row[1+2*j] != pr.Class || math.Abs(float64(float32(got))-float64(float32(pr.Prob))) > tol {
					t.Errorf("%s: %s: CSV ranks %q, Predict %v", name, paths[i], row[1:5], want)
				}
			}
			if row[5] != "" {
				t.Errorf("%s: %s: error %q", name, paths[i], row[5])
			}
		}
		p.Close()
	}

	if _, _, err := ListImages([]string{filepath.Join(in, "a", "deeper", "class_0"), root + "/empty"}, []string{".png"}); err != nil {
		t.Errorf("a missing path is left for predict to report: %v", err)
	}
	// A folder given as a symbolic link (data/ is one after set-up).
	link := filepath.Join(root, "link")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	if paths, _, err := ListImages([]string{link}, []string{".png", ".jpg"}); err != nil || len(paths) != 19 || !strings.HasPrefix(paths[0], link+"/") {
		t.Errorf("through a link: %d paths, %v; want 19 under %s", len(paths), err, link)
	}
	os.Mkdir(filepath.Join(root, "none"), 0o755)
	if _, _, err := ListImages([]string{filepath.Join(root, "none")}, []string{".png"}); err == nil || !strings.Contains(err.Error(), "no images") {
		t.Errorf("empty folder: %v", err)
	}
}
