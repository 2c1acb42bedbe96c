package train_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/plan"
	"github.com/gotransfer/gotransfer/pipeline/reference"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

func classifier() layers.Layer {
	return &layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true}
}

// memData is a split held in memory: activations at a cut, and labels.
type memData struct {
	x   []float32
	y   []int32
	per int
}

func (d *memData) Len() int          { return len(d.y) }
func (d *memData) Label(i int) int32 { return d.y[i] }
func (d *memData) Read(idx []int, x []float32) error {
	for j, i := range idx {
		copy(x[j*d.per:(j+1)*d.per], d.x[i*d.per:(i+1)*d.per])
	}
	return nil
}

// TestFineTuneKerasParity runs the fine-tuning phase (the backbone's layers
// above the cut, with their pretrained weights, trained with a new top;
// batch normalisation in inference mode) for 20 Adam steps in Go and in
// Keras, from the same weights on the same batches, and compares each
// step's loss: VGG16 from block5_conv1 (block 5's three convolutions and
// its pool, then flatten and the new dense: fc1 and fc2 would add 120M
// weights and minutes to the test, and dense layers' parity is the new
// top's own test) and MobileNet from conv_pw_13 (1×1 conv, batch
// normalisation, ReLU6, global pool) and from conv_dw_13 (a 3×3 depthwise
// conv, batch normalisation and ReLU6 below those).
func TestFineTuneKerasParity(t *testing.T) {
	for _, tc := range []struct {
		model, from, endpoint string
		top                   []layers.Layer
		n, batch              int
		lr                    float64
	}{
		{"vgg16-random", "block5_conv1", "block5_pool", []layers.Layer{&layers.Flatten{}, classifier()}, 4, 1, 1e-5},
		{"mobilenet", "conv_pw_13", "global_pool", []layers.Layer{classifier()}, 16, 4, 1e-4},
		{"mobilenet", "conv_dw_13", "conv_pw_13_relu", []layers.Layer{&layers.GlobalAveragePooling2D{}, classifier()}, 16, 4, 1e-4},
	} {
		t.Run(tc.model+"/"+tc.from, func(t *testing.T) {
			dir := testenv.SavedModel(t, tc.model)
			const classes, steps = 3, 20
			cfg := config.Default()
			cfg.Train.Optimizer.Adam.LearningRate = tc.lr
			m := config.Model{Name: "ft", Backbone: &config.Backbone{SavedModel: dir, Endpoint: tc.endpoint, FineTuneFrom: tc.from},
				Layers: tc.top, FineTune: &config.FineTune{Epochs: 1, Optimizer: cfg.Train.Optimizer}}
			p, err := plan.For(cfg, m)
			if err != nil {
				t.Fatal(err)
			}
			p.Classes = []string{"a", "b", "c"}
			pre, err := p.PretrainedTail()
			if err != nil {
				t.Fatal(err)
			}
			spec := p.Spec(1) // the fine-tuning phase: every layer trains
			net, err := nn.Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			init := net.InitialWeights(23)
			for k, v := range pre {
				init[k] = v
			}
			if err := net.SetWeights(init); err != nil {
				t.Fatal(err)
			}

			// Activations like a ReLU's output: non-negative, half zeros.
			per := spec.Input.Size()
			r := rand.New(rand.NewPCG(5, 6))
			data := &memData{x: make([]float32, tc.n*per), y: make([]int32, tc.n), per: per}
			for i := range data.x {
				data.x[i] = float32(max(0, r.NormFloat64()))
			}
			for i := range data.y {
				data.y[i] = int32(i % classes)
			}
			var orders [][]int
			var flat []int
			for e := 1; len(flat) < steps*tc.batch; e++ {
				o := train.Order(tc.n, 23, e, true)
				orders, flat = append(orders, o), append(flat, o...)
			}
			var goLoss []float64
			x := make([]float32, tc.batch*per)
			y := make([]int32, tc.batch)
			for s := range steps {
				idx := flat[s*tc.batch : (s+1)*tc.batch]
				data.Read(idx, x)
				for j, i := range idx {
					y[j] = data.y[i]
				}
				l, _, err := net.TrainBatch(x, y, int64(s), [2]int64{23, int64(s)})
				if err != nil {
					t.Fatal(err)
				}
				goLoss = append(goLoss, l)
			}
			after, err := net.Weights()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range net.Vars {
				switch {
				case v.Slot:
				case !v.Trainable && !slices.Equal(after[v.Name], init[v.Name]):
					t.Errorf("%s is frozen (batch normalisation's statistics) but changed", v.Name)
				case v.Trainable && slices.Equal(after[v.Name], init[v.Name]):
					t.Errorf("%s trains but did not change in %d steps", v.Name, steps)
				}
			}

			ref := t.TempDir()
			if err := reference.Write(ref, reference.Run{Spec: spec, Init: init, Train: data, Orders: orders, BatchSize: tc.batch}); err != nil {
				t.Fatal(err)
			}
			var keras struct {
				BatchLoss []float64 `json:"batch_loss"`
			}
			if err := reference.Keras(testenv.Python(t), filepath.Join(testenv.Root(t), "scripts", "keras_reference.py"), ref, &keras, "--steps", "20"); err != nil {
				t.Fatal(err)
			}
			if len(keras.BatchLoss) != steps {
				t.Fatalf("Keras returned %d losses", len(keras.BatchLoss))
			}
			worst := 0.0
			for s := range goLoss {
				d := math.Abs(goLoss[s] - keras.BatchLoss[s])
				worst = max(worst, d)
				if d > 1e-4 || math.IsNaN(d) {
					t.Errorf("step %d: loss Go %.6f, Keras %.6f (|diff| %.2g > 1e-4)", s+1, goLoss[s], keras.BatchLoss[s], d)
				}
			}
			t.Logf("%s from %s: %d steps, loss %.5f -> %.5f, max |Go - Keras| %.2g", tc.model, tc.from, steps, goLoss[0], goLoss[steps-1], worst)
		})
	}
}
