package tensorboard

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// board runs TensorFlow's summary kernels for one model's folders, the
// ones tf.summary runs in Python: SummaryWriter and CreateSummaryFileWriter
// (one event file per folder), WriteScalarSummary, WriteImageSummary,
// WriteSummary and WriteRawProtoSummary (a weight's histogram, made as
// WriteHistogramSummary makes it: histogram.go), FlushSummaryWriter and
// CloseSummaryWriter. The binding's op package has no wrappers for the
// writer resource ops, so they are added by type name.
//
// One graph and one session serve every folder. A write op is added to the
// graph the first time its (folder, kind, tag) is written, with its own
// step and value placeholders; writes are queued and run together, one
// session call per epoch, when the board flushes.
type board struct {
	dir     string
	scope   *op.Scope
	sess    *tfsession.Session
	folders map[string]*folder
	slots   map[slotKey]*slot

	feeds   map[tf.Output]*tf.Tensor
	targets []*tf.Operation
	queued  map[*slot]bool
}

// folder is one summary file writer.
type folder struct {
	flush, close *tf.Operation
	res          tf.Output
}

type kind int

const (
	scalarKind    kind = iota // float32 simple_value
	histogramKind             // float32 values, TensorFlow's default buckets (computed in Go: histogram.go)
	imageKind                 // [1, h, w, 3] uint8, encoded as PNG by TensorFlow
	metadataKind              // an empty tensor with serialized SummaryMetadata (plugin data)
)

type slotKey struct {
	folder string
	kind   kind
	tag    string
}

// slot is the write op of one (folder, kind, tag).
type slot struct {
	op          *tf.Operation
	step, value tf.Output
}

var writerID atomic.Int64

// FlushInterval is how often, at most, TensorFlow's writer flushes the
// summaries written to it to disk (each flush fsyncs): what TensorBoard
// shows of a run in progress lags by up to this. A crash loses at most
// that much; a resumed run writes the lost epochs' scalars again from the
// training history.
const FlushInterval = 5 * time.Second

func newBoard(dir string) *board {
	return &board{dir: dir, folders: map[string]*folder{}, slots: map[slotKey]*slot{}}
}

// queue adds a write of value (a Go value or *tf.Tensor) at step; it runs
// at the next flush. The folder's event file is created on its first
// write.
func (b *board) queue(d string, k kind, tag string, step int64, value any) (err error) {
	// The binding panics on some graph errors; report them as errors.
	if perr := tfsession.Guard(func() error { err = b.queueOps(d, k, tag, step, value); return nil }); perr != nil {
		return fmt.Errorf("tensorboard: building the summary graph: %w", perr)
	}
	return err
}

// queueOps is queue without the guard.
func (b *board) queueOps(d string, k kind, tag string, step int64, value any) (err error) {
	f, err := b.folder(d)
	if err != nil {
		return err
	}
	key := slotKey{d, k, tag}
	s := b.slots[key]
	if s == nil {
		if s, err = b.newSlot(f, key); err != nil {
			return err
		}
		b.slots[key] = s
	}
	if b.queued[s] { // the same op twice in one call: run what is queued first
		if err := b.run(); err != nil {
			return err
		}
	}
	if k == histogramKind {
		if value, err = histogramSummary(tag, value.([]float32)); err != nil {
			return err
		}
	}
	t, ok := value.(*tf.Tensor)
	if !ok {
		if t, err = tf.NewTensor(value); err != nil {
			return fmt.Errorf("tensorboard: %s: %w", tag, err)
		}
	}
	st, err := tf.NewTensor(step)
	if err != nil {
		return fmt.Errorf("tensorboard: %s: %w", tag, err)
	}
	if b.feeds == nil {
		b.feeds, b.queued = map[tf.Output]*tf.Tensor{}, map[*slot]bool{}
	}
	b.feeds[s.step], b.feeds[s.value] = st, t
	b.targets = append(b.targets, s.op)
	b.queued[s] = true
	return nil
}

