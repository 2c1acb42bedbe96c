package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/rundir"
)

// Large photos of the rerun part: 12 megapixels, a phone camera's.
const (
	photoW, photoH = 4000, 3000
	photoClasses   = 3
	photosPerClass = 5
)

// rerunData measures the data stage (hash, image check) of a rerun over
// 15 generated twelve-megapixel JPEGs, features cached, before and after
// the image check's verdicts and the figures' thumbnails were cached: one
// run computes the features, then two reruns with another epoch count
// each (so each gets a run folder of its own, as a sweep's trials do):
// the first with both caches emptied beforehand (every photo decoded, as
// before them), the second with them filled.
func (o *options) rerunData(bin string, res *results) error {
	data := filepath.Join(o.out, "photos")
	if err := o.photos(data); err != nil {
		return err
	}
	cache := filepath.Join(o.out, "cache-rerun")
	yaml := fmt.Sprintf(`name: rerun
seed: 42
runs_dir: %[1]s/runs-rerun
data: {dir: %[2]s, split: {train: 0.6, val: 0.2, test: 0.2}, stratify: true}
features: {cache_dir: %[3]s, batch_size: 8}
train: {batch_size: 8, epochs: 2}
export: {savedmodel: false}
models:
%[4]s`, o.out, data, cache, transferModel)
	cfgPath := filepath.Join(o.out, "rerun.yaml")
	if err := fsutil.WriteFile(cfgPath, []byte(yaml)); err != nil {
		return err
	}
	if err := removeAll(filepath.Join(o.out, "runs-rerun"), cache); err != nil {
		return err
	}
	if _, err := measure(bin, "-config", cfgPath); err != nil {
		return err
	}
	var stage, bb, wall [2]float64
	for i, epochs := range []int{3, 4} {
		if i == 0 {
			// As it was: no verdict and no thumbnail remembered.
			for _, pat := range []string{"image-checks-*", "pixels-*"} {
				vs, err := filepath.Glob(filepath.Join(cache, pat))
				if err != nil {
					return err
				}
				if err := removeAll(vs...); err != nil {
					return err
				}
			}
		}
		set := fmt.Sprintf("train.epochs=%d", epochs)
		p, err := measure(bin, "-config", cfgPath, "-set", set)
		if err != nil {
			return err
		}
		cfg, err := config.Load(cfgPath, []string{set})
		if err != nil {
			return err
		}
		dir, _, err := rundir.For(cfg)
		if err != nil {
			return err
		}
		t, err := readTiming(dir)
		if err != nil {
			return err
		}
		d, ok := t.Stages["data"]
		if !ok {
			return fmt.Errorf("%s: no data stage", filepath.Join(dir, rundir.TimingFile))
		}
		stage[i], bb[i], wall[i] = d, t.Stages["backbones"], p.Seconds
	}
	load := loadAverage()
	res.Raw["rerun_data_seconds_before_after"], res.Raw["rerun_wall_seconds_before_after"] = []float64{stage[0], stage[1]}, []float64{wall[0], wall[1]}
	res.Sections = append(res.Sections, fmt.Sprintf(`
## A rerun over large photos, features cached

%d generated %d×%d JPEGs (%d classes), MobileNet features cached by a first run; two reruns with another epoch count each. Before: the image check's verdicts and the figures' thumbnails emptied first, so every photo is decoded, as every rerun did before they were cached. The data stage is timing.json's: scanning and hashing the files, the image check, the run folder and manifest; loading and checking the backbone is its own stage; the rest of a rerun is training, the inspection and the report (whose figures draw thumbnails of the photos). Load average after: %s.

| rerun | data stage | backbone stage | whole rerun, wall time |
|---|--:|--:|--:|
| before: every photo decoded again | %s | %s | %s |
| after: verdicts and thumbnails cached by content hash | %s | %s | %s |
| ratio | %.1f× | | %.2f× |
`, photoClasses*photosPerClass, photoW, photoH, photoClasses, load, secs(stage[0]), secs(bb[0]), secs(wall[0]), secs(stage[1]), secs(bb[1]), secs(wall[1]), stage[0]/stage[1], wall[0]/wall[1]))
	return nil
}

// photos writes photoClasses folders of photosPerClass seeded
// twelve-megapixel JPEGs (smooth colour fields with noise, so that they
// compress as photos do, a few MB each) unless they are there.
func (o *options) photos(dir string) error {
	for c := range photoClasses {
		for i := range photosPerClass {
			path := filepath.Join(dir, fmt.Sprintf("class_%d", c), fmt.Sprintf("IMG_%04d.jpg", i))
			if _, err := os.Stat(path); err == nil {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "bench: writing %s\n", path)
			img := image.NewRGBA(image.Rect(0, 0, photoW, photoH))
			r := rand.New(rand.NewPCG(uint64(c), uint64(i)))
			base := [3]float64{float64(60 + 80*c), r.Float64() * 255, r.Float64() * 255}
			for y := range photoH {
				for x := range photoW {
					var px [3]uint8
					for k := range px {
						v := base[k] + 60*float64(x)/photoW - 40*float64(y)/photoH + float64(r.IntN(24))
						px[k] = uint8(max(0, min(255, v)))
					}
					img.SetRGBA(x, y, color.RGBA{px[0], px[1], px[2], 255})
				}
			}
			var b bytes.Buffer
			if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
				return err
			}
			if err := fsutil.WriteFile(path, b.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}
