// Package backbone loads a frozen image model and runs its feature
// endpoints on batches: one exported by scripts/export_backbone.py, or any
// SavedModel with an image signature (see Plain).
//
// An export of scripts/export_backbone.py is a Keras SavedModel with one
// signature per endpoint ("predictions", "fc2", "block5_pool", ...). Each
// signature takes a float32 NHWC batch of preprocessed images and returns one
// tensor. Graph tensor names ("fc2_images:0", "StatefulPartitionedCall_1:0")
// are chosen by TensorFlow at export time, so they are read from the
// signatures, never written in code. metadata.json beside the model states the
// input contract (size, channel order, preprocessing) and where the weights
// came from; a SavedModel without it is described by its signatures and the
// config (Describe).
//
// The session is loaded and run through package tfsession, which returns
// TensorFlow's panics as errors. A Model holds its session until Close.
package backbone

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/gotransfer/gotransfer/pipeline/tensors"
	"github.com/gotransfer/gotransfer/pipeline/tfsession"
)

// Format is the metadata format this package reads.
const Format = "gotransfer.backbone/v1"

// Tag is the SavedModel tag set the exporter writes.
const Tag = "serve"

// ExportHint tells a user how to make a model this package can load.
const ExportHint = "export one with scripts/export_backbone.py, e.g.\n" +
	"  .venv/bin/python scripts/export_backbone.py --arch vgg16 --weights imagenet --out savedmodels/vgg16\n" +
	"  (needs internet, or offline: --weights /path/to/vgg16_weights_tf_dim_ordering_tf_kernels.h5; see README)"

// Metadata is metadata.json, written by the exporter beside the SavedModel.
type Metadata struct {
	Format          string                  `json:"format"`
	Architecture    string                  `json:"architecture"`
	Weights         Weights                 `json:"weights"`
	Params          int64                   `json:"params"`
	Input           Input                   `json:"input"`
	Endpoints       map[string]EndpointInfo `json:"endpoints"`
	DefaultEndpoint string                  `json:"default_endpoint"`
	// FineTune lists the layers fine-tuning may start from (see Cut);
	// nil in an export older than fine-tuning.
	FineTune map[string]Cut `json:"fine_tune"`
	// Cuts are the names of FineTune's cuts the exporter offers, the
	// start of the last block first: fine_tune_from: auto picks it.
	Cuts       []string          `json:"cuts,omitempty"`
	Versions   map[string]string `json:"versions"`
	ExportedBy string            `json:"exported_by"`
	// FromSignatures is set when there was no metadata.json: Describe
	// made this from the SavedModel's signatures and a Plain.
	FromSignatures bool `json:"-"`
}

// Weights says where a model's weights came from. Source is "imagenet",
// "file" or "random"; a run built on random weights says so in its reports.
type Weights struct {
	Source string `json:"source"`
	Seed   *int64 `json:"seed,omitempty"`
	Origin string `json:"origin,omitempty"`
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256"`
}

// Pretrained reports whether the weights were learned rather than drawn at random.
func (w Weights) Pretrained() bool { return w.Source != "random" }

// String describes the weights in a few words for logs and reports.
func (w Weights) String() string {
	fp := w.SHA256
	if len(fp) > 12 {
		fp = fp[:12]
	}
	switch w.Source {
	case "random":
		if w.Seed != nil {
			return fmt.Sprintf("RANDOM weights (seed %d, not pretrained; sha256 %s)", *w.Seed, fp)
		}
		return fmt.Sprintf("RANDOM weights (not pretrained; sha256 %s)", fp)
	case "imagenet":
		return fmt.Sprintf("ImageNet weights (sha256 %s)", fp)
	case "file":
		return fmt.Sprintf("weights from %s (sha256 %s)", w.Path, fp)
	case SourceFiles:
		return fmt.Sprintf("weights as found in %s (no metadata.json says where they came from; files sha256 %s)", w.Path, fp)
	}
	return fmt.Sprintf("pretrained weights from %s (sha256 %s)", w.Source, fp)
}

