package e2e

// Issue 4 journeys: the machine page and its actions for each role, an
// access link copied to the clipboard, the audit trail of a change, reset
// behind the typed name, HTML in a machine name shown as text, and a bulk
// stop followed to the end.

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// openMachine goes to machine id's page and waits for its overview.
func openMachine(t *testing.T, page playwright.Page, id string) {
	t.Helper()
	gotoPath(t, page, "/machines/"+id)
	if err := byTestID(page, "machine-overview").WaitFor(); err != nil {
		t.Fatalf("machine %s overview: %v", id, err)
	}
}

func TestJourney_machineHelpdeskStartAndAccessLink(t *testing.T) {
	t.Parallel()
	page := signInWith(t, "helpdesk", playwright.BrowserNewContextOptions{
		Permissions: []string{"clipboard-read", "clipboard-write"},
	})

	// An assigned machine that is off, and its user's email.
	id := claimFirst(t, page, "/machines?status=off&assigned=true&time_left=60")
	email, err := rowByID(page, id).GetByTestId("machine-user-email").TextContent()
	if err != nil {
		t.Fatalf("user email of %s: %v", id, err)
	}
	email = strings.TrimSpace(email)
	if email == "" {
		t.Fatalf("machine %s is assigned but shows no email", id)
	}

	// Find it by the email.
	gotoPath(t, page, "/machines")
	fill(t, page, "machines-q", email)
	if err := waitURL(page, regexp.MustCompile(`[?&]q=`)); err != nil {
		t.Fatalf("the search did not run: %v", err)
	}
	if err := expect.Locator(rowByID(page, id)).ToBeVisible(); err != nil {
		t.Fatalf("machine %s not found by %s: %v", id, email, err)
	}
	if err := rowByID(page, id).GetByTestId("machine-name").Click(); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(page, regexp.MustCompile(`/machines/`+regexp.QuoteMeta(id)+`(\?.*)?$`)); err != nil {
		t.Fatalf("not on the machine page: %v", err)
	}

	// Start it and watch it become ready.
	badge := byTestID(page, "machine-overview").GetByTestId("status-badge")
	if err := expect.Locator(badge).ToHaveAttribute("data-status", "off"); err != nil {
		t.Fatal(err)
	}
	click(t, page, "action-start")
	if err := expect.Locator(badge).ToHaveAttribute("data-status", "ready", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: timeout(30 * time.Second)}); err != nil {
		t.Fatalf("machine %s did not become ready: %v", id, err)
	}
	if err := expect.Locator(badge).ToHaveText("Ready"); err != nil {
		t.Error(err)
	}

	// A 1-hour access link, shown once, copied.
	if err := byTestID(page, "expires-60").Check(); err != nil {
		t.Fatal(err)
	}
	click(t, page, "access-submit")
	link := byTestID(page, "access-link")
	if err := expect.Locator(link).ToHaveValue(regexp.MustCompile(`^https://\S+$`)); err != nil {
		t.Fatalf("access link: %v", err)
	}
	if err := expect.Locator(link).ToHaveCount(1); err != nil {
		t.Error(err)
	}
	value, err := link.InputValue()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(mustContent(t, page), value); n != 1 {
		t.Errorf("the link appears %d times in the page, want once", n)
	}
	if err := expect.Locator(byTestID(page, "toasts")).ToContainText("link"); err != nil {
		t.Logf("flash after issuing the link: %v", err)
	}
	click(t, page, "access-copy")
	var clip string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		v, err := page.Evaluate("() => navigator.clipboard.readText()")
		if err == nil {
			if s, ok := v.(string); ok && s == value {
				clip = s
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("machine %s (user %s) started and ready; link issued, clipboard holds it: %v", id, email, clip == value)
	if clip != value {
		// The button's own report is the other acceptable evidence.
		if err := expect.Locator(byTestID(page, "access-copy")).ToHaveText("Copied", playwright.LocatorAssertionsToHaveTextOptions{Timeout: timeout(1500 * time.Millisecond)}); err != nil {
			t.Errorf("the link is not on the clipboard (%q) and the copy button did not report success: %v", clip, err)
		}
	}
}

func mustContent(t *testing.T, page playwright.Page) string {
	t.Helper()
	html, err := page.Content()
	if err != nil {
		t.Fatal(err)
	}
	return html
}

func TestJourney_machineOperatorPermissionAudited(t *testing.T) {
	t.Parallel()
	page := signIn(t, "operator")
	id := claimFirst(t, page, "/machines?status=off&time_left=60")
	openMachine(t, page, id)

	boxes := byTestID(page, "permissions-form").Locator(`input[type="checkbox"]`)
	box := boxes.First()
	key, err := box.GetAttribute("name")
	if err != nil {
		t.Fatal(err)
	}
	was, err := box.IsChecked()
	if err != nil {
		t.Fatal(err)
	}
	if err := box.SetChecked(!was); err != nil {
		t.Fatalf("toggle %s: %v", key, err)
	}
	click(t, page, "permissions-submit")
	if err := expect.Locator(byTestID(page, "section-permissions").GetByTestId("section-message")).ToHaveAttribute("data-kind", "success"); err != nil {
		t.Fatalf("saving permission %s: %v", key, err)
	}
	after := byTestID(page, "perm-"+key)
	if was {
		err = expect.Locator(after).Not().ToBeChecked()
	} else {
		err = expect.Locator(after).ToBeChecked()
	}
	if err != nil {
		t.Errorf("permission %s after saving: %v", key, err)
	}

	// The audit log, own entries: the change succeeded.
	gotoPath(t, page, "/audit")
	if err := expect.Locator(byTestID(page, "audit-own-only")).ToBeVisible(); err != nil {
		t.Error(err)
	}
	row := byTestID(page, "audit-row").
		Filter(playwright.LocatorFilterOptions{Has: page.Locator(`[data-testid="audit-action"]`, playwright.PageLocatorOptions{HasText: "machine.permissions"})}).
		Filter(playwright.LocatorFilterOptions{Has: page.Locator(`[data-testid="audit-machine"]`, playwright.PageLocatorOptions{HasText: regexp.MustCompile(`^` + id + `$`)})}).
		Filter(playwright.LocatorFilterOptions{Has: page.Locator(`[data-testid="outcome-badge"]`, playwright.PageLocatorOptions{HasText: "succeeded"})})
	if err := expect.Locator(row).ToHaveCount(1); err != nil {
		t.Fatalf("no succeeded machine.permissions row for %s: %v", id, err)
	}
	if err := expect.Locator(row.GetByTestId("audit-actor")).ToHaveText(demoEmail("operator")); err != nil {
		t.Error(err)
	}
}

func TestJourney_machineAdminResetTypedName(t *testing.T) {
	t.Parallel()
	page := signIn(t, "admin")
	id := claimFirst(t, page, "/machines?status=off&time_left=60")
	openMachine(t, page, id)

	name, err := byTestID(page, "machine-title").TextContent()
	if err != nil {
		t.Fatal(err)
	}
	name = strings.TrimSpace(name)
	submit := byTestID(page, "reset-submit")
	if err := expect.Locator(submit).ToBeDisabled(); err != nil {
		t.Errorf("reset is possible before the name is typed: %v", err)
	}
	fill(t, page, "reset-confirm", name+"x")
	if err := expect.Locator(submit).ToBeDisabled(); err != nil {
		t.Errorf("reset is possible with a wrong name: %v", err)
	}
	fill(t, page, "reset-confirm", name)
	if err := expect.Locator(submit).ToBeEnabled(); err != nil {
		t.Fatalf("reset stays disabled after typing the name: %v", err)
	}
	if err := submit.Click(); err != nil {
		t.Fatal(err)
	}
	// A confirmation dialog, if the form asks for one.
	ok := byTestID(page, "confirm-ok")
	if visible, _ := ok.IsVisible(); visible {
		if err := ok.Click(); err != nil {
			t.Fatal(err)
		}
	}
	flash := byTestID(page, "toast").Filter(playwright.LocatorFilterOptions{HasText: "Reset " + name})
	if err := expect.Locator(flash).ToHaveAttribute("data-kind", "success", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: timeout(15 * time.Second)}); err != nil {
		t.Fatalf("no success flash for the reset of %s: %v", name, err)
	}
}

