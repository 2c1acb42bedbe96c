package train_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/reference"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// spatial is an in-memory split of per-example [h, w, c] inputs.
type spatial struct {
	x   []float32
	y   []int32
	dim int
}

func (d *spatial) Len() int          { return len(d.y) }
func (d *spatial) Label(i int) int32 { return d.y[i] }
func (d *spatial) Read(idx []int, x []float32) error {
	for j, i := range idx {
		copy(x[j*d.dim:(j+1)*d.dim], d.x[i*d.dim:(i+1)*d.dim])
	}
	return nil
}

// TestLayerKindsKerasParity trains, in Go and in Keras (one Python process
// for all; Keras builds each layer from its kind's Keras class name and
// settings alone), small networks of every layer kind and setting beyond
// the notebook's CNN (TestScratchCNNKerasParity) and the fine-tuned
// VGG16 and MobileNet blocks (TestFineTuneKerasParity):
// global_average_pooling2d with a hidden dense layer on spatial features
// (the shape of a backbone's conv_pw_13_relu, scaled down);
// unit_normalization on feature vectors (the VGG paper's L2-normalised
// features and linear classifier); and the kinds and settings that the
// upper blocks of modern backbones use, in the shapes they have there:
// EfficientNet's padded strided depthwise convolution, swish and
// squeeze-and-excitation (pooling, reshape, 1×1 convolutions with swish and
// sigmoid); MobileNetV3's hard_silu, pooling with keepdims and hard
// sigmoid as its exporter records it (rescaling, relu6, rescaling);
// ConvNeXt's grouped (depthwise) convolution, layer normalization on an
// image and on a vector, dense on an image, gelu and layer scale;
// InceptionV3's batch normalization without scale, 3×3 stride-1 average
// pooling with same padding and 1×3 convolutions; ResNet50V2's zero
// padding and 1×1 stride-2 max pooling; a 3×3 max pooling with same
// padding; DenseNet's 2×2 average pooling; and the remaining activations.
// Each wants the forward pass and every step's loss within 1e-4 of Keras'
// (unit_normalization: 1e-5).
func TestLayerKindsKerasParity(t *testing.T) {
	top := func() layers.Layer {
		return &layers.Dense{Units: layers.Classes, Activation: "softmax", UseBias: true}
	}
	conv := func(filters, kh, kw int, activation string, bias bool) *layers.Conv2D {
		return &layers.Conv2D{Filters: filters, KernelSize: [2]int{kh, kw}, Strides: [2]int{1, 1}, Padding: "same", Activation: activation, UseBias: bias, Groups: 1}
	}
	bn := func(center, scale bool) layers.Layer {
		return &layers.BatchNormalization{Epsilon: 1e-3, Center: center, Scale: scale}
	}
	act := func(name string) layers.Layer { return &layers.Activation{Activation: name} }
	grouped := conv(8, 3, 3, "linear", true)
	grouped.Groups = 8
	layerParityAll(t,
		parityCase{name: "global_average_pooling2d", in: layers.Shape{5, 4, 6}, lr: 1e-2, tol: 1e-4, layers: []layers.Layer{
			&layers.GlobalAveragePooling2D{}, &layers.Dense{Units: 8, Activation: "relu", UseBias: true}, top()}},
		parityCase{name: "unit_normalization", in: layers.Shape{24}, lr: 1e-1, tol: 1e-5, layers: []layers.Layer{
			&layers.UnitNormalization{}, top()}},
		parityCase{name: "efficientnet", in: layers.Shape{5, 5, 6}, lr: 5e-2, tol: 1e-4, layers: []layers.Layer{
			&layers.ZeroPadding2D{Padding: [2][2]int{{1, 2}, {1, 2}}},
			&layers.DepthwiseConv2D{KernelSize: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: "valid", DepthMultiplier: 1, Activation: "linear"},
			bn(true, true), act("swish"),
			&layers.GlobalAveragePooling2D{},
			&layers.Reshape{TargetShape: []int{1, 1, 6}},
			conv(4, 1, 1, "silu", true), conv(6, 1, 1, "sigmoid", true),
			&layers.Flatten{}, top()}},
		parityCase{name: "mobilenetv3", in: layers.Shape{4, 4, 6}, lr: 5e-2, tol: 1e-4, layers: []layers.Layer{
			conv(8, 1, 1, "linear", false), bn(true, true), act("hard_silu"),
			&layers.GlobalAveragePooling2D{Keepdims: true},
			conv(4, 1, 1, "relu", true), conv(8, 1, 1, "linear", true),
			&layers.Rescaling{Scale: 1, Offset: 3}, &layers.ReLU{MaxValue: 6}, &layers.Rescaling{Scale: 1.0 / 6},
			conv(6, 1, 1, "hard_sigmoid", true), act("hard_swish"),
			&layers.Flatten{}, top()}},
		parityCase{name: "convnext", in: layers.Shape{4, 4, 8}, lr: 1e-2, tol: 1e-4, layers: []layers.Layer{
			grouped,
			&layers.LayerNormalization{Epsilon: 1e-6, Center: true, Scale: true},
			&layers.Dense{Units: 16, Activation: "linear", UseBias: true}, act("gelu"),
			&layers.Dense{Units: 8, Activation: "linear", UseBias: true},
			&layers.LayerScale{InitValues: 0.5, ProjectionDim: 8},
			&layers.GlobalAveragePooling2D{},
			&layers.LayerNormalization{Epsilon: 1e-6, Center: true, Scale: false},
			top()}},
		parityCase{name: "inception", in: layers.Shape{5, 5, 6}, lr: 5e-2, tol: 1e-4, layers: []layers.Layer{
			bn(true, false), act("relu"),
			&layers.AveragePooling2D{PoolSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same"},
			conv(6, 1, 3, "tanh", false), bn(false, true),
			&layers.ZeroPadding2D{Padding: [2][2]int{{1, 1}, {1, 1}}},
			&layers.MaxPool{PoolSize: [2]int{1, 1}, Strides: [2]int{2, 2}, Padding: "valid"},
			&layers.DepthwiseConv2D{KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same", DepthMultiplier: 1, Activation: "relu6", UseBias: true},
			&layers.MaxPool{PoolSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same"},
			&layers.AveragePooling2D{PoolSize: [2]int{2, 2}, Strides: [2]int{2, 2}, Padding: "valid"},
			act("softmax"), &layers.Flatten{}, top()}},
		// A graph: a residual add of the input, a multiply of two
		// branches, a concatenate, as ResNet, EfficientNet and DenseNet
		// join theirs (Keras' functional API on the other side).
		parityCase{name: "graph", in: layers.Shape{6, 5, 4}, lr: 1e-2, tol: 1e-4,
			inputs: layers.Inputs{{-1}, {0}, {-1, 1}, {2, 0}, {3, 1}, {4}, {5}}, layers: []layers.Layer{
				conv(4, 3, 3, "relu", true), conv(4, 1, 1, "linear", false),
				&layers.Add{}, &layers.Multiply{}, &layers.Concatenate{Axis: 3},
				&layers.GlobalAveragePooling2D{}, top()}},
		// Xception's separable convolutions and InceptionResNetV2's
		// scaled residual join.
		parityCase{name: "xception and inception-resnet", in: layers.Shape{6, 6, 4}, lr: 1e-2, tol: 1e-4,
			inputs: layers.Inputs{{-1}, {0}, {-1, 1}, {2}, {3}}, layers: []layers.Layer{
				&layers.SeparableConv2D{Filters: 6, KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same", DepthMultiplier: 2, Activation: "relu", UseBias: true},
				&layers.SeparableConv2D{Filters: 4, KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "same", DepthMultiplier: 1, Activation: "linear", UseBias: false},
				&layers.CustomScaleLayer{Scale: 0.17},
				&layers.GlobalAveragePooling2D{}, top()}},
	)
}

// parityCase is one network for layerParityAll.
type parityCase struct {
	name    string
	in      layers.Shape
	lr, tol float64
	layers  []layers.Layer
	inputs  layers.Inputs // nil: a stack
}

// goParity is what Go computed for a parityCase.
type goParity struct {
	loss  []float64
	probs []float32 // every example's class probabilities with the initial weights
}

// kerasParity is what scripts/keras_reference.py --steps prints for a run.
type kerasParity struct {
	BatchLoss    []float64 `json:"batch_loss"`
	InitialProbs []float64 `json:"initial_probs"`
}

// layerParityAll trains each case's layers on seeded inputs of shape in
// (3 classes, 32 examples, batches of 8) for 6 Adam steps at learning rate
// lr in Go and in Keras, one Keras process for all cases (each Python
// start costs seconds). For each it wants the class probabilities of
// every example with the initial weights (the forward pass alone) and each
// step's loss within tol of Keras', the loss to fall and every trainable
// weight to move.
func layerParityAll(t *testing.T, cases ...parityCase) {
	t.Helper()
	const steps = 6
	var dirs []string
	var goSide []goParity
	for _, c := range cases {
		dir := t.TempDir()
		goSide = append(goSide, goTrain(t, c, dir, steps))
		dirs = append(dirs, dir)
	}
	keras := make([]kerasParity, len(cases))
	var out any = &keras
	if len(cases) == 1 {
		out = &keras[0]
	}
	if err := reference.KerasAll(testenv.Python(t), filepath.Join(testenv.Root(t), "scripts", "keras_reference.py"), dirs, out, "--steps", fmt.Sprint(steps)); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		check := func(t *testing.T) {
			g, k := goSide[i], keras[i]
			if len(k.BatchLoss) != steps || len(k.InitialProbs) != len(g.probs) {
				t.Fatalf("Keras returned %d losses and %d probabilities, want %d and %d", len(k.BatchLoss), len(k.InitialProbs), steps, len(g.probs))
			}
			worst := 0.0
			for j, p := range g.probs {
				worst = max(worst, math.Abs(float64(p)-k.InitialProbs[j]))
			}
			t.Logf("forward: largest |diff| of the initial class probabilities %.2g", worst)
			if worst > c.tol {
				t.Errorf("forward: class probabilities differ from Keras' by up to %.2g > %g", worst, c.tol)
			}
			if g.loss[steps-1] >= g.loss[0] {
				t.Errorf("loss did not fall: %v", g.loss)
			}
			worst = 0
			for s := range g.loss {
				t.Logf("step %d: loss Go %.6f Keras %.6f", s+1, g.loss[s], k.BatchLoss[s])
				diff := math.Abs(g.loss[s] - k.BatchLoss[s])
				if diff > c.tol {
					t.Errorf("step %d: loss Go %.6f, Keras %.6f (|diff| %.2g > %g)", s+1, g.loss[s], k.BatchLoss[s], diff, c.tol)
				}
				worst = max(worst, diff)
			}
			t.Logf("largest per-step |diff| of the loss %.2g", worst)
		}
		t.Run(c.name, check)
	}
}

// goTrain trains c's network in Go for steps batches and writes the same
// run to dir for Keras.
func goTrain(t *testing.T, c parityCase, dir string, steps int) goParity {
	t.Helper()
	const n, classes = 32, 3
	dim := 1
	for _, s := range c.in {
		dim *= s
	}
	ch := c.in[len(c.in)-1]
	r := rand.New(rand.NewPCG(5, 0))
	d := &spatial{x: make([]float32, n*dim), y: make([]int32, n), dim: dim}
	for i := range d.y {
		d.y[i] = int32(i % classes)
		for j := 0; j < d.dim; j++ {
			d.x[i*d.dim+j] = float32(r.NormFloat64()) + float32(d.y[i]*int32(j%ch)%3)
		}
	}
	spec := nn.Spec{
		Input:   c.in,
		Layers:  c.layers,
		Inputs:  c.inputs,
		Classes: classes,
		Adam:    nn.Adam{LearningRate: c.lr, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7},
	}
	net, err := nn.Build(spec)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer net.Close()
	init := net.InitialWeights(3)
	if err := net.SetWeights(init); err != nil {
		t.Fatal(err)
	}
	probs, _, err := net.Predict(d.x, nil)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 8
	orders := [][]int{train.Order(n, 3, 1, true), train.Order(n, 3, 2, true)}
	flat := append(append([]int{}, orders[0]...), orders[1]...)
	var loss []float64
	for s := 0; s < steps; s++ {
		x, y, err := train.Batch(d, flat[s*batch:(s+1)*batch], net)
		if err != nil {
			t.Fatal(err)
		}
		l, _, err := net.TrainBatch(x, y, int64(s), [2]int64{3, int64(s)})
		if err != nil {
			t.Fatal(err)
		}
		loss = append(loss, l)
	}
	trained, err := net.TrainableWeights()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range trained {
		if slices.Equal(w.Values, init[w.Name]) {
			t.Errorf("%s: %s did not move in %d steps", c.name, w.Name, steps)
		}
	}
	if err := reference.Write(dir, reference.Run{Spec: spec, Init: init, Train: d, Orders: orders, BatchSize: batch}); err != nil {
		t.Fatal(err)
	}
	return goParity{loss: loss, probs: probs}
}
