package download

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// caltechZip builds an archive shaped like the real one: a zip holding
// caltech-101/101_ObjectCategories.tar.gz.
func caltechZip(t *testing.T) []byte {
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	for _, f := range []struct{ name, body string }{
		{"101_ObjectCategories/accordion/image_0001.jpg", "jpeg bytes"},
		{"101_ObjectCategories/ant/image_0001.jpg", "more bytes"},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	gz.Close()
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	w, _ := zw.Create("caltech-101/101_ObjectCategories.tar.gz")
	w.Write(tgz.Bytes())
	zw.Close()
	return z.Bytes()
}

// published describes body as Caltech101Archive would, served from url.
func published(url string, body []byte) Archive {
	m, h := md5.Sum(body), sha256.Sum256(body)
	return Archive{URL: url, Size: int64(len(body)), MD5: hex.EncodeToString(m[:]), SHA256: hex.EncodeToString(h[:])}
}

// serve points Caltech101Archive at a local server that answers with
// handler, publishes body's size and checksums, and sends temporary files
// to a fresh folder, which it returns, for the test's checks.
func serve(t *testing.T, body []byte, handler http.HandlerFunc) (tmpdir string) {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	old := Caltech101Archive
	t.Cleanup(func() { Caltech101Archive = old })
	Caltech101Archive = published(srv.URL+"/caltech-101.zip", body)
	tmpdir = t.TempDir()
	t.Setenv("TMPDIR", tmpdir)
	return tmpdir
}

// empty fails the test if dir holds anything.
func empty(t *testing.T, dir, what string) {
	t.Helper()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%s: left behind in %s: %v", what, dir, entries)
	}
}

func TestCaltech101FromServer(t *testing.T) {
	body := caltechZip(t)
	tmpdir := serve(t, body, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })

	root := filepath.Join(t.TempDir(), "caltech101")
	dir := filepath.Join(root, "101_ObjectCategories")
	// An unpack folder left by an earlier, killed run is cleared.
	if err := os.MkdirAll(filepath.Join(root, unpackPrefix+"123", "101_ObjectCategories", "ant"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Caltech101(context.Background(), dir, t.Logf); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "ant", "image_0001.jpg"))
	if err != nil || string(b) != "more bytes" {
		t.Fatalf("unpacked file: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	empty(t, tmpdir, "the download")
}

// An archive whose bytes differ from the published ones is refused before
// anything is unpacked, and no trace of it stays in the data folder or the
// temporary folder: one flipped byte (a corrupt download), a truncated
// transfer, and a server offering a file of another size.
func TestCaltech101RefusesBadArchive(t *testing.T) {
	good := caltechZip(t)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0x01
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"corrupt", func(w http.ResponseWriter, r *http.Request) { w.Write(corrupt) }, "sha256 "},
		{"truncated", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(good)))
			w.Write(good[:len(good)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-transfer
		}, "unexpected EOF"},
		{"other size", func(w http.ResponseWriter, r *http.Request) { w.Write(append(bytes.Clone(good), 0)) }, "the server offers"},
		{"longer, unannounced", func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush() // chunked: no Content-Length
			w.Write(append(bytes.Clone(good), 0))
		}, "bytes, the published archive has"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmpdir := serve(t, good, c.handler)
			root := filepath.Join(t.TempDir(), "caltech101")
			dir := filepath.Join(root, "101_ObjectCategories")
			err := Caltech101(context.Background(), dir, t.Logf)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if c.want != "unexpected EOF" && !strings.Contains(err.Error(), "refused") {
				t.Errorf("err = %v, want it to say the archive was refused", err)
			}
			empty(t, root, "a refused download")
			empty(t, tmpdir, "a refused download")
		})
	}
}

// The published checksums are the real archive's: 32 and 64 hex digits,
// and the URL names the file the checksums belong to.
func TestCaltech101Published(t *testing.T) {
	a := Caltech101Archive
	if len(a.MD5) != 32 || len(a.SHA256) != 64 || a.Size != 137414764 || !strings.HasSuffix(a.URL, "/caltech-101.zip") {
		t.Errorf("Caltech101Archive = %+v", a)
	}
	for _, h := range []string{a.MD5, a.SHA256} {
		if _, err := hex.DecodeString(h); err != nil {
			t.Errorf("checksum %s: %v", h, err)
		}
	}
}

func TestCaltech101OfflineFailsFast(t *testing.T) {
	// A port nobody listens on: connection refused, like a closed network.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	defer func(a Archive) { Caltech101Archive = a }(Caltech101Archive)
	Caltech101Archive.URL = "http://" + addr + "/caltech-101.zip"

	dir := filepath.Join(t.TempDir(), "101_ObjectCategories")
	start := time.Now()
	err = Caltech101(context.Background(), dir, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "Offline?") {
		t.Fatalf("error %v, want one saying what to do offline", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %v to fail", d)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s exists after a failed download", dir)
	}
}
