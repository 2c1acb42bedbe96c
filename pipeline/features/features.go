// Package features runs a frozen backbone once per image and caches the
// result on disk, so training (any number of epochs, any number of top
// configs) never runs the backbone again.
//
// A cache is a folder per backbone setting, cache/features/<key>/, where key
// hashes everything that changes a feature: the model's weights and graph
// fingerprints, the endpoint, the input size, resize method, preprocessing,
// the notebook's ÷255 option, the precision the backbone computes in and
// TensorFlow's version (its kernels make the bits). Inside it, one raw float32 file per image,
// named by the sha256 of the image's bytes: a changed image misses, a moved
// or renamed one hits. key.json in the folder says what the key stands for.
//
// Views of the images (augmented training views, test-time augmentation's
// flips and crops; package augment) have folders of their own, keyed by
// the same setting plus what draws the views (Store.Views), with one file
// per image and view, named by the image's hash and the view's index.
package features

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/gotransfer/gotransfer/pipeline/augment"
	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/cache"
	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/num"
	"github.com/gotransfer/gotransfer/pipeline/progress"
)

// version changes when the cache layout or feature computation changes
// (2: checksummed entries, batches always full; 3: images only at batch
// positions that compute position 0's bits, see backbone.RunBatch).
const version = 3

// Key is what a cached feature depends on, besides the image's bytes.
type Key struct {
	Version      int     `json:"version"`
	Architecture string  `json:"architecture"`
	Weights      string  `json:"weights_sha256"`
	Graph        string  `json:"savedmodel_fingerprint_sha256"`
	Endpoint     string  `json:"endpoint"`
	Shape        []int64 `json:"shape"`
	Size         [2]int  `json:"size"`
	Resize       string  `json:"resize"`
	Preprocess   string  `json:"preprocess"`
	Divide255    bool    `json:"divide_by_255"`
	// BatchSize is the batch the backbone runs on: TensorFlow's kernels
	// may sum in another order for another batch size (MobileNet's
	// features move by up to 1e-5), so it changes the bits. Batches are
	// always full (the last is padded), so nothing else about how the
	// cache was filled does.
	BatchSize  int    `json:"batch_size"`
	Precision  string `json:"precision"`  // float32 or bfloat16: never mixed in one folder
	TensorFlow string `json:"tensorflow"` // the runtime's version
	Source     string `json:"savedmodel"` // informational: where it was first computed from
	// Views, for a store of views (see Store.Views), names what draws
	// them (augment.Viewer.Key); empty for the images themselves, whose
	// key, and folder, it leaves as they were before views existed.
	Views string `json:"views,omitempty"`
}

// Hash is the folder name for k (everything but Source).
func (k Key) Hash() string {
	k.Source = ""
	b, _ := json.Marshal(k)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Store is the cache for one backbone setting: cache/features/<key hash>/.
type Store struct {
	cache.Store
	Key   Key
	Dim   int // values per image
	model *backbone.Model
	// viewer, for a store of views, gives each view's transform; its
	// entries are named by ViewHash.
	viewer augment.Viewer
}

// Open returns the store for features of model's endpoint computed from
// images resized with resize (and divided by 255 after preprocessing if
// divide255, the notebook's bug), batch images per backbone call. Input
// size and preprocessing come from the model's metadata, the precision from
// how it was loaded.
func Open(cacheDir string, model *backbone.Model, endpoint, resize string, divide255 bool, batch int) (*Store, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("features: batch size %d: must be positive", batch)
	}
	ep, err := model.Endpoint(endpoint)
	if err != nil {
		return nil, err
	}
	fp, err := backbone.Fingerprint(model.Dir)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	h, w, _ := model.InputSize()
	k := Key{
		Version:      version,
		Architecture: model.Meta.Architecture,
		Weights:      model.Meta.Weights.SHA256,
		Graph:        fp,
		Endpoint:     endpoint,
		Shape:        ep.Shape,
		Size:         [2]int{h, w},
		Resize:       resize,
		Preprocess:   model.Meta.Input.Preprocessing.Mode,
		Divide255:    divide255,
		BatchSize:    batch,
		Precision:    model.Precision.String(),
		TensorFlow:   tf.Version(),
		Source:       model.Dir,
	}
	s := &Store{Store: cache.Store{Dir: filepath.Join(cacheDir, k.Hash()), Ext: ".f32", Size: 4 * ep.Size()}, Key: k, Dim: ep.Size(), model: model}
	if err := s.writeKey(); err != nil {
		return nil, err
	}
	return s, nil
}

