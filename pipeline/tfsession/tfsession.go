// Package tfsession is the pipeline's one edge with TensorFlow sessions:
// it loads SavedModels and makes sessions over graphs built in Go, runs
// them, turns the binding's panics into errors in one guard, and closes
// sessions when their owner says so rather than when a finalizer runs.
//
// The TensorFlow Go binding (and tfgo over it) reports some errors by
// panicking: an output of an operation that failed to build, a missing
// operation, a shape asked of an unknown tensor. Guard is the only place
// in the pipeline's TensorFlow packages that recovers them. A session holds
// the model's weights and TensorFlow's buffers in C memory, which Go's
// collector does not see: whoever opens a Session closes it (defer Close).
package tfsession

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// Options configure a new session. The zero value is TensorFlow's defaults.
type Options struct {
	// BFloat16 has TensorFlow's oneDNN graph rewrite
	// (auto_mixed_precision_onednn_bfloat16) cast the matrix operations to
	// bfloat16 when the session is created.
	BFloat16 bool
	// NoOptimizer turns Grappler off (no meta optimizer, optimizer level
	// L0): for small graphs that gain nothing from being rewritten before
	// each new set of operations runs.
	NoOptimizer bool
	// CallerThread runs the graph's operations in the thread that calls
	// Run, one after the other (inter_op_parallelism_threads -1), instead
	// of handing them to TensorFlow's inter-op thread pool: for small
	// graphs run thousands of times (a top's training step), where waking
	// a pool thread and waiting for it costs more than the operations. An
	// operation's own threads (intra-op) are unchanged, and so are its
	// results: only the order of operations that do not depend on each
	// other can differ.
	CallerThread bool
}

// sessionOptions is o as the binding takes it: nil (TensorFlow's defaults)
// for the zero Options, otherwise a marshalled ConfigProto that sets what
// o asks and leaves everything else at its default.
func (o Options) sessionOptions() (*tf.SessionOptions, error) {
	if o == (Options{}) {
		return nil, nil
	}
	cfg := &corepb.ConfigProto{GraphOptions: &corepb.GraphOptions{RewriteOptions: &corepb.RewriterConfig{}}}
	if o.BFloat16 {
		cfg.GraphOptions.RewriteOptions.AutoMixedPrecisionOnednnBfloat16 = corepb.RewriterConfig_ON
	}
	if o.CallerThread {
		cfg.InterOpParallelismThreads = -1
	}
	if o.NoOptimizer {
		cfg.GraphOptions.RewriteOptions.DisableMetaOptimizer = true
		cfg.GraphOptions.OptimizerOptions = &corepb.OptimizerOptions{OptLevel: corepb.OptimizerOptions_L0}
	}
	b, err := proto.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("tfsession: session options: %w", err)
	}
	return &tf.SessionOptions{Config: b}, nil
}

// Session is a TensorFlow session over a graph, loaded from a SavedModel
// (Load) or built in Go (New). It is safe for concurrent use; Close it
// when done.
type Session struct {
	// Graph is the session's graph. Operations added to it after New reach
	// the session on its next Run.
	Graph *tf.Graph

	mu   sync.RWMutex // guards sess against Close during Run
	sess *tf.Session  // nil once closed
}

// ErrClosed is returned by Run on a closed session.
var ErrClosed = errors.New("tfsession: session is closed")

// Load loads the SavedModel in dir, the meta graph tagged with tags, into a
// new session configured by o.
func Load(dir string, tags []string, o Options) (*Session, error) {
	opts, err := o.sessionOptions()
	if err != nil {
		return nil, err
	}
	var sm *tf.SavedModel
	err = Guard(func() (err error) {
		sm, err = tf.LoadSavedModel(dir, tags, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tensorflow could not load the SavedModel %s (tags %v): %w", dir, tags, err)
	}
	return &Session{Graph: sm.Graph, sess: sm.Session}, nil
}

// New makes a session over g configured by o.
func New(g *tf.Graph, o Options) (*Session, error) {
	opts, err := o.sessionOptions()
	if err != nil {
		return nil, err
	}
	var sess *tf.Session
	err = Guard(func() (err error) {
		sess, err = tf.NewSession(g, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tensorflow could not make a session: %w", err)
	}
	return &Session{Graph: g, sess: sess}, nil
}

// Output finds the tensor named "op:index" (as a SignatureDef names it) or
// "op" (its output 0) in the session's graph.
func (s *Session) Output(name string) (tf.Output, error) {
	opName, idx, hasIdx := strings.Cut(name, ":")
	i := 0
	if hasIdx {
		var err error
		if i, err = strconv.Atoi(idx); err != nil || i < 0 {
			return tf.Output{}, fmt.Errorf("tensor name %q: want op:index", name)
		}
	}
	op := s.Graph.Operation(opName)
	if op == nil {
		return tf.Output{}, fmt.Errorf("tensor %q: the graph has no operation %q", name, opName)
	}
	if n := op.NumOutputs(); i >= n {
		return tf.Output{}, fmt.Errorf("tensor %q: operation %q has %d outputs", name, opName, n)
	}
	return op.Output(i), nil
}

// Run feeds feeds, computes fetches and runs targets, as the binding's
// Session.Run, with a panic in the binding returned as an error.
func (s *Session) Run(feeds map[tf.Output]*tf.Tensor, fetches []tf.Output, targets []*tf.Operation) (out []*tf.Tensor, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sess == nil {
		return nil, ErrClosed
	}
	err = Guard(func() (err error) {
		out, err = s.sess.Run(feeds, fetches, targets)
		return err
	})
	return out, err
}

// Close frees the session and the C memory it holds (a SavedModel's
// weights among it). It waits for runs in progress; Run fails after it.
// Closing a closed session does nothing.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil
	}
	err := s.sess.Close()
	s.sess = nil
	if err != nil {
		return fmt.Errorf("tfsession: closing the session: %w", err)
	}
	return nil
}

// Guard calls f and returns its error, or the panic f raised as an error
// ("tensorflow: ..."; a panic value that is an error is wrapped). The
// TensorFlow binding and tfgo panic on some graph and session errors; code
// that builds graphs or runs sessions calls them inside Guard, so that no
// panic crosses a package boundary.
func Guard(f func() error) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if e, ok := r.(error); ok {
			err = fmt.Errorf("tensorflow: %w", e)
		} else {
			err = fmt.Errorf("tensorflow: %v", r)
		}
	}()
	return f()
}