// Input is the contract every endpoint's input follows.
type Input struct {
	SignatureKey  string        `json:"signature_key"`
	DType         string        `json:"dtype"`
	Shape         []*int64      `json:"shape"` // [null, H, W, C]
	Layout        string        `json:"layout"`
	Preprocessing Preprocessing `json:"preprocessing"`
}

// Preprocessing says how pixels become model input: the pipeline applies it
// in Go before the model, the model itself does not.
type Preprocessing struct {
	Mode         string    `json:"mode"` // "caffe", "tf", "torch" or "none"
	ChannelOrder string    `json:"channel_order"`
	Mean         []float64 `json:"mean,omitempty"`
	Scale        float64   `json:"scale,omitempty"`
	ValueRange   string    `json:"value_range"`
	// InModel lists the layers that normalise inside the model
	// (Rescaling, Normalization), as the exporter found them.
	InModel []string `json:"in_model,omitempty"`
}

// EndpointInfo describes one endpoint in metadata.json.
type EndpointInfo struct {
	Layer string   `json:"layer"`
	Shape []*int64 `json:"shape"` // [null, ...]

	// Where the endpoint is in the SavedModel: its signature, that
	// signature's input key, its output key ("": the only one) and the
	// input's dtype ("float32" or "uint8"). An export of
	// scripts/export_backbone.py has a signature per endpoint, named
	// after it, taking input.signature_key.
	signature, inputKey, output, dtype string
}

// Locate returns the endpoint's signature, that signature's input key,
// its output key ("": the only one) and whether the input is uint8.
func (e EndpointInfo) Locate() (signature, input, output string, uint8 bool) {
	return e.signature, e.inputKey, e.output, e.dtype == "uint8"
}

// Endpoint is a resolved signature: where to feed images and fetch outputs.
type Endpoint struct {
	Name  string
	Shape []int64 // output shape of one example, e.g. [4096] or [7 7 512]
	// The input and output tensors' names in the graph (from the
	// signature), and the tensors, found once the model is loaded.
	inName, outName string
	in, out         tf.Output
	uint8           bool // the input is uint8 pixels (see Run)
}

// Size is the number of values the endpoint returns per example.
func (e *Endpoint) Size() int {
	n := 1
	for _, d := range e.Shape {
		n *= int(d)
	}
	return n
}

// Precision is the arithmetic a backbone's session runs in.
type Precision int

const (
	// Float32 runs the graph as exported.
	Float32 Precision = iota
	// BFloat16 has TensorFlow's oneDNN graph rewrite
	// (auto_mixed_precision_onednn_bfloat16) cast the matrix operations
	// (convolutions, matmuls) to bfloat16 when the session is created:
	// several times faster on CPUs with bfloat16 units (Intel AMX, AVX512-BF16),
	// features within about 1% of float32 for VGG16's fc2 (measured; other
	// models move more).
	BFloat16
)

// Precisions are the names ParsePrecision accepts, in order.
var Precisions = []string{"float32", "bfloat16"}

