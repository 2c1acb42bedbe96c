// Package augment makes the views of an image that augmentation trains on
// and that test-time augmentation averages over: a random resized crop of
// the decoded image (torchvision's RandomResizedCrop, its scale and ratio
// ranges), a horizontal flip, a small rotation and brightness, contrast
// and saturation jitter (torchvision's ColorJitter factors), in that
// order, and the fixed flips and centre crops ("scales") of test-time
// augmentation.
//
// A view is fully determined by what draws it (a Spec and the run's seed,
// or a TTA list), the image's content hash and the view's index: the same
// inputs give the same pixels bit for bit, so the backbone features of a
// view are cached like those of the image itself (package features). View
// 0 is always the image itself, as validation and test see it.
//
// This package is the one home of a transform's parameters, their checks
// and their pixels; package config decodes the keys into a Spec, and the
// feature and pixel caches call Apply.
package augment

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gotransfer/gotransfer/pipeline/images"
)

// Spec is the training images' augmentation (the config's augment).
type Spec struct {
	// Views is the number of views per training image, the image itself
	// (view 0) included: views 1..Views-1 are transformed. Each epoch
	// trains on one view per image, drawn anew.
	Views          int
	HorizontalFlip bool  // flip half the views left to right
	Crop           *Crop // random resized crop; nil: off
	// Rotation is the largest rotation in degrees: each view turns by an
	// angle drawn uniformly from [-Rotation, Rotation] (bilinear,
	// corners filled with black); 0: off.
	Rotation float64
	// Brightness, Contrast and Saturation are ColorJitter's: each view's
	// factor is drawn uniformly from [max(0, 1-x), 1+x]; 0: off.
	Brightness, Contrast, Saturation float64
}

// Crop is torchvision's RandomResizedCrop: a part of the image with an
// area of Scale (fractions of the image's area) and an aspect ratio
// (width/height) from Ratio, drawn log-uniformly, resized to the input
// size.
type Crop struct {
	Scale [2]float64
	Ratio [2]float64
}

// DefaultSpec is the augmentation that an augment map's keys left out
// take: 4 views, flipped half the time, nothing else.
func DefaultSpec() *Spec { return &Spec{Views: 4, HorizontalFlip: true} }

// DefaultCrop is torchvision's RandomResizedCrop default: scale [0.08, 1],
// ratio [3/4, 4/3].
func DefaultCrop() *Crop {
	return &Crop{Scale: [2]float64{0.08, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}}
}

// Problem is one bad setting: its key within the augment map (dotted
// below it) and what is wrong.
type Problem struct{ Key, Msg string }

// Check returns the problems of s, each at its key.
func (s *Spec) Check() []Problem {
	var ps []Problem
	if s.Views < 1 {
		ps = append(ps, Problem{"views", fmt.Sprintf("want an integer >= 1 (1: the image itself only), got %d", s.Views)})
	}
	if !(s.Rotation >= 0 && s.Rotation <= 180) {
		ps = append(ps, Problem{"rotation", fmt.Sprintf("want degrees in [0, 180] (the angle is drawn from [-rotation, rotation]), got %v", s.Rotation)})
	}
	for _, j := range []struct {
		key string
		v   float64
	}{{"brightness", s.Brightness}, {"contrast", s.Contrast}, {"saturation", s.Saturation}} {
		if !(j.v >= 0 && j.v <= 1) {
			ps = append(ps, Problem{j.key, fmt.Sprintf("want a number in [0, 1] (the factor is drawn from [1-x, 1+x]), got %v", j.v)})
		}
	}
	if c := s.Crop; c != nil {
		if !(c.Scale[0] > 0 && c.Scale[0] <= c.Scale[1] && c.Scale[1] <= 1) {
			ps = append(ps, Problem{"random_resized_crop.scale", fmt.Sprintf("want [min, max] with 0 < min <= max <= 1 (fractions of the image's area), got [%v, %v]", c.Scale[0], c.Scale[1])})
		}
		if !(c.Ratio[0] > 0 && c.Ratio[0] <= c.Ratio[1] && !math.IsInf(c.Ratio[1], 0)) {
			ps = append(ps, Problem{"random_resized_crop.ratio", fmt.Sprintf("want [min, max] with 0 < min <= max (width/height), got [%v, %v]", c.Ratio[0], c.Ratio[1])})
		}
	}
	if s.Views > 1 && !s.transforms() {
		ps = append(ps, Problem{"views", fmt.Sprintf("%d views, but no transform is on: every view would be the image itself (turn one on, or use views: 1)", s.Views)})
	}
	return ps
}