// writeKey writes key.json into a new store's folder.
func (s *Store) writeKey() error {
	keyFile := filepath.Join(s.Dir, "key.json")
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		b, _ := json.MarshalIndent(s.Key, "", "  ")
		if err := fsutil.WriteFile(keyFile, append(b, '\n')); err != nil {
			return fmt.Errorf("features: %w", err)
		}
	}
	return nil
}

// Views returns the store of the views v gives of the images (augmented
// training views, test-time augmentation's flips and crops): s's setting
// plus v's key, in a folder of its own beside s's, one entry per image
// and view, named by ViewHash. Its Extract computes the views' features
// from the decoded images through augment.Apply; a view that is the
// image itself (v.Identity) is read from s.
func (s *Store) Views(v augment.Viewer) (*Store, error) {
	k := s.Key
	k.Views = v.Key()
	vs := &Store{Store: s.Store, Key: k, Dim: s.Dim, model: s.model, viewer: v}
	vs.Dir = filepath.Join(filepath.Dir(s.Dir), k.Hash())
	if err := vs.writeKey(); err != nil {
		return nil, err
	}
	return vs, nil
}

// ViewHash names the entry of view v of the image whose content hash is
// content.
func ViewHash(content string, v int) string { return content + "-v" + strconv.Itoa(v) }

// splitView is ViewHash's inverse.
func splitView(h string) (content string, v int, err error) {
	i := strings.LastIndex(h, "-v")
	if i < 0 {
		return "", 0, fmt.Errorf("features: %q names no view", h)
	}
	v, err = strconv.Atoi(h[i+2:])
	return h[:i], v, err
}

// ViewExamples lists, for a store of views, the entries of examples'
// views: each example once per view of views that is not the image
// itself, its Hash the view's (ViewHash), for Extract.
func (s *Store) ViewExamples(examples []dataset.Example, views []int) []dataset.Example {
	var out []dataset.Example
	for _, e := range examples {
		for _, v := range views {
			if !s.viewer.Identity(v) {
				e := e
				e.Hash = ViewHash(e.Hash, v)
				out = append(out, e)
			}
		}
	}
	return out
}

// Options control Extract.
type Options struct {
	Workers int  // decoding goroutines (0: one per CPU)
	SkipBad bool // skip undecodable images (reported) instead of failing
	// Progress receives a progress bar (terminal) or log lines; nil: silent.
	Progress io.Writer
}

// Report says what Extract did.
type Report struct {
	Images   int              // examples asked for
	Hits     int              // already cached
	Bad      int              // cached but corrupt: recomputed (counted in Computed too)
	Computed int              // run through the backbone now
	Skipped  []images.Skipped // undecodable, skipped (SkipBad)
	Seconds  float64          // wall time of the backbone work
	Rate     float64          // computed images per second
}

