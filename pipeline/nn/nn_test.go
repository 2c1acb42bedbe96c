package nn

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/layers"
)

var adam = Adam{LearningRate: 1e-3, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}

func dense(units layers.Units, act string) layers.Layer {
	return &layers.Dense{Units: units, Activation: act, UseBias: true}
}

// blobs returns n examples of dim features in k well-separated clusters.
func blobs(n, dim, k int, seed uint64) ([]float32, []int32) {
	r := rand.New(rand.NewPCG(seed, 0))
	x := make([]float32, n*dim)
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(i % k)
		for j := 0; j < dim; j++ {
			c := float32(0)
			if j%k == int(y[i]) {
				c = 2
			}
			x[i*dim+j] = c + float32(r.NormFloat64())*0.5
		}
	}
	return x, y
}

func TestParamsMatchKeras(t *testing.T) {
	// The notebook's scratch CNN on 224×224×3 with 97 classes: Keras reports
	// 1,233,473 trainable parameters.
	conv := &layers.Conv2D{Filters: 32, KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "valid", Activation: "relu", UseBias: true}
	pool := &layers.MaxPool{PoolSize: [2]int{2, 2}, Strides: [2]int{2, 2}, Padding: "valid"}
	drop := func(r float64) layers.Layer { return &layers.Dropout{Rate: r} }
	stack := []layers.Layer{conv, pool, conv, pool, drop(.25), conv, pool, conv, pool, drop(.25),
		&layers.Flatten{}, dense(256, "relu"), drop(.5), dense(layers.Classes, "softmax")}
	n, err := Build(Spec{Input: layers.Shape{224, 224, 3}, Layers: stack, Classes: 97, Adam: adam})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.Params(); got != 1233473 {
		t.Errorf("scratch CNN params = %d, want 1,233,473\n%s", got, n.Summary())
	}
	if got := n.Layers[10].Output; len(got) != 1 || got[0] != 4608 {
		t.Errorf("flatten output %v, want 4608", got)
	}

	// The notebook's VGG16 head: Dense(97) on fc2's 4096 features.
	h, err := Build(Spec{Input: []int{4096}, Layers: []layers.Layer{dense(layers.Classes, "softmax")}, Classes: 97, Adam: adam})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := h.Params(); got != 397409 {
		t.Errorf("head params = %d, want 397,409", got)
	}
}