// String is the precision's config name: "float32" or "bfloat16".
func (p Precision) String() string {
	if p >= 0 && int(p) < len(Precisions) {
		return Precisions[p]
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision reads "float32" or "bfloat16".
func ParsePrecision(s string) (Precision, error) {
	if i := slices.Index(Precisions, s); i >= 0 {
		return Precision(i), nil
	}
	return 0, fmt.Errorf("precision %q: want one of %s", s, strings.Join(Precisions, ", "))
}

// MarshalText writes p as its config name, so that files name precisions
// as configs do.
func (p Precision) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(Precisions) {
		return nil, fmt.Errorf("backbone: %v has no name", p)
	}
	return []byte(p.String()), nil
}

// UnmarshalText reads a precision's config name (see ParsePrecision).
func (p *Precision) UnmarshalText(b []byte) error {
	v, err := ParsePrecision(string(b))
	*p = v
	return err
}

// options is the session configuration for p.
func options(p Precision) tfsession.Options { return tfsession.Options{BFloat16: p == BFloat16} }

// Model is a backbone, checked against its metadata.json. It is safe for
// concurrent use. Once loaded (Open, or Prepare and the first Run or
// Ready) it holds a TensorFlow session (the weights, in C memory) until
// Close.
type Model struct {
	Dir       string
	Meta      Metadata
	Precision Precision // what its session computes in
	h, w, c   int
	endpoints map[string]*Endpoint

	loadMu  sync.Mutex // guards the fields below, set by Ready and Close
	sess    *tfsession.Session
	loadErr error // Ready's error, returned again
	closed  bool

	slotMu   sync.Mutex
	slotsFor map[slotKey][]int // see slots
}

// Close frees the model's session; Run fails after it. Closing twice does
// nothing.
func (m *Model) Close() error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	m.closed = true
	if m.sess == nil {
		return nil
	}
	if err := m.sess.Close(); err != nil {
		return fmt.Errorf("backbone %s: %w", m.Dir, err)
	}
	return nil
}

// Load reads the SavedModel in dir, checks it against its metadata.json and
// resolves every endpoint's input and output tensors from its signatures.
// The model runs in float32, as exported.
func Load(dir string) (*Model, error) { return LoadPrecision(dir, Float32) }

// LoadPrecision is Load with the session computing in precision p.
func LoadPrecision(dir string, p Precision) (*Model, error) { return Open(dir, nil, p) }

// Open is LoadPrecision for any SavedModel: with plain, one without
// metadata.json loads too, with plain's endpoint (see Describe).
func Open(dir string, plain *Plain, p Precision) (*Model, error) {
	m, err := Prepare(dir, plain, p)
	if err != nil {
		return nil, err
	}
	if err := m.Ready(); err != nil {
		return nil, err
	}
	return m, nil
}

// Prepare is Open without loading the SavedModel into TensorFlow: it checks
// the folder, its metadata, signatures and weights file, and TensorFlow
// loads it on the first Run (or Ready). What needs only the metadata (the
// endpoints' shapes, the input size, the feature cache's key) is there at
// once: a run whose features are all cached never waits for the load.
func Prepare(dir string, plain *Plain, p Precision) (m *Model, err error) {
	fail := func(err error) (*Model, error) { return nil, fmt.Errorf("backbone %s: %w", dir, err) }
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fail(fmt.Errorf("no such folder; %s", ExportHint))
		}
		return fail(err)
	} else if !st.IsDir() {
		return fail(fmt.Errorf("not a folder; want a SavedModel folder (%s)", ExportHint))
	}
	meta, err := describe(dir, plain)
	if err != nil {
		return fail(err)
	}
	sigs, err := readSignatures(dir)
	if err != nil {
		return fail(err)
	}
	// TensorFlow loads a SavedModel without its variables and fails only
	// when it runs, with a message about resource containers.
	if _, err := os.Stat(tfsession.VariablesIndex(dir)); err != nil {
		return fail(fmt.Errorf("no variables/variables.index (the weights): the export is incomplete; %s", ExportHint))
	}
	m = &Model{Dir: dir, Meta: meta, Precision: p, endpoints: make(map[string]*Endpoint)}
	if m.h, m.w, m.c, err = meta.inputSize(); err != nil {
		return fail(err)
	}
	for name, info := range meta.Endpoints {
		sig, ok := sigs[info.signature]
		if !ok {
			return fail(fmt.Errorf("metadata.json lists endpoint %q but the SavedModel has no such signature (have %s)", name, keys(sigs)))
		}
		ep, err := m.check(name, info, sig)
		if err != nil {
			return fail(fmt.Errorf("endpoint %s: %w", name, err))
		}
		m.endpoints[name] = ep
	}
	return m, nil
}

