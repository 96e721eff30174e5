package e2e

// Issue 9.16 journey: a help-desk user issues an access link with a note;
// an admin finds it in the audit log by typing part of the actor's email
// and then part of the machine's name (the filters apply while typing and
// the address keeps only the filters that are set), reads it as one line in
// words with the machine's name, the outcome and the note, and opens its
// details to see both rows.

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

func TestJourney_auditFindActionByPartialActorAndMachine(t *testing.T) {
	t.Parallel()
	// The help-desk side: an access link with a note, on a claimed machine.
	hd := signIn(t, "helpdesk")
	hd.Context().SetDefaultTimeout(30_000) // the fleet list is slow on a loaded machine
	id := claimFirst(t, hd, "/machines?per_page=100")
	name, err := rowByID(hd, id).GetByTestId("machine-name").TextContent()
	if err != nil {
		t.Fatal(err)
	}
	name = strings.TrimSpace(name)
	token, err := hd.Locator(`meta[name="csrf-token"]`).GetAttribute("content")
	if err != nil {
		t.Fatal(err)
	}
	note := "INC-" + randHex(3) + " for Ana"
	resp, err := hd.Request().Post("/machines/"+url.PathEscape(id)+"/access", playwright.APIRequestContextPostOptions{
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Data:    url.Values{"expires_in": {"60"}, "note": {note}, "_csrf": {token}}.Encode(),
	})
	if err != nil || resp.Status() >= 400 {
		t.Fatalf("issue an access link: %v (status %d)", err, resp.Status())
	}

	admin := signIn(t, "admin")
	admin.Context().SetDefaultTimeout(30_000)
	gotoPath(t, admin, "/audit")

	// Part of the email, typed: the list follows without a submit, and the
	// address has only that filter.
	if err := byTestID(admin, "audit-filter-actor").PressSequentially("helpdesk", playwright.LocatorPressSequentiallyOptions{Delay: playwright.Float(30)}); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(admin, regexp.MustCompile(`/audit\?actor=helpdesk$`)); err != nil {
		t.Fatalf("the address does not follow the typed filter (at %s): %v", admin.URL(), err)
	}
	rows := admin.Locator(`[data-testid="audit-row"]`)
	if err := expect.Locator(rows.First()).ToBeVisible(); err != nil {
		t.Fatalf("no rows for helpdesk: %v", err)
	}
	if err := expect.Locator(admin.Locator(`[data-testid="audit-row"] [data-testid="audit-actor"]`).Filter(playwright.LocatorFilterOptions{HasNotText: "helpdesk@demo.local"})).ToHaveCount(0); err != nil {
		t.Errorf("rows of other actors: %v", err)
	}

	// Then part of the machine's name.
	// (The filter trims what is typed, so the part must not end in a space.)
	part := name
	if len(part) > 6 {
		part = part[1:6]
	}
	if p := strings.TrimSpace(part); p != "" {
		part = p
	}
	if err := byTestID(admin, "audit-filter-machine").Fill(part); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(admin, regexp.MustCompile(`/audit\?actor=helpdesk&machine=`+regexp.QuoteMeta(url.QueryEscape(part))+`$`)); err != nil {
		t.Fatalf("the machine filter did not apply (at %s): %v", admin.URL(), err)
	}

	// One line for the action, in words, with name, outcome and note.
	line := admin.Locator(`[data-testid="audit-row"][data-action="machine.access_link"]`).Filter(playwright.LocatorFilterOptions{HasText: note})
	if err := expect.Locator(line).ToHaveCount(1, playwright.LocatorAssertionsToHaveCountOptions{Timeout: timeout(10 * time.Second)}); err != nil {
		t.Fatalf("the access link is not one line: %v", err)
	}
	for tid, want := range map[string]string{"audit-action-label": "Issue access link", "audit-machine-name": name, "audit-machine": id, "audit-note": "Note: " + note, "outcome-badge": "succeeded"} {
		if err := expect.Locator(line.GetByTestId(tid).First()).ToHaveText(want); err != nil {
			t.Errorf("%s: %v", tid, err)
		}
	}
	// Both rows in the details.
	if err := line.Locator("summary").Click(); err != nil {
		t.Fatal(err)
	}
	events := line.GetByTestId("audit-event")
	if err := expect.Locator(events).ToHaveCount(2); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(events.First()).ToHaveAttribute("data-outcome", "started"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(events.Last()).ToHaveAttribute("data-outcome", "succeeded"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(events.Last()).ToBeVisible(); err != nil {
		t.Error(err)
	}
}
