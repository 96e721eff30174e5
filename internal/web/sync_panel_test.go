package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// TestReports_syncProgress shows a pass under way as every replica sees it,
// from its record in Postgres: the admin's progress line, a viewer's short
// words, and a panel that polls only itself until the pass ends.
func TestReports_syncProgress(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	now := app.Clock.Now()

	// A finished pass that listed 10,000 machines, then one running.
	first, err := app.Store.BeginSyncPass(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fin := now.Add(-50 * time.Minute)
	if err := app.Store.FinishSyncPass(ctx, db.SyncPass{ID: first, FinishedAt: &fin, Status: db.PassSucceeded,
		MachinesDone: 10000, MachinesListed: 10000, ListedAll: true, FailedMachines: []db.FailedMachine{{ID: "7", Error: "boom"}},
		MachinesFailed: 1}); err != nil {
		t.Fatal(err)
	}
	pass, err := app.Store.BeginSyncPass(ctx, now.Add(-40*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Store.UpdateSyncProgress(ctx, db.SyncProgress{PassID: pass, MachinesListed: 3400,
		MachinesDone: 3150, MachinesFailed: 50, SessionsSeen: 41000, SessionsNew: 41000, At: now}); err != nil {
		t.Fatal(err)
	}
	admin := reportClient(t, app, fleet.RoleAdmin)
	viewer := reportClient(t, app, fleet.RoleViewer)
	pollURL := "/reports/sync?panel=passes&pass=" + strconv.FormatInt(pass, 10)

	doc := getPage(t, admin, "/reports/usage", http.StatusOK)
	panel := doc.Find(`[data-testid="sync-passes"]`)
	assertPolls(t, panel, pollURL)
	line := doc.Find(`[data-testid="sync-progress"]`).Text()
	if want := "Syncing: 3,200 of about 10,000 machines (32 %), 41,000 sessions, 50 failed, started 40 s ago"; line != want {
		t.Errorf("progress line %q, want %q", line, want)
	}
	if v, _ := doc.Find(`[data-testid="sync-progress-block"] progress`).Attr("value"); v != "32" {
		t.Errorf("progress bar value %q", v)
	}
	// The finished pass's list of failed machines survives the refreshes.
	if v, _ := doc.Find(`details.failed-machines`).Attr("hx-preserve"); v != "true" {
		t.Errorf("failed machines details hx-preserve %q", v)
	}

	// A viewer reads how far, without the figures.
	vdoc := getPage(t, viewer, "/reports/usage", http.StatusOK)
	fresh := vdoc.Find(`[data-testid="sync-freshness"]`).Text()
	if !strings.Contains(fresh, "Updating now (32 %).") || strings.Contains(vdoc.Text(), "Syncing:") {
		t.Errorf("viewer's panel %q", fresh)
	}
	assertPolls(t, vdoc.Find(`[data-testid="sync-passes"]`), pollURL)

	// The other reports' one line polls too.
	idle := getPage(t, admin, "/reports/idle", http.StatusOK)
	assertPolls(t, idle.Find(`[data-testid="sync-note"]`), "/reports/sync?panel=note&pass="+strconv.FormatInt(pass, 10))
	if !strings.Contains(idle.Find(`[data-testid="sync-note"] [data-testid="sync-progress"]`).Text(), "3,200 of about 10,000") {
		t.Errorf("idle report's sync note %q", idle.Find(`[data-testid="sync-note"]`).Text())
	}

	// The poll answers the panel alone, still polling.
	frag := getFragment(t, admin, pollURL)
	if frag.Find(`form, header, nav`).Length() != 0 {
		t.Error("the poll answered more than the panel")
	}
	assertPolls(t, frag.Find(`[data-testid="sync-passes"]`), pollURL)

	// The listing completes, then the pass ends: the poll stops and says
	// the report predates the pass.
	if err := app.Store.UpdateSyncProgress(ctx, db.SyncProgress{PassID: pass, MachinesListed: 9990, ListedAll: true,
		MachinesDone: 9980, SessionsSeen: 120000, At: now}); err != nil {
		t.Fatal(err)
	}
	if line := getFragment(t, admin, pollURL).Find(`[data-testid="sync-progress"]`).Text(); !strings.Contains(line, "9,980 of 9,990 machines (99 %)") {
		t.Errorf("progress line at the end of the listing %q", line)
	}
	end := now
	if err := app.Store.FinishSyncPass(ctx, db.SyncPass{ID: pass, FinishedAt: &end, Status: db.PassSucceeded,
		MachinesDone: 9990, MachinesListed: 9990, ListedAll: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{admin, viewer} {
		frag = getFragment(t, c, pollURL)
		p := frag.Find(`[data-testid="sync-passes"]`)
		if _, ok := p.Attr("hx-trigger"); ok || p.AttrOr("data-running", "") != "false" {
			t.Errorf("a finished pass's panel still polls: %s", p.AttrOr("hx-trigger", ""))
		}
		if frag.Find(`[data-testid="sync-finished"]`).Length() != 1 || frag.Find(`[data-testid="sync-progress"]`).Length() != 0 {
			t.Errorf("finished panel: %q", p.Text())
		}
	}
	if getPage(t, admin, "/reports/usage", http.StatusOK).Find(`[data-testid="sync-finished"]`).Length() != 0 {
		t.Error("a fresh page says it predates the pass")
	}

	for _, bad := range []string{"/reports/sync", "/reports/sync?panel=page", "/reports/sync?panel=note&pass=x", "/reports/sync?panel=note&pass=0"} {
		if resp, _ := admin.Get(t, bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", bad, resp.StatusCode)
		}
	}
}

// assertPolls checks that sel refreshes itself, alone, from url.
func assertPolls(t *testing.T, sel *goquery.Selection, url string) {
	t.Helper()
	if sel.Length() != 1 {
		t.Fatalf("%d panels", sel.Length())
	}
	if v := sel.AttrOr("hx-get", ""); v != url {
		t.Errorf("panel hx-get %q, want %q", v, url)
	}
	if v := sel.AttrOr("hx-trigger", ""); v != "every 3s" {
		t.Errorf("panel hx-trigger %q", v)
	}
	if v := sel.AttrOr("hx-swap", ""); v != "outerHTML" {
		t.Errorf("panel hx-swap %q", v)
	}
	if _, ok := sel.Attr("hx-target"); ok {
		t.Error("the panel swaps another element than itself")
	}
}

// getFragment GETs path as htmx does.
func getFragment(t *testing.T, c *client, path string) *goquery.Document {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("HX-Request", "true")
	resp, doc := c.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	return doc
}