// Ready loads the model into a TensorFlow session unless it is loaded and
// finds each endpoint's tensors in its graph. A failed load is not tried
// again: Ready and Run return its error. After Close, Ready fails with
// tfsession.ErrClosed.
func (m *Model) Ready() error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	switch {
	case m.loadErr != nil:
		return m.loadErr
	case m.closed:
		return fmt.Errorf("backbone %s: %w", m.Dir, tfsession.ErrClosed)
	case m.sess != nil:
		return nil
	}
	sess, err := tfsession.Load(m.Dir, []string{Tag}, options(m.Precision))
	if err == nil {
		err = m.bind(sess)
		if err != nil {
			sess.Close()
		}
	}
	if err != nil {
		m.loadErr = fmt.Errorf("backbone %s: %w", m.Dir, err)
		return m.loadErr
	}
	m.sess = sess
	return nil
}

// bind finds every endpoint's input and output tensors in sess's graph.
func (m *Model) bind(sess *tfsession.Session) error {
	for name, ep := range m.endpoints {
		var err error
		if ep.in, err = sess.Output(ep.inName); err != nil {
			return fmt.Errorf("endpoint %s: %w", name, err)
		}
		if ep.out, err = sess.Output(ep.outName); err != nil {
			return fmt.Errorf("endpoint %s: %w", name, err)
		}
	}
	return nil
}

// check checks one signature against the input contract and metadata.json.
func (m *Model) check(name string, info EndpointInfo, sig *corepb.SignatureDef) (*Endpoint, error) {
	key := info.inputKey
	in, ok := sig.GetInputs()[key]
	if !ok || len(sig.GetInputs()) != 1 {
		return nil, fmt.Errorf("signature inputs are %s, want exactly %q", keys(sig.GetInputs()), key)
	}
	dtype := map[string]typespb.DataType{"float32": typespb.DataType_DT_FLOAT, "uint8": typespb.DataType_DT_UINT8}[info.dtype]
	if in.GetDtype() != dtype {
		return nil, fmt.Errorf("input %q has dtype %v, want %s", key, in.GetDtype(), info.dtype)
	}
	want := []int64{-1, int64(m.h), int64(m.w), int64(m.c)}
	got := dims(in.GetTensorShape())
	if m.Meta.FromSignatures && len(got) == 4 { // a dynamic size takes the configured one
		for i := 1; i <= 2; i++ {
			if got[i] == -1 {
				got[i] = want[i]
			}
		}
	}
	if !slices.Equal(got, want) {
		return nil, fmt.Errorf("input %q has shape %v, metadata.json says %v", key, got, want)
	}
	var out *corepb.TensorInfo
	if info.output != "" {
		if out = sig.GetOutputs()[info.output]; out == nil {
			return nil, fmt.Errorf("signature has no output %q (have %s)", info.output, keys(sig.GetOutputs()))
		}
	} else if len(sig.GetOutputs()) != 1 {
		return nil, fmt.Errorf("signature has %d outputs %s, want 1", len(sig.GetOutputs()), keys(sig.GetOutputs()))
	} else {
		for _, o := range sig.GetOutputs() {
			out = o
		}
	}
	shape := dims(out.GetTensorShape())
	if len(shape) < 2 || shape[0] != -1 || slices.Contains(shape[1:], -1) {
		return nil, fmt.Errorf("output shape %v: want a batch dimension and known feature dimensions", shape)
	}
	if meta := fromJSONShape(info.Shape); !slices.Equal(meta, shape) {
		return nil, fmt.Errorf("output shape %v, metadata.json says %v", shape, meta)
	}
	return &Endpoint{Name: name, Shape: shape[1:], inName: in.GetName(), outName: out.GetName(), uint8: info.dtype == "uint8"}, nil
}

// Endpoint returns the named endpoint, or an error listing the ones there are.
func (m *Model) Endpoint(name string) (*Endpoint, error) {
	ep, ok := m.endpoints[name]
	if !ok {
		return nil, fmt.Errorf("backbone %s: no endpoint %q (have %s)", m.Dir, name, strings.Join(m.Endpoints(), ", "))
	}
	return ep, nil
}