func TestTrainLearnsAndIsRepeatable(t *testing.T) {
	x, y := blobs(256, 8, 4, 1)
	stack := []layers.Layer{dense(16, "relu"), &layers.Dropout{Rate: 0.2}, dense(layers.Classes, "softmax")}
	run := func() ([]float64, map[string][]float32) {
		n, err := Build(Spec{Input: []int{8}, Layers: stack, Classes: 4, Adam: Adam{LearningRate: 0.01, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if err := n.SetWeights(n.InitialWeights(7)); err != nil {
			t.Fatal(err)
		}
		var losses []float64
		step := int64(0)
		for epoch := 0; epoch < 20; epoch++ {
			sum := 0.0
			for b := 0; b < 256; b += 64 {
				l, _, err := n.TrainBatch(x[b*8:(b+64)*8], y[b:b+64], step, [2]int64{7, step})
				if err != nil {
					t.Fatal(err)
				}
				sum += l
				step++
			}
			losses = append(losses, sum/4)
		}
		w, err := n.Weights()
		if err != nil {
			t.Fatal(err)
		}
		return losses, w
	}
	l1, w1 := run()
	if !(l1[len(l1)-1] < 0.3*l1[0]) {
		t.Errorf("loss did not fall: first %.4f, last %.4f", l1[0], l1[len(l1)-1])
	}
	if math.Abs(l1[0]-math.Log(4)) > 0.5 {
		t.Errorf("first-epoch loss %.3f far from ln(4) for a fresh 4-class model", l1[0])
	}
	l2, w2 := run()
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatalf("epoch %d loss %v then %v: training is not repeatable", i, l1[i], l2[i])
		}
	}
	for k := range w1 {
		for j := range w1[k] {
			if w1[k][j] != w2[k][j] {
				t.Fatalf("%s[%d] differs between identical runs", k, j)
			}
		}
	}
}

func TestPredictDropoutOffAndLoss(t *testing.T) {
	stack := []layers.Layer{dense(8, "relu"), &layers.Dropout{Rate: 0.5}, dense(layers.Classes, "softmax")}
	n, err := Build(Spec{Input: []int{4}, Layers: stack, Classes: 3, Adam: adam})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.SetWeights(n.InitialWeights(1)); err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 2, 3, 4, -1, 0.5, 2, 0}
	y := []int32{0, 2}
	p1, l1, err := n.Predict(x, y)
	if err != nil {
		t.Fatal(err)
	}
	p2, _, _ := n.Predict(x, y)
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatal("inference is not deterministic: dropout active?")
		}
	}
	for r := 0; r < 2; r++ {
		s := p1[3*r] + p1[3*r+1] + p1[3*r+2]
		if math.Abs(float64(s)-1) > 1e-5 {
			t.Errorf("row %d probabilities sum to %v", r, s)
		}
		want := -math.Log(float64(p1[3*r+int(y[r])]))
		if math.Abs(float64(l1[r])-want) > 1e-5 {
			t.Errorf("row %d loss %v, want -log p = %v", r, l1[r], want)
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	spec := Spec{Input: []int{4}, Layers: []layers.Layer{dense(layers.Classes, "softmax")}, Classes: 2, Adam: adam}
	a, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.SetWeights(a.InitialWeights(3)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.TrainBatch([]float32{1, 0, 0, 1, 0, 1, 1, 0}, []int32{0, 1}, 0, [2]int64{}); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "ckpt")
	if err := a.Save(prefix); err != nil {
		t.Fatal(err)
	}
	b, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Restore(prefix); err != nil {
		t.Fatal(err)
	}
	wa, _ := a.Weights()
	wb, _ := b.Weights()
	if len(wa) != 6 { // kernel, bias, and Adam's m and v slots for each
		t.Fatalf("%d variables, want 6: %v", len(wa), wa)
	}
	for k := range wa {
		for j := range wa[k] {
			if wa[k][j] != wb[k][j] {
				t.Fatalf("%s[%d]: saved %v, restored %v", k, j, wa[k][j], wb[k][j])
			}
		}
	}
	if err := b.Restore(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("restoring a missing checkpoint: %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Input: []int{7, 7, 512}, Layers: []layers.Layer{dense(layers.Classes, "softmax")}, Classes: 3}, "flatten"},
		{Spec{Input: []int{8}, Layers: []layers.Layer{dense(4, "relu")}, Classes: 3}, "last layer"},
		{Spec{Input: []int{4, 4, 3}, Layers: []layers.Layer{&layers.Conv2D{Filters: 2, KernelSize: [2]int{5, 5}, Strides: [2]int{1, 1}, Padding: "valid", Activation: "linear", UseBias: true}}, Classes: 3}, "does not fit"},
	} {
		if _, err := Build(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%v): error %v, want it to mention %q", tc.spec.Layers, err, tc.want)
		}
	}
}

func TestGlobalAveragePooling2D(t *testing.T) {
	// GlobalAveragePooling2D then a dense layer whose kernel is the
	// identity: the logits are each channel's mean over height and width.
	spec := Spec{Input: layers.Shape{2, 3, 2}, Layers: []layers.Layer{&layers.GlobalAveragePooling2D{}, dense(layers.Classes, "softmax")}, Classes: 2, Adam: adam}
	n, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.Layers[0]; got.Name != "global_average_pooling2d" || got.Output.String() != "2" || got.Params != 0 {
		t.Errorf("layer 0 = %+v, want global_average_pooling2d with output 2 and no weights", got)
	}
	if n.Params() != 2*2+2 {
		t.Errorf("params = %d, want 6 (dense on 2 channels)", n.Params())
	}
	w := n.InitialWeights(1)
	w["dense/kernel"] = []float32{1, 0, 0, 1}
	if err := n.SetWeights(w); err != nil {
		t.Fatal(err)
	}
	// One example, NHWC: channel 0 holds 1..6, channel 1 holds 10..60.
	x := []float32{1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60}
	probs, _, err := n.Predict(x, nil)
	if err != nil {
		t.Fatal(err)
	}
	m0, m1 := 3.5, 35.0 // the channels' means
	want := 1 / (1 + math.Exp(m0-m1))
	if math.Abs(float64(probs[1])-want) > 1e-6 {
		t.Errorf("p(class 1) = %v, want softmax of the channel means (%v, %v) = %v", probs[1], m0, m1, want)
	}
	// It trains: gradients flow through the mean.
	xs, ys := blobs(64, 12, 2, 3)
	first, last := 0.0, 0.0
	for step := int64(0); step < 60; step++ {
		l, _, err := n.TrainBatch(xs, ys, step, [2]int64{})
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = l
		}
		last = l
	}
	if !(last < first) {
		t.Errorf("loss did not fall through global average pooling: %v -> %v", first, last)
	}
}