// String says in words what s does, for reports: "8 views: random
// resized crop (scale 0.6–1, ratio 0.75–1.33), flip, rotation ±10°".
func (s *Spec) String() string {
	var t []string
	if c := s.Crop; c != nil {
		t = append(t, fmt.Sprintf("random resized crop (scale %g–%g, ratio %.3g–%.3g)", c.Scale[0], c.Scale[1], c.Ratio[0], c.Ratio[1]))
	}
	if s.HorizontalFlip {
		t = append(t, "flip")
	}
	if s.Rotation > 0 {
		t = append(t, fmt.Sprintf("rotation ±%g°", s.Rotation))
	}
	for _, j := range []struct {
		name string
		v    float64
	}{{"brightness", s.Brightness}, {"contrast", s.Contrast}, {"saturation", s.Saturation}} {
		if j.v > 0 {
			t = append(t, fmt.Sprintf("%s ±%g", j.name, j.v))
		}
	}
	if len(t) == 0 {
		t = append(t, "the image only")
	}
	return fmt.Sprintf("%d views: %s", s.Views, strings.Join(t, ", "))
}

// transforms reports whether s changes any pixel.
func (s *Spec) transforms() bool {
	return s.HorizontalFlip || s.Crop != nil || s.Rotation != 0 || s.Brightness != 0 || s.Contrast != 0 || s.Saturation != 0
}

// Params is one view's transform, drawn or fixed: what Apply does.
type Params struct {
	Crop  image.Rectangle // the part of the decoded image resized to the input size
	Flip  bool            // left to right, after the resize
	Angle float64         // degrees, counterclockwise, after the flip
	// Colour factors, after the rotation, in this order; 1: unchanged.
	Brightness, Contrast, Saturation float64
}

// Identity is the view that is the image itself, of bounds b.
func Identity(b image.Rectangle) Params {
	return Params{Crop: b, Brightness: 1, Contrast: 1, Saturation: 1}
}

// A Viewer gives the transform of each view of an image: the training
// augmentation's seeded views (Seeded) or test-time augmentation's fixed
// ones (TTA).
type Viewer interface {
	// Key names everything the views depend on besides the image and the
	// view's index, for a cache key.
	Key() string
	// View returns view v of the image whose content hash is content and
	// whose decoded bounds are b.
	View(content string, v int, b image.Rectangle) Params
	// Identity reports whether view v is the image itself (for any
	// image), so that its features are the plain ones.
	Identity(v int) bool
}

// Seeded draws the views of Spec from Seed: view v > 0 of an image from a
// generator seeded by (Seed, content hash, v).
type Seeded struct {
	Spec *Spec
	Seed int64
}

// Key lists the transforms' settings and the seed; Views is left out, so
// that more views keep the ones computed for fewer.
func (s Seeded) Key() string {
	p := s.Spec
	crop := "off"
	if c := p.Crop; c != nil {
		crop = fmt.Sprintf("scale=%v,%v ratio=%v,%v", c.Scale[0], c.Scale[1], c.Ratio[0], c.Ratio[1])
	}
	return fmt.Sprintf("augment v1 seed=%d flip=%t crop=%s rotation=%v brightness=%v contrast=%v saturation=%v",
		s.Seed, p.HorizontalFlip, crop, p.Rotation, p.Brightness, p.Contrast, p.Saturation)
}

// Identity is true for view 0.
func (s Seeded) Identity(v int) bool { return v == 0 }

