package experiment

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotransfer/gotransfer/pipeline/config"
	"github.com/gotransfer/gotransfer/pipeline/internal/testenv"
	"github.com/gotransfer/gotransfer/pipeline/report"
)

// ownImages loads configs/own-images.yaml as a user would run it, with
// data.dir set to dir and everything the run writes under root.
func ownImages(t *testing.T, root, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join(testenv.Root(t), "configs", "own-images.yaml"), []string{
		"data.dir=" + dir,
		"runs_dir=" + filepath.Join(root, "runs"),
		"features.cache_dir=" + filepath.Join(root, "cache"),
		"models.0.backbone.savedmodel=" + testenv.SavedModel(t, "mobilenet"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestOwnImagesConfig runs configs/own-images.yaml, unchanged but for the
// paths, on a generated folder of class folders in mixed formats, with the
// pretrained MobileNet: the story of README's "Your own images".
func TestOwnImagesConfig(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "photos")
	testenv.ImageDataset(t, data, 3, 40, 16) // PNG and JPEG, 40 per class
	// A photo from an iPhone, which the pipeline cannot read: left out and
	// reported, not silently dropped.
	os.WriteFile(filepath.Join(data, "class_0", "IMG_0001.HEIC"), []byte("heic"), 0o644)
	// And one left beside the class folders: not used, and said so.
	os.WriteFile(filepath.Join(data, "stray.jpg"), []byte("jpeg"), 0o644)
	var log bytes.Buffer
	res, err := Run(context.Background(), ownImages(t, root, data), Options{Log: &log, Progress: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	dir := res.Dir
	if !strings.HasPrefix(filepath.Base(dir), "own-images-") {
		t.Errorf("run folder %s", dir)
	}
	if n := res.Data.Ignored[".heic"]; n != 1 || len(res.Data.Ignored) != 1 {
		t.Errorf("files left out for their extension: %v, want the HEIC file", res.Data.Ignored)
	}
	if res.Data.Loose != 1 {
		t.Errorf("%d images beside the class folders, want the stray one", res.Data.Loose)
	}
	run, err := report.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Stratified 70/15/15 of 40 per class: 28/6/6 each.
	if d := run.Dataset; d.Train != 84 || d.Val != 18 || d.Test != 18 {
		t.Errorf("split %d/%d/%d, want 84/18/18", d.Train, d.Val, d.Test)
	}
	if len(run.Models) != 1 || run.Models[0].Name != "mobilenet_transfer" || run.Models[0].Test == nil {
		t.Fatalf("models %+v", run.Models)
	}
	m := run.Models[0]
	// Coloured discs on noise, 28 training images per class: a top that
	// learned nothing would score a third.
	if m.Test.Accuracy < 0.6 {
		t.Errorf("test accuracy %.3f on an easy generated set\n%s", m.Test.Accuracy, log.String())
	}
	if !m.RestoredBest {
		t.Errorf("early stopping did not restore the best epoch (best %d of %d)", m.BestEpoch, len(m.History))
	}
}

// TestOwnImagesMistakes: each common mistake with one's own photos stops
// the run before any model work with a message that names the file or
// folder and says what to do.
func TestOwnImagesMistakes(t *testing.T) {
	root := t.TempDir()
	write := func(dir string, names ...string) string {
		for _, n := range names {
			p := filepath.Join(dir, n)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	loose := write(filepath.Join(root, "loose"), "IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg")
	small := filepath.Join(root, "small")
	testenv.ImageDataset(t, small, 2, 10, 3)
	write(small, "rare/only.jpg", "rare/two.jpg")
	heic := filepath.Join(root, "heic")
	testenv.ImageDataset(t, heic, 2, 10, 3)
	write(heic, "cat/IMG_1.HEIC", "cat/IMG_2.HEIC")
	huge := filepath.Join(root, "huge")
	testenv.ImageDataset(t, huge, 2, 10, 3)
	// A PNG whose header says 20000×12000 pixels (240 MP): only the header
	// is read before the file is refused.
	if err := os.WriteFile(filepath.Join(huge, "class_1", "panorama.png"), pngHeader(20000, 12000), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, dir string
		wants     []string
	}{
		{"images directly in data.dir", loose, []string{"3 image(s) directly in the folder", "own subfolder"}},
		{"a class with 2 images", small, []string{"fewer than 3 images: rare (2)", "data.exclude"}},
		{"a class of HEIC photos", heic, []string{filepath.Join(heic, "cat"), "2 .heic", "convert them to JPEG or PNG"}},
		{"a huge photo", huge, []string{filepath.Join(huge, "class_1", "panorama.png"), "20000x12000", "shrink"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			_, err := Run(context.Background(), ownImages(t, filepath.Join(root, "out"), tt.dir), Options{Log: &log, Progress: &log})
			if err == nil {
				t.Fatalf("no error\n%s", log.String())
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// pngHeader returns the signature and IHDR chunk of a w×h 8-bit RGB PNG:
// enough for image.DecodeConfig.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // depth 8, RGB, deflate, no filter, no interlace
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, uint32(len(ihdr)-4))
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}