func TestJourney_machineViewerNoActions(t *testing.T) {
	t.Parallel()
	page := signIn(t, "viewer")
	ids := rowIDs(t, page)
	if len(ids) == 0 {
		t.Fatal("the viewer sees no machines")
	}
	openMachine(t, page, ids[0])
	if err := expect.Locator(byTestID(page, "actions-readonly")).ToBeVisible(); err != nil {
		t.Error(err)
	}
	for _, id := range []string{
		"action-start", "action-stop", "action-reset", "action-access",
		"section-access", "access-form", "section-reset", "reset-form",
		"permissions-submit", "performance-submit", "settings-submit", "task-form", "task-delete",
	} {
		if err := expect.Locator(byTestID(page, id)).ToHaveCount(0); err != nil {
			t.Errorf("viewer sees %s: %v", id, err)
		}
	}
	for _, action := range []string{"/start", "/stop", "/reset", "/access"} {
		if err := expect.Locator(page.Locator(`form[action$="` + action + `"]`)).ToHaveCount(0); err != nil {
			t.Errorf("viewer has a %s form: %v", action, err)
		}
	}
}

func TestJourney_htmlMachineNameIsText(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	const evil = "<b>bold</b><script>alert(1)</script>"
	sim := vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: 8, Seed: 5})
	id := sim.MachineIDs()[0]
	if err := sim.SetMachineName(id, evil); err != nil {
		t.Fatal(err)
	}
	d := startAPIDashboard(t, sim)

	page := newPageAt(t, d.URL, playwright.BrowserNewContextOptions{})
	var dialogs []string
	page.OnDialog(func(dl playwright.Dialog) {
		dialogs = append(dialogs, dl.Type()+": "+dl.Message())
		_ = dl.Dismiss()
	})
	signInAt(t, page, d.AdminEmail, d.AdminPassword)

	nameCell := rowByID(page, id).GetByTestId("machine-name")
	if err := expect.Locator(nameCell).ToHaveText(evil); err != nil {
		t.Errorf("list: %v", err)
	}
	if err := expect.Locator(nameCell).ToContainText("<b>bold</b>"); err != nil {
		t.Errorf("list: %v", err)
	}
	if n, err := nameCell.Locator("b, script").Count(); err != nil || n != 0 {
		t.Errorf("list: %d elements made from the name (%v)", n, err)
	}

	if err := nameCell.Click(); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(page, regexp.MustCompile(`/machines/`+regexp.QuoteMeta(id)+`(\?.*)?$`)); err != nil {
		t.Fatalf("not on the machine page: %v", err)
	}
	title := byTestID(page, "machine-title")
	if err := expect.Locator(title).ToHaveText(evil); err != nil {
		t.Errorf("page: %v", err)
	}
	for _, where := range []playwright.Locator{title, byTestID(page, "breadcrumb")} {
		if n, err := where.Locator("b, script").Count(); err != nil || n != 0 {
			t.Errorf("page: %d elements made from the name (%v)", n, err)
		}
	}
	if n, err := page.Locator("b").Count(); err != nil || n != 0 {
		t.Errorf("page has %d <b> elements (%v)", n, err)
	}
	// The reset form's typed-name check must carry the name verbatim too.
	if err := expect.Locator(byTestID(page, "reset-confirm")).ToHaveAttribute("data-confirm-name", evil); err != nil {
		t.Error(err)
	}
	if len(dialogs) > 0 {
		t.Errorf("dialogs opened: %v", dialogs)
	}
}

