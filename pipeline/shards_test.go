package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// pipelineCmd is the pipeline command with args, in dir.
func pipelineCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	// No scheduler's variables leak in from where the test runs.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "JOB_COMPLETION_INDEX=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GOTRANSFER_BE_MAIN=1") // see TestMain
	return cmd
}

// pipelineRun runs the pipeline command and fails the test if it fails.
func pipelineRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := pipelineCmd(t, dir, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("pipeline %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// shardConfig is a two-model experiment (the tiny backbone's features and a
// scratch CNN's pixels) on noisy 320×320 images: big enough that decoding
// takes a while, so a shard can be killed while it works.
func shardConfig(t *testing.T, root string) string {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	for k := range 3 {
		dir := filepath.Join(root, "data", fmt.Sprintf("class_%d", k))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 12 {
			img := image.NewRGBA(image.Rect(0, 0, 320, 320))
			for j := 0; j < len(img.Pix); j += 4 {
				v := uint8(r.IntN(256))
				img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = v, uint8(int(v)*k/3), 255-v, 255
			}
			img.Set(0, 0, color.RGBA{uint8(i), 0, 0, 255})
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("img_%02d.png", i)), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(root, "shards.yaml")
	yaml := fmt.Sprintf(`
name: shards
seed: 3
data:
  dir: data
  split: {train: 0.5, val: 0.25, test: 0.25}
images: {workers: 1}
features: {batch_size: 2}
train: {batch_size: 4, epochs: 2}
models:
  - name: top
    backbone: {savedmodel: %s, endpoint: fc2}
    layers:
      - dense: {units: classes, activation: softmax}
  - name: scratch
    image_size: [16, 16]
    layers:
      - conv2d: {filters: 2, kernel_size: 3, activation: relu}
      - flatten: {}
      - dense: {units: classes, activation: softmax}
`, testenv.SavedModel(t, "tiny"))
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// places are the -set flags that put a run's cache and run folders under
// one folder of root.
func places(name string) []string {
	return []string{"-set", "features.cache_dir=" + name + "/cache", "-set", "runs_dir=" + name + "/runs"}
}

// N shard processes started at once, then training, give the cache
// entries and metrics of one plain run, byte for byte; a shard killed
// mid-way leaves training refusing to start and naming it, and rerunning
// that shard alone gives the same result again.
func TestShardProcessesEqualOneRun(t *testing.T) {
	root := t.TempDir()
	cfg := shardConfig(t, root)
	const n = 3

	pipelineRun(t, root, append([]string{"-config", cfg}, places("one")...)...)

	// N processes at once, no scheduler.
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := range n {
		c := pipelineCmd(t, root, append([]string{"features", "-config", cfg, "-shard", fmt.Sprintf("%d/%d", i, n)}, places("many")...)...)
		var b bytes.Buffer
		c.Stdout, c.Stderr = &b, &b
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, c), append(outs, &b)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("shard %d/%d: %v\n%s", i, n, err, outs[i])
		}
	}
	train := append(append([]string{"-config", cfg}, places("many")...), "-shards", fmt.Sprint(n))
	log := pipelineRun(t, root, train...)
	if !strings.Contains(log, "top: features fc2: 36 cached, 0 recomputed (bad entry), 0 computed") {
		t.Errorf("training after the shards computed features itself:\n%s", log)
	}
	sameFiles(t, filepath.Join(root, "one", "cache"), filepath.Join(root, "many", "cache"))
	sameRuns(t, filepath.Join(root, "one", "runs"), filepath.Join(root, "many", "runs"))

	// Kill shard 1 mid-way: once it has cached its first features.
	c := pipelineCmd(t, root, append([]string{"features", "-config", cfg, "-shard", "1/" + fmt.Sprint(n)}, places("killed")...)...)
	var killedOut bytes.Buffer
	c.Stdout, c.Stderr = &killedOut, &killedOut
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var entries int
	for deadline := time.Now().Add(2 * time.Minute); entries == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatalf("shard 1 cached nothing in 2 minutes:\n%s", killedOut.String())
		}
		entries = countEntries(t, filepath.Join(root, "killed", "cache"), ".f32")
	}
	c.Process.Signal(syscall.SIGKILL)
	c.Wait()
	entries = countEntries(t, filepath.Join(root, "killed", "cache"), ".f32")
	t.Logf("shard 1 killed with %d of its 12 features cached", entries)
	if entries >= 12 {
		t.Fatalf("shard 1 had cached all its %d features when killed: not mid-way", entries)
	}
	for _, i := range []int{0, 2} {
		pipelineRun(t, root, append([]string{"features", "-config", cfg, "-shard", fmt.Sprintf("%d/%d", i, n)}, places("killed")...)...)
	}
	train = append(append([]string{"-config", cfg}, places("killed")...), "-shards", fmt.Sprint(n))
	out, err := pipelineCmd(t, root, train...).CombinedOutput()
	if err == nil {
		t.Fatalf("training started with shard 1 unfinished:\n%s", out)
	}
	for _, want := range []string{"shard 1 of 3 did not finish", "pipeline features -config " + cfg, "-shard 1/3", "ARRAY=1 SHARDS=3 deploy/slurm/submit.sh"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("training's refusal does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "epoch") {
		t.Errorf("training refused after training something:\n%s", out)
	}
	// Shard 1 alone, again: it keeps what it had finished.
	rerun := pipelineRun(t, root, append([]string{"features", "-config", cfg, "-shard", "1/" + fmt.Sprint(n)}, places("killed")...)...)
	if want := fmt.Sprintf("top: features fc2: %d cached, 0 recomputed (bad entry), %d computed", entries, 12-entries); !strings.Contains(rerun, want) {
		t.Errorf("the rerun shard does not say %q:\n%s", want, rerun)
	}
	pipelineRun(t, root, train...)
	sameFiles(t, filepath.Join(root, "one", "cache"), filepath.Join(root, "killed", "cache"))
	sameRuns(t, filepath.Join(root, "one", "runs"), filepath.Join(root, "killed", "runs"))
}

// countEntries counts the files with extension ext under dir.
func countEntries(t *testing.T, dir, ext string) int {
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ext {
			n++
		}
		return nil
	})
	return n
}

