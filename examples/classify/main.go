// Command classify prints the most probable classes of image files, using
// a classifier that gotransfer trained and exported as a SavedModel:
//
//	go run ./examples/classify runs/own-images-1a2b3c4d/models/mobilenet_transfer/savedmodel photo.jpg ...
//
// It needs nothing from gotransfer: only tfgo and the TensorFlow Go binding
// (and TensorFlow's C library, as any Go program using TensorFlow does).
// Copy it into your own program. The export's classify_encoded signature
// takes the bytes of JPEG, PNG, GIF or BMP files of any size; decoding,
// resizing, preprocessing, the backbone and the trained top all run inside
// the SavedModel. TensorFlow writes log lines to stderr, the results go to
// stdout; TF_CPP_MIN_LOG_LEVEL=2 hides most of those lines (not Abseil's).
package main

import (
	"fmt"
	"os"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	tg "github.com/galeone/tfgo"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: classify SAVEDMODEL_DIR IMAGE...")
		os.Exit(2)
	}
	model := tg.LoadModel(os.Args[1], []string{"serve"}, nil) // panics if there is no SavedModel
	for _, path := range os.Args[2:] {
		classes, scores, err := classify(model, path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s:\n", path)
		for i, class := range classes {
			fmt.Printf("  %6.2f%%  %s\n", 100*scores[i], class)
		}
	}
}

// classify returns the top classes of the image file at path, most
// probable first, and their probabilities.
func classify(model *tg.Model, path string) (classes []string, scores []float32, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	in, err := tf.NewTensor([]string{string(data)}) // a batch of one encoded image
	if err != nil {
		return nil, nil, err
	}
	defer func() { // tfgo panics on TensorFlow errors, e.g. a file that is not an image
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", path, r)
		}
	}()
	res := model.Exec(
		[]tf.Output{model.Op("top_k_classes", 0), model.Op("top_k_scores", 0)},
		map[tf.Output]*tf.Tensor{model.Op("image_bytes", 0): in})
	return res[0].Value().([][]string)[0], res[1].Value().([][]float32)[0], nil
}
