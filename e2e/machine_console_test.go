package e2e

// Issue 9 journeys ("the console, used for a week") on the machine page:
// feedback where the user acted (9.1), focus after an action (9.8), live
// updates that never wipe what is being typed (9.2), the custom expiry
// (9.11), at a desktop and a phone size, light and dark.

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// consoleView is a viewport and color scheme a journey runs in.
type consoleView struct {
	name   string
	width  int
	height int
	dark   bool
}

var consoleViews = []consoleView{
	{"1440", 1440, 900, false},
	{"390", 390, 844, false},
	{"1440-dark", 1440, 900, true},
	{"390-dark", 390, 844, true},
}

// signInView signs role in on a page of the given size and color scheme.
func signInView(t *testing.T, role string, v consoleView) playwright.Page {
	t.Helper()
	page := signIn(t, role)
	if err := page.SetViewportSize(v.width, v.height); err != nil {
		t.Fatal(err)
	}
	scheme := playwright.ColorSchemeLight
	if v.dark {
		scheme = playwright.ColorSchemeDark
	}
	if err := page.EmulateMedia(playwright.PageEmulateMediaOptions{ColorScheme: scheme}); err != nil {
		t.Fatal(err)
	}
	return page
}

// shot saves the viewport as /work/wt/shots/<name>.png when E2E_SHOTS names
// a directory (the review's before/after pictures); otherwise nothing.
func shot(t *testing.T, page playwright.Page, name string) {
	t.Helper()
	dir := os.Getenv("E2E_SHOTS")
	if dir == "" {
		return
	}
	path := filepath.Join(dir, name+".png")
	if _, err := page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(path)}); err != nil {
		t.Errorf("screenshot %s: %v", path, err)
	}
}

func shotPhase() string {
	if p := os.Getenv("E2E_SHOT_PHASE"); p != "" {
		return p
	}
	return "after"
}

// TestJourney_machineFeedbackInView (9.1, 9.8): saving permissions low on
// the page shows the outcome in the section and as a toast in view, and
// focus returns to the button that was used.
func TestJourney_machineFeedbackInView(t *testing.T) {
	t.Parallel()
	for _, v := range consoleViews {
		t.Run(v.name, func(t *testing.T) {
			page := signInView(t, "operator", v)
			id := claimFirst(t, page, "/machines?status=off")
			openMachine(t, page, id)

			form := byTestID(page, "permissions-form")
			box := form.Locator(`input[type="checkbox"]`).First()
			if err := box.ScrollIntoViewIfNeeded(); err != nil {
				t.Fatal(err)
			}
			was, err := box.IsChecked()
			if err != nil {
				t.Fatal(err)
			}
			if err := box.SetChecked(!was); err != nil {
				t.Fatal(err)
			}
			submit := byTestID(page, "permissions-submit")
			if err := submit.Click(); err != nil {
				t.Fatal(err)
			}
			// The section message is where the user acted.
			msg := byTestID(page, "section-permissions").GetByTestId("section-message")
			err = expect.Locator(msg).ToHaveAttribute("data-kind", "success")
			shot(t, page, "9.1-"+shotPhase()+"-"+v.name)
			if err != nil {
				t.Fatalf("no success message in the permissions section: %v", err)
			}
			if err := expect.Locator(msg).ToBeInViewport(); err != nil {
				t.Errorf("the section's message is not in view: %v", err)
			}
			// The toast stays in view, announced politely.
			toast := byTestID(page, "toast").Last()
			if err := expect.Locator(toast).ToBeInViewport(); err != nil {
				t.Errorf("the toast is not in view: %v", err)
			}
			if err := expect.Locator(toast).ToHaveAttribute("role", "status"); err != nil {
				t.Error(err)
			}
			if err := expect.Locator(toast).ToContainText("saved"); err != nil {
				t.Error(err)
			}
			// 9.8: focus is back on the button that was used.
			if err := expect.Locator(byTestID(page, "permissions-submit")).ToBeFocused(); err != nil {
				t.Errorf("focus after saving: %v", err)
			}
			// A success toast hides itself after about 6 s.
			if err := expect.Locator(byTestID(page, "toast")).ToHaveCount(0, playwright.LocatorAssertionsToHaveCountOptions{Timeout: timeout(12_000)}); err != nil {
				t.Errorf("the success toast did not hide itself: %v", err)
			}
		})
	}
}

// TestJourney_machineErrorToastStays (9.1, 9.8): an error is a toast
// announced as an alert that stays until dismissed, with the message in the
// section focused.
func TestJourney_machineErrorToastStays(t *testing.T) {
	t.Parallel()
	v := consoleViews[0]
	page := signInView(t, "helpdesk", v)
	id := claimFirst(t, page, "/machines?status=off")
	openMachine(t, page, id)
	// Past the browser's own check, so the server's answers.
	if _, err := page.Evaluate(`() => { document.querySelector('[data-testid="access-form"]').noValidate = true; }`); err != nil {
		t.Fatal(err)
	}
	fill(t, page, "custom-minutes", strconv.Itoa(99_999))
	click(t, page, "access-submit")
	msg := byTestID(page, "section-access").GetByTestId("section-message")
	if err := expect.Locator(msg).ToHaveAttribute("data-kind", "error"); err != nil {
		t.Fatalf("no error message in the access section: %v", err)
	}
	if err := expect.Locator(msg).ToBeFocused(); err != nil {
		t.Errorf("focus after an error: %v", err)
	}
	toast := byTestID(page, "toast").Last()
	if err := expect.Locator(toast).ToHaveAttribute("role", "alert"); err != nil {
		t.Error(err)
	}
	page.WaitForTimeout(7000)
	if err := expect.Locator(toast).ToBeInViewport(); err != nil {
		t.Errorf("the error toast went away by itself: %v", err)
	}
	if err := toast.GetByTestId("toast-dismiss").Click(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "toast")).ToHaveCount(0); err != nil {
		t.Errorf("dismiss: %v", err)
	}
}
