package e2e

// Issue 3 journeys: each demo role signs in, sees its navigation and signs
// out; a wrong password is answered next to the form.

import (
	"os"
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"
)

func TestJourney_signInEachRole(t *testing.T) {
	t.Parallel()
	for _, role := range roles {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			page := signIn(t, role)
			if err := expect.Locator(byTestID(page, "current-user")).ToHaveText(demoEmail(role)); err != nil {
				t.Error(err)
			}
			if err := expect.Locator(byTestID(page, "current-role")).ToHaveText(role); err != nil {
				t.Error(err)
			}
			if err := expect.Locator(byTestID(page, "demo-banner")).ToBeVisible(); err != nil {
				t.Error(err)
			}
			for _, id := range []string{"nav-machines", "nav-reports", "nav-audit"} {
				if err := expect.Locator(byTestID(page, id)).ToBeVisible(); err != nil {
					t.Errorf("%s: %v", id, err)
				}
			}
			users := byTestID(page, "nav-users")
			if role == "admin" {
				if err := expect.Locator(users).ToBeVisible(); err != nil {
					t.Errorf("admin: %v", err)
				}
			} else if err := expect.Locator(users).ToHaveCount(0); err != nil {
				t.Errorf("%s sees Users: %v", role, err)
			}

			click(t, page, "logout")
			if err := waitURL(page, regexp.MustCompile(`/login(\?.*)?$`)); err != nil {
				t.Fatalf("after sign-out at %s: %v", page.URL(), err)
			}
			if err := expect.Locator(byTestID(page, "login-form")).ToBeVisible(); err != nil {
				t.Error(err)
			}
			if err := expect.Locator(byTestID(page, "flashes")).ToContainText("signed out"); err != nil {
				t.Error(err)
			}
			if err := expect.Locator(byTestID(page, "nav")).ToHaveCount(0); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestJourney_wrongPassword(t *testing.T) {
	t.Parallel()
	page := newPage(t)
	gotoPath(t, page, "/login")
	fill(t, page, "email", demoEmail("viewer"))
	fill(t, page, "password", "not the password")
	click(t, page, "login-submit")
	if err := expect.Locator(byTestID(page, "login-error")).ToHaveText("Email or password is incorrect."); err != nil {
		t.Error(err)
	}
	// The message sits in the sign-in card, with the form, which keeps the
	// email and drops the password.
	card := page.Locator(".login-card")
	if err := expect.Locator(card.GetByTestId("login-error")).ToBeVisible(); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(card.GetByTestId("login-form")).ToBeVisible(); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(byTestID(page, "email")).ToHaveValue(demoEmail("viewer")); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(byTestID(page, "password")).ToHaveValue(""); err != nil {
		t.Error(err)
	}
	if err := expect.Page(page).ToHaveURL(regexp.MustCompile(`/login$`)); err != nil {
		t.Error(err)
	}
}

// TestScreenshot_machines writes the README's screenshot when E2E_SCREENSHOT
// names the file (for example ../docs/screenshot.png); otherwise it skips.
func TestScreenshot_machines(t *testing.T) {
	path := os.Getenv("E2E_SCREENSHOT")
	if path == "" {
		t.Skip("set E2E_SCREENSHOT=<file.png> to write the README screenshot")
	}
	page := signIn(t, "admin")
	if err := page.SetViewportSize(1440, 900); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "machine-row").First()).ToBeVisible(); err != nil {
		t.Fatal(err)
	}
	if _, err := page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(path)}); err != nil {
		t.Fatal(err)
	}
}