// View draws view v of the image: each transform that is on draws its
// parameters, in the order Apply applies them.
func (s Seeded) View(content string, v int, b image.Rectangle) Params {
	p := Identity(b)
	if v == 0 {
		return p
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s\x00%d", s.Seed, content, v))
	r := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
	spec := s.Spec
	if spec.Crop != nil {
		p.Crop = spec.Crop.draw(r, b)
	}
	if spec.HorizontalFlip {
		p.Flip = r.IntN(2) == 1
	}
	if spec.Rotation > 0 {
		p.Angle = uniform(r, -spec.Rotation, spec.Rotation)
	}
	p.Brightness = factor(r, spec.Brightness)
	p.Contrast = factor(r, spec.Contrast)
	p.Saturation = factor(r, spec.Saturation)
	return p
}

// factor draws a ColorJitter factor from [max(0, 1-x), 1+x]; 1 when x is
// 0 (nothing drawn).
func factor(r *rand.Rand, x float64) float64 {
	if x == 0 {
		return 1
	}
	return uniform(r, max(0, 1-x), 1+x)
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// draw is torchvision's RandomResizedCrop.get_params on b: ten tries at
// an area and ratio that fit, else the centre crop of the ratio nearest
// the image's.
func (c *Crop) draw(r *rand.Rand, b image.Rectangle) image.Rectangle {
	width, height := b.Dx(), b.Dy()
	area := float64(width * height)
	lr0, lr1 := math.Log(c.Ratio[0]), math.Log(c.Ratio[1])
	for range 10 {
		target := area * uniform(r, c.Scale[0], c.Scale[1])
		aspect := math.Exp(uniform(r, lr0, lr1))
		w := int(math.RoundToEven(math.Sqrt(target * aspect)))
		h := int(math.RoundToEven(math.Sqrt(target / aspect)))
		if 0 < w && w <= width && 0 < h && h <= height {
			y := r.IntN(height - h + 1)
			x := r.IntN(width - w + 1)
			return image.Rect(b.Min.X+x, b.Min.Y+y, b.Min.X+x+w, b.Min.Y+y+h)
		}
	}
	w, h := width, height
	switch in := float64(width) / float64(height); {
	case in < c.Ratio[0]:
		h = int(math.RoundToEven(float64(w) / c.Ratio[0]))
	case in > c.Ratio[1]:
		w = int(math.RoundToEven(float64(h) * c.Ratio[1]))
	}
	x, y := (width-w)/2, (height-h)/2
	return image.Rect(b.Min.X+x, b.Min.Y+y, b.Min.X+x+w, b.Min.Y+y+h)
}

// TTA is test-time augmentation's views: for each of Scales (centre
// crops whose sides are that fraction of the image's, resized to the
// input size; 1: the whole image), the image and, with Flip, its mirror
// image. View 2i is scale i unflipped, 2i+1 flipped (with Flip).
type TTA struct {
	Flip   bool
	Scales []float64
}

// Views is the number of views.
func (t TTA) Views() int {
	if t.Flip {
		return 2 * len(t.Scales)
	}
	return len(t.Scales)
}

// Key lists the views.
func (t TTA) Key() string {
	s := make([]string, len(t.Scales))
	for i, v := range t.Scales {
		s[i] = fmt.Sprint(v)
	}
	return fmt.Sprintf("tta v1 flip=%t scales=%s", t.Flip, strings.Join(s, ","))
}

// String says in words what the views are: "4 views (scales 1, 0.875,
// each flipped too)".
func (t TTA) String() string {
	s := make([]string, len(t.Scales))
	for i, v := range t.Scales {
		s[i] = fmt.Sprint(v)
	}
	views := "scales " + strings.Join(s, ", ")
	if t.Flip {
		views += ", each flipped too"
	}
	return fmt.Sprintf("%d views (%s)", t.Views(), views)
}

func (t TTA) split(v int) (scale float64, flip bool) {
	if t.Flip {
		return t.Scales[v/2], v%2 == 1
	}
	return t.Scales[v], false
}

// Identity reports whether view v is scale 1, unflipped.
func (t TTA) Identity(v int) bool {
	s, f := t.split(v)
	return s == 1 && !f
}

// View returns view v: a centre crop of the scale, flipped or not.
func (t TTA) View(_ string, v int, b image.Rectangle) Params {
	s, f := t.split(v)
	p := Identity(b)
	p.Flip = f
	if s != 1 {
		w := max(1, int(math.RoundToEven(float64(b.Dx())*s)))
		h := max(1, int(math.RoundToEven(float64(b.Dy())*s)))
		x, y := b.Min.X+(b.Dx()-w)/2, b.Min.Y+(b.Dy()-h)/2
		p.Crop = image.Rect(x, y, x+w, y+h)
	}
	return p
}

// CheckScales returns the problem of a TTA scale list, or "".
func CheckScales(scales []float64) string {
	if len(scales) == 0 {
		return "want at least one scale (1: the whole image)"
	}
	for _, s := range scales {
		if !(s > 0 && s <= 1) {
			return fmt.Sprintf("want scales in (0, 1] (the centre crop's side, a fraction of the image's), got %v", s)
		}
	}
	return ""
}

// Apply writes view p of src, resized to h×w with resize (images.Nearest
// or images.Bilinear), into dst: the crop, resized as images.Load
// resizes, then the flip, the rotation and the colour factors.
func Apply(dst *images.RGB, src image.Image, p Params, h, w int, resize string) error {
	part := src
	if p.Crop != src.Bounds() {
		sub, ok := src.(interface {
			SubImage(image.Rectangle) image.Image
		})
		if !ok || !p.Crop.In(src.Bounds()) || p.Crop.Empty() {
			return fmt.Errorf("augment: cannot crop %v from a %T of bounds %v", p.Crop, src, src.Bounds())
		}
		part = sub.SubImage(p.Crop)
	}
	if err := images.Resize(dst, part, h, w, resize); err != nil {
		return err
	}
	Pixels(dst, p)
	return nil
}

// ApplyRGB writes view p of src, an image already resized to its input
// size (a scratch model's cached pixels), into dst at the same size: the
// crop is taken from src and resized back with resize.
func ApplyRGB(dst, src *images.RGB, p Params, resize string) error {
	img := image.NewNRGBA(image.Rect(0, 0, src.W, src.H))
	for i, j := 0, 0; i < len(src.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = src.Pix[i], src.Pix[i+1], src.Pix[i+2], 0xff
	}
	return Apply(dst, img, p, src.H, src.W, resize)
}

// Pick draws, for epoch epoch (1-based), the view among 0..k-1 that each
// of len(pick) images trains on, into pick: seeded by seed and the epoch
// only, so that a resumed run trains on what an uninterrupted one would.
func Pick(pick []int, k int, seed int64, epoch int) {
	r := rand.New(rand.NewPCG(uint64(seed)^pickStream, uint64(epoch)))
	for i := range pick {
		pick[i] = r.IntN(k)
	}
}

// pickStream sets Pick's generator apart from the batch order's
// (train.Order), seeded by the same seed and epoch.
const pickStream = 0x9e3779b97f4a7c15

// Pixels applies p's flip, rotation and colour factors to img in place
// (not its crop, which Apply takes from the decoded image).
func Pixels(img *images.RGB, p Params) {
	if p.Flip {
		flip(img)
	}
	if p.Angle != 0 {
		rotate(img, p.Angle)
	}
	if p.Brightness != 1 || p.Contrast != 1 || p.Saturation != 1 {
		jitter(img, p.Brightness, p.Contrast, p.Saturation)
	}
}

// flip mirrors img left to right.
func flip(img *images.RGB) {
	for y := range img.H {
		row := img.Pix[3*y*img.W : 3*(y+1)*img.W]
		for l, r := 0, img.W-1; l < r; l, r = l+1, r-1 {
			a, b := row[3*l:3*l+3], row[3*r:3*r+3]
			a[0], a[1], a[2], b[0], b[1], b[2] = b[0], b[1], b[2], a[0], a[1], a[2]
		}
	}
}

// rotate turns img by deg degrees counterclockwise about its centre, as
// Pillow's Image.rotate(deg, BILINEAR) does: each output pixel's centre
// mapped back into the source, interpolated between the four nearest
// source pixels (edges clamped), truncated to a level as Pillow does,
// black where it falls outside.
func rotate(img *images.RGB, deg float64) {
	src := append([]uint8(nil), img.Pix...)
	a := -deg * math.Pi / 180
	cos, sin := math.Cos(a), math.Sin(a)
	cx, cy := float64(img.W)/2, float64(img.H)/2
	at := func(x, y, c int) float64 {
		x, y = min(max(x, 0), img.W-1), min(max(y, 0), img.H-1)
		return float64(src[3*(y*img.W+x)+c])
	}
	for yo := range img.H {
		for xo := range img.W {
			dx, dy := float64(xo)+0.5-cx, float64(yo)+0.5-cy
			xin := cos*dx + sin*dy + cx
			yin := -sin*dx + cos*dy + cy
			o := img.Pix[3*(yo*img.W+xo):]
			if xin < 0 || xin >= float64(img.W) || yin < 0 || yin >= float64(img.H) {
				o[0], o[1], o[2] = 0, 0, 0
				continue
			}
			xin, yin = xin-0.5, yin-0.5
			x, y := int(math.Floor(xin)), int(math.Floor(yin))
			fx, fy := xin-float64(x), yin-float64(y)
			for c := range 3 {
				top := at(x, y, c) + (at(x+1, y, c)-at(x, y, c))*fx
				bot := at(x, y+1, c) + (at(x+1, y+1, c)-at(x, y+1, c))*fx
				o[c] = uint8(min(255, max(0, top+(bot-top)*fy)))
			}
		}
	}
}

// jitter scales brightness, contrast and saturation by torchvision's
// definitions (blends with black, the mean grey level, and each pixel's
// grey level; grey = 0.2989 R + 0.587 G + 0.114 B), clamping to [0, 255]
// after each and rounding once at the end.
func jitter(img *images.RGB, brightness, contrast, saturation float64) {
	v := make([]float64, len(img.Pix))
	for i, p := range img.Pix {
		v[i] = min(255, float64(p)*brightness)
	}
	if contrast != 1 {
		var mean float64
		for i := 0; i < len(v); i += 3 {
			mean += gray(v[i:])
		}
		mean /= float64(len(v) / 3)
		for i := range v {
			v[i] = min(255, max(0, contrast*v[i]+(1-contrast)*mean))
		}
	}
	if saturation != 1 {
		for i := 0; i < len(v); i += 3 {
			g := gray(v[i:])
			for c := range 3 {
				v[i+c] = min(255, max(0, saturation*v[i+c]+(1-saturation)*g))
			}
		}
	}
	for i, x := range v {
		img.Pix[i] = clamp8(x)
	}
}

func gray(p []float64) float64 { return 0.2989*p[0] + 0.587*p[1] + 0.114*p[2] }

// clamp8 rounds v to the nearest level in [0, 255].
func clamp8(v float64) uint8 { return uint8(min(255, max(0, math.Floor(v+0.5)))) }
