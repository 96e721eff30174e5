package web

import (
	"net/http"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// TestReports_canonicalURL (issue 9.8, the URL collects empty parameters):
// the report forms send every field; a plain GET with empty or dropped
// parameters moves to the view's canonical URL, and an htmx request pushes
// that URL (HX-Push-Url), so the address bar never collects "from=&to=".
func TestReports_canonicalURL(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := reportClient(t, app, fleet.RoleViewer)
	tests := []struct{ path, canonical string }{
		{"/reports/usage?preset=last_7_days&from=&to=&group=user&sort=&dir=", "/reports/usage?group=user&preset=last_7_days"},
		{"/reports/usage?preset=last_7_days&from=2020-01-01&to=2020-01-31", "/reports/usage?group=machine&preset=last_7_days"},
		{"/reports/idle?preset=last_7_days&from=&to=", "/reports/idle?preset=last_7_days"},
		{"/reports/idle?days=3&preset=&from=&to=", "/reports/idle?days=3"},
		{"/reports/low-remaining?below_hours=", "/reports/low-remaining?below_hours=5"},
		{"/reports/top-users?preset=last_30_days&from=&to=&limit=", "/reports/top-users?limit=20&preset=last_30_days"},
	}
	for _, tt := range tests {
		resp, _ := c.Get(t, tt.path)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.canonical {
			t.Errorf("GET %s: %d Location %q, want 303 to %s", tt.path, resp.StatusCode, resp.Header.Get("Location"), tt.canonical)
		}
		getPage(t, c, tt.canonical, http.StatusOK) // no redirect loop

		req, _ := http.NewRequest(http.MethodGet, app.URL+tt.path, nil)
		req.Header.Set("HX-Request", "true")
		resp, doc := c.Do(t, req)
		if resp.StatusCode != http.StatusOK || doc.Find(`#report-body`).Length() != 1 {
			t.Errorf("htmx GET %s: %d, want the report body", tt.path, resp.StatusCode)
		}
		if got := resp.Header.Get("HX-Push-Url"); got != tt.canonical {
			t.Errorf("htmx GET %s pushes %q, want %q", tt.path, got, tt.canonical)
		}
	}
	// Canonical or default-only queries render, and an invalid one shows its
	// errors where it was typed rather than moving.
	for _, p := range []string{"/reports/usage", "/reports/top-users?preset=last_90_days", "/reports/idle"} {
		getPage(t, c, p, http.StatusOK)
	}
	getPage(t, c, "/reports/usage?preset=custom&from=2025-02-30&to=", http.StatusUnprocessableEntity)
}
