package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

// transferConfig generates classes×perClass images under root/data and
// writes root/c.yaml: a run named name, its runs and cache under root, and
// one transfer model "top" (a new Dense on the SavedModel set-up built as
// savedmodels/model, cut at endpoint). extra is YAML added at the top
// level (train, predict, ...). It returns the config's path.
func transferConfig(t *testing.T, root, name, model, endpoint string, classes, perClass int, extra string) string {
	t.Helper()
	testenv.ImageDataset(t, filepath.Join(root, "data"), classes, perClass, 1)
	cfg := filepath.Join(root, "c.yaml")
	body := fmt.Sprintf(`
name: %[3]s
runs_dir: %[1]s/runs
data: {dir: %[1]s/data, split: {train: 0.6, val: 0.2, test: 0.2}}
features: {cache_dir: %[1]s/cache}
models:
  - name: top
    backbone: {savedmodel: %[2]s, endpoint: %[4]s}
    layers: [{dense: {units: classes, activation: softmax}}]
%[5]s`, root, testenv.SavedModel(t, model), name, endpoint, extra)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}
