// Package download fetches public datasets a config names in data.download
// when data.dir is missing. Online it downloads and unpacks; offline it
// fails within seconds with what to do instead.
package download

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
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

// Caltech101URL is where Caltech-101 is published (a zip holding
// 101_ObjectCategories.tar.gz). A variable so tests can serve a local copy.
var Caltech101URL = "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip"

// client fails fast when there is no network: short dial and handshake
// timeouts, no overall timeout (the archive is 130 MB).
var client = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 30 * time.Second,
}}

// Caltech101 makes dir (…/101_ObjectCategories) by downloading and
// unpacking the archive next to it. Nothing is left behind on failure.
func Caltech101(ctx context.Context, dir string, logf func(string, ...any)) error {
	if filepath.Base(dir) != "101_ObjectCategories" {
		return fmt.Errorf("download caltech101: data.dir %s must end in 101_ObjectCategories (the archive's folder)", dir)
	}
	root := filepath.Dir(dir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	logf("downloading Caltech-101 from %s into %s", Caltech101URL, root)
	zipFile, err := fetch(ctx, Caltech101URL, root)
	if err != nil {
		return fmt.Errorf("download caltech101: %w\n  Offline? Download %s elsewhere and unpack its 101_ObjectCategories.tar.gz into %s", err, Caltech101URL, root)
	}
	defer os.Remove(zipFile)
	tmp, err := os.MkdirTemp(root, ".unpack-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := unpackCaltech(zipFile, tmp); err != nil {
		return fmt.Errorf("download caltech101: %s: %w", zipFile, err)
	}
	got := filepath.Join(tmp, "101_ObjectCategories")
	if _, err := os.Stat(got); err != nil {
		return fmt.Errorf("download caltech101: the archive has no 101_ObjectCategories folder")
	}
	return os.Rename(got, dir)
}

// fetch downloads url into a temporary file in dir and returns its name.
func fetch(ctx context.Context, url, dir string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
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
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
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
