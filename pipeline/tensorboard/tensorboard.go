// Package tensorboard writes a model's TensorBoard event files the way
// keras.callbacks.TensorBoard does, with TensorFlow's own summary ops run
// through the C API (see writer.go): no private event writer (a weight's
// histogram is computed in Go as TensorFlow's op computes it, and written
// by TensorFlow's writer: histogram.go). Each epoch's
// summaries are written in one session call; TensorFlow's writer flushes
// them to disk (with an fsync) every FlushInterval, and End and Close
// flush.
//
// Layout, under a run folder (rundir.TensorBoard names the model's folder):
//
//	tensorboard/<model>/            hparams session: config values, test metrics, images
//	tensorboard/<model>/train/      epoch_loss, epoch_accuracy, epoch_learning_rate,
//	                                epoch_seconds; weight histograms
//	tensorboard/<model>/validation/ epoch_loss, epoch_accuracy
//
// The model's folder is the HParams plugin's "session", as with Keras'
// hparams callback: its train/ and validation/ series are the session's
// metric groups. Steps are epochs counted from 0, as Keras writes them
// (epoch 1 of history.csv is step 0); a later phase continues the axis by
// passing the epochs already trained as Options.InitialEpoch.
//
// One Model keeps one event file per folder open from its first write to
// Close, so a run in one process writes one file per folder (TensorBoard
// reads a folder's files in name order, and TensorFlow's names only order
// files made in different seconds).
//
// Event files are append-only. Before writing, a Model reads what the
// folder's event files already hold and writes only the (tag, step) pairs
// beyond the last step of each tag, so a resumed run appends without
// duplicating steps, catches up the scalars of epochs whose events a crash
// lost (their histograms are gone with the weights of that time), and a
// rerun of a finished run creates no file at all.
package tensorboard

import (
	"fmt"
	"image"
	"image/draw"
	_ "image/png" // the run's plots are PNG
	"math"
	"os"
	"path/filepath"
	"time"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/gotransfer/gotransfer/pipeline/history"
	"github.com/gotransfer/gotransfer/pipeline/nn"
)

// Folders inside a model's folder (rundir.TensorBoard), as Keras' callback
// names them.
const (
	TrainDir      = "train"
	ValidationDir = "validation"
)

// Tags. Epoch series use Keras' names (the callback writes "epoch_" + the
// log key, val_ metrics without their prefix under validation/).
const (
	TagLoss         = "epoch_loss"
	TagAccuracy     = "epoch_accuracy"
	TagLearningRate = "epoch_learning_rate"
	TagSeconds      = "epoch_seconds" // wall time of the epoch, validation included
	TagTestLoss     = "test_loss"
	TagTestAccuracy = "test_accuracy"
	// HistogramSuffix ends a weight's histogram tag, "<layer>/<weight>/histogram",
	// as Keras names them.
	HistogramSuffix = "/histogram"
	// ImageSuffix is what TensorFlow's image summary appends to a tag.
	ImageSuffix = "/image"
)

// Options describe one model's event files.
type Options struct {
	// Dir is the model's folder, <run>/tensorboard/<model>.
	Dir string
	// InitialEpoch is the number of epochs earlier phases trained (Keras'
	// initial_epoch): epoch e of this phase is written at step
	// InitialEpoch+e-1.
	InitialEpoch int
	// HParams are the config values of the run, as flat keys (the ones
	// `pipeline report` compares); TensorBoard's HParams dashboard shows
	// first those that differ between the runs it reads.
	HParams map[string]string
}

// Image is a PNG file to show in the Images dashboard under Tag.
type Image struct {
	Tag  string
	Path string
}

// Final is what a model's session ends with.
type Final struct {
	Epochs       int  // epochs trained in this phase; its results are written at the last one's step
	Failed       bool // training failed (diverged): no test metrics, the session ends as failed
	TestLoss     float64
	TestAccuracy float64
	Images       []Image
}

// Model writes one model's event files. It implements train.Callback.
// Methods are not safe for concurrent use.
type Model struct {
	opts  Options
	last  map[string]map[string]int64 // folder -> tag -> last step written
	board *board
	spent time.Duration
}

// Open reads what the event files under opts.Dir already hold. It creates
// no file: an event file is created when there is something new to write
// in its folder.
func Open(opts Options) (*Model, error) {
	start := time.Now()
	m := &Model{opts: opts, last: map[string]map[string]int64{}, board: newBoard(opts.Dir)}
	for _, d := range []string{"", TrainDir, ValidationDir} {
		steps, err := lastSteps(filepath.Join(opts.Dir, d))
		if err != nil {
			return nil, err
		}
		m.last[d] = steps
	}
	m.spent += time.Since(start)
	return m, nil
}

// SetInitialEpoch starts a new phase of training on the same step axis:
// n is the number of epochs trained so far (Keras' initial_epoch). A
// fine-tuning phase calls it with the first phase's epoch count and hands
// the same Model to its Fit; a process that resumes that phase opens the
// Model with Options.InitialEpoch = n instead.
func (m *Model) SetInitialEpoch(n int) { m.opts.InitialEpoch = n }

// Step is the step at which epoch (1-based, of this phase) is written.
func (m *Model) Step(epoch int) int64 { return int64(m.opts.InitialEpoch + epoch - 1) }

// Spent is the wall time the Model has taken so far: reading, writing,
// flushing. The run reports it, to show what summaries cost.
func (m *Model) Spent() time.Duration { return m.spent }

