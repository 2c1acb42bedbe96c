package plan_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/backbone"
	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/layers"
	"github.com/gotransfer/gotransfer/pipeline/nn"
	"github.com/gotransfer/gotransfer/pipeline/plan"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
	"github.com/gotransfer/gotransfer/pipeline/train"
)

// defaultConfig is configs/default.yaml with its backbone at the set-up's
// export: a scratch CNN, a frozen MobileNet and a fine-tuned one.
func defaultConfig(t *testing.T) *config.Config {
	cfg, err := config.Load(filepath.Join(testenv.Root(t), "configs", "default.yaml"), []string{
		"models.1.backbone.savedmodel=" + testenv.SavedModel(t, "mobilenet"),
		"models.2.backbone.savedmodel=" + testenv.SavedModel(t, "mobilenet"),
		"predict.top_k=4",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestFor checks what a config's models resolve to: input, endpoints,
// the network's input and layers, each phase's settings.
func TestFor(t *testing.T) {
	cfg := defaultConfig(t)
	mobilenet := testenv.SavedModel(t, "mobilenet")
	var plans []*plan.Plan
	for _, m := range cfg.Models {
		p, err := plan.For(cfg, m)
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, p)
	}
	scratch, frozen, tuned := plans[0], plans[1], plans[2]
	if scratch.Backbone != nil || scratch.Input.Height != 64 || scratch.Input.Width != 64 || scratch.Input.Preprocess != "tf" ||
		!reflect.DeepEqual(scratch.Network.Input, layers.Shape{64, 64, 3}) || scratch.Network.Names != nil || len(scratch.Phases) != 1 {
		t.Errorf("scratch plan: %+v", scratch)
	}
	wantES := &train.EarlyStopping{Monitor: "val_loss", Patience: 5, RestoreBestWeights: true}
	if ph := scratch.Phases[0]; ph.Name != rundir.TrainDir || ph.Epochs != 30 || ph.BatchSize != 32 || !ph.Shuffle || ph.Frozen != 0 ||
		ph.Seed != plan.ModelSeed(42, "scratch_cnn") || ph.Adam != (nn.Adam{LearningRate: 0.001, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}) ||
		!reflect.DeepEqual(ph.EarlyStopping, wantES) {
		t.Errorf("scratch phase: %+v", ph)
	}
	if b := frozen.Backbone; b == nil || b.SavedModel != mobilenet || b.Endpoint != "global_pool" || b.Features != "global_pool" || b.FineTuneFrom != "" ||
		frozen.Input.Height != 224 || frozen.Input.Width != 224 || !reflect.DeepEqual(frozen.Network.Input, layers.Shape{1024}) ||
		frozen.FineTuned() || !frozen.Transfer() || frozen.TopK != 4 {
		t.Errorf("transfer plan: %+v, backbone %+v", frozen, frozen.Backbone)
	}
	if b := tuned.Backbone; b.Features != "conv_dw_13_relu" || b.FineTuneFrom != "conv_pw_13" || !tuned.FineTuned() ||
		!reflect.DeepEqual(tuned.Network.Input, layers.Shape{7, 7, 1024}) ||
		!reflect.DeepEqual(tuned.Network.Names, []string{"conv_pw_13", "conv_pw_13_bn", "conv_pw_13_relu", "global_pool", "dense"}) {
		t.Errorf("fine-tuned plan: %+v, backbone %+v", tuned, tuned.Backbone)
	}
	if len(tuned.Phases) != 2 || tuned.Phases[0].Frozen != 4 || tuned.Phases[1].Frozen != 0 || tuned.Phases[1].Name != rundir.FineTuneDir ||
		tuned.Phases[1].Epochs != 10 || tuned.Phases[1].Adam.LearningRate != 1e-5 || tuned.Phases[1].Seed != plan.ModelSeed(42, "mobilenet_finetune/fine_tune") {
		t.Errorf("fine-tuned phases: %+v", tuned.Phases)
	}
	pre, err := tuned.PretrainedTail()
	if err != nil || len(pre["conv_pw_13/kernel"]) != 1024*1024 {
		t.Errorf("PretrainedTail: %d values of conv_pw_13/kernel, %v", len(pre["conv_pw_13/kernel"]), err)
	}

	// A wrong endpoint or cut is named with what the backbone has.
	bad := cfg.Models[2]
	b := *bad.Backbone
	b.Endpoint = "fc9"
	bad.Backbone = &b
	if _, err := plan.For(cfg, bad); err == nil || !strings.Contains(err.Error(), `model mobilenet_finetune: backbone.endpoint "fc9"`) || !strings.Contains(err.Error(), "global_pool") {
		t.Errorf("unknown endpoint: %v", err)
	}
	b.Endpoint, b.FineTuneFrom = "global_pool", "conv_pw_99"
	if _, err := plan.For(cfg, bad); err == nil || !strings.Contains(err.Error(), `backbone.fine_tune_from "conv_pw_99"`) {
		t.Errorf("unknown cut: %v", err)
	}
}

// TestWriteRead: a plan written by a run reads back equal, builds the same
// network, and a run folder without model.json says what to do.
func TestWriteRead(t *testing.T) {
	cfg := defaultConfig(t)
	run := t.TempDir()
	for _, m := range cfg.Models {
		p, err := plan.For(cfg, m)
		if err != nil {
			t.Fatal(err)
		}
		p.Classes = []string{"a", "b", "c"}
		if p.Transfer() {
			p.Backbone.Precision, p.Backbone.FeatureBatch = backbone.BFloat16, 17
		}
		if err := p.Check(); err != nil {
			t.Fatal(err)
		}
		if err := p.Write(run); err != nil {
			t.Fatal(err)
		}
		got, err := plan.Read(run, m.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("%s: read back %+v, want %+v", m.Name, got, p)
		}
		want, err := nn.Build(p.Final())
		if err != nil {
			t.Fatal(err)
		}
		again, err := nn.Build(got.Final())
		if err != nil {
			t.Fatal(err)
		}
		if want.Summary() != again.Summary() || want.Params() != again.Params() {
			t.Errorf("%s: the read plan builds\n%s\nwant\n%s", m.Name, again.Summary(), want.Summary())
		}
		want.Close()
		again.Close()
	}
	raw, err := os.ReadFile(filepath.Join(rundir.Model(run, "mobilenet_finetune"), rundir.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"format": "gotransfer.model/v1"`, `"precision": "bfloat16"`, `"feature_batch": 17`, `"features": "conv_dw_13_relu"`, `"units": "classes"`} {
		if !strings.Contains(string(raw), s) {
			t.Errorf("model.json lacks %s:\n%s", s, raw)
		}
	}

	_, err = plan.Read(run, "nope")
	if err == nil || !strings.Contains(err.Error(), "trained before model.json existed") || !strings.Contains(err.Error(), "rerun its config") {
		t.Errorf("missing model.json: %v", err)
	}
	path := filepath.Join(rundir.Model(run, "scratch_cnn"), rundir.ModelFile)
	os.WriteFile(path, []byte(`{"format": "gotransfer.model/v0"}`), 0o644)
	if _, err := plan.Read(run, "scratch_cnn"); err == nil || !strings.Contains(err.Error(), `format "gotransfer.model/v0"`) {
		t.Errorf("old format: %v", err)
	}
}

// The training recipe reaches each phase: a schedule per phase (each
// optimizer its own), train's plateau callback and sampling in both, the
// loss's label smoothing in the network, and all of it through Options,
// Spec and model.json.
func TestForTrainingRecipe(t *testing.T) {
	mobilenet := testenv.SavedModel(t, "mobilenet")
	cfg, err := config.Load(filepath.Join(testenv.Root(t), "configs", "default.yaml"), []string{
		"models.2.backbone.savedmodel=" + mobilenet,
		"train.optimizer.adam.learning_rate={exponential_decay: {initial_learning_rate: 0.01, decay_steps: 10, decay_rate: 0.5, staircase: true}}",
		"models.2.fine_tune.optimizer.adam.learning_rate={cosine_decay: {initial_learning_rate: 0.0001, decay_steps: 50}}",
		"train.loss={categorical_crossentropy: {label_smoothing: 0.2}}",
		"train.sampling=balanced",
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.For(cfg, cfg.Models[2])
	if err != nil {
		t.Fatal(err)
	}
	p.Classes, p.ClassWeights = []string{"a", "b"}, []float64{0.75, 1.5}
	first, second := p.Phases[0].Options(), p.Phases[1].Options()
	if first.Schedule.ExponentialDecay == nil || first.Schedule.Rate(10) != float64(float32(0.005)) || second.Schedule.CosineDecay == nil ||
		second.Schedule.Rate(0) != float64(float32(1e-4)) || !first.BalancedSampling || !second.BalancedSampling {
		t.Errorf("phase options: %+v / %+v", first, second)
	}
	if s := p.Spec(1); s.LabelSmoothing != 0.2 || !reflect.DeepEqual(s.ClassWeights, []float64{0.75, 1.5}) {
		t.Errorf("spec: smoothing %v, class weights %v", s.LabelSmoothing, s.ClassWeights)
	}
	run := t.TempDir()
	p.Backbone.FeatureBatch = 8 // the run's choice, which Read checks
	if err := p.Write(run); err != nil {
		t.Fatal(err)
	}
	back, err := plan.Read(run, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("model.json changed the plan:\n%+v\nwant\n%+v", back, p)
	}

	cfg, err = config.Load(filepath.Join(testenv.Root(t), "configs", "default.yaml"), []string{
		"models.1.backbone.savedmodel=" + mobilenet, "train.reduce_lr_on_plateau={patience: 2}"})
	if err != nil {
		t.Fatal(err)
	}
	p, err = plan.For(cfg, cfg.Models[1])
	if err != nil {
		t.Fatal(err)
	}
	if o := p.Phases[0].Options(); o.ReduceLROnPlateau == nil || o.ReduceLROnPlateau.Patience != 2 || o.Schedule.Set() {
		t.Errorf("plateau options: %+v", o)
	}
}