func TestSummaryLikeKeras(t *testing.T) {
	stack := []layers.Layer{
		&layers.Conv2D{Filters: 4, KernelSize: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: "valid", Activation: "relu", UseBias: true},
		&layers.MaxPool{PoolSize: [2]int{2, 2}, Strides: [2]int{2, 2}, Padding: "valid"},
		&layers.Flatten{}, dense(1000, "relu"), dense(layers.Classes, "softmax"),
	}
	n, err := Build(Spec{Input: layers.Shape{10, 10, 3}, Layers: stack, Classes: 3, Adam: adam})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	got := n.Summary()
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	want := []string{
		"Layer (type)                  Output Shape     Param #",
		"──────────────────────────────────────────────────────",
		"conv2d (Conv2D)               (None, 8, 8, 4)      112",
		"max_pooling2d (MaxPooling2D)  (None, 4, 4, 4)        0",
		"flatten (Flatten)             (None, 64)             0",
		"dense (Dense)                 (None, 1000)      65,000",
		"dense_1 (Dense)               (None, 3)          3,003",
		"──────────────────────────────────────────────────────",
		"Total params: 68,115",
		"Trainable params: 68,115",
		"Non-trainable params: 0",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("summary:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// TestSummaryGraph adds Keras' "Connected to" column for a graph.
func TestSummaryGraph(t *testing.T) {
	conv := &layers.Conv2D{Filters: 4, KernelSize: [2]int{1, 1}, Strides: [2]int{1, 1}, Padding: "valid", Activation: "linear", UseBias: false}
	n, err := Build(Spec{Input: layers.Shape{3, 3, 4}, Layers: []layers.Layer{conv, &layers.Add{}, &layers.GlobalAveragePooling2D{}, dense(layers.Classes, "softmax")},
		Inputs: layers.Inputs{{-1}, {-1, 0}, {1}, {2}}, Names: []string{"b_conv", "b_add", "pool", "dense"}, Classes: 3, Adam: adam})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	want := strings.Join([]string{
		"Layer (type)                   Output Shape     Param #  Connected to",
		"──────────────────────────────────────────────────────────────────────",
		"b_conv (Conv2D)                (None, 3, 3, 4)       16  input",
		"b_add (Add)                    (None, 3, 3, 4)        0  input, b_conv",
		"pool (GlobalAveragePooling2D)  (None, 4)              0  b_add",
		"dense (Dense)                  (None, 3)             15  pool",
		"──────────────────────────────────────────────────────────────────────",
		"Total params: 31",
	}, "\n")
	if got := n.Summary(); !strings.HasPrefix(got, want) {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
}
