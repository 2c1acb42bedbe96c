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
package features

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"

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
	keyFile := filepath.Join(s.Dir, "key.json")
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		b, _ := json.MarshalIndent(k, "", "  ")
		if err := fsutil.WriteFile(keyFile, append(b, '\n')); err != nil {
			return nil, fmt.Errorf("features: %w", err)
		}
	}
	return s, nil
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
	stream := images.Stream(ctx, paths, images.StreamOptions{
		H: h, W: w, Resize: s.Key.Resize, Mode: s.Key.Preprocess, Divide255: s.Key.Divide255,
		BatchSize: s.Key.BatchSize, Workers: opts.Workers, SkipBad: opts.SkipBad,
	})
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
