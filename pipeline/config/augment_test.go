package config

import (
	"strings"
	"testing"
)

// TestAugment: augment for the run and per model, evaluate.tta, their
// defaults, Augmentation's choice, the canonical form (written only when
// set, read back the same) and every bad value in the usual form.
func TestAugment(t *testing.T) {
	src := minimal + `augment:
  views: 8
  random_resized_crop: {scale: [0.5, 1]}
  rotation: 10
evaluate:
  tta: {scales: [1, 0.875], average: features}
`
	c, err := Parse("t.yaml", []byte(src), []string{"models.0.augment={views: 1}"})
	if err != nil {
		t.Fatal(err)
	}
	a := c.Augment
	if a == nil || a.Views != 8 || !a.HorizontalFlip || a.Rotation != 10 || a.Crop == nil ||
		a.Crop.Scale != [2]float64{0.5, 1} || a.Crop.Ratio != [2]float64{3.0 / 4, 4.0 / 3} {
		t.Fatalf("augment = %+v (crop %+v)", a, a.Crop)
	}
	if got := c.Augmentation(c.Models[0]); got != nil {
		t.Errorf("a model with views: 1 trains with %+v, want none", got)
	}
	c.Models[0].Augment = nil
	if got := c.Augmentation(c.Models[0]); got != a {
		t.Errorf("a model without its own trains with %+v, want the run's", got)
	}
	tta := c.Evaluate.TTA
	if tta == nil || !tta.Flip || len(tta.Scales) != 2 || tta.Average != AverageFeatures || tta.Views().Views() != 4 {
		t.Fatalf("tta = %+v", tta)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("back.yaml", out, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	again, _ := back.Marshal()
	if string(again) != string(out) {
		t.Errorf("canonical form does not read back the same:\n%s\n---\n%s", out, again)
	}
	plain, err := Parse("t.yaml", []byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := plain.Marshal(); strings.Contains(string(out), "augment") || strings.Contains(string(out), "tta") {
		t.Errorf("a config without augment or tta writes them:\n%s", out)
	}

	for _, tc := range []struct{ set, want string }{
		{"augment={views: 4, random_crop: {}}", "augment.random_crop: unknown key (known: brightness, contrast, horizontal_flip, random_resized_crop, rotation, saturation, views)"},
		{"augment.views=0", "augment.views: want an integer >= 1 (1: the image itself only), got 0"},
		{"augment={horizontal_flip: false}", "augment.views: 4 views, but no transform is on"},
		{"augment.random_resized_crop.scale=[0, 1]", "augment.random_resized_crop.scale: want [min, max] with 0 < min <= max <= 1"},
		{"augment.random_resized_crop.scale=[0.5, 1.5]", "augment.random_resized_crop.scale: want [min, max] with 0 < min <= max <= 1"},
		{"augment.random_resized_crop.ratio=[2, 1]", "augment.random_resized_crop.ratio: want [min, max] with 0 < min <= max"},
		{"augment.random_resized_crop.scale=0.5", "augment.random_resized_crop.scale: want [min, max], got \"0.5\""},
		{"augment.rotation=-5", "augment.rotation: want degrees in [0, 180]"},
		{"augment.brightness=2", "augment.brightness: want a number in [0, 1]"},
		{"models.0.augment.views=0", "models.0.augment.views: want an integer >= 1"},
		{"evaluate.tta.scales=[]", "evaluate.tta.scales: want at least one scale"},
		{"evaluate.tta.scales=[1.2]", "evaluate.tta.scales: want scales in (0, 1]"},
		{"evaluate.tta.average=logits", "evaluate.tta.average: want one of probabilities, features"},
	} {
		_, err := Parse("t.yaml", []byte(minimal), []string{tc.set})
		if err == nil || !strings.Contains(err.Error(), "-set "+tc.set+": "+tc.want) {
			t.Errorf("-set %s: error %v, want %q", tc.set, err, tc.want)
		}
	}
	transfer := strings.Replace(minimal, "  - name: m\n", "  - name: m\n    backbone: {savedmodel: s, endpoint: e}\n", 1)
	_, err = Parse("t.yaml", []byte(transfer), []string{"augment={views: 2}", "evaluate.tta={average: features}"})
	if want := "augment: evaluate.tta.average: features trains m on each image's averaged views"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("augment with features averaged: error %v, want %q", err, want)
	}
}