// Extract makes sure every example has cached features, running the
// backbone only on the images that miss. Features are written one file per
// image as each batch completes, so an interrupted extraction keeps what it
// did and a rerun continues from there.
func (s *Store) Extract(ctx context.Context, examples []dataset.Example, opts Options) (*Report, error) {
	r := &Report{Images: len(examples)}
	todo, hits, bad, err := s.Missing(examples)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	r.Hits, r.Bad = hits, bad
	if len(todo) == 0 {
		return r, nil
	}
	h, w, c := s.model.InputSize()
	paths := make([]string, len(todo))
	for i, e := range todo {
		paths[i] = e.Path
	}
	bar := progress.New(opts.Progress, len(todo), "features "+s.Key.Endpoint, "images")
	start := time.Now()
	so := images.StreamOptions{
		H: h, W: w, Resize: s.Key.Resize, Mode: s.Key.Preprocess, Divide255: s.Key.Divide255,
		BatchSize: s.Key.BatchSize, Workers: opts.Workers, SkipBad: opts.SkipBad,
	}
	if s.viewer != nil {
		so.Transform = func(i int, src image.Image, dst *images.RGB) error {
			content, v, err := splitView(todo[i].Hash)
			if err != nil {
				return err
			}
			return augment.Apply(dst, src, s.viewer.View(content, v, src.Bounds()), h, w, s.Key.Resize)
		}
	}
	stream := images.Stream(ctx, paths, so)
	for b, err := range stream {
		if err != nil {
			bar.Finish()
			return r, fmt.Errorf("features: %w", err)
		}
		r.Skipped = append(r.Skipped, b.Skipped...)
		if b.N == 0 {
			continue
		}
		if s.cachedSince(todo, b.Index) {
			r.Hits += b.N
			bar.Add(b.N + len(b.Skipped))
			continue
		}
		out, err := s.model.RunBatch(s.Key.Endpoint, b.X[:b.N*h*w*c], b.N, s.Key.BatchSize)
		if err != nil {
			bar.Finish()
			return r, fmt.Errorf("features: %w", err)
		}
		for j, i := range b.Index {
			row := out[j*s.Dim : (j+1)*s.Dim]
			if !num.AllFinite(row) {
				bar.Finish()
				return r, fmt.Errorf("features: backbone %s gave non-finite values for %s: its weights may be broken; re-export it (%s)",
					s.model.Dir, todo[i].Path, backbone.ExportHint)
			}
			if err := s.Put(todo[i].Hash, asBytes(row)); err != nil {
				bar.Finish()
				return r, fmt.Errorf("features: %w", err)
			}
		}
		r.Computed += b.N
		bar.Add(b.N + len(b.Skipped))
	}
	bar.Finish()
	r.Seconds = time.Since(start).Seconds()
	if r.Seconds > 0 {
		r.Rate = float64(r.Computed) / r.Seconds
	}
	return r, nil
}

// cachedSince reports whether every image of a batch (todo[idx]) has a
// good entry by now: another process (a shard running twice, the same
// image in two shards) wrote them since Extract listed what was missing or
// bad. Skipping such a batch keeps the work that processes sharing a cache
// duplicate to what they had in flight.
func (s *Store) cachedSince(todo []dataset.Example, idx []int) bool {
	for _, i := range idx {
		if !s.Valid(todo[i].Hash) {
			return false
		}
	}
	return true
}

// Split is a cached split for training: it reads each batch's rows from
// the cache, so memory holds one batch, not the split.
type Split struct {
	cache.Examples
	store *Store
}

// Split returns the examples that have cached features (skipped images are
// left out) as training data.
func (s *Store) Split(examples []dataset.Example) *Split {
	return &Split{Examples: s.Cached(examples), store: s}
}

// Read fills x with the features of examples idx, one row each.
func (d *Split) Read(idx []int, x []float32) error {
	dim := d.store.Dim
	if len(x) != len(idx)*dim {
		return fmt.Errorf("features: buffer of %d values for %d rows of %d", len(x), len(idx), dim)
	}
	for j, i := range idx {
		if err := d.store.Get(d.Examples[i], asBytes(x[j*dim:(j+1)*dim])); err != nil {
			return fmt.Errorf("features: %w", err)
		}
	}
	return nil
}

// ViewSplit is a split read through views of each image (the image
// itself from the plain store, the others from a store of views): one
// view drawn per image each epoch (Augmented), one fixed view (Fixed), or
// the mean of several (Mean).
type ViewSplit struct {
	cache.Examples
	plain, views *Store
	k            int   // Augmented: views drawn from, 0..k-1
	seed         int64 // Augmented: what the draws derive from, with the epoch
	pick         []int // the view each example reads (Augmented, Fixed)
	mean         []int // Mean: the views averaged
}

// Augmented returns examples (those plain has: skipped images are left
// out) as training data that reads one of views 0..k-1 of each image
// (view 0 the image itself), drawn anew each epoch (Epoch) from seed and
// the epoch; before the first Epoch, view 0.
func (s *Store) Augmented(plain *Store, examples []dataset.Example, k int, seed int64) *ViewSplit {
	ex := plain.Cached(examples)
	return &ViewSplit{Examples: ex, plain: plain, views: s, k: k, seed: seed, pick: make([]int, len(ex))}
}