// Endpoints lists the endpoint names, sorted.
func (m *Model) Endpoints() []string {
	names := make([]string, 0, len(m.endpoints))
	for n := range m.endpoints {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// InputSize is the image height, width and channel count the model takes.
func (m *Model) InputSize() (h, w, c int) { return m.h, m.w, m.c }

// Run feeds n preprocessed images (x holds n×H×W×C values, NHWC) through the
// named endpoint and returns n×Endpoint.Size() values, one row per image.
// An endpoint whose input is uint8 gets x rounded to the nearest integer
// and clamped to 0..255 (pixels: its preprocessing is images.None).
func (m *Model) Run(endpoint string, x []float32, n int) (out []float32, err error) {
	ep, err := m.Endpoint(endpoint)
	if err != nil {
		return nil, err
	}
	per := m.h * m.w * m.c
	if n <= 0 || len(x) != n*per {
		return nil, fmt.Errorf("backbone %s: endpoint %s: input has %d values, want n×%d×%d×%d = %d for n=%d",
			m.Dir, endpoint, len(x), m.h, m.w, m.c, n*per, n)
	}
	var in *tf.Tensor
	if ep.uint8 {
		in, err = uint8Tensor(x, int64(n), int64(m.h), int64(m.w), int64(m.c))
	} else {
		in, err = tensors.FromFloat32(x, int64(n), int64(m.h), int64(m.w), int64(m.c))
	}
	if err != nil {
		return nil, fmt.Errorf("backbone %s: %w", m.Dir, err)
	}
	if err := m.Ready(); err != nil {
		return nil, err
	}
	res, err := m.sess.Run(map[tf.Output]*tf.Tensor{ep.in: in}, []tf.Output{ep.out}, nil)
	if err != nil {
		return nil, fmt.Errorf("backbone %s: endpoint %s: %w", m.Dir, endpoint, err)
	}
	out, err = tensors.Float32s(res[0])
	if err != nil {
		return nil, fmt.Errorf("backbone %s: endpoint %s: %w", m.Dir, endpoint, err)
	}
	if len(out) != n*ep.Size() {
		return nil, fmt.Errorf("backbone %s: endpoint %s returned %d values, want %d", m.Dir, endpoint, len(out), n*ep.Size())
	}
	return out, nil
}

// RunBatch is Run on batches of exactly batch images: x holds n images,
// placed at positions of batches whose other positions are zeros (their
// outputs are dropped). TensorFlow's kernels may sum in another order for
// another batch size, so running every batch at one size gives each image
// the same bits whatever else was in its batch, but only where the image
// sits at an equivalent position: on CPUs without oneDNN's custom ops
// (AVX2 only) Eigen's kernels treat the last rows of some batch shapes
// apart (MobileNet at batch 8: positions 6 and 7 differ from 0-5 in the
// low bits; the tiny test model at batch 2: position 1). RunBatch places
// images only at the positions that give an image the bits of position 0
// (see slots), so an image's features do not depend on how its batch was
// filled: which images a cache already held, which shard computed them,
// one image or a folder.
func (m *Model) RunBatch(endpoint string, x []float32, n, batch int) ([]float32, error) {
	ep, err := m.Endpoint(endpoint)
	if err != nil {
		return nil, err
	}
	per := m.h * m.w * m.c
	if n <= 0 || batch <= 0 || len(x) != n*per {
		return nil, fmt.Errorf("backbone %s: endpoint %s: input has %d values for %d images at batch %d, want n×%d×%d×%d = %d",
			m.Dir, endpoint, len(x), n, batch, m.h, m.w, m.c, n*per)
	}
	slots, err := m.slots(ep, endpoint, batch)
	if err != nil {
		return nil, err
	}
	if n == batch && len(slots) == batch { // every position alike: as is
		return m.Run(endpoint, x, n)
	}
	size := ep.Size()
	out := make([]float32, 0, n*size)
	padded := make([]float32, batch*per)
	for done := 0; done < n; {
		clear(padded)
		k := min(len(slots), n-done)
		for j, p := range slots[:k] {
			copy(padded[p*per:(p+1)*per], x[(done+j)*per:(done+j+1)*per])
		}
		res, err := m.Run(endpoint, padded, batch)
		if err != nil {
			return nil, err
		}
		for _, p := range slots[:k] {
			out = append(out, res[p*size:(p+1)*size]...)
		}
		done += k
	}
	return out, nil
}

// slotKey names a probe of slots: an endpoint at a batch size.
type slotKey struct {
	endpoint string
	batch    int
}

// slots returns the positions of a batch of batch images at which an image
// gets, through endpoint, the bits it gets at position 0 (position 0
// first). It finds them once per endpoint and batch size, from one run of
// a batch of copies of one fixed image: the rows equal to row 0 are the
// positions a kernel treats alike. Which positions those are depends only
// on shapes, the CPU and TensorFlow's build, never on the values, so every
// process on the machine finds the same (all of them on AVX-512 machines,
// where oneDNN's kernels are on).
func (m *Model) slots(ep *Endpoint, endpoint string, batch int) ([]int, error) {
	m.slotMu.Lock()
	defer m.slotMu.Unlock()
	k := slotKey{endpoint, batch}
	if s, ok := m.slotsFor[k]; ok {
		return s, nil
	}
	per := m.h * m.w * m.c
	x := make([]float32, batch*per)
	for i := range per { // a fixed image with values spread over [-1, 1)
		x[i] = float32((i*7919)%2000)/1000 - 1
	}
	for p := 1; p < batch; p++ {
		copy(x[p*per:(p+1)*per], x[:per])
	}
	res, err := m.Run(endpoint, x, batch)
	if err != nil {
		return nil, err
	}
	size := ep.Size()
	s := []int{0}
	for p := 1; p < batch; p++ {
		if slices.Equal(res[p*size:(p+1)*size], res[:size]) {
			s = append(s, p)
		}
	}
	if m.slotsFor == nil {
		m.slotsFor = map[slotKey][]int{}
	}
	m.slotsFor[k] = s
	return s, nil
}

// uint8Tensor is x, rounded and clamped to 0..255, as a uint8 tensor of
// the given shape.
func uint8Tensor(x []float32, shape ...int64) (*tf.Tensor, error) {
	b := make([]uint8, len(x))
	for i, v := range x {
		b[i] = uint8(math.Round(float64(min(max(v, 0), 255))))
	}
	t, err := tf.NewTensor(b)
	if err != nil {
		return nil, err
	}
	if err := t.Reshape(shape); err != nil {
		return nil, err
	}
	return t, nil
}

// Fingerprint is the sha256, in hex, of the SavedModel's fingerprint.pb,
// which TensorFlow writes from the graph, signatures and checkpoint: a
// re-export with any change gets a new one. A SavedModel written before
// TensorFlow wrote fingerprint.pb gets FilesFingerprint.
func Fingerprint(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, tfsession.FingerprintFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(dir, tfsession.GraphFile)); serr == nil {
			return FilesFingerprint(dir)
		}
	}
	if err != nil {
		return "", fmt.Errorf("backbone %s: %w (re-export it)", dir, err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// ReadMetadata reads and checks dir/metadata.json without loading the model,
// so callers can validate a config cheaply.
func ReadMetadata(dir string) (Metadata, error) {
	meta, err := readMetadata(dir)
	if err != nil {
		return meta, fmt.Errorf("backbone %s: %w", dir, err)
	}
	return meta, nil
}

func readMetadata(dir string) (Metadata, error) {
	var meta Metadata
	path := filepath.Join(dir, "metadata.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Stat(dir); derr != nil {
			return meta, fmt.Errorf("no such folder; %s", ExportHint)
		}
		return meta, fmt.Errorf("no metadata.json: not a model exported by scripts/export_backbone.py; %s\n"+
			"  A SavedModel from model.export() or tf.saved_model.save loads without one where the config says how: backbone.preprocess (%s), and backbone.endpoint naming a signature",
			ExportHint, strings.Join(PreprocessModes, ", "))
	}
	if err != nil {
		return meta, err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return meta, fmt.Errorf("%s: %w", path, err)
	}
	if meta.Format != Format {
		return meta, fmt.Errorf("%s: format %q, want %q; re-export with scripts/export_backbone.py", path, meta.Format, Format)
	}
	if len(meta.Endpoints) == 0 {
		return meta, fmt.Errorf("%s: no endpoints", path)
	}
	for name, info := range meta.Endpoints { // one signature per endpoint, named after it
		info.signature, info.inputKey, info.dtype = name, meta.Input.SignatureKey, "float32"
		meta.Endpoints[name] = info
	}
	if _, _, _, err := meta.inputSize(); err != nil {
		return meta, err
	}
	return meta, nil
}

// inputSize checks the metadata's input contract and returns H, W, C.
func (meta Metadata) inputSize() (h, w, c int, err error) {
	in := meta.Input
	s := fromJSONShape(in.Shape)
	if (in.DType != "float32" && !(meta.FromSignatures && in.DType == "uint8")) || in.Layout != "NHWC" || len(s) != 4 || s[0] != -1 || s[1] <= 0 || s[2] <= 0 || s[3] != 3 {
		return 0, 0, 0, fmt.Errorf("metadata.json input is %s %s %v, want float32 NHWC [null, H, W, 3]", in.DType, in.Layout, s)
	}
	if in.SignatureKey == "" {
		return 0, 0, 0, errors.New("metadata.json input has no signature_key")
	}
	return int(s[1]), int(s[2]), int(s[3]), nil
}

// ReadMetaGraph parses dir's saved_model.pb and returns its "serve" meta
// graph (graph, function library, signatures, saver). tfgo's loader does
// not expose it, so we read the same file the C loader reads.
func ReadMetaGraph(dir string) (*corepb.MetaGraphDef, error) {
	path := filepath.Join(dir, tfsession.GraphFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s: not a SavedModel; %s", tfsession.GraphFile, ExportHint)
	}
	if err != nil {
		return nil, err
	}
	var sm corepb.SavedModel
	if err := proto.Unmarshal(b, &sm); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, mg := range sm.GetMetaGraphs() {
		if slices.Contains(mg.GetMetaInfoDef().GetTags(), Tag) {
			return mg, nil
		}
	}
	return nil, fmt.Errorf("%s has no meta graph tagged %q", path, Tag)
}

// readSignatures returns the signatures of dir's "serve" meta graph.
func readSignatures(dir string) (map[string]*corepb.SignatureDef, error) {
	mg, err := ReadMetaGraph(dir)
	if err != nil {
		return nil, err
	}
	return mg.GetSignatureDef(), nil
}

func dims(s *shapepb.TensorShapeProto) []int64 {
	if s.GetUnknownRank() {
		return nil
	}
	d := make([]int64, len(s.GetDim()))
	for i, x := range s.GetDim() {
		d[i] = x.GetSize()
	}
	return d
}

// fromJSONShape turns [null, 7, 7, 512] into [-1 7 7 512].
func fromJSONShape(s []*int64) []int64 {
	d := make([]int64, len(s))
	for i, x := range s {
		d[i] = -1
		if x != nil {
			d[i] = *x
		}
	}
	return d
}

func keys[V any](m map[string]V) string {
	k := make([]string, 0, len(m))
	for n := range m {
		if !strings.HasPrefix(n, "__") {
			k = append(k, n)
		}
	}
	slices.Sort(k)
	return "[" + strings.Join(k, ", ") + "]"
}
