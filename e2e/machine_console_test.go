package e2e

// Issue 9 journeys ("the console, used for a week") on the machine page:
// feedback where the user acted (9.1), focus after an action (9.8), live
// updates that never wipe what is being typed (9.2), the custom expiry
// (9.11), at a desktop and a phone size, light and dark.

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

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
			id := claimFirst(t, page, "/machines?status=off&time_left=60")
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
	id := claimFirst(t, page, "/machines?status=off&time_left=60")
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

// TestJourney_machineLiveUpdateKeepsTyping (9.2, 9.7): while a machine
// starts, a half-typed access-link note keeps its text and focus and the
// page is never reloaded; once it is ready the actions follow its state.
// Stopping it while its user is connected asks first, naming them.
func TestJourney_machineLiveUpdateKeepsTyping(t *testing.T) {
	t.Parallel()
	for _, v := range []consoleView{consoleViews[0], consoleViews[3]} {
		t.Run(v.name, func(t *testing.T) {
			page := signInView(t, "operator", v)
			id := claimFirst(t, page, "/machines?status=off&assigned=true&time_left=60")
			openMachine(t, page, id)
			if _, err := page.Evaluate(`() => { window.__notReloaded = true; }`); err != nil {
				t.Fatal(err)
			}
			state := byTestID(page, "machine-state")
			click(t, page, "action-start")
			if err := expect.Locator(state).ToHaveAttribute("data-polling", "true"); err != nil {
				t.Fatalf("the machine does not poll while starting: %v", err)
			}
			note := byTestID(page, "access-note")
			if err := note.Click(); err != nil {
				t.Fatal(err)
			}
			if err := note.PressSequentially("INC-4711 for the new contra"); err != nil {
				t.Fatal(err)
			}
			if err := expect.Locator(state).ToHaveAttribute("data-status", "ready", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: timeout(30 * time.Second)}); err != nil {
				t.Fatalf("machine %s did not become ready: %v", id, err)
			}
			// A few more ticks' worth of time: nothing else may happen.
			page.WaitForTimeout(2500)
			if err := expect.Locator(note).ToHaveValue("INC-4711 for the new contra"); err != nil {
				t.Errorf("the half-typed note: %v", err)
			}
			if err := expect.Locator(note).ToBeFocused(); err != nil {
				t.Errorf("focus left the note: %v", err)
			}
			if ok, err := page.Evaluate(`() => window.__notReloaded === true`); err != nil || ok != true {
				t.Errorf("the page was reloaded (%v, %v)", ok, err)
			}
			if err := expect.Locator(byTestID(page, "action-stop")).ToBeEnabled(); err != nil {
				t.Errorf("Stop is not enabled once the machine is ready: %v", err)
			}

			// 9.7: stopping asks first, naming who is connected since when.
			click(t, page, "action-stop")
			q := byTestID(page, "stop-confirm-text")
			if err := expect.Locator(q).ToContainText("connected since"); err != nil {
				t.Fatalf("no stop confirmation: %v", err)
			}
			shot(t, page, "9.7-"+shotPhase()+"-"+v.name)
			if err := expect.Locator(q).ToContainText("@"); err != nil {
				t.Errorf("the confirmation names no user: %v", err)
			}
			if err := expect.Locator(q.Locator("time[datetime]")).ToHaveCount(1); err != nil {
				t.Error(err)
			}
			_ = q.ScrollIntoViewIfNeeded()
			if err := expect.Locator(byTestID(page, "stop-confirm-submit")).ToBeFocused(); err != nil {
				t.Errorf("focus on the confirmation: %v", err)
			}
			if err := expect.Locator(state).ToHaveAttribute("data-status", "ready"); err != nil {
				t.Errorf("the machine changed before confirming: %v", err)
			}
			// "Keep it running" goes back to Stop, focused; asking again
			// asks again.
			click(t, page, "stop-confirm-cancel")
			if err := expect.Locator(byTestID(page, "action-stop")).ToBeFocused(); err != nil {
				t.Errorf("focus after keeping it running: %v", err)
			}
			click(t, page, "action-stop")
			click(t, page, "stop-confirm-submit")
			if err := expect.Locator(state).ToHaveAttribute("data-status", "off", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: timeout(30 * time.Second)}); err != nil {
				t.Fatalf("machine %s did not stop: %v", id, err)
			}
			// Settled: the controls that need an off machine are enabled
			// without a reload, and the note is still there.
			if err := expect.Locator(byTestID(page, "performance-submit")).ToBeEnabled(); err != nil {
				t.Errorf("Change performance after the stop: %v", err)
			}
			if err := expect.Locator(note).ToHaveValue("INC-4711 for the new contra"); err != nil {
				t.Errorf("the note after the stop: %v", err)
			}
			if ok, err := page.Evaluate(`() => window.__notReloaded === true`); err != nil || ok != true {
				t.Errorf("the page was reloaded (%v, %v)", ok, err)
			}
		})
	}
}

