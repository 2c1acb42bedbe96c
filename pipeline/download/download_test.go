package download

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

func TestCaltech101FromServer(t *testing.T) {
	body := caltechZip(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	defer func(u string) { Caltech101URL = u }(Caltech101URL)
	Caltech101URL = srv.URL + "/caltech-101.zip"

	dir := filepath.Join(t.TempDir(), "caltech101", "101_ObjectCategories")
	if err := Caltech101(context.Background(), dir, t.Logf); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "ant", "image_0001.jpg"))
	if err != nil || string(b) != "more bytes" {
		t.Fatalf("unpacked file: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
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
	defer func(u string) { Caltech101URL = u }(Caltech101URL)
	Caltech101URL = "http://" + addr + "/caltech-101.zip"

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
