package static_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/vagon-dashboard/dashboard/static"
)

// referenced lists the assets the layout links to.
var referenced = []string{static.CSS, static.JS, static.HTMX, static.Favicon}

func TestPath_versioned(t *testing.T) {
	re := regexp.MustCompile(`^/static/[a-z0-9./-]+\?v=[0-9a-f]{12}$`)
	for _, name := range referenced {
		p := static.Path(name)
		if !re.MatchString(p) {
			t.Errorf("Path(%q) = %q, want /static/<name>?v=<12 hex>", name, p)
		}
		if !strings.HasPrefix(p, "/static/"+name+"?") {
			t.Errorf("Path(%q) = %q names another file", name, p)
		}
		if static.Path(name) != p {
			t.Errorf("Path(%q) is not stable", name)
		}
	}
	if a, b := static.Version(static.CSS), static.Version(static.JS); a == b {
		t.Errorf("different files share version %q", a)
	}
	if got := static.Path("missing.css"); got != "/static/missing.css" {
		t.Errorf("Path(missing) = %q", got)
	}
}

func TestFS_referencedFilesExist(t *testing.T) {
	for _, name := range referenced {
		b, err := fs.ReadFile(static.FS, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}

func TestVersionsFile_recordsVendoredFiles(t *testing.T) {
	record, err := fs.ReadFile(static.FS, "VERSIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	vendored, err := fs.Glob(static.FS, "vendor/*")
	if err != nil || len(vendored) == 0 {
		t.Fatalf("no vendored files: %v", err)
	}
	for _, v := range vendored {
		if !strings.Contains(string(record), "`"+v+"`") {
			t.Errorf("VERSIONS.md does not record %s", v)
		}
	}
}

// The script must not rely on anything a strict CSP forbids.
func TestAppJS_noEvalOrInlineStyle(t *testing.T) {
	b, err := fs.ReadFile(static.FS, static.JS)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"eval(", "new Function", "innerHTML", ".style.", "setAttribute(\"style\""} {
		if strings.Contains(string(b), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

func TestHandler(t *testing.T) {
	mounts := map[string]http.Handler{
		"stripped": http.StripPrefix(static.Prefix, static.Handler()),
		"as is":    static.Handler(),
	}
	for mount, h := range mounts {
		t.Run(mount, func(t *testing.T) { testHandler(t, h) })
	}
}

func testHandler(t *testing.T, h http.Handler) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	tests := []struct {
		name, path string
		status     int
		cache      string
		ctype      string
	}{
		{"versioned css", static.Path(static.CSS), 200, "immutable", "text/css"},
		{"versioned htmx", static.Path(static.HTMX), 200, "immutable", "javascript"},
		{"svg", static.Path(static.Favicon), 200, "immutable", "image/svg+xml"},
		{"stale version", "/static/app.css?v=000000000000", 200, "max-age=300", "text/css"},
		{"missing", "/static/nope.js", 404, "", ""},
		{"directory", "/static/vendor/", 404, "", ""},
		{"records", "/static/VERSIONS.md", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if !strings.Contains(resp.Header.Get("Cache-Control"), tt.cache) {
				t.Errorf("Cache-Control %q lacks %q", resp.Header.Get("Cache-Control"), tt.cache)
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), tt.ctype) {
				t.Errorf("Content-Type %q lacks %q", resp.Header.Get("Content-Type"), tt.ctype)
			}
		})
	}
}
