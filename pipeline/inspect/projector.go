package inspect

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/plot"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// Files of a Projector folder, as TensorBoard's projector plugin reads them
// from a run's log folder (Keras' TensorBoard callback writes its
// embeddings into the train/ folder the same way).
const (
	ProjectorConfig   = "projector_config.pbtxt"
	ProjectorTensor   = "projector_tensor.f32"   // float32 rows, little-endian, no header
	ProjectorMetadata = "projector_metadata.tsv" // a header, then class and path per row
	ProjectorSprite   = "projector_sprite.png"   // thumbnails in rows, left to right
)

// maxSprite is the largest sprite side the Projector accepts.
const maxSprite = 8192

// WriteProjector writes the features of examples idx into dir as a
// TensorBoard Projector embedding named name: the unit feature rows, a
// metadata TSV (class, path), a sprite of thumbnails, and the
// projector_config.pbtxt naming them. `tensorboard --logdir` above dir then
// shows them in 3-D (PCA, t-SNE, UMAP).
func WriteProjector(dir, name string, sp *Space, examples []dataset.Example, idx []int) error {
	return writeProjector(dir, name, sp, examples, idx, nil)
}

// writeProjector is WriteProjector with the sprite's images loaded by
// thumbs (nil: images.Thumb).
func writeProjector(dir, name string, sp *Space, examples []dataset.Example, idx []int, thumbs images.Thumbs) error {
	if len(idx) == 0 {
		return fmt.Errorf("inspect: projector %s: no images", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("inspect: projector: %w", err)
	}
	var tensor bytes.Buffer
	tensor.Grow(4 * len(idx) * sp.Dim)
	for _, i := range idx {
		binary.Write(&tensor, binary.LittleEndian, sp.Row(i))
	}
	if err := update(filepath.Join(dir, rundir.ProjectorTensor), tensor.Bytes()); err != nil {
		return err
	}
	var meta strings.Builder
	meta.WriteString("class\tpath\n")
	for _, i := range idx {
		fmt.Fprintf(&meta, "%s\t%s\n", tsv(examples[i].Class), tsv(filepath.ToSlash(examples[i].Path)))
	}
	if err := update(filepath.Join(dir, rundir.ProjectorMetadata), []byte(meta.String())); err != nil {
		return err
	}
	side := int(math.Ceil(math.Sqrt(float64(len(idx)))))
	tile := min(48, maxSprite/side)
	if tile < 1 {
		return fmt.Errorf("inspect: projector %s: %d images do not fit a %d-pixel sprite", dir, len(idx), maxSprite)
	}
	paths := make([]string, len(idx))
	for j, i := range idx {
		paths[j] = examples[i].Path
	}
	if err := Sprite(filepath.Join(dir, rundir.ProjectorSprite), paths, tile, thumbs); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`embeddings {
  tensor_name: %q
  tensor_path: %q
  tensor_shape: %d
  tensor_shape: %d
  metadata_path: %q
  sprite {
    image_path: %q
    single_image_dim: %d
    single_image_dim: %d
  }
}
`, name, rundir.ProjectorTensor, len(idx), sp.Dim, rundir.ProjectorMetadata, rundir.ProjectorSprite, tile, tile)
	return update(filepath.Join(dir, rundir.ProjectorConfig), []byte(cfg))
}

// update writes b to path atomically unless the file holds b already: a
// rerun of a finished run leaves its TensorBoard folder as it was.
func update(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := fsutil.WriteFile(path, b); err != nil {
		return fmt.Errorf("inspect: projector: %w", err)
	}
	return nil
}

// tsv makes s one TSV cell: tabs and line breaks become spaces.
func tsv(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

// Sprite writes the images at paths as tile×tile thumbnails (nearest
// neighbour, loaded by thumbs; nil: images.Thumb), in rows of
// ceil(sqrt(n)), into one PNG: the Projector's sprite.
func Sprite(path string, paths []string, tile int, thumbs images.Thumbs) error {
	if thumbs == nil {
		thumbs = images.Thumb
	}
	side := int(math.Ceil(math.Sqrt(float64(len(paths)))))
	img := image.NewRGBA(image.Rect(0, 0, side*tile, side*tile))
	for k, p := range paths {
		t, err := thumbs(p, tile)
		if err != nil {
			return fmt.Errorf("inspect: sprite %s: %w", path, err)
		}
		x0, y0 := (k%side)*tile, (k/side)*tile
		for y := range t.H {
			for x := range t.W {
				s := 3 * (y*t.W + x)
				img.SetRGBA(x0+x, y0+y, color.RGBA{t.Pix[s], t.Pix[s+1], t.Pix[s+2], 0xff})
			}
		}
	}
	var b bytes.Buffer
	if err := plot.EncodePNG(&b, img); err != nil {
		return fmt.Errorf("inspect: sprite %s: %w", path, err)
	}
	return update(path, b.Bytes())
}

// PCA returns the rows idx of sp projected on their first two principal
// components (centred; found by power iteration with a seeded start),
// as x and y coordinates.
func PCA(sp *Space, idx []int, seed int64) (xs, ys []float64) {
	d := sp.Dim
	mean := make([]float64, d)
	for _, i := range idx {
		for j, v := range sp.Row(i) {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(max(len(idx), 1))
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x706361))
	var comps [][]float64
	proj := func(v []float64) []float64 { // X v, X centred
		out := make([]float64, len(idx))
		for k, i := range idx {
			var s float64
			for j, x := range sp.Row(i) {
				s += (float64(x) - mean[j]) * v[j]
			}
			out[k] = s
		}
		return out
	}
	for range 2 {
		v := make([]float64, d)
		for j := range v {
			v[j] = r.NormFloat64()
		}
		for range 20 {
			for _, c := range comps { // deflate: stay orthogonal to earlier components
				s := 0.0
				for j := range v {
					s += v[j] * c[j]
				}
				for j := range v {
					v[j] -= s * c[j]
				}
			}
			normalize(v)
			xv := proj(v)
			w := make([]float64, d) // Xᵀ X v
			for k, i := range idx {
				for j, x := range sp.Row(i) {
					w[j] += (float64(x) - mean[j]) * xv[k]
				}
			}
			v = w
		}
		for _, c := range comps {
			s := 0.0
			for j := range v {
				s += v[j] * c[j]
			}
			for j := range v {
				v[j] -= s * c[j]
			}
		}
		normalize(v)
		comps = append(comps, v)
	}
	return proj(comps[0]), proj(comps[1])
}

func normalize(v []float64) {
	var s float64
	for _, x := range v {
		s += x * x
	}
	if s == 0 {
		return
	}
	s = 1 / math.Sqrt(s)
	for j := range v {
		v[j] *= s
	}
}