// TestJourney_machineCustomExpiry (9.11, 9.12): typing minutes under Custom
// chooses Custom, and the link lasts that long; the expiry is shown in the
// reader's zone with the relative time and the exact UTC on hover.
func TestJourney_machineCustomExpiry(t *testing.T) {
	t.Parallel()
	for _, v := range []consoleView{consoleViews[0], consoleViews[1]} {
		t.Run(v.name, func(t *testing.T) {
			page := signInView(t, "helpdesk", v)
			id := claimFirst(t, page, "/machines?status=off&time_left=60")
			openMachine(t, page, id)
			if err := byTestID(page, "expires-60").Check(); err != nil {
				t.Fatal(err)
			}
			if err := byTestID(page, "custom-minutes").PressSequentially("90"); err != nil {
				t.Fatal(err)
			}
			if err := expect.Locator(byTestID(page, "expires-custom")).ToBeChecked(); err != nil {
				t.Fatalf("typing minutes did not choose Custom: %v", err)
			}
			click(t, page, "access-submit")
			exp := byTestID(page, "access-expires")
			if err := expect.Locator(exp).ToHaveAttribute("datetime", regexp.MustCompile(`Z$`)); err != nil {
				t.Fatalf("no expiry: %v", err)
			}
			shot(t, page, "9.11-"+shotPhase()+"-"+v.name)
			mins, err := exp.Evaluate(`el => Math.round((new Date(el.getAttribute("datetime")) - Date.now()) / 60000)`, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n, ok := mins.(int); !ok || n < 85 || n > 95 {
				t.Errorf("the link is valid for %v minutes, want 90", mins)
			}
			if err := expect.Locator(exp).ToHaveText(regexp.MustCompile(`\d{1,2}:\d{2}.*\(in (1 hour|2 hours|90 minutes)\)`)); err != nil {
				t.Errorf("expiry text: %v", err)
			}
			if err := expect.Locator(exp).ToHaveAttribute("title", regexp.MustCompile(`UTC$`)); err != nil {
				t.Errorf("expiry title: %v", err)
			}
			// Choosing a preset again clears the typed minutes.
			if err := byTestID(page, "expires-15").Check(); err != nil {
				t.Fatal(err)
			}
			if err := expect.Locator(byTestID(page, "custom-minutes")).ToHaveValue(""); err != nil {
				t.Errorf("custom minutes after choosing a preset: %v", err)
			}
		})
	}
}

// TestJourney_machineAccessJumpFocus (9.13): "Access link…" focuses the
// form's first field; on a phone the header scrolls away with the page.
func TestJourney_machineAccessJumpFocus(t *testing.T) {
	t.Parallel()
	for _, v := range []consoleView{consoleViews[0], consoleViews[1]} {
		t.Run(v.name, func(t *testing.T) {
			page := signInView(t, "helpdesk", v)
			ids := rowIDs(t, page)
			openMachine(t, page, ids[len(ids)-1])
			click(t, page, "action-access")
			first := byTestID(page, "access-form").Locator(`input:not([type="hidden"])`).First()
			if err := expect.Locator(first).ToBeFocused(); err != nil {
				t.Errorf("the form's first field is not focused: %v", err)
			}
			if err := expect.Locator(first).ToBeInViewport(); err != nil {
				t.Errorf("the first field is not in view: %v", err)
			}
			pos, err := byTestID(page, "topbar").Evaluate(`el => getComputedStyle(el).position`, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := "sticky"
			if v.width < 600 {
				want = "static"
			}
			if pos != want {
				t.Errorf("header position %v at %d px, want %s", pos, v.width, want)
			}
		})
	}
}

// TestJourney_sessionTimesInAccountZone (9.12, 9.21): session rows show the
// date and time in the account's zone with the relative time after it.
func TestJourney_sessionTimesInAccountZone(t *testing.T) {
	t.Parallel()
	page := signInView(t, "viewer", consoleViews[0])
	gotoPath(t, page, "/account")
	fill(t, page, "account-time-zone", "Asia/Tokyo")
	click(t, page, "account-submit")
	if err := expect.Locator(byTestID(page, "flash")).ToContainText("Asia/Tokyo"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gotoPath(t, page, "/account")
		fill(t, page, "account-time-zone", "")
		click(t, page, "account-submit")
	})
	gotoPath(t, page, "/machines")
	ids := rowIDs(t, page)
	gotoPath(t, page, "/machines/"+ids[0]+"/sessions")
	start := byTestID(page, "session-start").First().Locator("time")
	if err := expect.Locator(start).ToHaveText(regexp.MustCompile(`\d{4}.*\d{1,2}:\d{2}.*GMT\+9.*\(.+\)`)); err != nil {
		t.Errorf("session start: %v", err)
	}
	if err := expect.Locator(start).ToHaveAttribute("title", regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$`)); err != nil {
		t.Errorf("session start title: %v", err)
	}
}

// TestJourney_machineStalePermissions (issue 8 §7): two admins on one
// machine; the second one's stale form sends nothing and shows both
// versions, and saving again applies their choice.
func TestJourney_machineStalePermissions(t *testing.T) {
	t.Parallel()
	for _, v := range []consoleView{consoleViews[0], consoleViews[3]} {
		t.Run(v.name, func(t *testing.T) {
			tabA := signInView(t, "operator", v)
			id := claimFirst(t, tabA, "/machines?status=off&time_left=60")
			openMachine(t, tabA, id)
			tabB := signInView(t, "admin", v)
			openMachine(t, tabB, id)

			boxB := byTestID(tabB, "perm-clipboard_enabled")
			was, err := boxB.IsChecked()
			if err != nil {
				t.Fatal(err)
			}
			if err := boxB.SetChecked(!was); err != nil {
				t.Fatal(err)
			}
			click(t, tabB, "permissions-submit")
			if err := expect.Locator(byTestID(tabB, "section-permissions").GetByTestId("section-message")).ToHaveAttribute("data-kind", "success"); err != nil {
				t.Fatalf("tab B's save: %v", err)
			}

			boxA := byTestID(tabA, "perm-screen_recording_enabled")
			rec, err := boxA.IsChecked()
			if err != nil {
				t.Fatal(err)
			}
			if err := boxA.SetChecked(!rec); err != nil {
				t.Fatal(err)
			}
			click(t, tabA, "permissions-submit")
			conflict := byTestID(tabA, "section-permissions").GetByTestId("conflict-row")
			if err := expect.Locator(conflict.Filter(playwright.LocatorFilterOptions{HasText: "Clipboard sharing"})).ToHaveCount(1); err != nil {
				t.Fatalf("no comparison after the stale save: %v", err)
			}
			_ = byTestID(tabA, "conflict").ScrollIntoViewIfNeeded()
			shot(t, tabA, "8.7-"+shotPhase()+"-"+v.name)
			if err := expect.Locator(byTestID(tabA, "toast").Last()).ToHaveAttribute("role", "alert"); err != nil {
				t.Error(err)
			}
			// The form keeps tab A's choice and tab B's change is not undone.
			if err := expect.Locator(boxA).ToBeChecked(playwright.LocatorAssertionsToBeCheckedOptions{Checked: playwright.Bool(!rec)}); err != nil {
				t.Errorf("tab A's choice: %v", err)
			}
			if err := expect.Locator(byTestID(tabA, "perm-clipboard_enabled")).ToBeChecked(playwright.LocatorAssertionsToBeCheckedOptions{Checked: playwright.Bool(!was)}); err != nil {
				t.Errorf("the form would undo tab B's change: %v", err)
			}
			click(t, tabA, "permissions-submit")
			if err := expect.Locator(byTestID(tabA, "section-permissions").GetByTestId("section-message")).ToHaveAttribute("data-kind", "success"); err != nil {
				t.Fatalf("saving again: %v", err)
			}
			if err := expect.Locator(byTestID(tabA, "conflict")).ToHaveCount(0); err != nil {
				t.Error(err)
			}
		})
	}
}