// Fixed returns examples as data that reads view v of each image.
func (s *Store) Fixed(plain *Store, examples []dataset.Example, v int) *ViewSplit {
	ex := plain.Cached(examples)
	pick := make([]int, len(ex))
	for i := range pick {
		pick[i] = v
	}
	return &ViewSplit{Examples: ex, plain: plain, views: s, pick: pick}
}

// Mean returns examples as data whose rows are the mean of views of each
// image.
func (s *Store) Mean(plain *Store, examples []dataset.Example, views []int) *ViewSplit {
	return &ViewSplit{Examples: plain.Cached(examples), plain: plain, views: s, mean: views}
}

// Epoch draws the view each example reads in epoch epoch (1-based) of an
// Augmented split: seeded by the split's seed and the epoch only, so a
// resumed run reads the same views.
func (d *ViewSplit) Epoch(epoch int) {
	if d.k == 0 {
		return
	}
	augment.Pick(d.pick, d.k, d.seed, epoch)
}

// Read fills x with the rows of examples idx: each one's view, or the
// mean of its views.
func (d *ViewSplit) Read(idx []int, x []float32) error {
	dim := d.plain.Dim
	if len(x) != len(idx)*dim {
		return fmt.Errorf("features: buffer of %d values for %d rows of %d", len(x), len(idx), dim)
	}
	var row []float32
	if d.mean != nil {
		row = make([]float32, dim)
	}
	for j, i := range idx {
		out := x[j*dim : (j+1)*dim]
		if d.mean == nil {
			if err := d.read(i, d.pick[i], out); err != nil {
				return err
			}
			continue
		}
		clear(out)
		for _, v := range d.mean {
			if err := d.read(i, v, row); err != nil {
				return err
			}
			for k, r := range row {
				out[k] += r
			}
		}
		n := float32(len(d.mean))
		for k := range out {
			out[k] /= n
		}
	}
	return nil
}

// read reads view v of example i into row.
func (d *ViewSplit) read(i, v int, row []float32) error {
	e := d.Examples[i]
	st := d.plain
	if !d.views.viewer.Identity(v) {
		st, e.Hash = d.views, ViewHash(e.Hash, v)
	}
	if err := st.Get(e, asBytes(row)); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	return nil
}

// asBytes views float32s as their bytes (host order; the cache is not
// meant to move between machines of different endianness).
func asBytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// Table is the cached features of a set of examples, held in memory: for
// runs in one process that train many times on the same features (a
// sweep's trials), read from the cache once.
type Table struct {
	dim  int
	rows map[string][]float32 // by content hash
}

// Load reads the features of examples (each entry verified, as Get does)
// into a Table; an example without cached features is an error.
func (s *Store) Load(examples []dataset.Example) (*Table, error) {
	t := &Table{dim: s.Dim, rows: make(map[string][]float32, len(examples))}
	for _, e := range examples {
		if _, ok := t.rows[e.Hash]; ok {
			continue
		}
		row := make([]float32, s.Dim)
		if err := s.Get(e, asBytes(row)); err != nil {
			return nil, fmt.Errorf("features: %w", err)
		}
		t.rows[e.Hash] = row
	}
	return t, nil
}

// Split returns examples as training data read from t (every example must
// be one t was loaded with).
func (t *Table) Split(examples []dataset.Example) *TableSplit {
	return &TableSplit{Examples: cache.Examples(examples), table: t}
}

// TableSplit is a split whose features a Table holds.
type TableSplit struct {
	cache.Examples
	table *Table
}

// Read fills x with the features of examples idx, one row each.
func (d *TableSplit) Read(idx []int, x []float32) error {
	dim := d.table.dim
	if len(x) != len(idx)*dim {
		return fmt.Errorf("features: buffer of %d values for %d rows of %d", len(x), len(idx), dim)
	}
	for j, i := range idx {
		row, ok := d.table.rows[d.Examples[i].Hash]
		if !ok {
			return fmt.Errorf("features: %s is not in the table", d.Examples[i].Path)
		}
		copy(x[j*dim:(j+1)*dim], row)
	}
	return nil
}
