package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
)

// The deployment files cannot run here (no Docker engine, no Kubernetes
// cluster): check what can drift from the code they deploy.
func TestDeployFilesAgree(t *testing.T) {
	root := testenv.Root(t)
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// The image's TensorFlow C library and Go are the ones set-up pins.
	docker := read("deploy/kubernetes/Dockerfile")
	arg := func(name string) string {
		m := regexp.MustCompile(`(?m)^ARG ` + name + `=(\S+)$`).FindStringSubmatch(docker)
		if m == nil {
			t.Fatalf("Dockerfile has no ARG %s=", name)
		}
		return m[1]
	}
	pin := regexp.MustCompile(`(?m)^tensorflow_cpu==(\S+)$`).FindStringSubmatch(read("scripts/requirements.txt"))
	if pin == nil {
		t.Fatal("scripts/requirements.txt pins no tensorflow_cpu")
	}
	if got := arg("TF_VERSION"); got != pin[1] {
		t.Errorf("Dockerfile builds on TensorFlow %s, set-up pins %s (scripts/requirements.txt)", got, pin[1])
	}
	gover := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(read("go.mod"))
	if gover == nil || arg("GO_VERSION") != gover[1] {
		t.Errorf("Dockerfile's GO_VERSION %s, go.mod's %v", arg("GO_VERSION"), gover)
	}

	// The Jobs: an Indexed Job whose completions are the shard count
	// training is told, the same config for both, one ReadWriteMany claim.
	type container struct {
		Args         []string
		VolumeMounts []struct {
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	type object struct {
		Kind string
		Spec struct {
			CompletionMode string   `yaml:"completionMode"`
			Completions    int      `yaml:"completions"`
			AccessModes    []string `yaml:"accessModes"`
			Template       struct {
				Spec struct {
					Containers []container
					Volumes    []struct {
						PVC struct {
							ClaimName string `yaml:"claimName"`
						} `yaml:"persistentVolumeClaim"`
					}
				}
			}
		}
		Metadata struct{ Name string }
	}
	parse := func(rel string) []object {
		var objs []object
		d := yaml.NewDecoder(strings.NewReader(read(rel)))
		for {
			var o object
			if err := d.Decode(&o); err != nil {
				if errors.Is(err, io.EOF) {
					return objs
				}
				t.Fatalf("%s: %v", rel, err)
			}
			objs = append(objs, o)
		}
	}
	flag := func(args []string, name string) string {
		i := slices.Index(args, name)
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("args %q have no %s", args, name)
		}
		return args[i+1]
	}
	vol := parse("deploy/kubernetes/volume.yaml")
	if vol[0].Kind != "PersistentVolumeClaim" || !slices.Contains(vol[0].Spec.AccessModes, "ReadWriteMany") {
		t.Errorf("volume.yaml's first object is not a ReadWriteMany claim: %+v", vol[0])
	}
	feat, train := parse("deploy/kubernetes/features-job.yaml")[0], parse("deploy/kubernetes/train-job.yaml")[0]
	if feat.Spec.CompletionMode != "Indexed" || feat.Spec.Completions < 1 {
		t.Errorf("features job: completionMode %q, completions %d; want Indexed, at least 1", feat.Spec.CompletionMode, feat.Spec.Completions)
	}
	fa, ta := feat.Spec.Template.Spec.Containers[0].Args, train.Spec.Template.Spec.Containers[0].Args
	if fa[0] != "features" {
		t.Errorf("features job runs %q, want the features command", fa)
	}
	n := flag(fa, "-shards")
	if n != flag(ta, "-shards") || n != strconv.Itoa(feat.Spec.Completions) {
		t.Errorf("features job: %d completions, -shards %s; training -shards %s: all must agree", feat.Spec.Completions, n, flag(ta, "-shards"))
	}
	for _, j := range []object{feat, train} {
		cfg := flag(j.Spec.Template.Spec.Containers[0].Args, "-config")
		if cfg != flag(fa, "-config") {
			t.Errorf("%s uses %s, the features job %s", j.Metadata.Name, cfg, flag(fa, "-config"))
		}
		if _, err := os.Stat(filepath.Join(root, strings.TrimPrefix(cfg, "/app/"))); err != nil {
			t.Errorf("%s: %s is not in the image (the Dockerfile copies configs/ to /app/configs/)", j.Metadata.Name, cfg)
		}
		if c := j.Spec.Template.Spec.Volumes[0].PVC.ClaimName; c != vol[0].Metadata.Name {
			t.Errorf("%s mounts claim %q, volume.yaml makes %q", j.Metadata.Name, c, vol[0].Metadata.Name)
		}
	}

	// The Slurm scripts parse.
	for _, f := range []string{"deploy/slurm/submit.sh", "deploy/slurm/features.sbatch", "deploy/slurm/train.sbatch", "scripts/slurm_cluster.sh", "scripts/test_cluster.sh"} {
		if out, err := exec.Command("bash", "-n", filepath.Join(root, f)).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}