// folder returns the writer of folder d (relative to the model's folder),
// creating its event file if it is not open yet.
func (b *board) folder(d string) (*folder, error) {
	if f := b.folders[d]; f != nil {
		return f, nil
	}
	path := filepath.Join(b.dir, d)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	if b.scope == nil {
		b.scope = op.NewScope()
	}
	s := b.scope.SubScope(scopeName("writer", d))
	res := s.AddOperation(tf.OpSpec{
		Type: "SummaryWriter", Name: "SummaryWriter",
		Attrs: map[string]any{"shared_name": fmt.Sprintf("gotransfer_summary_writer_%d", writerID.Add(1)), "container": ""},
	}).Output(0)
	create := s.AddOperation(tf.OpSpec{
		Type: "CreateSummaryFileWriter", Name: "CreateSummaryFileWriter",
		Input: []tf.Input{res,
			op.Const(s.SubScope("logdir"), path),
			op.Const(s.SubScope("max_queue"), int32(1000)),
			op.Const(s.SubScope("flush_millis"), int32(FlushInterval/time.Millisecond)),
			op.Const(s.SubScope("filename_suffix"), ".v2")},
	})
	f := &folder{
		res:   res,
		flush: s.AddOperation(tf.OpSpec{Type: "FlushSummaryWriter", Name: "FlushSummaryWriter", Input: []tf.Input{res}}),
		close: s.AddOperation(tf.OpSpec{Type: "CloseSummaryWriter", Name: "CloseSummaryWriter", Input: []tf.Input{res}}),
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("tensorboard: building the summary graph: %w", err)
	}
	if b.sess == nil {
		// Ops added to the graph later reach the session on its next run.
		g, err := b.scope.Finalize()
		if err != nil {
			return nil, fmt.Errorf("tensorboard: building the summary graph: %w", err)
		}
		// Grappler off: these graphs have nothing to optimise, and each
		// new set of ops run together would otherwise be rewritten first
		// (tens of milliseconds on a busy machine).
		if b.sess, err = tfsession.New(g, tfsession.Options{NoOptimizer: true, CallerThread: true}); err != nil {
			return nil, fmt.Errorf("tensorboard: new session: %w", err)
		}
		b.scope = op.NewScopeWithGraph(g)
	}
	if _, err := b.sess.Run(nil, nil, []*tf.Operation{create}); err != nil {
		return nil, fmt.Errorf("tensorboard: creating an event file in %s: %w", path, err)
	}
	b.folders[d] = f
	return f, nil
}

// newSlot adds the write op of key to the graph.
func (b *board) newSlot(f *folder, key slotKey) (*slot, error) {
	s := b.scope.SubScope(scopeName("write", key.folder+"_"+key.tag))
	sl := &slot{step: op.Placeholder(s.SubScope("step"), tf.Int64, op.PlaceholderShape(tf.ScalarShape()))}
	tag := func() tf.Output { return op.Const(s.SubScope("tag"), key.tag) }
	switch key.kind {
	case scalarKind:
		sl.value = op.Placeholder(s.SubScope("value"), tf.Float, op.PlaceholderShape(tf.ScalarShape()))
		sl.op = op.WriteScalarSummary(s, f.res, sl.step, tag(), sl.value)
	case histogramKind:
		// A serialized Summary holding the histogram (histogram.go).
		sl.value = op.Placeholder(s.SubScope("value"), tf.String, op.PlaceholderShape(tf.ScalarShape()))
		sl.op = op.WriteRawProtoSummary(s, f.res, sl.step, sl.value)
	case imageKind:
		sl.value = op.Placeholder(s.SubScope("value"), tf.Uint8, op.PlaceholderShape(tf.MakeShape(1, -1, -1, 3)))
		badColor := op.Const(s.SubScope("bad_color"), []uint8{255, 0, 0, 255})
		sl.op = op.WriteImageSummary(s, f.res, sl.step, tag(), sl.value, badColor, op.WriteImageSummaryMaxImages(1))
	case metadataKind:
		// Plugin data (hparams) travels in the metadata of a summary whose
		// tensor is empty, as tensorboard.plugins.hparams.metadata.NULL_TENSOR.
		sl.value = op.Placeholder(s.SubScope("value"), tf.String, op.PlaceholderShape(tf.ScalarShape()))
		empty := op.Const(s.SubScope("empty"), []float32{})
		sl.op = op.WriteSummary(s, f.res, sl.step, empty, tag(), sl.value)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("tensorboard: building the summary graph: %w", err)
	}
	return sl, nil
}

// run runs the queued writes in one session call.
func (b *board) run() error {
	if len(b.targets) == 0 {
		return nil
	}
	feeds, targets := b.feeds, b.targets
	b.feeds, b.targets, b.queued = nil, nil, nil
	if _, err := b.sess.Run(feeds, nil, targets); err != nil {
		return fmt.Errorf("tensorboard: writing to %s: %w", b.dir, err)
	}
	return nil
}

// flush runs the queued writes and writes every open event file to disk.
func (b *board) flush() error {
	if err := b.run(); err != nil {
		return err
	}
	var ops []*tf.Operation
	for _, f := range b.folders {
		ops = append(ops, f.flush)
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := b.sess.Run(nil, nil, ops); err != nil {
		return fmt.Errorf("tensorboard: flushing %s: %w", b.dir, err)
	}
	return nil
}

// close flushes and closes the event files and the session. The board can
// be written to again: that opens new files.
func (b *board) close() error {
	if b.sess == nil {
		return nil
	}
	err := b.flush()
	if err == nil {
		var ops []*tf.Operation
		for _, f := range b.folders {
			ops = append(ops, f.close)
		}
		if len(ops) > 0 {
			_, err = b.sess.Run(nil, nil, ops)
		}
	}
	if cerr := b.sess.Close(); err == nil {
		err = cerr
	}
	b.sess, b.scope, b.folders, b.slots = nil, nil, map[string]*folder{}, map[slotKey]*slot{}
	b.feeds, b.targets, b.queued = nil, nil, nil
	if err != nil {
		return fmt.Errorf("tensorboard: closing %s: %w", b.dir, err)
	}
	return nil
}

// scopeName makes a graph name scope from a prefix and free text (tags
// have slashes and brackets).
func scopeName(prefix, s string) string {
	return prefix + "_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}
