package augment_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/augment"
	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

// writeNoise writes a w×h PNG of smooth colour gradients plus noise (so
// that a crop or a flip off by one pixel shows) and returns its path.
func writeNoise(t *testing.T, w, h int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(r.IntN(256)), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "noise.png")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// reference runs scripts/augment_reference.py (Pillow and NumPy) on views
// and returns each view's pixels.
func reference(t *testing.T, path string, h, w int, views []augment.Params) [][]byte {
	t.Helper()
	specs := make([]map[string]any, len(views))
	for i, p := range views {
		specs[i] = map[string]any{"image": path, "crop": [4]int{p.Crop.Min.X, p.Crop.Min.Y, p.Crop.Max.X, p.Crop.Max.Y},
			"size": [2]int{h, w}, "flip": p.Flip, "angle": p.Angle,
			"brightness": p.Brightness, "contrast": p.Contrast, "saturation": p.Saturation}
	}
	in, err := json.Marshal(specs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Python(t), filepath.Join(testenv.Root(t), "scripts", "augment_reference.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("augment_reference.py: %v\n%s", err, stderr.String())
	}
	n := 3 * h * w
	if len(out) != n*len(views) {
		t.Fatalf("augment_reference.py wrote %d bytes, want %d", len(out), n*len(views))
	}
	res := make([][]byte, len(views))
	for i := range views {
		res[i] = out[i*n : (i+1)*n]
	}
	return res
}

// views draws n views of the image at path with spec and applies them.
func views(t *testing.T, path string, spec *augment.Spec, n, h, w int) ([]augment.Params, []*images.RGB) {
	t.Helper()
	src, err := images.Decode(path)
	if err != nil {
		t.Fatal(err)
	}
	v := augment.Seeded{Spec: spec, Seed: 42}
	var ps []augment.Params
	var out []*images.RGB
	for i := 1; i <= n; i++ {
		p := v.View("content", i, src.Bounds())
		var dst images.RGB
		if err := augment.Apply(&dst, src, p, h, w, images.Nearest); err != nil {
			t.Fatal(err)
		}
		ps, out = append(ps, p), append(out, &dst)
	}
	return ps, out
}

// TestCropsAndFlipsEqualPillow: random resized crops and flips are
// Pillow's crop, NEAREST resize and FLIP_LEFT_RIGHT, bit for bit (the
// nearest resize reproduces Pillow's stepping).
func TestCropsAndFlipsEqualPillow(t *testing.T) {
	path := writeNoise(t, 53, 37)
	spec := &augment.Spec{Views: 17, HorizontalFlip: true, Crop: augment.DefaultCrop()}
	ps, got := views(t, path, spec, 16, 24, 20)
	want := reference(t, path, 24, 20, ps)
	flips, crops := 0, 0
	for i, p := range ps {
		if p.Flip {
			flips++
		}
		if p.Crop != image.Rect(0, 0, 53, 37) {
			crops++
		}
		if !bytes.Equal(got[i].Pix, want[i]) {
			t.Errorf("view %d (%+v): pixels differ from Pillow's", i+1, p)
		}
	}
	if flips == 0 || flips == len(ps) || crops < len(ps)/2 {
		t.Errorf("%d of %d views flipped, %d cropped: the test would not show a wrong flip or crop", flips, len(ps), crops)
	}
}

// TestRotationEqualsPillow: rotation is Pillow's rotate(BILINEAR), bit
// for bit.
func TestRotationEqualsPillow(t *testing.T) {
	path := writeNoise(t, 40, 40)
	ps, got := views(t, path, &augment.Spec{Views: 9, Rotation: 15}, 8, 32, 32)
	want := reference(t, path, 32, 32, ps)
	for i, p := range ps {
		if p.Angle == 0 {
			t.Fatalf("view %d: %+v: no angle drawn", i+1, p)
		}
		if !bytes.Equal(got[i].Pix, want[i]) {
			t.Errorf("view %d (%+v): pixels differ from Pillow's", i+1, p)
		}
	}
}

// TestJitterMatchesReference: the colour factors are torchvision's
// blends (NumPy in the reference) within one level of rounding.
func TestJitterMatchesReference(t *testing.T) {
	path := writeNoise(t, 40, 40)
	spec := &augment.Spec{Views: 9, HorizontalFlip: true, Brightness: 0.4, Contrast: 0.4, Saturation: 0.4}
	ps, got := views(t, path, spec, 8, 32, 32)
	want := reference(t, path, 32, 32, ps)
	for i, p := range ps {
		if p.Brightness == 1 || p.Contrast == 1 || p.Saturation == 1 {
			t.Fatalf("view %d: %+v: a factor was not drawn", i+1, p)
		}
		worst := 0
		for k := range want[i] {
			d := int(got[i].Pix[k]) - int(want[i][k])
			worst = max(worst, d, -d)
		}
		if worst > 1 {
			t.Errorf("view %d (%+v): differs from the reference by up to %d levels, want <= 1", i+1, p, worst)
		}
	}
}

// TestSameSeedSameViews: a view depends only on the seed, the content
// hash and its index: drawn twice it is the same bit for bit; another
// seed, image or index draws another.
func TestSameSeedSameViews(t *testing.T) {
	path := writeNoise(t, 30, 30)
	spec := &augment.Spec{Views: 4, HorizontalFlip: true, Crop: augment.DefaultCrop(), Rotation: 10, Brightness: 0.2}
	p1, a := views(t, path, spec, 3, 16, 16)
	p2, b := views(t, path, spec, 3, 16, 16)
	for i := range a {
		if p1[i] != p2[i] || !bytes.Equal(a[i].Pix, b[i].Pix) {
			t.Errorf("view %d: drawn twice, differs", i+1)
		}
	}
	bounds := image.Rect(0, 0, 30, 30)
	v := augment.Seeded{Spec: spec, Seed: 42}
	base := v.View("content", 1, bounds)
	for name, other := range map[string]augment.Params{
		"seed":  augment.Seeded{Spec: spec, Seed: 43}.View("content", 1, bounds),
		"image": v.View("other", 1, bounds),
		"view":  v.View("content", 2, bounds),
	} {
		if other == base {
			t.Errorf("another %s draws the same view %+v", name, base)
		}
	}
	if got := v.View("content", 0, bounds); got != augment.Identity(bounds) {
		t.Errorf("view 0 = %+v, want the image itself", got)
	}
}

// TestTTAViews: test-time augmentation's views are centre crops of each
// scale, unflipped and flipped; the first at scale 1 is the image.
func TestTTAViews(t *testing.T) {
	tta := augment.TTA{Flip: true, Scales: []float64{1, 0.5}}
	b := image.Rect(0, 0, 40, 20)
	if tta.Views() != 4 || !tta.Identity(0) || tta.Identity(1) || tta.Identity(2) {
		t.Fatalf("views %d, identity %v %v %v", tta.Views(), tta.Identity(0), tta.Identity(1), tta.Identity(2))
	}
	if p := tta.View("", 3, b); !p.Flip || p.Crop != image.Rect(10, 5, 30, 15) {
		t.Errorf("view 3 = %+v, want flipped centre crop (10,5)-(30,15)", p)
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		spec augment.Spec
		want string
	}{
		{augment.Spec{Views: 0, HorizontalFlip: true}, "views: want an integer >= 1"},
		{augment.Spec{Views: 2}, "views: 2 views, but no transform is on"},
		{augment.Spec{Views: 2, Rotation: -5}, "rotation: want degrees in [0, 180]"},
		{augment.Spec{Views: 2, Brightness: 1.5}, "brightness: want a number in [0, 1]"},
		{augment.Spec{Views: 2, Crop: &augment.Crop{Scale: [2]float64{0, 1}, Ratio: [2]float64{1, 1}}}, "random_resized_crop.scale: want [min, max] with 0 < min <= max <= 1"},
		{augment.Spec{Views: 2, Crop: &augment.Crop{Scale: [2]float64{0.5, 1.2}, Ratio: [2]float64{1, 1}}}, "random_resized_crop.scale"},
		{augment.Spec{Views: 2, Crop: &augment.Crop{Scale: [2]float64{0.5, 1}, Ratio: [2]float64{2, 1}}}, "random_resized_crop.ratio"},
	} {
		var msgs []string
		for _, p := range c.spec.Check() {
			msgs = append(msgs, p.Key+": "+p.Msg)
		}
		if got := strings.Join(msgs, "\n"); !strings.Contains(got, c.want) {
			t.Errorf("%+v: problems %q, want %q", c.spec, got, c.want)
		}
	}
	if ps := augment.DefaultSpec().Check(); len(ps) != 0 {
		t.Errorf("default spec: %v", ps)
	}
}
