package tensorboard

import (
	"image"
	"image/color"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	summarypb "github.com/galeone/tensorflow/tensorflow/go/core/framework/summary_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
)

func newNet(t *testing.T) *nn.Network {
	t.Helper()
	net, err := nn.Build(nn.Spec{
		Input: []int{5},
		Layers: []layers.Layer{
			&layers.Dense{Units: 4, Activation: "relu", UseBias: true},
			&layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true},
		},
		Classes: 3,
		Adam:    nn.Adam{LearningRate: 0.01, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := net.SetWeights(net.InitialWeights(1)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { net.Close() })
	return net
}

func epochs(n int) []history.Epoch {
	var h []history.Epoch
	for i := 1; i <= n; i++ {
		h = append(h, history.Epoch{Epoch: i, Loss: 1.0 / float64(i), Accuracy: 0.1 * float64(i),
			ValLoss: 1.5 / float64(i), ValAccuracy: 0.09 * float64(i), LearningRate: 0.01 / float64(i), Seconds: 0.25 * float64(i)})
	}
	return h
}

func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w {
		img.Set(i, i%h, color.RGBA{200, 10, 10, 255})
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func eventFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			out[p] = info.Size()
		}
		return nil
	})
	return out
}

func steps(s [][2]float64) []int {
	var out []int
	for _, p := range s {
		out = append(out, int(p[0]))
	}
	return out
}

// byStep sorts a series by step. TensorBoard reads a folder's event files
// in name order, and TensorFlow names files by the second they were made,
// then by process and writer id: a resume in a later process sorts after
// the earlier files, but this test resumes within the same second.
func byStep(s [][2]float64) [][2]float64 {
	s = slices.Clone(s)
	slices.SortStableFunc(s, func(a, b [2]float64) int { return int(a[0] - b[0]) })
	return s
}

// TestResumeAppendsOnce interrupts a model after two epochs, loses the
// third epoch's events (a crash between the checkpoint and the flush),
// resumes, and checks with TensorBoard's reader that every series has each
// step exactly once, with the values given; then that reopening a
// finished model writes nothing.
func TestResumeAppendsOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tensorboard", "top")
	net := newNet(t)
	hist := epochs(4)
	opts := Options{Dir: dir, HParams: map[string]string{
		"train.batch_size": "8", "train.shuffle": "true", "images.resize": "nearest", "models[top].layers.0.dense.units": "4",
	}}

	m, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.OnTrainBegin(nil); err != nil {
		t.Fatal(err)
	}
	for _, e := range hist[:2] {
		if err := m.OnEpochEnd(e, net); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Resume: training state says 3 epochs are done; the events hold 2.
	m, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.OnTrainBegin(hist[:3]); err != nil {
		t.Fatal(err)
	}
	if err := m.OnEpochEnd(hist[3], net); err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(t.TempDir(), "samples.png")
	writePNG(t, samples, 40, 12)
	if err := m.End(Final{Epochs: 4, TestLoss: 0.75, TestAccuracy: 0.625, Images: []Image{{Tag: "train/samples", Path: samples}}}); err != nil {
		t.Fatal(err)
	}
	files := eventFiles(t, dir)

	ev := testenv.TensorBoard(t, dir, filepath.Join(dir, TrainDir), filepath.Join(dir, ValidationDir))
	tr, val, sess := ev[filepath.Join(dir, TrainDir)], ev[filepath.Join(dir, ValidationDir)], ev[dir]
	want := []int{0, 1, 2, 3}
	for _, c := range []struct {
		name   string
		series [][2]float64
		value  func(history.Epoch) float64
	}{
		{"train " + TagLoss, tr.Scalars[TagLoss], func(e history.Epoch) float64 { return e.Loss }},
		{"train " + TagAccuracy, tr.Scalars[TagAccuracy], func(e history.Epoch) float64 { return e.Accuracy }},
		{"train " + TagSeconds, tr.Scalars[TagSeconds], func(e history.Epoch) float64 { return e.Seconds }},
		{"train " + TagLearningRate, tr.Scalars[TagLearningRate], func(e history.Epoch) float64 { return e.LearningRate }},
		{"validation " + TagLoss, val.Scalars[TagLoss], func(e history.Epoch) float64 { return e.ValLoss }},
		{"validation " + TagAccuracy, val.Scalars[TagAccuracy], func(e history.Epoch) float64 { return e.ValAccuracy }},
	} {
		c.series = byStep(c.series)
		if got := steps(c.series); !slices.Equal(got, want) {
			t.Errorf("%s: steps %v, want %v", c.name, got, want)
			continue
		}
		for i, p := range c.series {
			if p[1] != float64(float32(c.value(hist[i]))) {
				t.Errorf("%s at step %d: %v, want %v", c.name, i, p[1], float32(c.value(hist[i])))
			}
		}
	}
	// Histograms: epoch 3's weights are gone by the time of the resume.
	for _, w := range []struct {
		tag string
		n   float64
	}{{"dense/kernel", 20}, {"dense/bias", 4}, {"dense_1/kernel", 12}, {"dense_1/bias", 3}} {
		h := tr.Histograms[w.tag+HistogramSuffix]
		slices.SortStableFunc(h, func(a, b [4]float64) int { return int(a[0] - b[0]) })
		var got []int
		for _, p := range h {
			got = append(got, int(p[0]))
			if p[1] != w.n {
				t.Errorf("%s at step %v: %v values, want %v", w.tag, p[0], p[1], w.n)
			}
		}
		if !slices.Equal(got, []int{0, 1, 3}) {
			t.Errorf("%s histogram steps %v, want [0 1 3]", w.tag, got)
		}
	}
	if got := sess.Scalars[TagTestAccuracy]; len(got) != 1 || got[0] != [2]float64{3, 0.625} {
		t.Errorf("test accuracy %v, want [[3 0.625]]", got)
	}
	if got := sess.Images["train/samples"+ImageSuffix]; len(got) != 1 || got[0][0] != 3 || got[0][1] != 40 || got[0][2] != 12 {
		t.Errorf("samples image %v, want one 40×12 image at step 3", got)
	}
	wantHP := map[string]any{"train.batch_size": 8.0, "train.shuffle": true, "images.resize": "nearest", "models[top].layers.0.dense.units": 4.0}
	if len(sess.HParams) != len(wantHP) {
		t.Errorf("hparams %v, want %v", sess.HParams, wantHP)
	}
	for k, v := range wantHP {
		if sess.HParams[k] != v {
			t.Errorf("hparam %s = %#v, want %#v", k, sess.HParams[k], v)
		}
	}
	if sess.EndStatus == nil || *sess.EndStatus != statusSuccess {
		t.Errorf("session end status %v, want %d", sess.EndStatus, statusSuccess)
	}

	// A rerun of the finished model: nothing to write, no file touched.
	m, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.OnTrainBegin(hist); err != nil {
		t.Fatal(err)
	}
	if err := m.End(Final{Epochs: 4, TestLoss: 0.75, TestAccuracy: 0.625, Images: []Image{{Tag: "train/samples", Path: samples}}}); err != nil {
		t.Fatal(err)
	}
	if again := eventFiles(t, dir); !maps.Equal(again, files) {
		t.Errorf("rerun of a finished model changed the event files:\nbefore %v\nafter  %v", files, again)
	}
}

