package export

import (
	"math/rand/v2"
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/gotransfer/gotransfer/pipeline/images"
	"github.com/gotransfer/gotransfer/pipeline/tensors"
)

// The export's preprocessing ops give the same float32 bits as the
// pipeline's Go preprocessing, for every mode, with and without ÷255.
func TestPreprocessOpsMatchGo(t *testing.T) {
	const h, w = 5, 7
	r := rand.New(rand.NewPCG(1, 2))
	img := images.NewRGB(h, w)
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	img.Pix[0], img.Pix[1], img.Pix[2] = 0, 255, 128
	pix := make([]float32, len(img.Pix))
	for i, v := range img.Pix {
		pix[i] = float32(v)
	}
	for _, mode := range []string{images.Caffe, images.TF, images.Torch, images.None} {
		for _, div := range []bool{false, true} {
			want := make([]float32, len(pix))
			if err := images.Preprocess(want, img, mode, div); err != nil {
				t.Fatal(err)
			}
			s := op.NewScope()
			x := op.Placeholder(s.SubScope("x"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1, h, w, 3)))
			y, err := preprocess(s.SubScope("p"), x, mode, div)
			if err != nil {
				t.Fatal(err)
			}
			if mode == images.None && !div {
				y = op.Identity(s.SubScope("id"), y)
			}
			g, err := s.Finalize()
			if err != nil {
				t.Fatal(err)
			}
			sess, err := tf.NewSession(g, nil)
			if err != nil {
				t.Fatal(err)
			}
			in, _ := tensors.FromFloat32(pix, 1, h, w, 3)
			res, err := sess.Run(map[tf.Output]*tf.Tensor{x: in}, []tf.Output{y}, nil)
			sess.Close()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := tensors.Float32s(res[0])
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%s, divide_by_255 %v: value %d: graph %v, Go %v", mode, div, i, got[i], want[i])
					break
				}
			}
		}
	}
	if _, err := preprocess(op.NewScope(), tf.Output{}, "bgr", false); err == nil {
		t.Error("unknown mode accepted")
	}
}
