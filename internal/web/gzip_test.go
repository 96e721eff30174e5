package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vagon-dashboard/dashboard/static"
)

// Static CSS and JS leave gzipped when the browser accepts it.
func TestStatic_gzip(t *testing.T) {
	app := newTestApp(t)
	for _, name := range []string{static.CSS, static.JS, static.HTMX} {
		req := httptest.NewRequest(http.MethodGet, static.Path(name), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		app.Server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: status %d, Content-Encoding %q", name, rec.Code, rec.Header().Get("Content-Encoding"))
		}
		if cc := rec.Header().Get("Cache-Control"); cc == "" {
			t.Errorf("%s: no Cache-Control", name)
		}
	}
}
