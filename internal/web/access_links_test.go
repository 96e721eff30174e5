package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// TestAccessLinks_ledger: helpdesk sees the dashboard's link and one made
// straight through the API, marked as issued outside the dashboard; the
// page and the CSV carry fingerprints, never a link; viewers get 403; the
// machine page counts the active links.
func TestAccessLinks_ledger(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	desk := reportClient(t, app, fleet.RoleHelpdesk)
	viewer := reportClient(t, app, fleet.RoleViewer)
	id := app.MachineID(t)
	path := "/machines/" + id

	desk.CSRFFrom(t, path)
	resp, doc := desk.PostForm(t, path+"/access", url.Values{"expires_in": {"60"}, "note": {"ticket 42"}})
	dashLink, _ := doc.Find(`[data-testid="access-link"]`).Attr("value")
	if resp.StatusCode != http.StatusOK || dashLink == "" {
		t.Fatalf("issue: status %d, link %q", resp.StatusCode, dashLink)
	}
	outside, err := app.API.CreateAccessLink(ctx, id, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.NewActivityImporter(app.API, app.Store, fleet.ActivityOptions{}).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{"/access-links", "/access-links.csv"} {
		if r, _ := viewer.Get(t, p); r.StatusCode != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d, want 403", p, r.StatusCode)
		}
	}

	resp, doc = desk.Get(t, "/access-links?machine_id="+id)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /access-links: %d", resp.StatusCode)
	}
	html, _ := doc.Html()
	for _, link := range []string{dashLink, outside.Attributes.ConnectionLink} {
		if strings.Contains(html, link) {
			t.Fatal("the ledger page shows a link")
		}
	}
	var sources []string
	doc.Find(`[data-testid="access-link-row"]`).Each(func(_ int, s *goquery.Selection) {
		src, _ := s.Attr("data-source")
		if st, _ := s.Attr("data-state"); st != "active" {
			t.Errorf("%s row is %s", src, st)
		}
		sources = append(sources, src)
		if src == "vagon" && !strings.Contains(s.Text(), "issued outside the dashboard") {
			t.Errorf("outside row does not say so: %q", s.Text())
		}
		if src == "dashboard" && (!strings.Contains(s.Text(), "ticket 42") || !strings.Contains(s.Text(), fleet.LinkFingerprint(dashLink))) {
			t.Errorf("dashboard row %q", s.Text())
		}
	})
	slices.Sort(sources)
	if !slices.Equal(sources, []string{"dashboard", "vagon"}) {
		t.Fatalf("rows from %v, want one dashboard and one vagon", sources)
	}
	if !strings.Contains(doc.Find(`[data-testid="access-links-no-revoke"]`).Text(), "no way to revoke") {
		t.Error("the page does not say links cannot be revoked")
	}
	// Helpdesk may not stop machines: no Stop link.
	if doc.Find(`[data-testid="access-link-stop"]`).Length() != 0 {
		t.Error("a Stop link for a role that may not stop")
	}
	if doc.Find(`[data-testid="access-caps"]`).Length() != 0 {
		t.Error("the caps form shown to helpdesk")
	}

	resp, _ = desk.Get(t, "/access-links.csv?machine_id="+id)
	body := bodyText(t, resp)
	for _, link := range []string{dashLink, outside.Attributes.ConnectionLink} {
		if strings.Contains(body, link) {
			t.Fatal("the CSV carries a link")
		}
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"issued_at", "source", "issued_by", "machine_id", "machine_name", "note", "expires_at", "state", "fingerprint"}
	if len(recs) != 3 || !slices.Equal(recs[0], want) {
		t.Fatalf("CSV %v", recs)
	}

	// The machine page counts both.
	_, doc = desk.Get(t, path)
	if got := strings.Join(strings.Fields(doc.Find(`[data-testid="access-active-count"]`).Text()), " "); !strings.HasPrefix(got, "2 access links active now") {
		t.Errorf("machine page: %q", got)
	}
}

// TestAccessLinks_caps: an admin caps helpdesk at 8 h; a longer link is
// refused next to the field with nothing sent, longer presets are
// disabled; a bad cap is said on the form.
func TestAccessLinks_caps(t *testing.T) {
	app := newTestApp(t)
	admin := reportClient(t, app, fleet.RoleAdmin)
	desk := reportClient(t, app, fleet.RoleHelpdesk)
	id := app.MachineID(t)
	path := "/machines/" + id

	admin.CSRFFrom(t, "/access-links")
	if r, _ := desk.PostForm(t, "/access-links/caps", url.Values{"cap_helpdesk": {"1"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("helpdesk sets caps: %d", r.StatusCode)
	}
	r, doc := admin.PostForm(t, "/access-links/caps", url.Values{"cap_helpdesk": {"abc"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(`[data-testid="access-caps-error"]`).Text(), "helpdesk") {
		t.Fatalf("bad cap: %d %q", r.StatusCode, doc.Find(`[data-testid="access-caps-error"]`).Text())
	}
	r, _ = admin.PostForm(t, "/access-links/caps", url.Values{"cap_helpdesk": {"480"}, "cap_operator": {""}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("caps: %d", r.StatusCode)
	}
	_, doc = admin.Get(t, "/access-links")
	if v, _ := doc.Find(`[data-testid="access-cap-helpdesk"]`).Attr("value"); v != "480" {
		t.Fatalf("caps form after saving shows %q", v)
	}

	_, doc = desk.Get(t, path)
	if _, dis := doc.Find(`[data-testid="expires-1440"]`).Attr("disabled"); !dis {
		t.Error("24 h offered to a role capped at 8 h")
	}
	if _, dis := doc.Find(`[data-testid="expires-480"]`).Attr("disabled"); dis {
		t.Error("8 h disabled at a cap of 8 h")
	}
	desk.CSRFFrom(t, path)
	r, doc = desk.PostForm(t, path+"/access", url.Values{"expires_in": {"custom"}, "custom_minutes": {"600"}})
	if r.StatusCode == http.StatusOK || doc.Find(`[data-testid="access-link"]`).Length() != 0 {
		t.Fatalf("over the cap: status %d", r.StatusCode)
	}
	if got := doc.Find(`[data-testid="section-access"] .field-error`).Text(); !strings.Contains(got, "Your role (helpdesk) may issue links of at most 8 h") {
		t.Fatalf("field error %q", got)
	}
	if c := app.Sim.Counts()["POST /machines/{id}/access"]; c != 0 {
		t.Fatalf("%d access links sent over the cap", c)
	}
}