// TestSecondPhaseContinuesSteps: a second phase (fine-tuning) continues
// the step axis in the same folders, with the same Model in the same
// process or, resuming in another, a Model opened with InitialEpoch; the
// session is started once.
func TestSecondPhaseContinuesSteps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "top")
	net := newNet(t)
	m, err := Open(Options{Dir: dir, HParams: map[string]string{"seed": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	phase := func(m *Model, history []history.Epoch, n int) {
		t.Helper()
		if err := m.OnTrainBegin(history); err != nil {
			t.Fatal(err)
		}
		for _, e := range epochs(n)[len(history):] {
			if err := m.OnEpochEnd(e, net); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.End(Final{Epochs: n, TestLoss: 1, TestAccuracy: 0.5}); err != nil {
			t.Fatal(err)
		}
	}
	phase(m, nil, 3)
	m.SetInitialEpoch(3)
	phase(m, nil, 2)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// The second phase resumed in another process: nothing new to write.
	before := eventFiles(t, dir)
	m, err = Open(Options{Dir: dir, InitialEpoch: 3, HParams: map[string]string{"seed": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	phase(m, epochs(2), 2)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if after := eventFiles(t, dir); !maps.Equal(before, after) {
		t.Errorf("reopening the second phase changed the event files:\nbefore %v\nafter  %v", before, after)
	}

	ev := testenv.TensorBoard(t, dir, filepath.Join(dir, TrainDir))
	if got := steps(ev[filepath.Join(dir, TrainDir)].Scalars[TagLoss]); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("loss steps %v, want 0..4", got)
	}
	if got := steps(ev[dir].Scalars[TagTestLoss]); !slices.Equal(got, []int{2, 4}) {
		t.Errorf("test loss steps %v, want [2 4] (end of each phase)", got)
	}
	last, err := lastSteps(dir)
	if err != nil {
		t.Fatal(err)
	}
	if last[sessionStartTag] != 0 {
		t.Errorf("session start at step %d, want 0", last[sessionStartTag])
	}
}

// TestTruncatedEventFile: a crash in the middle of a record leaves the
// records before it readable, and the next writer appends after them.
func TestTruncatedEventFile(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range epochs(3) {
		if err := m.epoch(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, TrainDir, eventFilePrefix+"*"))
	if len(names) != 1 {
		t.Fatalf("event files %v, want 1", names)
	}
	b, _ := os.ReadFile(names[0])
	recs := records(b)
	_, sum := parseEvent(recs[len(recs)-1])
	var cut summarypb.Summary
	if err := proto.Unmarshal(sum, &cut); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(names[0], b[:len(b)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	last, err := lastSteps(filepath.Join(dir, TrainDir))
	if err != nil {
		t.Fatal(err)
	}
	// The last record (one of step 2's scalars) is cut; the rest is intact.
	want := map[string]int64{TagLoss: 2, TagAccuracy: 2, TagLearningRate: 2, TagSeconds: 2}
	want[cut.Value[0].Tag] = 1
	if !maps.Equal(last, want) {
		t.Errorf("after truncation: %v; want %v", last, want)
	}
}

// TestFailedSession: a model that diverged in its first epoch ends its
// session as failed, with no test metrics.
func TestFailedSession(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(Options{Dir: dir, HParams: map[string]string{"seed": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.OnTrainBegin(nil); err != nil {
		t.Fatal(err)
	}
	if err := m.End(Final{Epochs: 0, Failed: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	ev := testenv.TensorBoard(t, dir)[dir]
	if ev.EndStatus == nil || *ev.EndStatus != statusFailure || len(ev.Scalars) != 0 {
		t.Errorf("failed session: status %v, scalars %v; want status %d and no scalars", ev.EndStatus, ev.Scalars, statusFailure)
	}
}
