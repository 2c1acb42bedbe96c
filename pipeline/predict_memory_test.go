package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPredictFolderMemory (issue 16): predict on a folder of photos with
// the pretrained MobileNet streams them: the command's peak RSS, read from
// the kernel's rusage of the child process, is within 200 MiB for 1,000
// photos of what it is for 100 (holding the decoded photos would add
// 600 MiB to 900 MiB; the allocator's arenas grow by about 80 MiB before
// they level off), and the CSV has a row for every image. The absolute
// peak is TensorFlow's and MobileNet's, and depends on the CPU's kernels
// (about 450 MiB with oneDNN's on AVX-512, 610-680 MiB with Eigen's on
// AVX2): it is logged, not bounded.
func TestPredictFolderMemory(t *testing.T) {
	root := t.TempDir()
	cfg := transferConfig(t, root, "mem", "mobilenet", "global_pool", 2, 6, "train: {epochs: 1}\n")
	if stdout, stderr := runBinary(t, "-config", cfg); !strings.Contains(stdout, "results:") {
		t.Fatalf("the run did not finish:\n%s\n%s", stdout, stderr)
	}
	runs, _ := filepath.Glob(filepath.Join(root, "runs", "mem-*"))
	if len(runs) != 1 {
		t.Fatalf("run folders %q", runs)
	}

	// 1,000 VGA photos in 10 folders: 10 different JPEGs, each written 100
	// times (decoding, not content, costs the memory).
	photos := filepath.Join(root, "photos")
	for i := range 10 {
		img := image.NewRGBA(image.Rect(0, 0, 640, 480))
		for y := range 480 {
			for x := range 640 {
				img.SetRGBA(x, y, color.RGBA{uint8(x * (i + 1)), uint8(y * (i + 2)), uint8((x ^ y) * 3), 255})
			}
		}
		var b bytes.Buffer
		jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
		dir := filepath.Join(photos, fmt.Sprintf("roll_%d", i))
		os.MkdirAll(dir, 0o755)
		for j := range 100 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("IMG_%04d.jpg", j)), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	predict := func(dir, out string) (int64, string) {
		cmd := exec.Command(os.Args[0], "predict", "-run", runs[0], "-csv", out, dir)
		cmd.Env = append(os.Environ(), "GOTRANSFER_BE_MAIN=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("predict %s: %v\n%s", dir, err, stderr.String())
		}
		return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss / 1024, stderr.String() // Linux: KiB
	}
	few, _ := predict(filepath.Join(photos, "roll_0"), filepath.Join(root, "few.csv"))
	out := filepath.Join(root, "predictions.csv")
	peak, stderr := predict(photos, out)
	t.Logf("predict: peak RSS %d MiB on 100 photos, %d MiB on 1,000", few, peak)
	if peak-few >= 200 {
		t.Errorf("predict: peak RSS %d MiB on 1,000 photos against %d MiB on 100: memory grows with the folder", peak, few)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 1001 {
		t.Errorf("%s has %d lines, want a header and 1,000 rows", out, n)
	}
	if !strings.Contains(stderr, "1000 images in "+out) {
		t.Errorf("stderr: %s", stderr)
	}
}
