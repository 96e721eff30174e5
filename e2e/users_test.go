package e2e

// Issue 8 and issue 9 point 17 in the browser: on /users an admin sees a
// user's last sign-in and open sessions, ends one session, and disables a
// user only after the confirmation the server shows in the row.

import (
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// createUser adds a viewer through the Users page's form and returns its
// email and password.
func createUser(t *testing.T, admin playwright.Page, name string) (email, password string) {
	t.Helper()
	email = name + "-" + randHex(4) + "@example.com"
	password = "pw-" + randHex(12)
	gotoPath(t, admin, "/users")
	form := byTestID(admin, "user-create-form")
	for field, v := range map[string]string{"email": email, "password": password, "password_confirm": password} {
		if err := form.Locator(`[name="` + field + `"]`).Fill(v); err != nil {
			t.Fatalf("fill %s: %v", field, err)
		}
	}
	click(t, admin, "user-create-submit")
	if err := expect.Locator(userRow(admin, email)).ToBeVisible(); err != nil {
		t.Fatalf("user %s not listed after creating it: %v", email, err)
	}
	return email, password
}

func userRow(page playwright.Page, email string) playwright.Locator {
	return page.Locator(`[data-testid="user-row"][data-email="` + email + `"]`)
}

// wantSignedOut checks that page's next navigation lands on /login. The
// page's own polling may get there first (HX-Redirect), aborting the Goto;
// where it lands is what counts.
func wantSignedOut(t *testing.T, page playwright.Page) {
	t.Helper()
	if _, err := page.Goto("/machines"); err != nil {
		t.Logf("goto /machines: %v (a redirect of the page's own may have won)", err)
	}
	if err := waitURL(page, regexp.MustCompile(`/login(\?.*)?$`)); err != nil {
		t.Fatalf("still signed in (at %s): %v", page.URL(), err)
	}
}

func TestJourney_usersSessionsAndDisable(t *testing.T) {
	t.Parallel()
	admin := signIn(t, "admin")
	email, password := createUser(t, admin, "journey")
	userPage := newPage(t)
	signInAt(t, userPage, email, password)

	// The admin sees the sign-in and the open session, and ends it.
	gotoPath(t, admin, "/users")
	row := userRow(admin, email)
	if err := expect.Locator(row.GetByTestId("user-last-login").Locator("time")).ToBeVisible(); err != nil {
		t.Fatalf("no last sign-in: %v", err)
	}
	if err := expect.Locator(row.GetByTestId("user-sessions")).ToHaveAttribute("data-count", "1"); err != nil {
		t.Fatalf("open sessions: %v", err)
	}
	if err := row.Locator("summary").Click(); err != nil {
		t.Fatal(err)
	}
	if err := row.GetByTestId("user-session-revoke").Click(); err != nil {
		t.Fatal(err)
	}
	click(t, admin, "confirm-ok")
	if err := expect.Locator(userRow(admin, email).GetByTestId("user-sessions")).ToHaveAttribute("data-count", "0"); err != nil {
		t.Fatalf("the session is still listed after ending it: %v", err)
	}
	wantSignedOut(t, userPage)

	// Disabling asks in the row first; nothing changes until confirmed.
	signInAt(t, userPage, email, password)
	gotoPath(t, admin, "/users")
	if err := userRow(admin, email).GetByTestId("user-disable").Click(); err != nil {
		t.Fatal(err)
	}
	confirm := userRow(admin, email).GetByTestId("user-disable-confirmation")
	if err := expect.Locator(confirm).ToContainText("signed out everywhere"); err != nil {
		t.Fatalf("no confirmation: %v", err)
	}
	if err := expect.Locator(userRow(admin, email).GetByTestId("user-status")).ToHaveText("Active"); err != nil {
		t.Fatalf("status before confirming: %v", err)
	}
	if err := confirm.GetByTestId("user-disable-confirm").Click(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(userRow(admin, email).GetByTestId("user-status")).ToHaveText("Disabled"); err != nil {
		t.Fatalf("status after confirming: %v", err)
	}
	if err := expect.Locator(userRow(admin, email).GetByTestId("section-message")).ToContainText("disabled and signed out everywhere"); err != nil {
		t.Fatalf("no outcome message in the row: %v", err)
	}
	if err := expect.Locator(byTestID(admin, "toasts").GetByTestId("toast").Last()).ToContainText("disabled and signed out everywhere"); err != nil {
		t.Fatalf("no outcome toast: %v", err)
	}
	wantSignedOut(t, userPage)
}

// TestJourney_usersRoleOutcomeInView (9.1, 9.8): changing the role of the
// last user row answers where the admin acted: the message is in that row,
// a toast (role=status) is on screen however far down the row is, and the
// focus stays in that row (not on the first row's identical Save button).
func TestJourney_usersRoleOutcomeInView(t *testing.T) {
	t.Parallel()
	admin := signIn(t, "admin")
	// Users are listed by email: this one sorts last.
	email, _ := createUser(t, admin, "zzzz-lastrow")
	gotoPath(t, admin, "/users")
	rows := byTestID(admin, "user-row")
	if got, err := rows.Last().GetAttribute("data-email"); err != nil || got != email {
		t.Fatalf("last row is %q (%v), want %s", got, err, email)
	}
	row := userRow(admin, email)
	if _, err := row.GetByTestId("user-role-select").SelectOption(playwright.SelectOptionValues{Values: &[]string{"operator"}}); err != nil {
		t.Fatal(err)
	}
	if err := row.GetByTestId("user-role-save").Click(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(row.GetByTestId("section-message")).ToHaveText(email + " is now operator."); err != nil {
		t.Fatalf("no outcome in the row: %v", err)
	}
	toast := byTestID(admin, "toasts").GetByTestId("toast").Filter(playwright.LocatorFilterOptions{HasText: email + " is now operator."})
	if err := expect.Locator(toast).ToBeVisible(); err != nil {
		t.Fatalf("no toast: %v", err)
	}
	if err := expect.Locator(toast).ToHaveAttribute("role", "status"); err != nil {
		t.Errorf("toast not announced: %v", err)
	}
	box, err := toast.BoundingBox()
	ih := evalNum(t, admin, "() => innerHeight")
	if err != nil || box == nil || box.Y < 0 || box.Y+box.Height > ih {
		t.Errorf("toast at %+v (%v), not within the %v px viewport", box, err, ih)
	}
	inRow, err := admin.Evaluate(`(email) => {
		const r = document.querySelector('[data-testid="user-row"][data-email="' + email + '"]');
		return !!r && r.contains(document.activeElement);
	}`, email)
	if err != nil || inRow != true {
		active, _ := admin.Evaluate(`() => document.activeElement ? document.activeElement.outerHTML.slice(0, 160) : ""`)
		t.Errorf("focus is not in the changed row (%v): %v", err, active)
	}
}
