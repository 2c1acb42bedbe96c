package images

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeImage encodes img as PNG, or as JPEG when name ends in .jpg, into a
// new file in dir and returns its path.
func writeImage(t *testing.T, dir, name string, img image.Image) string {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if strings.HasSuffix(name, ".jpg") {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, buf.Bytes())
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture decodes a base64 fixture into a file in a new folder.
func fixture(t *testing.T, name, b64 string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), name, b)
}

// pixel returns the RGB value of m at (x, y).
func pixel(m *RGB, x, y int) [3]uint8 {
	i := 3 * (y*m.W + x)
	return [3]uint8{m.Pix[i], m.Pix[i+1], m.Pix[i+2]}
}

func TestLoadConvertsColorModels(t *testing.T) {
	dir := t.TempDir()
	r := image.Rect(0, 0, 2, 1)

	gray := image.NewGray(r)
	gray.Pix = []uint8{7, 250}

	gray16 := image.NewGray16(r)
	gray16.SetGray16(0, 0, color.Gray16{0x1234})
	gray16.SetGray16(1, 0, color.Gray16{0xff01})

	// PIL's convert("RGB") drops alpha without blending.
	nrgba := image.NewNRGBA(r)
	nrgba.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 0})
	nrgba.SetNRGBA(1, 0, color.NRGBA{200, 100, 50, 128})

	pal := image.NewPaletted(r, color.Palette{color.NRGBA{10, 20, 30, 0}, color.NRGBA{40, 50, 60, 255}})
	pal.Pix = []uint8{0, 1}

	rgb48 := image.NewRGBA64(r)
	rgb48.SetRGBA64(0, 0, color.RGBA64{0x1280, 0x34ff, 0x5600, 0xffff})
	rgb48.SetRGBA64(1, 0, color.RGBA64{0xffff, 0, 0x8080, 0xffff})

	nrgba64 := image.NewNRGBA64(r)
	nrgba64.SetNRGBA64(0, 0, color.NRGBA64{0xab00, 0xcd00, 0xef00, 0})
	nrgba64.SetNRGBA64(1, 0, color.NRGBA64{0x0100, 0x0200, 0x0300, 0x8000})

	tests := []struct {
		name string
		img  image.Image
		want [][3]uint8
	}{
		{"gray.png", gray, [][3]uint8{{7, 7, 7}, {250, 250, 250}}},
		{"gray16.png", gray16, [][3]uint8{{0x12, 0x12, 0x12}, {0xff, 0xff, 0xff}}},
		{"alpha.png", nrgba, [][3]uint8{{200, 100, 50}, {200, 100, 50}}},
		{"paletted.png", pal, [][3]uint8{{10, 20, 30}, {40, 50, 60}}},
		{"rgb48.png", rgb48, [][3]uint8{{0x12, 0x34, 0x56}, {0xff, 0, 0x80}}},
		{"rgba64.png", nrgba64, [][3]uint8{{0xab, 0xcd, 0xef}, {1, 2, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Load(writeImage(t, dir, tt.name, tt.img), 0, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			if m.H != 1 || m.W != 2 || len(m.Pix) != 6 {
				t.Fatalf("got %dx%d with %d bytes, want 1x2 with 6", m.H, m.W, len(m.Pix))
			}
			for x, want := range tt.want {
				if got := pixel(m, x, 0); got != want {
					t.Errorf("pixel %d = %v, want %v", x, got, want)
				}
			}
		})
	}
}

func TestLoadGrayJPEG(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range g.Pix {
		g.Pix[i] = 90
	}
	m, err := Load(writeImage(t, t.TempDir(), "g.jpg", g), 0, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(m.Pix); i += 3 {
		if m.Pix[i] != m.Pix[i+1] || m.Pix[i] != m.Pix[i+2] || absDiff(m.Pix[i], 90) > 1 {
			t.Fatalf("pixel %d = %v, want gray 90", i/3, m.Pix[i:i+3])
		}
	}
}

func TestToRGBUnpremultipliesAndConvertsCMYK(t *testing.T) {
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	rgba.SetRGBA(0, 0, color.RGBA{100, 50, 0, 128}) // premultiplied
	rgba.SetRGBA(1, 0, color.RGBA{1, 2, 3, 255})
	m := ToRGB(rgba)
	if got, want := pixel(m, 0, 0), [3]uint8{199, 99, 0}; got != want {
		t.Errorf("half-transparent pixel = %v, want un-premultiplied %v", got, want)
	}
	if got, want := pixel(m, 1, 0), [3]uint8{1, 2, 3}; got != want {
		t.Errorf("opaque pixel = %v, want %v", got, want)
	}

	// Expected values from PIL's Image.fromarray(c, "CMYK").convert("RGB").
	cmyk := image.NewCMYK(image.Rect(0, 0, 4, 1))
	cmyk.Pix = []uint8{100, 50, 25, 10, 10, 20, 30, 40, 200, 150, 100, 50, 255, 0, 0, 0}
	want := [][3]uint8{{149, 197, 221}, {207, 198, 190}, {44, 84, 125}, {0, 255, 255}}
	m = ToRGB(cmyk)
	for x, w := range want {
		if got := pixel(m, x, 0); got != w {
			t.Errorf("CMYK pixel %d = %v, want PIL's %v", x, got, w)
		}
	}
}

func TestCMYKJPEGMatchesPIL(t *testing.T) {
	m, err := Load(fixture(t, "cmyk.jpg", cmykJPEG), 0, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.H != 16 || m.W != 32 {
		t.Fatalf("size %dx%d, want 16x32", m.H, m.W)
	}
	// One colour per 8x8 block, as PIL decodes them.
	want := [2][4][3]uint8{
		{{255, 255, 255}, {0, 255, 255}, {255, 0, 255}, {255, 255, 0}},
		{{0, 0, 0}, {149, 197, 221}, {207, 198, 190}, {44, 84, 125}},
	}
	for by, row := range want {
		for bx, w := range row {
			if got := pixel(m, bx*8+3, by*8+4); got != w {
				t.Errorf("block (%d,%d) = %v, want %v", bx, by, got, w)
			}
		}
	}
}

func TestColorJPEGMatchesPIL(t *testing.T) {
	// Chroma-subsampled JPEGs need libjpeg's interpolating upsampling to
	// match PIL; repeating chroma samples (Go's own conversion) is off by
	// tens of levels on these noisy images.
	for _, tt := range []struct{ name, b64, rgb string }{
		{"420.jpg", jpeg420, jpeg420RGB},
		{"422.jpg", jpeg422, jpeg422RGB},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Load(fixture(t, tt.name, tt.b64), 0, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			want, err := hex.DecodeString(strings.Join(strings.Fields(tt.rgb), ""))
			if err != nil {
				t.Fatal(err)
			}
			if m.H != 7 || m.W != 5 || !bytes.Equal(m.Pix, want) {
				t.Errorf("decoded %dx%d\n%v\nwant PIL's 7x5\n%v", m.H, m.W, m.Pix, want)
			}
		})
	}
}

func TestYCbCrUpsamplingEdges(t *testing.T) {
	// A 4:4:0 image: each chroma row serves two image rows. libjpeg
	// interpolates 3:1 with the nearer neighbouring row, bias 1 then 2.
	m := image.NewYCbCr(image.Rect(0, 0, 1, 4), image.YCbCrSubsampleRatio440)
	for i := range m.Y {
		m.Y[i] = 128
	}
	m.Cb[0], m.Cb[1] = 128, 128
	m.Cr[0], m.Cr[1] = 100, 200
	got := ToRGB(m)
	crs := []int{100, (3*100 + 200 + 2) >> 2, (3*200 + 100 + 1) >> 2, 200}
	for y, cr := range crs {
		r, _, _ := ycc(128, 128, uint8(cr))
		if p := pixel(got, 0, y); p[0] != r {
			t.Errorf("row %d: red %d, want %d (Cr %d)", y, p[0], r, cr)
		}
	}
	// libjpeg's table conversion of a few colours.
	for _, c := range []struct{ y, cb, cr, r, g, b uint8 }{
		{128, 128, 128, 128, 128, 128},
		{76, 85, 255, 254, 0, 0},
		{0, 0, 0, 0, 135, 0},
	} {
		if r, g, b := ycc(c.y, c.cb, c.cr); r != c.r || g != c.g || b != c.b {
			t.Errorf("ycc(%d,%d,%d) = %d,%d,%d, want %d,%d,%d", c.y, c.cb, c.cr, r, g, b, c.r, c.g, c.b)
		}
	}
}

func TestGoEncodedJPEGDecodesClose(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []uint8{200, 100, 50, 255})
	}
	m, err := Load(writeImage(t, t.TempDir(), "c.jpg", img), 0, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(m.Pix); i += 3 {
		p := m.Pix[i : i+3]
		if absDiff(p[0], 200) > 2 || absDiff(p[1], 100) > 2 || absDiff(p[2], 50) > 2 {
			t.Fatalf("pixel %d = %v, want about (200, 100, 50)", i/3, p)
		}
	}
}

func absDiff(a, b uint8) int {
	return int(max(a, b) - min(a, b))
}

func TestNearestIndexMatchesPIL(t *testing.T) {
	tests := []struct {
		in, out int
		want    []int
	}{
		// By hand: step 5/3, positions 0.83, 2.5, 4.17.
		{5, 3, []int{0, 2, 4}},
		// By hand: step 3/7, positions 0.21, 0.64, 1.07, 1.5, 1.93, 2.36, 2.79.
		{3, 7, []int{0, 0, 1, 1, 1, 2, 2}},
		// From PIL: accumulating 2/7 reaches 0.99999... at x=3, where
		// floor((3+0.5)*2/7) would give 1.
		{2, 7, []int{0, 0, 0, 0, 1, 1, 1}},
		{7, 4, []int{0, 2, 4, 6}},
		{4, 4, []int{0, 1, 2, 3}},
		{1, 3, []int{0, 0, 0}},
	}
	for _, tt := range tests {
		if got := nearestIndex(tt.in, tt.out); !slices.Equal(got, tt.want) {
			t.Errorf("nearestIndex(%d, %d) = %v, want %v", tt.in, tt.out, got, tt.want)
		}
	}
}

func TestLoadResizesNearest(t *testing.T) {
	// Each pixel holds its own coordinates: R = x, G = y.
	src := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	for y := range 3 {
		for x := range 5 {
			src.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 9, 255})
		}
	}
	path := writeImage(t, t.TempDir(), "xy.png", src)
	m, err := Load(path, 7, 3, Nearest) // height 7 from 3, width 3 from 5
	if err != nil {
		t.Fatal(err)
	}
	if m.H != 7 || m.W != 3 {
		t.Fatalf("size %dx%d, want 7x3", m.H, m.W)
	}
	xs, ys := []uint8{0, 2, 4}, []uint8{0, 0, 1, 1, 1, 2, 2}
	for y := range 7 {
		for x := range 3 {
			if got, want := pixel(m, x, y), [3]uint8{xs[x], ys[y], 9}; got != want {
				t.Errorf("pixel (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
}

func TestLoadResizesBilinear(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 40, 20))
	for y := range 20 {
		for x := range 40 {
			src.SetNRGBA(x, y, color.NRGBA{uint8(6 * x), 77, 200, 255})
		}
	}
	m, err := Load(writeImage(t, t.TempDir(), "grad.png", src), 10, 15, Bilinear)
	if err != nil {
		t.Fatal(err)
	}
	if m.H != 10 || m.W != 15 {
		t.Fatalf("size %dx%d, want 10x15", m.H, m.W)
	}
	for y := range 10 {
		for x := range 15 {
			p := pixel(m, x, y)
			if p[1] != 77 || p[2] != 200 {
				t.Fatalf("pixel (%d,%d) = %v: constant channels changed", x, y, p)
			}
			if x > 0 && p[0] <= pixel(m, x-1, y)[0] {
				t.Fatalf("row %d: red not increasing at x=%d", y, x)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	var good bytes.Buffer
	if err := jpeg.Encode(&good, image.NewGray(image.Rect(0, 0, 64, 64)), nil); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"empty.jpg":     nil,
		"text.jpg":      []byte("this is not an image"),
		"truncated.jpg": good.Bytes()[:good.Len()/2],
		"header.png":    []byte("\x89PNG\r\n\x1a\n"),
	}
	for name, b := range bad {
		path := writeFile(t, dir, name, b)
		_, err := Load(path, 4, 4, "")
		if !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want ErrNotImage naming the file", name, err)
		}
	}

	missing := filepath.Join(dir, "missing.jpg")
	_, err := Load(missing, 4, 4, "")
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error %v, want not-exist naming the file", err)
	}

	path := writeFile(t, dir, "good.jpg", good.Bytes())
	for _, c := range []struct {
		h, w   int
		resize string
	}{{4, 4, "cubic"}, {-1, 4, ""}, {0, 4, ""}} {
		if _, err := Load(path, c.h, c.w, c.resize); err == nil {
			t.Errorf("Load(%d, %d, %q) gave no error", c.h, c.w, c.resize)
		}
	}
}

func TestDecodeRejectsHugeImages(t *testing.T) {
	// A valid PNG header claiming 100000x100000 pixels.
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR's width and height are at bytes 16..24, its CRC at 29..33.
	copy(b[16:], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	crc := crc32.ChecksumIEEE(b[12:29])
	copy(b[29:], []byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	path := writeFile(t, t.TempDir(), "huge.png", b)
	_, err := Decode(path)
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("error %v, want a size error", err)
	}
}

// kerasPixels are the RGB pixels given to Keras' preprocess_input to make
// the golden values below.
var kerasPixels = []uint8{
	0, 255, 200, 1, 254, 254, 10, 200, 255, 20, 128, 0, 30, 127, 1,
	127, 30, 10, 128, 20, 20, 200, 10, 30, 254, 1, 127, 255, 0, 128,
}

// kerasGolden holds the float32 bits that
// tf.keras.applications.imagenet_utils.preprocess_input(x, mode=m) gives
// for kerasPixels as a float32 array, and that result / 255.
var kerasGolden = map[string][2][]uint32{
	Caffe: {
		{0x42c01f3b, 0x430a3894, 0xc2f75c29, 0x43160f9e, 0x43093894, 0xc2f55c29, 0x43170f9e, 0x42a67127, 0xc2e35c29, 0xc2cfe0c5, 0x41338938, 0xc2cf5c29, 0xc2cde0c5, 0x41238938, 0xc2bb5c29, 0xc2bbe0c5, 0xc2ad8ed9, 0x40547ae0, 0xc2a7e0c5, 0xc2c18ed9, 0x408a3d70, 0xc293e0c5, 0xc2d58ed9, 0x4298a3d7, 0x41b87cec, 0xc2e78ed9, 0x430251ec, 0x41c07cec, 0xc2e98ed9, 0x430351ec},
		{0x3ec0e01b, 0x3f0ac357, 0xbef8547d, 0x3f16a644, 0x3f09c256, 0xbef6527b, 0x3f17a745, 0x3ea7183f, 0xbee44069, 0xbed0b176, 0x3d343d75, 0xbed02c55, 0xbeceaf74, 0x3d242d65, 0xbebc1841, 0xbebc9d62, 0xbeae3d16, 0x3c555030, 0xbea8894e, 0xbec2512a, 0x3c8ac838, 0xbe94753a, 0xbed6653e, 0x3e993d14, 0x3db93622, 0xbee87750, 0x3f02d4c1, 0x3dc13e2a, 0xbeea7952, 0x3f03d5c2},
	},
	TF: {
		{0xbf800000, 0x3f800000, 0x3f119192, 0xbf7dfdfe, 0x3f7dfdfe, 0x3f7dfdfe, 0xbf6bebec, 0x3f119192, 0x3f800000, 0xbf57d7d8, 0x3b808100, 0xbf800000, 0xbf43c3c4, 0xbb808080, 0xbf7dfdfe, 0xbb808080, 0xbf43c3c4, 0xbf6bebec, 0x3b808100, 0xbf57d7d8, 0xbf57d7d8, 0x3f119192, 0xbf6bebec, 0xbf43c3c4, 0x3f7dfdfe, 0xbf7dfdfe, 0xbb808080, 0x3f800000, 0xbf800000, 0x3b808100},
		{0xbb808081, 0x3b808081, 0x3b1223b6, 0xbb7efcfb, 0x3b7efcfb, 0x3b7efcfb, 0xbb6cd8c5, 0x3b1223b6, 0x3b808081, 0xbb58b089, 0x37810202, 0xbb808081, 0xbb44884c, 0xb7810182, 0xbb7efcfb, 0xb7810182, 0xbb44884c, 0xbb6cd8c5, 0x37810202, 0xbb58b089, 0xbb58b089, 0x3b1223b6, 0xbb6cd8c5, 0xbb44884c, 0x3b7efcfb, 0xbb7efcfb, 0xb7810182, 0x3b808081, 0xbb808081, 0x37810202},
	},
	Torch: {
		{0xc0078bbd, 0x401b6db7, 0x3fd737ef, 0xc006732b, 0x401a4ee0, 0x4027d834, 0xbff92c0a, 0x3fbb9b9c, 0x4028f5c3, 0xbfe34099, 0x3e521b48, 0xbfe6f809, 0xbfcd5529, 0x3e402de4, 0xbfe4bcea, 0x3d6939a6, 0xbfc15834, 0xbfd0a8d6, 0x3d97af32, 0xbfd7c0e5, 0xbfba59a4, 0x3fa74d4f, 0xbfee2997, 0xbfa40a71, 0x400ed58a, 0xc0012a4f, 0x3ed170bd, 0x400fee1d, 0xc0024924, 0x3eda5d3c},
		{0xbc0813d1, 0x3c1c09c1, 0x3bd80fff, 0xbc06fa25, 0x3c1ae9ca, 0x3c2880b5, 0xbbfa2630, 0x3bbc57f4, 0x3c299f62, 0xbbe424be, 0x3a52ee36, 0xbbe7dfe9, 0xbbce234c, 0x3a40eed3, 0xbbe5a28d, 0x396a23ca, 0xbbc21a4e, 0xbbd17a50, 0x39984779, 0xbbd8997e, 0xbbbb14b9, 0x3ba7f544, 0xbbef18b0, 0xbba4af20, 0x3c0f64ef, 0xbc01abfb, 0x3ad24300, 0x3c107e9c, 0xbc02cbf0, 0x3adb3874},
	},
}

func TestPreprocessMatchesKeras(t *testing.T) {
	img := &RGB{H: 1, W: 10, Pix: kerasPixels}
	for mode, golden := range kerasGolden {
		for i, divide := range []bool{false, true} {
			dst := make([]float32, 30)
			if err := Preprocess(dst, img, mode, divide); err != nil {
				t.Fatal(err)
			}
			for j, v := range dst {
				if math.Float32bits(v) != golden[i][j] {
					t.Errorf("%s divide255=%v: value %d = %v (%#x), Keras gives %v (%#x)",
						mode, divide, j, v, math.Float32bits(v), math.Float32frombits(golden[i][j]), golden[i][j])
				}
			}
		}
	}
}

func TestPreprocessCaffePixel(t *testing.T) {
	img := &RGB{H: 1, W: 1, Pix: []uint8{10, 20, 30}}
	dst := make([]float32, 3)
	if err := Preprocess(dst, img, Caffe, false); err != nil {
		t.Fatal(err)
	}
	want := []float64{30 - 103.939, 20 - 116.779, 10 - 123.68} // B, G, R
	for i, w := range want {
		if math.Abs(float64(dst[i])-w) > 1e-4 {
			t.Errorf("channel %d = %v, want %v", i, dst[i], w)
		}
	}
	if err := Preprocess(dst, img, None, true); err != nil {
		t.Fatal(err)
	}
	if dst[0] != float32(10)/255 || dst[2] != float32(30)/255 {
		t.Errorf("none/255 = %v, want RGB order divided by 255", dst)
	}
}

func TestPreprocessErrors(t *testing.T) {
	img := NewRGB(2, 2)
	if err := Preprocess(make([]float32, 12), img, "vgg", false); err == nil || !strings.Contains(err.Error(), "vgg") {
		t.Errorf("unknown mode: error %v", err)
	}
	if err := Preprocess(make([]float32, 11), img, Caffe, false); err == nil {
		t.Error("short dst: no error")
	}
}
