package e2e

// Issue 11 journey: a help-desk user opens the access-link ledger and finds
// a link Vagon's log shows that the dashboard did not issue (the demo's
// simulator seeds some; the demo imports the log at start), marked
// "issued outside the dashboard", with the note that Vagon cannot revoke
// a link.

import (
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

func TestJourney_accessLinksOutsideLink(t *testing.T) {
	t.Parallel()
	hd := signIn(t, "helpdesk")
	hd.Context().SetDefaultTimeout(30_000)
	outside := hd.Locator(`[data-testid="access-link-row"][data-source="vagon"]`)
	// The import runs in the background once the server is up: reload the
	// filtered ledger until its first entries are in.
	deadline := time.Now().Add(90 * time.Second)
	for {
		gotoPath(t, hd, "/access-links?source=vagon")
		if err := expect.Locator(outside.First()).ToBeVisible(playwright.LocatorAssertionsToBeVisibleOptions{Timeout: playwright.Float(3000)}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no link issued outside the dashboard in the ledger: %v", err)
		}
	}
	first := outside.First()
	if err := expect.Locator(first.GetByTestId("access-link-outside")).ToHaveText("issued outside the dashboard"); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(first.GetByTestId("access-link-source")).ToHaveText("Vagon"); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(hd, "access-links-no-revoke")).ToContainText("no way to revoke"); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(hd, "access-links-filter-source")).ToHaveValue("vagon"); err != nil {
		t.Fatal(err)
	}
	// The row leads to its machine, whose page counts the active links.
	href, err := first.GetByTestId("access-link-machine").GetAttribute("href")
	if err != nil || !strings.HasPrefix(href, "/machines/") {
		t.Fatalf("machine link %q: %v", href, err)
	}
	gotoPath(t, hd, href)
	if err := expect.Locator(byTestID(hd, "access-active-count")).ToContainText("active now", playwright.LocatorAssertionsToContainTextOptions{Timeout: playwright.Float(20_000)}); err != nil {
		t.Fatal(err)
	}
}
