package e2e

// Issue 11 journey: an operator starts a machine through the dashboard,
// imports Vagon's activity log from the activity page, filters it to
// Vagon's entries and finds the seeded starts and stops no dashboard action
// explains marked "outside the dashboard", and the start they just did not
// marked; the machine's Activity tab shows the same start.

import (
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

func TestJourney_activityTimelineOutsideTheDashboard(t *testing.T) {
	t.Parallel()
	op := signIn(t, "operator")
	op.Context().SetDefaultTimeout(30_000)
	id := claimFirst(t, op, "/machines?status=off&time_left=60&per_page=100")
	token, err := op.Locator(`meta[name="csrf-token"]`).GetAttribute("content")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := op.Request().Post("/machines/"+url.PathEscape(id)+"/start", playwright.APIRequestContextPostOptions{
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Data:    url.Values{"_csrf": {token}}.Encode(),
	})
	if err != nil || resp.Status() >= 400 {
		t.Fatalf("start: %v (status %d)", err, resp.Status())
	}

	gotoPath(t, op, "/activity")
	if err := byTestID(op, "activity-import").Click(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(op, "activity-import-status")).ToContainText("Import queued", playwright.LocatorAssertionsToContainTextOptions{Timeout: playwright.Float(20_000)}); err != nil {
		t.Fatalf("no word where the import was asked for: %v", err)
	}

	// The filter applies on change and the address follows it.
	if _, err := byTestID(op, "activity-source").SelectOption(playwright.SelectOptionValues{Values: &[]string{"vagon"}}); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(op, regexp.MustCompile(`/activity\?source=vagon$`)); err != nil {
		t.Fatalf("the address does not follow the filter (at %s): %v", op.URL(), err)
	}
	// The import runs in the background: reload until the dashboard's own
	// start has arrived (a condition, not a fixed wait).
	mine := op.Locator(`[data-testid="activity-row"][data-action="machine_started"]`).Filter(playwright.LocatorFilterOptions{
		Has: op.Locator(`[data-testid="activity-machine"][href="/machines/` + id + `"]`)})
	deadline := time.Now().Add(60 * time.Second)
	for {
		gotoPath(t, op, "/activity?source=vagon&machine_id="+url.QueryEscape(id))
		if n, _ := mine.Count(); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard's start of %s never arrived from Vagon's log", id)
		}
		// Ask again: an import already running when the button was
		// pressed may have read the log before the start.
		tok, _ := op.Locator(`meta[name="csrf-token"]`).GetAttribute("content")
		if _, err := op.Request().Post("/activity/import", playwright.APIRequestContextPostOptions{
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true"},
			Data:    url.Values{"_csrf": {tok}}.Encode(),
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	if err := expect.Locator(mine.First()).ToHaveAttribute("data-outside", "false"); err != nil {
		t.Fatalf("the dashboard's own start is marked outside: %v", err)
	}
	if err := expect.Locator(mine.First().GetByTestId("outside-badge")).ToHaveCount(0); err != nil {
		t.Fatal(err)
	}

	// Every Vagon line; the seeded starts and stops are outside the dashboard.
	gotoPath(t, op, "/activity?source=vagon")
	if err := expect.Locator(op.Locator(`[data-testid="activity-row"][data-source="dashboard"]`)).ToHaveCount(0); err != nil {
		t.Fatal(err)
	}
	outside := op.Locator(`[data-testid="activity-row"][data-outside="true"]`)
	if err := expect.Locator(outside.First()).ToBeVisible(); err != nil {
		t.Fatalf("no entry outside the dashboard: %v", err)
	}
	if err := expect.Locator(outside.First().GetByTestId("outside-badge")).ToHaveText("outside the dashboard"); err != nil {
		t.Fatal(err)
	}

	// The machine's Activity tab, one click from its page.
	gotoPath(t, op, "/machines/"+url.PathEscape(id))
	if err := byTestID(op, "machine-activity-tab").Click(); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(op, regexp.MustCompile(`/machines/`+regexp.QuoteMeta(id)+`/activity`)); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(op.Locator(`[data-testid="machine-activity"] [data-testid="activity-row"][data-action="machine_started"][data-outside="false"]`).First()).ToBeVisible(); err != nil {
		t.Fatalf("the tab does not show the start: %v", err)
	}
	// And one click to the actor's entries.
	if err := op.Locator(`[data-testid="machine-activity"] [data-testid="activity-row"][data-source="dashboard"] [data-testid="activity-actor"]`).First().Click(); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(op, regexp.MustCompile(`/activity\?actor=operator%40`)); err != nil {
		t.Fatalf("the actor link (at %s): %v", op.URL(), err)
	}
}
