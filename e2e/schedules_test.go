package e2e

import (
	"regexp"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// TestJourney_scheduleNextMinute: an operator schedules a start of an off
// machine for the next minute in their zone and, staying on the schedule's
// page (its history polls while a run is near), sees the run appear with
// the machine started. The schedule page passes axe.
func TestJourney_scheduleNextMinute(t *testing.T) {
	t.Parallel()
	// BypassCSP: axe is injected as a script at the end.
	page := signInWith(t, "operator", playwright.BrowserNewContextOptions{BypassCSP: playwright.Bool(true)})
	page.Context().SetDefaultTimeout(30_000)
	id := claimFirst(t, page, "/machines?status=off&time_left=60")

	gotoPath(t, page, "/schedules/new")
	zone, err := byTestID(page, "schedule-timezone").InputValue()
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatalf("the form's zone %q: %v", zone, err)
	}
	// The next minute, or the one after when this one is nearly over (the
	// form must be saved before the time comes).
	at := time.Now().In(loc).Truncate(time.Minute).Add(time.Minute)
	if time.Until(at) < 25*time.Second {
		at = at.Add(time.Minute)
	}
	fill(t, page, "schedule-name", "Journey start "+randHex(3))
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		if err := byTestID(page, "schedule-day-"+d).Check(); err != nil {
			t.Fatal(err)
		}
	}
	if err := page.Locator(`[data-testid="schedule-machine"][value="` + id + `"]`).Check(); err != nil {
		t.Fatalf("pick machine %s: %v", id, err)
	}
	fill(t, page, "schedule-at", at.Format("15:04"))
	click(t, page, "schedule-submit")
	if err := waitURL(page, regexp.MustCompile(`/schedules/\d+$`)); err != nil {
		t.Fatalf("after create: %v", err)
	}
	if err := expect.Locator(byTestID(page, "schedule-next-run").First()).ToBeVisible(playwright.LocatorAssertionsToBeVisibleOptions{Timeout: playwright.Float(20_000)}); err != nil {
		t.Fatal(err)
	}
	vs := runAxe(t, page, axeFile(t))
	if n := reportAxe(t, "operator", page.URL(), vs); n > 0 {
		t.Errorf("%d axe violations on the schedule page", n)
	}

	// Wait (at most ~2 min past the due time) for the run's item.
	wait := time.Until(at) + 90*time.Second
	item := page.Locator(`[data-testid="schedule-run"] [data-testid="schedule-run-item"][data-machine-id="` + id + `"]`)
	if err := expect.Locator(item).ToHaveAttribute("data-state", "done", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: playwright.Float(float64(wait.Milliseconds()))}); err != nil {
		t.Fatalf("the run did not show machine %s done: %v", id, err)
	}
	if err := expect.Locator(byTestID(page, "schedule-run-state").First()).ToHaveText("Succeeded", playwright.LocatorAssertionsToHaveTextOptions{Timeout: playwright.Float(20_000)}); err != nil {
		t.Fatal(err)
	}
	gotoPath(t, page, "/machines/"+id)
	if err := expect.Locator(byTestID(page, "status-badge").First()).ToHaveAttribute("data-status", regexp.MustCompile(`turning_on|ready`), playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: playwright.Float(20_000)}); err != nil {
		t.Fatalf("machine %s not started: %v", id, err)
	}
	if err := expect.Locator(byTestID(page, "machine-schedules")).ToContainText("Journey start", playwright.LocatorAssertionsToContainTextOptions{Timeout: playwright.Float(20_000)}); err != nil {
		t.Fatal(err)
	}
}