// sameFiles fails the test unless folders a and b hold the same files
// with the same bytes. A writer killed mid-write (SIGKILL) may leave its
// temporary file (".NAME.RANDOM.tmp", never read as an entry) behind:
// those are not compared.
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := readTree(t, a), readTree(t, b)
	for _, f := range []map[string][]byte{fa, fb} {
		for p := range f {
			if base := path.Base(p); strings.HasPrefix(base, ".") && strings.HasSuffix(base, ".tmp") {
				delete(f, p)
			}
		}
	}
	if len(fa) == 0 {
		t.Fatalf("%s is empty", a)
	}
	for p, x := range fa {
		y, ok := fb[p]
		switch {
		case !ok:
			t.Errorf("%s has %s, %s does not", a, p, b)
		case !bytes.Equal(x, y):
			t.Errorf("%s differs between %s and %s", p, a, b)
		}
	}
	for p := range fb {
		if _, ok := fa[p]; !ok {
			t.Errorf("%s has %s, %s does not", b, p, a)
		}
	}
}

// sameRuns compares the one run folder under each of two runs folders:
// every file but the effective config (its cache and runs paths differ),
// those that name the run folder, and those with wall times.
func sameRuns(t *testing.T, a, b string) {
	t.Helper()
	one := func(dir string) string {
		m, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(m) != 1 {
			t.Fatalf("%s: want one run folder, have %v", dir, m)
		}
		return m[0]
	}
	fa, fb := readTree(t, one(a)), readTree(t, one(b))
	for _, skip := range []string{"config.yaml", "timing.json"} {
		delete(fa, skip)
		delete(fb, skip)
	}
	if _, ok := fa["metrics.json"]; !ok {
		t.Fatalf("%s has no metrics.json", one(a))
	}
	for p, x := range fa {
		switch {
		case path.Base(p) == "state.json" || strings.HasPrefix(p, rundir.TensorBoardDir+"/"):
			continue // each epoch's wall time; event files are stamped with it
		case strings.Contains(p, "/savedmodel/") && (path.Base(p) == "metadata.json" || path.Base(p) == "saved_model.pb"):
			continue // an export names its run folder; its variables are compared
		}
		if y, ok := fb[p]; !ok || !bytes.Equal(x, y) {
			t.Errorf("run file %s differs between %s and %s", p, one(a), one(b))
		}
	}
}

// readTree reads every file under dir by its slash path relative to dir.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// The features command takes its shard from -shard, else from the
// scheduler's environment, else runs every image; contradictions are
// usage errors that say what to pass.
func TestPickShard(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	cases := []struct {
		part  string
		count int
		env   func(string) string
		want  string
		err   string
	}{
		{want: "0/1", env: env()},
		{part: "2/4", want: "2/4", env: env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "2")},
		{part: "2/4", count: 4, want: "2/4", env: env()},
		{part: "2/4", count: 3, env: env(), err: "disagree"},
		{part: "4/4", env: env(), err: "from 0 to 3"},
		{env: env("SLURM_ARRAY_TASK_ID", "3", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_MIN", "0"), want: "3/4"},
		{count: 4, env: env("SLURM_ARRAY_TASK_ID", "3", "SLURM_ARRAY_TASK_COUNT", "1", "SLURM_ARRAY_TASK_MIN", "3"), want: "3/4"},
		{count: 5, env: env("JOB_COMPLETION_INDEX", "4"), want: "4/5"},
		{env: env("JOB_COMPLETION_INDEX", "4"), err: "pass -shards N"},
		{count: 4, env: env(), err: "without a shard index"},
		{count: -1, env: env(), err: "positive"},
	}
	for _, c := range cases {
		got, err := pickShard(c.part, c.count, c.env)
		switch {
		case c.err == "" && (err != nil || got.String() != c.want):
			t.Errorf("-shard %q -shards %d: %v, %v; want %s", c.part, c.count, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("-shard %q -shards %d: error %v, want one saying %q", c.part, c.count, err, c.err)
		}
	}
}

// The command lines a refusal prints can be pasted into a shell.
func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"configs/default.yaml":     "configs/default.yaml",
		"data.dir=/data/my photos": "'data.dir=/data/my photos'",
		"name=it's":                `'name=it'\''s'`,
		"":                         "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
