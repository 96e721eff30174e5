package e2e

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// TestJourney_createMachinesOnce: an admin follows "Create machines" from
// the fleet page, tries a plan Vagon doesn't know and is told so by the plan
// field with the rest of the form kept, then a good plan; double-clicks
// confirm while the same confirmation is submitted once more, and exactly
// one create reaches the API.
func TestJourney_createMachinesOnce(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	const simCreate = "POST /machines"
	sim := vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: 4, Seed: 11, DefaultRegion: "dublin"})
	d := startAPIDashboard(t, sim)
	page := newPageAt(t, d.URL, playwright.BrowserNewContextOptions{})
	signInAt(t, page, d.AdminEmail, d.AdminPassword)

	click(t, page, "create-machines-link")
	if err := waitURL(page, regexp.MustCompile(`/machines/new$`)); err != nil {
		t.Fatalf("the link did not lead to the form: %v", err)
	}

	// A plan Vagon does not know: the review can't check it and says so;
	// the create answers "plan not found" by the plan field.
	fill(t, page, "create-plan", "99")
	fill(t, page, "create-quantity", "2")
	click(t, page, "create-submit")
	if err := expect.Locator(byTestID(page, "create-plan-unverified")).ToBeVisible(); err != nil {
		t.Fatalf("review: %v", err)
	}
	click(t, page, "create-confirm-submit")
	planErr := byTestID(page, "create-plan-error")
	if err := expect.Locator(planErr).ToContainText(regexp.MustCompile(`(?i)plan not found`)); err != nil {
		t.Fatalf("no plan-not-found by the field: %v", err)
	}
	// By the field: inside the plan field's own block.
	if n, err := page.Locator(`.field.has-error:has([data-testid="create-plan"]) [data-testid="create-plan-error"]`).Count(); err != nil || n != 1 {
		t.Fatalf("the plan error is not in the plan field (%d, %v)", n, err)
	}
	if err := expect.Locator(byTestID(page, "create-quantity")).ToHaveValue("2"); err != nil {
		t.Fatalf("quantity not kept: %v", err)
	}
	if got := sim.Count(simCreate); got != 1 {
		t.Fatalf("creates after the bad plan: %d, want 1 (refused)", got)
	}

	// The good plan.
	fill(t, page, "create-plan", "1")
	click(t, page, "create-submit")
	confirm := byTestID(page, "create-confirm-submit")
	if err := expect.Locator(confirm).ToHaveText("Create 2 machines"); err != nil {
		t.Fatalf("confirm button: %v", err)
	}
	if err := expect.Locator(byTestID(page, "create-summary")).ToContainText("Plan 1, 2 machines."); err != nil {
		t.Fatal(err)
	}
	// The confirmation's fields, to submit it a second time as another tab would.
	form := url.Values{}
	inputs, err := byTestID(page, "create-confirm-form").Locator("input").All()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		name, _ := in.GetAttribute("name")
		value, _ := in.GetAttribute("value")
		form.Add(name, value)
	}
	if form.Get("token") == "" || form.Get("_csrf") == "" {
		t.Fatalf("confirmation form without token or _csrf: %v", form)
	}

	// Vagon answers slowly, so every submit is in flight at once.
	sim.SetLatency(time.Second, time.Second)
	if err := confirm.Dblclick(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sim.Count(simCreate) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if sim.Count(simCreate) < 2 {
		t.Fatal("the confirmed create never reached the API")
	}
	// The first create is now waiting at the API; the same confirmation
	// again, from the same signed-in browser context.
	resp, err := page.Request().Post("/machines", playwright.APIRequestContextPostOptions{
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Data:    form.Encode(),
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := resp.Text()
	if resp.Status() != 409 || !strings.Contains(body, "This confirmation was already used") {
		t.Errorf("second submit: status %d, body has the message: %v", resp.Status(), strings.Contains(body, "already used"))
	}

	result := byTestID(page, "create-result")
	if err := expect.Locator(result).ToContainText("2 machines created", playwright.LocatorAssertionsToContainTextOptions{Timeout: timeout(20 * time.Second)}); err != nil {
		t.Fatalf("result: %v", err)
	}
	if n, err := byTestID(page, "created-machine").Count(); err != nil || n != 2 {
		t.Fatalf("%d machines listed (%v)", n, err)
	}
	sim.ClearFaults()
	if got := sim.Count(simCreate); got != 2 {
		t.Fatalf("POST /machines reached the API %d times, want 2 (the bad plan and one create)", got)
	}

	// One succeeded machine.create in the audit log.
	gotoPath(t, page, "/audit?action=machine.create&outcome=succeeded")
	if err := expect.Locator(byTestID(page, "audit-row")).ToHaveCount(1); err != nil {
		t.Fatalf("audit: %v", err)
	}
	// And plan 1 is now offered on the form.
	gotoPath(t, page, "/machines/new")
	if err := expect.Locator(byTestID(page, "create-known-plans")).ToContainText("2 machines"); err != nil {
		t.Fatalf("known plans: %v", err)
	}
}
