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

// TestPredictFolderMemory (issue 16): predict on a folder of 1,000 photos
// with the pretrained MobileNet streams them: the command's peak RSS,
// read from the kernel's rusage of the child process, stays under 500 MiB
// (about 400 MiB of it is TensorFlow and MobileNet, loaded for a single
// image too), and the CSV has a row for every image.
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

	out := filepath.Join(root, "predictions.csv")
	cmd := exec.Command(os.Args[0], "predict", "-run", runs[0], "-csv", out, photos)
	cmd.Env = append(os.Environ(), "GOTRANSFER_BE_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("predict: %v\n%s", err, stderr.String())
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss / 1024 // Linux: KiB
	t.Logf("predict on 1,000 photos: peak RSS %d MiB", peak)
	if peak >= 500 {
		t.Errorf("predict on 1,000 photos: peak RSS %d MiB, want < 500", peak)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 1001 {
		t.Errorf("%s has %d lines, want a header and 1,000 rows", out, n)
	}
	if !strings.Contains(stderr.String(), "1000 images in "+out) {
		t.Errorf("stderr: %s", stderr.String())
	}
}
