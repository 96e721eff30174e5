// Package static holds the dashboard's browser assets (stylesheet, script,
// icons and vendored libraries), embedded in the binary, and hands out
// content-versioned URLs for them so they can be cached for a long time.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
)

// FS holds every asset. Paths inside it are relative: "app.css",
// "vendor/htmx-2.0.11.min.js".
//
//go:embed app.css app.js favicon.svg VERSIONS.md vendor
var FS embed.FS

// Names of the assets the layout links to. The web package passes
// Path(CSS), Path(JS), Path(HTMX) and Path(Favicon) to the views.
const (
	CSS     = "app.css"
	JS      = "app.js"
	HTMX    = "vendor/htmx-2.0.11.min.js"
	Favicon = "favicon.svg"
)

// Prefix is the URL path under which the assets are served.
const Prefix = "/static/"

// hashLen is how many hex digits of the SHA-256 go into a version.
const hashLen = 12

// versions maps each asset name to a short hash of its content. It is
// computed on first use rather than at package initialization.
var versions = sync.OnceValue(func() map[string]string {
	m := make(map[string]string)
	// The embedded FS cannot fail to walk; an error here would be a
	// build-time problem, so it leaves the map partial rather than panicking.
	_ = fs.WalkDir(FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := FS.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[name] = hex.EncodeToString(sum[:])[:hashLen]
		return nil
	})
	return m
})

// Version returns the short content hash of the named asset, or "" when
// there is no such asset.
func Version(name string) string {
	return versions()[strings.TrimPrefix(name, "/")]
}

// Path returns the URL of the named asset with its content hash as a query
// parameter, for example "/static/app.css?v=3f2a9c01b2d4". A name that is
// not embedded gets its plain URL, so a typo shows as a 404, never a panic.
func Path(name string) string {
	name = strings.TrimPrefix(name, "/")
	if v := Version(name); v != "" {
		return Prefix + name + "?v=" + v
	}
	return Prefix + name
}

// Handler serves the assets. It accepts request paths with or without
// Prefix, so it can be mounted as-is (e.GET("/static/*", ...)) or behind
// http.StripPrefix. A request whose "v" parameter matches the asset's
// current hash is cached for a year as immutable; any other request is
// cached briefly and revalidated. Unknown names, directories and
// VERSIONS.md answer 404.
func Handler() http.Handler {
	files := http.FileServerFS(FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		name = strings.TrimPrefix(name, strings.Trim(Prefix, "/")+"/")
		v := Version(name)
		if v == "" || name == "VERSIONS.md" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") == v {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300, must-revalidate")
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// Serve the file by its name inside FS, whatever the mount point.
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		r2.URL.RawPath = ""
		files.ServeHTTP(w, r2)
	})
}
