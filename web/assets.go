package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/thecombine/combine"
)

//go:embed static
var staticFS embed.FS

// asset is one embedded static file and its content hash.
type asset struct {
	body  []byte
	hash  string
	ctype string
}

// assets are the static files by name, hashed once at start: pages link
// them as /static/<name>?v=<hash>, so a browser may cache a version for a
// year and a new binary's files are fetched at once.
var assets = func() map[string]asset {
	out := map[string]asset{}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		panic("web: static assets: " + err.Error())
	}
	for _, e := range entries {
		b, err := staticFS.ReadFile("static/" + e.Name())
		if err != nil {
			panic("web: static assets: " + err.Error())
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[e.Name()] = asset{body: b, hash: hex.EncodeToString(sum[:6]), ctype: ct}
	}
	return out
}()

// assetURL is the versioned address of a static file.
func assetURL(name string) string {
	a, ok := assets[name]
	if !ok {
		panic("web: no static asset " + name)
	}
	return "/static/" + name + "?v=" + a.hash
}

// handleStatic serves an embedded file: immutable for a year when asked
// for by its current version, revalidated otherwise.
func (ui *UI) handleStatic(w http.ResponseWriter, r *http.Request) error {
	a, ok := assets[r.PathValue("file")]
	if !ok {
		return combine.Errorf(combine.ENOTFOUND, "there is no file %s", r.URL.Path)
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if r.Header.Get("If-None-Match") == `"`+a.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	_, _ = w.Write(a.body)
	return nil
}
