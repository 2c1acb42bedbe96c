package pixels

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/gotransfer/gotransfer/pipeline/dataset"
	"github.com/gotransfer/gotransfer/pipeline/fsutil"
	"github.com/gotransfer/gotransfer/pipeline/images"
)

// Thumbs returns figures' thumbnails through the pixel cache under
// cacheDir: the entry of the file's content hash in the store of
// size×size nearest-neighbour pixels (the one a scratch model of that
// input size would use), so that only a thumbnail not seen before is
// decoded. Reading a file to hash it costs little beside decoding it (a
// twelve-megapixel JPEG). A corrupt entry is decoded and written again.
func Thumbs(cacheDir string) images.Thumbs {
	return func(path string, size int) (*images.RGB, error) {
		b, err := fsutil.ReadRegular(path, 0)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", path, err)
		}
		sum := sha256.Sum256(b)
		e := dataset.Example{Path: path, Hash: hex.EncodeToString(sum[:])}
		s := Open(cacheDir, size, size, images.Nearest)
		img := images.NewRGB(size, size)
		if s.Get(e, img.Pix) == nil {
			return img, nil
		}
		if img, err = images.Load(path, size, size, images.Nearest); err != nil {
			return nil, err
		}
		if err := s.Put(e.Hash, img.Pix); err != nil {
			return nil, err
		}
		return img, nil
	}
}
