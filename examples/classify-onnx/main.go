// Command classify-onnx prints the most probable classes of image files,
// using a classifier that gotransfer trained and exported as ONNX
// (pipeline export -format onnx):
//
//	go run ./examples/classify-onnx -k 2 /tmp/fashion-classifier/model.onnx photo.png ...
//
// It needs nothing from gotransfer and no TensorFlow: only
// github.com/yalue/onnxruntime_go and onnxruntime's shared library (about
// 22 MB; scripts/setup.sh installs the one from the pinned onnxruntime
// wheel, 1.24.1, the C API this onnxruntime_go version is built for, as
// /usr/local/lib/libonnxruntime.so). -lib or $ONNXRUNTIME_LIB name another.
// Copy it into your own program.
//
// The ONNX file takes `images`, float32 [N, H, W, 3], RGB 0..255 at the
// model's input size: preprocessing, the backbone and the trained top run
// inside it, but decoding and resizing do not (ONNX has no image decoder),
// so this program does them as `pipeline predict` does: Go's decoders
// (JPEG, PNG, GIF, BMP), nearest-neighbour resizing that picks the pixels
// Pillow's (Keras' default) picks, or bilinear as the model's metadata
// says. The class names come from the file's metadata ("classes").
// JPEG colours are Go's YCbCr conversion, which can differ from libjpeg's
// (what the pipeline uses) by a level in a channel.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"sort"

	ort "github.com/yalue/onnxruntime_go"
	_ "golang.org/x/image/bmp"
	"golang.org/x/image/draw"
)

func main() {
	lib := flag.String("lib", envOr("ONNXRUNTIME_LIB", "libonnxruntime.so"), "onnxruntime's shared library")
	k := flag.Int("k", 5, "classes to print per image")
	flag.Parse()
	if flag.NArg() < 2 {
		fmt.Fprintln(os.Stderr, "usage: classify-onnx [-k N] [-lib libonnxruntime.so] MODEL.onnx IMAGE...")
		os.Exit(2)
	}
	if err := run(*lib, *k, flag.Arg(0), flag.Args()[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "classify-onnx:", err)
		os.Exit(1)
	}
}

func run(lib string, k int, model string, paths []string) error {
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		return fmt.Errorf("loading onnxruntime from %s: %w (run scripts/setup.sh, or pass -lib)", lib, err)
	}
	defer ort.DestroyEnvironment()
	m, err := open(model)
	if err != nil {
		return err
	}
	defer m.session.Destroy()
	for _, path := range paths {
		probs, err := m.classify(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		// Most probable first; equal probabilities in label order, as
		// TensorFlow's TopK orders them.
		idx := make([]int, len(probs))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
		fmt.Printf("%s:\n", path)
		for _, i := range idx[:min(k, len(idx))] {
			fmt.Printf("  %6.2f%%  %s\n", 100*probs[i], m.classes[i])
		}
	}
	return nil
}

// model is an open ONNX export.
type model struct {
	session *ort.DynamicAdvancedSession
	classes []string
	h, w    int
	resize  string
}

func open(path string) (*model, error) {
	meta, err := ort.GetModelMetadata(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer meta.Destroy()
	m := &model{resize: "nearest"}
	classes, ok, err := meta.LookupCustomMetadataMap("classes")
	if err != nil || !ok {
		return nil, fmt.Errorf("%s: no class names in its metadata (%v): was it written by pipeline export -format onnx?", path, err)
	}
	if err := json.Unmarshal([]byte(classes), &m.classes); err != nil {
		return nil, fmt.Errorf("%s: metadata classes: %w", path, err)
	}
	if r, ok, _ := meta.LookupCustomMetadataMap("resize"); ok {
		m.resize = r
	}
	ins, _, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(ins) != 1 || ins[0].Name != "images" || len(ins[0].Dimensions) != 4 {
		return nil, fmt.Errorf("%s: want one input images [N, H, W, 3], have %v", path, ins)
	}
	m.h, m.w = int(ins[0].Dimensions[1]), int(ins[0].Dimensions[2])
	m.session, err = ort.NewDynamicAdvancedSession(path, []string{"images"}, []string{"probabilities"}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// classify returns the probability of each class for the image file at path.
func (m *model) classify(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	img, _, err := image.Decode(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	in, err := ort.NewTensor(ort.NewShape(1, int64(m.h), int64(m.w), 3), m.pixels(img))
	if err != nil {
		return nil, err
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, int64(len(m.classes))))
	if err != nil {
		return nil, err
	}
	defer out.Destroy()
	if err := m.session.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		return nil, err
	}
	probs := append([]float32(nil), out.GetData()...)
	if len(probs) != len(m.classes) {
		return nil, errors.New("the model's output does not match its class names")
	}
	return probs, nil
}

// pixels is img as RGB 0..255 at the model's input size, HWC.
func (m *model) pixels(img image.Image) []float32 {
	b := img.Bounds()
	at := func(x, y int) (r, g, bl uint8) { // straight RGB, alpha dropped (PIL's convert("RGB"))
		c := image.NewNRGBA(image.Rect(0, 0, 1, 1))
		c.Set(0, 0, img.At(x, y))
		return c.Pix[0], c.Pix[1], c.Pix[2]
	}
	out := make([]float32, 0, m.h*m.w*3)
	if m.resize == "bilinear" && (b.Dx() != m.w || b.Dy() != m.h) {
		src := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := range b.Dy() {
			for x := range b.Dx() {
				r, g, bl := at(b.Min.X+x, b.Min.Y+y)
				p := src.Pix[src.PixOffset(x, y):]
				p[0], p[1], p[2], p[3] = r, g, bl, 0xff
			}
		}
		dst := image.NewRGBA(image.Rect(0, 0, m.w, m.h))
		draw.BiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		for i := 0; i < len(dst.Pix); i += 4 {
			out = append(out, float32(dst.Pix[i]), float32(dst.Pix[i+1]), float32(dst.Pix[i+2]))
		}
		return out
	}
	for _, y := range nearest(b.Dy(), m.h) {
		for _, x := range nearest(b.Dx(), m.w) {
			r, g, bl := at(b.Min.X+x, b.Min.Y+y)
			out = append(out, float32(r), float32(g), float32(bl))
		}
	}
	return out
}

// nearest is, for each of out positions, the source position among in
// that Pillow's nearest-neighbour resize picks: it starts at half a step
// and adds the step, truncating (not floor((i+0.5)·in/out), which differs).
func nearest(in, out int) []int {
	idx := make([]int, out)
	step := float64(in) / float64(out)
	pos := step * 0.5
	for i := range idx {
		idx[i] = min(int(pos), in-1)
		pos += step
	}
	return idx
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