func TestJourney_bulkStopFiveToTheEnd(t *testing.T) {
	t.Parallel()
	page := signIn(t, "operator")

	// Five machines: ready ones first, then any other unclaimed ones
	// (those are skipped, and progress must still reach the end).
	var picked []string
	for _, path := range []string{"/machines?status=ready&per_page=100", "/machines?per_page=100"} {
		gotoPath(t, page, path)
		for _, id := range rowIDs(t, page) {
			if len(picked) == 5 {
				break
			}
			if contains(picked, id) || !claim(t, id) {
				continue
			}
			picked = append(picked, id)
		}
		if len(picked) == 5 {
			break
		}
	}
	if len(picked) < 5 {
		t.Fatalf("only %d unclaimed machines: %v", len(picked), picked)
	}
	// Tick them on one page (the unfiltered list holds them all).
	if !strings.Contains(page.URL(), "status=ready") {
		gotoPath(t, page, "/machines?per_page=100")
	}
	for _, id := range picked {
		if err := rowByID(page, id).GetByTestId("machine-select").Check(); err != nil {
			t.Fatalf("tick %s: %v", id, err)
		}
	}
	form := byTestID(page, "bulk-form")
	if _, err := form.GetByTestId("bulk-action").SelectOption(playwright.SelectOptionValues{Values: &[]string{"stop"}}); err != nil {
		t.Fatal(err)
	}
	if err := form.GetByTestId("bulk-submit").Click(); err != nil {
		t.Fatal(err)
	}

	// The confirmation page lists the five.
	if err := expect.Locator(byTestID(page, "bulk-target")).ToHaveCount(5); err != nil {
		t.Fatalf("confirmation: %v", err)
	}
	click(t, page, "bulk-confirm-submit")
	ok := byTestID(page, "confirm-ok")
	if visible, _ := ok.IsVisible(); visible {
		_ = ok.Click()
	}
	if err := waitURL(page, regexp.MustCompile(`/bulk/[^/?]+$`)); err != nil {
		t.Fatalf("not on the operation's page (at %s): %v", page.URL(), err)
	}

	progress := byTestID(page, "bulk-progress")
	if err := expect.Locator(progress).ToHaveAttribute("data-status", regexp.MustCompile(`^(succeeded|failed)$`), playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: timeout(30 * time.Second)}); err != nil {
		t.Fatalf("the bulk stop did not finish: %v", err)
	}
	bar := byTestID(page, "bulk-progress-bar")
	if err := expect.Locator(bar).ToHaveAttribute("max", "5"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(bar).ToHaveAttribute("value", "5"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(byTestID(page, "bulk-counts")).ToContainText("5 of 5"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(byTestID(page, "bulk-status")).ToContainText("Finished"); err != nil {
		t.Error(err)
	}
	items := byTestID(page, "bulk-item")
	if err := expect.Locator(items).ToHaveCount(5); err != nil {
		t.Fatal(err)
	}
	for _, id := range picked {
		item := page.Locator(`[data-testid="bulk-item"][data-machine-id="` + id + `"]`)
		if err := expect.Locator(item).ToHaveAttribute("data-state", regexp.MustCompile(`^(done|skipped|succeeded)$`)); err != nil {
			t.Errorf("machine %s: %v", id, err)
		}
	}
	if counts, err := byTestID(page, "bulk-counts").TextContent(); err == nil {
		t.Logf("bulk stop of %v: %s", picked, counts)
	}
	if err := expect.Locator(progress).Not().ToHaveAttribute("hx-get", regexp.MustCompile(`.`)); err != nil {
		t.Errorf("a finished operation still polls: %v", err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
