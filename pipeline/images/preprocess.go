package images

import "fmt"

// Preprocessing modes for Preprocess and StreamOptions.Mode. The first
// three are the modes of Keras' imagenet_utils.preprocess_input; which one
// a model needs depends on how it was trained.
const (
	// Caffe reorders channels to BGR and subtracts the ImageNet mean
	// [103.939, 116.779, 123.68] (B, G, R), without scaling. VGG16 and
	// ResNet50 use it; it is preprocess_input's default.
	Caffe = "caffe"
	// TF scales to [-1, 1]: x/127.5 - 1, RGB order.
	TF = "tf"
	// Torch scales to [0, 1] and normalises each channel with the
	// ImageNet mean [0.485, 0.456, 0.406] and std [0.229, 0.224, 0.225],
	// RGB order.
	Torch = "torch"
	// None keeps the raw values 0..255, RGB order.
	None = "none"
)

// f32 rounds v to float32 at run time. Going through float64 matches
// numpy, which turns a Python float into a float64 and then rounds that to
// float32; a Go constant would be rounded once, straight from decimal.
func f32(v float64) float32 { return float32(v) }

var (
	caffeMean = [3]float32{f32(103.939), f32(116.779), f32(123.68)} // B, G, R
	torchMean = [3]float32{f32(0.485), f32(0.456), f32(0.406)}
	torchStd  = [3]float32{f32(0.229), f32(0.224), f32(0.225)}
)

// Preprocess writes img as float32 values in height, width, channel order
// into dst, which must hold exactly 3*img.H*img.W values, applying mode
// (Caffe, TF, Torch or None). With divide255 it then divides every value
// by 255, as the notebook did after preprocess_input (a bug there, kept
// here to reproduce its results).
//
// The arithmetic is done in float32, one operation at a time in the order
// Keras applies them to a float32 numpy array, so the values are the same
// bits Keras produces for the same pixels.
func Preprocess(dst []float32, img *RGB, mode string, divide255 bool) error {
	if err := checkMode(mode); err != nil {
		return err
	}
	if n := 3 * img.H * img.W; len(dst) != n || len(img.Pix) != n {
		return fmt.Errorf("images: preprocess %dx%d image (%d bytes) into %d floats: want %d of each", img.H, img.W, len(img.Pix), len(dst), n)
	}
	preprocess(dst, img.Pix, mode, divide255)
	return nil
}

// checkMode reports whether mode is a known preprocessing mode.
func checkMode(mode string) error {
	switch mode {
	case Caffe, TF, Torch, None:
		return nil
	}
	return fmt.Errorf("images: unknown preprocessing mode %q: use %q, %q, %q or %q", mode, Caffe, TF, Torch, None)
}

// preprocess is Preprocess without the checks; len(dst) == len(pix).
func preprocess(dst []float32, pix []uint8, mode string, divide255 bool) {
	dst = dst[:len(pix)]
	switch mode {
	case Caffe:
		for i := 0; i < len(pix); i += 3 {
			// x[..., ::-1], then x[..., c] -= mean[c]
			dst[i] = float32(pix[i+2]) - caffeMean[0]
			dst[i+1] = float32(pix[i+1]) - caffeMean[1]
			dst[i+2] = float32(pix[i]) - caffeMean[2]
		}
	case TF:
		for i, v := range pix {
			x := float32(v) / 127.5 // x /= 127.5
			dst[i] = x - 1          // x -= 1.
		}
	case Torch:
		for i, v := range pix {
			c := i % 3
			x := float32(v) / 255             // x /= 255.
			x -= torchMean[c]                 // x[..., c] -= mean[c]
			dst[i] = float32(x / torchStd[c]) // x[..., c] /= std[c]
		}
	default: // None
		for i, v := range pix {
			dst[i] = float32(v)
		}
	}
	if divide255 {
		for i := range dst {
			dst[i] /= 255
		}
	}
}

// Steps is Preprocess's arithmetic for one mode as data, so that the same
// preprocessing can be built elsewhere (as TensorFlow ops in an exported
// model) and give the same float32 values. Applied in this order, each
// step to every pixel, a step left out where it would change nothing:
// reverse the channels to BGR if BGR; x /= Div; x[c] -= Mean[c];
// x[c] /= Std[c]; then x /= 255 if the run divides by 255.
type Steps struct {
	BGR  bool
	Div  float32    // 1: no division
	Mean [3]float32 // per channel, in the output's channel order; zeros: none
	Std  [3]float32 // per channel; ones: none
}

// PreprocessSteps returns the steps of mode.
func PreprocessSteps(mode string) (Steps, error) {
	if err := checkMode(mode); err != nil {
		return Steps{}, err
	}
	s := Steps{Div: 1, Std: [3]float32{1, 1, 1}}
	switch mode {
	case Caffe:
		s.BGR, s.Mean = true, caffeMean
	case TF:
		s.Div, s.Mean = 127.5, [3]float32{1, 1, 1}
	case Torch:
		s.Div, s.Mean, s.Std = 255, torchMean, torchStd
	}
	return s, nil
}
