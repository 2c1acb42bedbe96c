// Package download fetches public datasets a config names in data.download
// when data.dir is missing. Online it downloads, checks the archive against
// its published size and checksums, and unpacks it; offline it fails
// within seconds with what to do instead.
package download

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Archive is a file as its publisher serves it: where, how many bytes, and
// its checksums. A download that differs in any of them is refused.
type Archive struct {
	URL    string
	Size   int64  // bytes
	MD5    string // hex
	SHA256 string // hex
}

// Caltech101Archive is Caltech-101 as CaltechDATA publishes it (record
// mzrjq-6wc02, doi:10.22002/D1.20086): caltech-101.zip, holding
// caltech-101/101_ObjectCategories.tar.gz (and the annotations). The MD5
// is the checksum the record lists for the file; the size and SHA-256 are
// those TensorFlow Datasets recorded for the same URL
// (tensorflow_datasets/datasets/caltech101/checksums.tsv). A variable so
// that tests can serve a local copy.
var Caltech101Archive = Archive{
	URL:    "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",
	Size:   137414764,
	MD5:    "3138e1922a9193bfa496528edbbc45d0",
	SHA256: "331234750fc7f77520e50d9565e8b6907b03565e30320da1401130db08c61f91",
}

// client fails fast when there is no network: short dial and handshake
// timeouts, no overall timeout (the archive is 137 MB).
var client = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 30 * time.Second,
}}

// unpackPrefix names the folder an archive is unpacked into beside dir
// before it is renamed into place.
const unpackPrefix = ".unpack-"

// Caltech101 makes dir (…/101_ObjectCategories) by downloading
// Caltech101Archive, checking its size and checksums, and unpacking it.
// The download goes to the system's temporary folder (os.TempDir, $TMPDIR)
// and is removed afterwards, so a partial or corrupt download never sits
// in the data folder; nothing is unpacked from an archive that fails the
// checks, and dir appears, by a rename, only when complete. Unpack folders
// left by an earlier run that was killed are removed first.
func Caltech101(ctx context.Context, dir string, logf func(string, ...any)) error {
	a := Caltech101Archive
	if filepath.Base(dir) != "101_ObjectCategories" {
		return fmt.Errorf("download caltech101: data.dir %s must end in 101_ObjectCategories (the archive's folder)", dir)
	}
	root := filepath.Dir(dir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	stale, _ := filepath.Glob(filepath.Join(root, unpackPrefix+"*"))
	for _, s := range stale {
		if err := os.RemoveAll(s); err != nil {
			return fmt.Errorf("download caltech101: removing an earlier unpack: %w", err)
		}
	}
	logf("downloading Caltech-101 from %s (%d MB) into %s", a.URL, a.Size>>20, root)
	zipFile, err := fetch(ctx, a)
	if err != nil {
		return fmt.Errorf("download caltech101: %w\n  Offline? Download %s elsewhere, check it (data/README.md says how) and unpack its 101_ObjectCategories.tar.gz into %s", err, a.URL, root)
	}
	defer os.Remove(zipFile)
	tmp, err := os.MkdirTemp(root, unpackPrefix+"*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := unpackCaltech(zipFile, tmp); err != nil {
		return fmt.Errorf("download caltech101: %s: %w", a.URL, err)
	}
	got := filepath.Join(tmp, "101_ObjectCategories")
	if _, err := os.Stat(got); err != nil {
		return fmt.Errorf("download caltech101: the archive has no 101_ObjectCategories folder")
	}
	return os.Rename(got, dir)
}

// fetch downloads a into a temporary file in os.TempDir, checking its size
// and checksums on the way, and returns the file's name. On any error the
// file is removed.
func fetch(ctx context.Context, a Archive) (name string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return "", fmt.Errorf("no network: %w", err)
		}
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", a.URL, resp.Status)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != a.Size {
		return "", fmt.Errorf("GET %s: the server offers %d bytes, the published archive has %d: refused (has the file changed upstream?)",
			a.URL, resp.ContentLength, a.Size)
	}
	f, err := os.CreateTemp("", "gotransfer-"+filepath.Base(a.URL)+"-*.part")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	md5h, shah := md5.New(), sha256.New()
	// One byte more than published is enough to know it is wrong.
	n, err := io.Copy(io.MultiWriter(f, md5h, shah), io.LimitReader(resp.Body, a.Size+1))
	if err != nil {
		return "", fmt.Errorf("GET %s: %w (after %d of %d bytes)", a.URL, err, n, a.Size)
	}
	if err := verify(a, n, md5h.Sum(nil), shah.Sum(nil)); err != nil {
		return "", fmt.Errorf("GET %s: %w", a.URL, err)
	}
	return f.Name(), f.Close()
}

// verify checks a download of n bytes with the given digests against a.
func verify(a Archive, n int64, md5sum, sha256sum []byte) error {
	const refused = "refused, nothing unpacked: the download is corrupt or the file changed upstream; retry"
	if n != a.Size {
		return fmt.Errorf("got %d bytes, the published archive has %d: %s", n, a.Size, refused)
	}
	if got := hex.EncodeToString(sha256sum); got != a.SHA256 {
		return fmt.Errorf("sha256 %s, the published archive's is %s: %s", got, a.SHA256, refused)
	}
	if got := hex.EncodeToString(md5sum); got != a.MD5 {
		return fmt.Errorf("md5 %s, the published archive's is %s: %s", got, a.MD5, refused)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unpackCaltech finds 101_ObjectCategories.tar.gz in the zip and unpacks it
// into dest.
func unpackCaltech(zipFile, dest string) error {
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, "101_ObjectCategories.tar.gz") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		return untarGz(rc, dest)
	}
	return errors.New("no 101_ObjectCategories.tar.gz inside")
}

// untarGz unpacks regular files and folders, refusing paths that escape dest.
func untarGz(r io.Reader, dest string) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("unsafe path %q in archive", h.Name)
		}
		path := filepath.Join(dest, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
}
