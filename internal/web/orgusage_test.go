package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// TestReports_orgUsageCard: the usage page shows what is left now (GET
// /usage, in words), the daily trend from the snapshots, the projected
// run-out, and the same days as CSV, to a viewer.
func TestReports_orgUsageCard(t *testing.T) {
	app := newTestApp(t)
	ctx := context.Background()
	c := reportClient(t, app, fleet.RoleViewer)

	// No snapshot yet: not enough data.
	app.Sim.SetUsageMinutes(2669)
	doc := getPage(t, c, "/reports/usage", http.StatusOK)
	card := doc.Find(`[data-testid="org-usage"]`)
	if card.Length() != 1 {
		t.Fatal("no organization usage card on /reports/usage")
	}
	if got := strings.Join(strings.Fields(card.Find(`[data-testid="org-usage-now"]`).Text()), " "); !strings.Contains(got, "44 hours and 29 minutes left") || !strings.Contains(got, "Planet") {
		t.Fatalf("usage now = %q", got)
	}
	if st, _ := card.Find(`[data-testid="org-usage-runout"]`).Attr("data-state"); st != "not_enough_data" ||
		!strings.Contains(card.Find(`[data-testid="org-usage-runout"]`).Text(), "not enough data") {
		t.Fatalf("run-out with no snapshots: state %q, %q", st, card.Find(`[data-testid="org-usage-runout"]`).Text())
	}

	// 14 days of 600 minutes a day, the newest today at noon UTC.
	now := app.Clock.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, time.UTC)
	for i := 13; i >= 0; i-- {
		minutes := int64(20000 - 600*(13-i))
		if err := app.Store.UpsertOrgUsageSnapshot(ctx, today.AddDate(0, 0, -i), minutes, "Planet"); err != nil {
			t.Fatal(err)
		}
	}
	// A reading older than the trend's 30 days is neither shown nor exported.
	if err := app.Store.UpsertOrgUsageSnapshot(ctx, today.AddDate(0, 0, -45), 99999, "Planet"); err != nil {
		t.Fatal(err)
	}
	doc = getPage(t, c, "/reports/usage", http.StatusOK)
	card = doc.Find(`[data-testid="org-usage"]`)
	runout := card.Find(`[data-testid="org-usage-runout"]`)
	if st, _ := runout.Attr("data-state"); st != "projected" {
		t.Fatalf("run-out state %q: %s", st, runout.Text())
	}
	// 20000 - 13*600 = 12200 left today at noon, at 600 a day: 20 d 8 h.
	wantAt := today.Add(time.Duration(12200.0 / 600 * float64(24*time.Hour))).Format(time.RFC3339)
	if at, _ := runout.Find(`[data-testid="org-usage-runout-at"]`).Attr("datetime"); at != wantAt {
		t.Fatalf("run-out at %q, want %q", at, wantAt)
	}
	if !strings.Contains(runout.Text(), "10 hours a day") {
		t.Fatalf("run-out text %q does not give the burn", runout.Text())
	}
	days := card.Find(`[data-testid="org-usage-day"]`)
	if days.Length() != 14 {
		t.Fatalf("%d trend days, want 14", days.Length())
	}
	if first, _ := days.First().Attr("data-minutes"); first != "20000" {
		t.Fatalf("first trend day %q minutes, want 20000 (oldest first)", first)
	}
	if card.Find(`[data-testid="org-usage-sparkline"][role="img"]`).Length() != 1 ||
		!strings.Contains(card.Find(`[data-testid="org-usage-trend-summary"]`).Text(), "14 daily readings") {
		t.Fatal("no sparkline with a text alternative")
	}

	recs := getCSV(t, c, href(t, doc, "org-usage-csv"))
	if strings.Join(recs[0], ",") != "day,usage_minutes" || len(recs) != 15 {
		t.Fatalf("csv header %v, %d records; want day,usage_minutes and 14 days", recs[0], len(recs)-1)
	}
	for i, r := range recs[1:] {
		wantDay := today.AddDate(0, 0, -(13 - i)).Format(time.DateOnly)
		if r[0] != wantDay || r[1] != strconv.Itoa(20000-600*i) {
			t.Fatalf("csv row %d = %v, want %s,%d", i, r, wantDay, 20000-600*i)
		}
	}

	// The htmx fragment filters swap in leaves the card alone.
	req, _ := http.NewRequest(http.MethodGet, c.base+"/reports/usage?preset=last_7_days", nil)
	req.Header.Set("HX-Request", "true")
	if _, frag := c.Do(t, req); frag.Find(`[data-testid="org-usage"]`).Length() != 0 {
		t.Fatal("the htmx fragment carries the card")
	}
}

// TestReports_orgUsageAPIFailure: when GET /usage fails the card says so in
// words, the trend and the rest of the page still render.
func TestReports_orgUsageAPIFailure(t *testing.T) {
	app := newTestApp(t)
	c := reportClient(t, app, fleet.RoleViewer)
	now := app.Clock.Now()
	if err := app.Store.UpsertOrgUsageSnapshot(context.Background(), now, 500, "Planet"); err != nil {
		t.Fatal(err)
	}
	app.Sim.Enqueue("GET /usage", 10, vagonsim.APIError(vagon.CodePermissionRequired, "Permission required"))
	doc := getPage(t, c, "/reports/usage", http.StatusOK)
	msg := doc.Find(`[data-testid="org-usage-error"]`).Text()
	if !strings.Contains(msg, "could not be read") || !strings.Contains(msg, "4710") {
		t.Fatalf("error text %q", msg)
	}
	if doc.Find(`[data-testid="org-usage-now"]`).Length() != 0 {
		t.Fatal("a balance is shown although GET /usage failed")
	}
	if doc.Find(`[data-testid="org-usage-day"]`).Length() != 1 || doc.Find(`[data-testid="usage-filter"]`).Length() != 1 ||
		doc.Find(`[data-testid="sync-passes"]`).Length() != 1 {
		t.Fatal("the trend or the rest of the usage page is missing")
	}
}
