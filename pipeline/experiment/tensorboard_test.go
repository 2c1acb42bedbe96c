package experiment

import (
	"encoding/csv"
	"encoding/json"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/tensorboard"
)

// TestTensorBoard runs two configs that differ in train.batch_size and reads
// their event files with TensorBoard's own reader: every scalar equals
// history.csv (to its 6 decimals, and exactly the float32 of the value in
// metrics.json and timing.json), the confusion matrix and sample strip are
// there, and the hparams of both runs are the config values, differing in
// exactly the keys `pipeline report` shows. A rerun of a finished run
// leaves the event files alone.
func TestTensorBoard(t *testing.T) {
	root := t.TempDir()
	testenv.ImageDataset(t, filepath.Join(root, "data"), 3, 10, 1)
	cfgA := testConfig(t, root)
	dirA, log, err := run(t, cfgA)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	dirB, log, err := run(t, testConfig(t, root, "train.batch_size=4"))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}

	type folders struct{ session, train, val string }
	tbDirs := func(dir, model string) folders {
		s := rundir.TensorBoard(dir, model)
		return folders{s, filepath.Join(s, tensorboard.TrainDir), filepath.Join(s, tensorboard.ValidationDir)}
	}
	var all []string
	for _, dir := range []string{dirA, dirB} {
		for _, m := range []string{"top", "scratch"} {
			f := tbDirs(dir, m)
			all = append(all, f.session, f.train, f.val)
		}
	}
	ev := testenv.TensorBoard(t, all...)

	for _, dir := range []string{dirA, dirB} {
		r, err := report.Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		var timing Timing
		readJSON(t, filepath.Join(dir, rundir.TimingFile), &timing)
		for _, m := range r.Models {
			f := tbDirs(dir, m.Name)
			tr, val, sess := ev[f.train], ev[f.val], ev[f.session]
			rows := readCSV(t, filepath.Join(dir, rundir.ModelsDir, m.Name, rundir.HistoryFile))
			n := len(rows) - 1
			if n != len(m.History) || n == 0 {
				t.Fatalf("%s: history.csv has %d epochs, metrics.json %d", m.Name, n, len(m.History))
			}
			for _, c := range []struct {
				series [][2]float64
				col    int
				exact  func(i int) float64
				name   string
			}{
				{tr.Scalars[tensorboard.TagLoss], 1, func(i int) float64 { return m.History[i].Loss }, "train/epoch_loss"},
				{tr.Scalars[tensorboard.TagAccuracy], 2, func(i int) float64 { return m.History[i].Accuracy }, "train/epoch_accuracy"},
				{val.Scalars[tensorboard.TagLoss], 3, func(i int) float64 { return m.History[i].ValLoss }, "validation/epoch_loss"},
				{val.Scalars[tensorboard.TagAccuracy], 4, func(i int) float64 { return m.History[i].ValAccuracy }, "validation/epoch_accuracy"},
				{tr.Scalars[tensorboard.TagSeconds], -1, func(i int) float64 { return timing.Models[m.Name].EpochSeconds[i] }, "train/epoch_seconds"},
				{tr.Scalars[tensorboard.TagLearningRate], 5, func(i int) float64 { return m.History[i].LearningRate }, "train/epoch_learning_rate"},
			} {
				if len(c.series) != n {
					t.Errorf("%s %s: %d points, want %d (one per epoch)", dir, c.name, len(c.series), n)
					continue
				}
				for i, p := range c.series {
					if int(p[0]) != i {
						t.Errorf("%s %s: point %d at step %v, want %d", m.Name, c.name, i, p[0], i)
					}
					if want := float64(float32(c.exact(i))); p[1] != want {
						t.Errorf("%s %s step %d: %v, want %v", m.Name, c.name, i, p[1], want)
					}
					if c.col < 0 {
						continue
					}
					csvV, err := strconv.ParseFloat(rows[i+1][c.col], 64)
					if err != nil {
						t.Fatal(err)
					}
					// history.csv has 6 decimals; TensorBoard holds a float32.
					if math.Abs(p[1]-csvV) > 5e-7+1e-7*math.Abs(csvV) {
						t.Errorf("%s %s step %d: TensorBoard %v, history.csv %v", m.Name, c.name, i, p[1], csvV)
					}
				}
			}

			// Histograms of every trained weight, every epoch.
			params := 0.0
			for tag, h := range tr.Histograms {
				if len(h) != n {
					t.Errorf("%s %s: %d histograms, want %d", m.Name, tag, len(h), n)
				}
				params += h[0][1]
			}
			if int(params) != m.Params {
				t.Errorf("%s: histograms cover %v values, want the %d trainable parameters", m.Name, params, m.Params)
			}

			last := float64(n - 1)
			if got := sess.Scalars[tensorboard.TagTestAccuracy]; len(got) != 1 || got[0] != [2]float64{last, float64(float32(m.Test.Accuracy))} {
				t.Errorf("%s test accuracy %v, want %v at step %v", m.Name, got, float32(m.Test.Accuracy), last)
			}
			if got := sess.Scalars[tensorboard.TagTestLoss]; len(got) != 1 || got[0] != [2]float64{last, float64(float32(m.Test.Loss))} {
				t.Errorf("%s test loss %v, want %v at step %v", m.Name, got, float32(m.Test.Loss), last)
			}
			for tag, png := range map[string]string{
				"test/confusion_matrix": filepath.Join(rundir.Model(dir, m.Name), rundir.ConfusionPlot),
				"train/samples":         filepath.Join(dir, rundir.SamplesPlot),
			} {
				w, h := pngSize(t, png)
				got := sess.Images[tag+tensorboard.ImageSuffix]
				if len(got) != 1 || got[0][0] != n-1 || got[0][1] != w || got[0][2] != h || got[0][3] == 0 {
					t.Errorf("%s image %s: %v, want one %d×%d PNG at step %d", m.Name, tag, got, w, h, n-1)
				}
			}
			if sess.EndStatus == nil || *sess.EndStatus != 1 {
				t.Errorf("%s: session end status %v, want 1 (success)", m.Name, sess.EndStatus)
			}
		}
	}

	// HParams: each model's session holds the run's config keys and its
	// own model's, typed; across the runs' sessions, the keys whose values
	// differ (TensorBoard's own rule) are the columns report adds.
	cfgKeys, err := report.ConfigKeys(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	hpA := ev[tbDirs(dirA, "top").session].HParams
	for k, v := range cfgKeys {
		own := !strings.HasPrefix(k, "models[") || strings.HasPrefix(k, "models[top].")
		got, ok := hpA[k]
		if ok != own {
			t.Errorf("hparam %s: present %v, want %v", k, ok, own)
			continue
		}
		if ok && hparamText(got) != v && !(isNumber(got) && numberEquals(got, v)) {
			t.Errorf("hparam %s = %#v, config says %q", k, got, v)
		}
	}
	if len(hpA) == 0 {
		t.Fatal("no hparams in run A's top session")
	}
	values := map[string][]any{}
	for _, dir := range []string{dirA, dirB} {
		for _, m := range []string{"top", "scratch"} {
			for k, v := range ev[tbDirs(dir, m).session].HParams {
				values[k] = append(values[k], v)
			}
		}
	}
	var differ []string
	for k, vs := range values {
		for _, v := range vs[1:] {
			if v != vs[0] {
				differ = append(differ, k)
				break
			}
		}
	}
	slices.Sort(differ)
	tab, err := report.Compare([]string{dirA, dirB})
	if err != nil {
		t.Fatal(err)
	}
	if want := tab.Columns[len(report.FixedColumns):]; !slices.Equal(differ, want) {
		t.Errorf("hparams that differ between the runs %v; report shows %v", differ, want)
	}
	if a, b := ev[tbDirs(dirA, "top").session].HParams["train.batch_size"], ev[tbDirs(dirB, "top").session].HParams["train.batch_size"]; a != 8.0 || b != 4.0 {
		t.Errorf("train.batch_size hparams %v and %v, want 8 and 4", a, b)
	}

	// A rerun of a finished run writes no event.
	before := tree(t, filepath.Join(dirA, rundir.TensorBoardDir))
	if _, log, err := run(t, testConfig(t, root)); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if after := tree(t, filepath.Join(dirA, rundir.TensorBoardDir)); !slices.Equal(before, after) {
		t.Errorf("rerun of a finished run changed its event files:\nbefore %v\nafter  %v", before, after)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func pngSize(t *testing.T, path string) (int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, _, err := image.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c.Width, c.Height
}

// tree lists the files under dir with their sizes and modification times.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p+" "+strconv.FormatInt(info.Size(), 10)+" "+info.ModTime().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hparamText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func isNumber(v any) bool { _, ok := v.(float64); return ok }

func numberEquals(v any, s string) bool {
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && v.(float64) == f
}