// OnTrainBegin starts the HParams session (once per model) and writes the
// epochs a previous run finished whose events are missing.
func (m *Model) OnTrainBegin(done []history.Epoch) error {
	defer m.timed(time.Now())
	if _, ok := m.last[""][sessionStartTag]; !ok {
		meta, err := sessionStartInfo(m.opts.HParams, float64(time.Now().UnixNano())/1e9)
		if err != nil {
			return err
		}
		if err := m.put("", metadataKind, sessionStartTag, 0, string(meta)); err != nil {
			return err
		}
	}
	for _, e := range done {
		if err := m.epoch(e); err != nil {
			return err
		}
	}
	return m.board.run()
}

// OnEpochEnd writes the epoch's scalars and a histogram of each trained
// weight. TensorFlow's writer puts them in the file within FlushInterval.
func (m *Model) OnEpochEnd(e history.Epoch, net *nn.Network) error {
	defer m.timed(time.Now())
	if err := m.epoch(e); err != nil {
		return err
	}
	step := m.Step(e.Epoch)
	ws, err := net.TrainableWeights()
	if err != nil {
		return fmt.Errorf("tensorboard: %w", err)
	}
	for _, w := range ws {
		if err := m.put(TrainDir, histogramKind, w.Name+HistogramSuffix, step, w.Values); err != nil {
			return err
		}
	}
	return m.board.run()
}

// epoch writes e's scalars that are not written yet: Keras' epoch_* series,
// with val_ metrics under validation/ (none when there is no validation
// split).
func (m *Model) epoch(e history.Epoch) error {
	step := m.Step(e.Epoch)
	for _, s := range []struct {
		dir, tag string
		v        float64
	}{
		{TrainDir, TagLoss, e.Loss},
		{TrainDir, TagAccuracy, e.Accuracy},
		{TrainDir, TagLearningRate, e.LearningRate}, // each phase's own, per epoch
		{TrainDir, TagSeconds, e.Seconds},
		{ValidationDir, TagLoss, e.ValLoss},
		{ValidationDir, TagAccuracy, e.ValAccuracy},
	} {
		if s.dir == ValidationDir && math.IsNaN(s.v) {
			continue
		}
		if err := m.put(s.dir, scalarKind, s.tag, step, float32(s.v)); err != nil {
			return err
		}
	}
	return nil
}

// End writes the session's results at the step of the phase's last epoch:
// test loss and accuracy (the HParams dashboard's metrics), the images,
// and the end of the session (successful, or failed), and flushes them.
func (m *Model) End(f Final) error {
	defer m.timed(time.Now())
	// A model that failed in its first epoch has none: its step is the
	// phase's first.
	step := max(m.Step(f.Epochs), int64(m.opts.InitialEpoch))
	for _, s := range []struct {
		tag string
		v   float64
	}{{TagTestLoss, f.TestLoss}, {TagTestAccuracy, f.TestAccuracy}} {
		if f.Failed {
			break
		}
		if err := m.put("", scalarKind, s.tag, step, float32(s.v)); err != nil {
			return err
		}
	}
	for _, img := range f.Images {
		if step <= m.lastStep("", img.Tag+ImageSuffix) {
			continue
		}
		pix, err := readRGB(img.Path)
		if err != nil {
			return err
		}
		if err := m.put("", imageKind, img.Tag, step, pix); err != nil {
			return err
		}
	}
	if m.lastStep("", sessionEndTag) < step {
		status := statusSuccess
		if f.Failed {
			status = statusFailure
		}
		meta, err := sessionEndInfo(status, float64(time.Now().UnixNano())/1e9)
		if err != nil {
			return err
		}
		if err := m.put("", metadataKind, sessionEndTag, step, string(meta)); err != nil {
			return err
		}
	}
	return m.flush()
}

// Close closes the event files the Model opened.
func (m *Model) Close() error {
	defer m.timed(time.Now())
	return m.close()
}

func (m *Model) close() error { return m.board.close() }

func (m *Model) timed(start time.Time) { m.spent += time.Since(start) }

// lastStep is the last step of tag in folder d, or -1.
func (m *Model) lastStep(d, tag string) int64 {
	if s, ok := m.last[d][tag]; ok {
		return s
	}
	return -1
}

// put queues a write of value under tag in folder d, unless d already
// holds tag at step or later. TensorFlow's image summary writes its tag
// with ImageSuffix added.
func (m *Model) put(d string, k kind, tag string, step int64, value any) error {
	written := tag
	if k == imageKind {
		written += ImageSuffix
	}
	if step <= m.lastStep(d, written) {
		return nil
	}
	if err := m.board.queue(d, k, tag, step, value); err != nil {
		return err
	}
	m.last[d][written] = step
	return nil
}

func (m *Model) flush() error { return m.board.flush() }

// readRGB decodes an image file into a [1, h, w, 3] uint8 tensor.
func readRGB(path string) (*tf.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %s: %w", path, err)
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	pix := make([]uint8, 0, b.Dx()*b.Dy()*3)
	for i := 0; i < len(rgba.Pix); i += 4 {
		pix = append(pix, rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2])
	}
	t, err := tf.NewTensor(pix)
	if err == nil {
		err = t.Reshape([]int64{1, int64(b.Dy()), int64(b.Dx()), 3})
	}
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %s: %w", path, err)
	}
	return t, nil
}
