// Package images loads image files into fixed-size RGB arrays the way
// Keras' load_img (backed by PIL) does, applies the Keras ImageNet
// preprocessing modes, and streams preprocessed batches from many files
// using several goroutines.
//
// It replaces the notebook's get_image helper:
//
//	img = image.load_img(path, target_size=(224, 224))
//	x = image.img_to_array(img)
//	x = preprocess_input(x)
//
// JPEG, PNG, GIF, BMP, TIFF and WebP files can be read.
//
// Known differences from PIL: JPEG files are decoded by Go's image/jpeg,
// whose inverse DCT and chroma upsampling differ from libjpeg's, so pixel
// values of colour JPEGs may differ from PIL's by a few levels; 16-bit
// images keep their high byte, where PIL clips 16-bit grayscale to 255;
// the transparent colour of a GIF becomes black; EXIF orientation is
// ignored, as in Keras.
package images

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // register decoders for image.Decode
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/gotransfer/gotransfer/pipeline/fsutil"
)

// ErrNotImage marks errors for files that exist but cannot be decoded as
// an image: unknown format, empty, truncated or corrupt. Test for it with
// errors.Is to tell bad data from I/O problems.
var ErrNotImage = errors.New("not a decodable image")

// MaxPixels is the largest width*height Decode accepts. It is PIL's
// decompression bomb limit, and keeps a hostile or broken file from
// exhausting memory.
const MaxPixels = 2 * 89478485

// RGB is an 8-bit RGB image stored row by row, three bytes per pixel
// (height, width, channel order, as Keras' img_to_array gives it).
type RGB struct {
	H, W int
	Pix  []uint8 // len 3*H*W; pixel (x, y) starts at 3*(y*W+x)
}

// NewRGB returns a black h×w image.
func NewRGB(h, w int) *RGB {
	return &RGB{H: h, W: w, Pix: make([]uint8, 3*h*w)}
}

// Decode reads and decodes the image file at path. Errors name the file;
// undecodable files give an error matching ErrNotImage.
func Decode(path string) (image.Image, error) {
	b, err := fsutil.ReadRegular(path, 0) // a named pipe or device is refused, never waited on
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	notImage := func(err error) error {
		return fmt.Errorf("image %s: %w (%w): replace or remove the file", path, ErrNotImage, err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, notImage(err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, notImage(fmt.Errorf("size %dx%d", cfg.Width, cfg.Height))
	}
	if cfg.Width > MaxPixels/cfg.Height {
		return nil, fmt.Errorf("image %s: %dx%d is more than %d pixels: shrink or remove the file", path, cfg.Width, cfg.Height, MaxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, notImage(err)
	}
	return img, nil
}

// Load decodes the image file at path, converts it to 8-bit RGB and
// resizes it to h×w pixels with the given method (Nearest or Bilinear;
// empty means Nearest), like Keras' load_img(path, target_size=(h, w)).
// h and w both 0 keep the image's own size.
func Load(path string, h, w int, resize string) (*RGB, error) {
	var dst RGB
	if err := load(&dst, path, h, w, resize); err != nil {
		return nil, err
	}
	return &dst, nil
}

// load is Load writing into dst, reusing dst.Pix when it is large enough.
func load(dst *RGB, path string, h, w int, resize string) error {
	if err := checkSize(h, w, resize); err != nil {
		return err
	}
	img, err := Decode(path)
	if err != nil {
		return err
	}
	resizeInto(dst, img, h, w, resize)
	return nil
}

// checkSize reports whether h, w and resize are usable by Load.
func checkSize(h, w int, resize string) error {
	if h < 0 || w < 0 || (h == 0) != (w == 0) {
		return fmt.Errorf("images: target size %dx%d: give a positive height and width, or both 0 to keep the size", h, w)
	}
	switch resize {
	case "", Nearest, Bilinear:
		return nil
	}
	return fmt.Errorf("images: unknown resize method %q: use %q or %q", resize, Nearest, Bilinear)
}

// ToRGB converts img to 8-bit RGB the way PIL's convert("RGB") does:
// alpha is dropped, not blended (a transparent pixel keeps its colour),
// gray is copied to all three channels, and CMYK uses PIL's formula.
func ToRGB(img image.Image) *RGB {
	b := img.Bounds()
	dst := NewRGB(b.Dy(), b.Dx())
	at := rgbAt(img)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2] = at(x, y)
			i += 3
		}
	}
	return dst
}

// rgbAt returns a function giving the 8-bit RGB colour of img's pixel at
// (x, y), with fast paths for the types Go's decoders return.
func rgbAt(img image.Image) func(x, y int) (r, g, b uint8) {
	switch m := img.(type) {
	case *image.YCbCr:
		return ycbcrAt(m)
	case *image.NYCbCrA:
		return ycbcrAt(&m.YCbCr)
	case *image.Gray:
		return func(x, y int) (uint8, uint8, uint8) {
			v := m.Pix[m.PixOffset(x, y)]
			return v, v, v
		}
	case *image.Gray16:
		return func(x, y int) (uint8, uint8, uint8) {
			v := m.Pix[m.PixOffset(x, y)] // high byte
			return v, v, v
		}
	case *image.NRGBA:
		return func(x, y int) (uint8, uint8, uint8) {
			p := m.Pix[m.PixOffset(x, y):]
			return p[0], p[1], p[2]
		}
	case *image.NRGBA64:
		return func(x, y int) (uint8, uint8, uint8) {
			p := m.Pix[m.PixOffset(x, y):]
			return p[0], p[2], p[4]
		}
	case *image.RGBA:
		return func(x, y int) (uint8, uint8, uint8) {
			p := m.Pix[m.PixOffset(x, y):]
			if p[3] == 0xff {
				return p[0], p[1], p[2]
			}
			c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
			return c.R, c.G, c.B
		}
	case *image.RGBA64:
		return func(x, y int) (uint8, uint8, uint8) {
			p := m.Pix[m.PixOffset(x, y):]
			if p[6] == 0xff && p[7] == 0xff {
				return p[0], p[2], p[4]
			}
			c := color.NRGBAModel.Convert(m.RGBA64At(x, y)).(color.NRGBA)
			return c.R, c.G, c.B
		}
	case *image.CMYK:
		return func(x, y int) (uint8, uint8, uint8) {
			p := m.Pix[m.PixOffset(x, y):]
			return cmykToRGB(p[0], p[1], p[2], p[3])
		}
	case *image.Paletted:
		// Indices past the palette's end read as black instead of
		// panicking as Paletted.At would.
		var pal [256][3]uint8
		for i, c := range m.Palette {
			if i == len(pal) {
				break
			}
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
		return func(x, y int) (uint8, uint8, uint8) {
			c := pal[m.Pix[m.PixOffset(x, y)]]
			return c[0], c[1], c[2]
		}
	}
	return func(x, y int) (uint8, uint8, uint8) {
		c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
		return c.R, c.G, c.B
	}
}

// cmykToRGB converts like PIL's cmyk2rgb: each channel is
// (255-k) - (255-k)*c/255, with PIL's rounding.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - int(k)
	f := func(v uint8) uint8 {
		t := int(v)*nk + 128 // PIL's MULDIV255
		return uint8(nk - ((t>>8)+t)>>8)
	}
	return f(c), f(m), f(y)
}
