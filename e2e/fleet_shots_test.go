package e2e

// Screenshots of the issue-9 pages (tables, stray width) at a desktop and a
// phone size, light and dark, for review. It writes them only when
// E2E_SHOTS names a directory; otherwise it skips.

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/playwright-community/playwright-go"
)

func TestScreenshot_issue9(t *testing.T) {
	dir := os.Getenv("E2E_SHOTS")
	if dir == "" {
		t.Skip("set E2E_SHOTS=<dir> to write the issue-9 screenshots")
	}
	prefix := os.Getenv("E2E_SHOTS_PREFIX") // e.g. "before" or "after"
	if prefix == "" {
		prefix = "shot"
	}
	page := signIn(t, "admin")
	waitForSync(t, page)
	for _, vp := range []struct {
		name string
		w, h int
	}{{"1440", 1440, 900}, {"390", 390, 844}} {
		for _, scheme := range []string{"light", "dark"} {
			if err := page.SetViewportSize(vp.w, vp.h); err != nil {
				t.Fatal(err)
			}
			if err := page.EmulateMedia(playwright.PageEmulateMediaOptions{ColorScheme: playwright.ColorSchemeLight}); err != nil {
				t.Fatal(err)
			}
			if scheme == "dark" {
				_ = page.EmulateMedia(playwright.PageEmulateMediaOptions{ColorScheme: playwright.ColorSchemeDark})
			}
			for _, pg := range []struct{ name, path string }{
				{"fleet", "/machines"}, {"usage", "/reports/usage?group=machine&preset=last_90_days"}, {"machine", "/machines/100"},
			} {
				gotoPath(t, page, pg.path)
				dims, err := page.Evaluate(`() => ({sw: document.documentElement.scrollWidth, sh: document.documentElement.scrollHeight, bh: document.body.getBoundingClientRect().height, iw: innerWidth})`)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s %s %s %s: %v", prefix, pg.name, vp.name, scheme, dims)
				name := prefix + "-" + pg.name + "-" + vp.name + "-" + scheme + ".png"
				if _, err := page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(dir, name)), FullPage: playwright.Bool(os.Getenv("E2E_SHOTS_FULL") != "")}); err != nil {
					t.Fatal(err)
				}
				// Scrolled into the table: the page scrolls, the header sticks.
				if _, err := page.Evaluate(`() => { const t = document.querySelector(".table-wrap tbody"); if (t) window.scrollTo(0, t.getBoundingClientRect().top + scrollY + 600); }`); err != nil {
					t.Fatal(err)
				}
				name = prefix + "-" + pg.name + "-" + vp.name + "-" + scheme + "-scrolled.png"
				if _, err := page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(dir, name))}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
