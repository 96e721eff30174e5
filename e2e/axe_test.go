package e2e

// Issue 9 (9.23): every HTML page passes axe-core with no critical, serious
// or moderate violation, as admin and as viewer, on a desktop and a phone
// screen, in light and dark mode. axe-core is the npm package pinned in
// e2e-driver/package.json; playwright injects its axe.min.js into each page.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// axeImpacts are the violation impacts that fail the journey (axe's
// "minor" is reported by the log only).
var axeImpacts = map[string]bool{"critical": true, "serious": true, "moderate": true}

// axeViolation is one rule axe found broken on a page, with where.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeScript runs axe on the whole document and returns its violations,
// each with up to five offending elements (selector and failure summary).
const axeScript = `async () => {
	const r = await axe.run(document, {resultTypes: ['violations']});
	return JSON.stringify(r.violations.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help,
		nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\s+/g, ' ')),
	})));
}`

// axeFile is axe-core's browser bundle from the pinned npm package.
func axeFile(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PLAYWRIGHT_DRIVER_PATH")
	if dir == "" {
		dir = filepath.Join(repoRoot, "e2e-driver", "node_modules")
	}
	p := filepath.Join(dir, "axe-core", "axe.min.js")
	if _, err := os.Stat(p); err != nil {
		if required() {
			t.Fatalf("no axe-core at %s (npm ci --prefix e2e-driver): %v", p, err)
		}
		t.Skipf("no axe-core at %s (npm ci --prefix e2e-driver)", p)
	}
	return p
}

// runAxe injects axe into the page as it is and returns every violation
// it finds (reportAxe counts them by impact; minor ones do not fail).
func runAxe(t *testing.T, page playwright.Page, axePath string) []axeViolation {
	t.Helper()
	if _, err := page.AddScriptTag(playwright.PageAddScriptTagOptions{Path: playwright.String(axePath)}); err != nil {
		t.Fatalf("inject axe into %s: %v", page.URL(), err)
	}
	out, err := page.Evaluate(axeScript)
	if err != nil {
		t.Fatalf("run axe on %s: %v", page.URL(), err)
	}
	s, _ := out.(string)
	var all []axeViolation
	if err := json.Unmarshal([]byte(s), &all); err != nil {
		t.Fatalf("axe result on %s: %v (%.200s)", page.URL(), err, s)
	}
	return all
}

// axeSetup finds a machine with sessions to open and starts a bulk
// operation (auto-stop on one claimed machine, a setting no other journey
// reads) so the bulk progress page exists. It also creates a schedule on
// that machine and runs it once, so the schedule page (with its edit form
// and a run in its history) exists: schedulePath.
func axeSetup(t *testing.T) (machineID, bulkPath, schedulePath string) {
	t.Helper()
	page := signIn(t, "admin")
	page.Context().SetDefaultTimeout(30_000) // the fleet list is slow on a loaded machine
	machineID = claimFirst(t, page, "/machines?per_page=100")
	token, err := page.Locator(`meta[name="csrf-token"]`).GetAttribute("content")
	if err != nil {
		t.Fatalf("csrf token: %v", err)
	}
	form := url.Values{"action": {"auto_stop"}, "machine_id": {machineID}, "auto_stop_threshold": {"3600"}, "_csrf": {token}}
	// The first POST answers the confirmation, which carries its single-use token.
	review, err := page.Request().Post("/bulk", playwright.APIRequestContextPostOptions{
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Data:    form.Encode(),
	})
	if err != nil {
		t.Fatalf("POST /bulk (review): %v", err)
	}
	body, err := review.Text()
	if err != nil {
		t.Fatalf("POST /bulk (review): %v", err)
	}
	m := regexp.MustCompile(`name="token" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("POST /bulk (review, status %d): no confirmation token in the answer", review.Status())
	}
	form.Set("token", m[1])
	form.Set("confirmed", "true")
	resp, err := page.Request().Post("/bulk", playwright.APIRequestContextPostOptions{
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Data:    form.Encode(),
	})
	if err != nil {
		t.Fatalf("POST /bulk: %v", err)
	}
	u, err := url.Parse(resp.URL())
	if err != nil || !regexp.MustCompile(`^/bulk/[^/]+$`).MatchString(u.Path) {
		t.Fatalf("POST /bulk: landed on %s (status %d), not a bulk page", resp.URL(), resp.Status())
	}
	return machineID, u.Path, axeSchedule(t, page, token, machineID)
}

// axeSchedule creates a schedule that starts machineID (enabled, every day
// at 03:00 UTC, skipping machines in use) and runs it now once; it returns
// the schedule's page.
func axeSchedule(t *testing.T, page playwright.Page, token, machineID string) string {
	t.Helper()
	form := url.Values{"name": {"Axe nightly " + randHex(3)}, "action": {"start"}, "machine_id": {machineID},
		"days": {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "at": {"03:00"}, "timezone": {"UTC"},
		"skip_dates": {"2030-12-25"}, "skip_active_sessions": {"true"}, "enabled": {"true"}, "_csrf": {token}}
	resp, err := page.Request().Post("/schedules", playwright.APIRequestContextPostOptions{
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Data:    form.Encode(),
	})
	if err != nil {
		t.Fatalf("POST /schedules: %v", err)
	}
	u, err := url.Parse(resp.URL())
	if err != nil || !regexp.MustCompile(`^/schedules/\d+$`).MatchString(u.Path) {
		t.Fatalf("POST /schedules: landed on %s (status %d), not a schedule page", resp.URL(), resp.Status())
	}
	run, err := page.Request().Post(u.Path+"/run", playwright.APIRequestContextPostOptions{
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Data:    url.Values{"_csrf": {token}}.Encode(),
	})
	if err != nil || run.Status() != 200 {
		t.Fatalf("POST %s/run: %v (landed on %s)", u.Path, err, run.URL())
	}
	return u.Path
}

// everyPage lists the signed-in pages each role opens, for the checks that
// go over every page (axe, and the fit at 390 px in TestJourney_fleetTablesFit):
// a new page is added here once. machineID, bulkPath and schedulePath come
// from axeSetup (the schedule's page holds its edit form: it has no page of
// its own).
func everyPage(machineID, bulkPath, schedulePath string) (viewerPages, adminPages []string) {
	m := "/machines/" + url.PathEscape(machineID)
	viewerPages = []string{
		"/machines", m, m + "/sessions", m + "/tasks",
		"/reports/usage", "/reports/usage?preset=last_30_days&group=user",
		"/reports/idle", "/reports/low-remaining", "/reports/top-users", "/audit", "/activity", m + "/activity",
		"/account", "/schedules", schedulePath,
	}
	adminPages = append([]string{bulkPath, "/machines/new", "/users", "/jobs", "/schedules/new", "/alerts", "/access-links"}, viewerPages...)
	return viewerPages, adminPages
}

func TestAxe_everyPage(t *testing.T) {
	t.Parallel()
	axePath := axeFile(t)
	machineID, bulkPath, schedulePath := axeSetup(t)
	viewerPages, adminPages := everyPage(machineID, bulkPath, schedulePath)

	sizes := []struct {
		name string
		size playwright.Size
	}{{"desktop", playwright.Size{Width: 1440, Height: 900}}, {"phone", playwright.Size{Width: 390, Height: 844}}}
	schemes := []*playwright.ColorScheme{playwright.ColorSchemeLight, playwright.ColorSchemeDark}

	total := 0
	for _, role := range []string{"admin", "viewer"} {
		pages := viewerPages
		if role == "admin" {
			pages = adminPages
		}
		for _, sz := range sizes {
			for _, scheme := range schemes {
				name := fmt.Sprintf("%s/%s/%s", role, sz.name, *scheme)
				opts := playwright.BrowserNewContextOptions{BypassCSP: playwright.Bool(true), ColorScheme: scheme}
				page := newPageAt(t, baseURL, opts)
				page.Context().SetDefaultTimeout(30_000)
				if err := page.SetViewportSize(sz.size.Width, sz.size.Height); err != nil {
					t.Fatal(err)
				}
				// The login page, signed out.
				gotoPath(t, page, "/login")
				total += reportAxe(t, name, "/login", runAxe(t, page, axePath))
				signInAt(t, page, demoEmail(role), demoPasswords[role])
				for _, p := range pages {
					gotoPath(t, page, p)
					total += reportAxe(t, name, p, runAxe(t, page, axePath))
				}
				// Pages found at run time: a job's page (admins; its id is
				// whatever ran first), and the error pages (not found, and
				// for a viewer a refused page).
				extra := map[string]int{"/machines/no-such-machine": 404}
				if role == "admin" {
					gotoPath(t, page, "/jobs")
					href, err := byTestID(page, "job-link").First().GetAttribute("href")
					if err != nil || href == "" {
						t.Fatalf("no job on /jobs to open: %v", err)
					}
					extra[href] = 200
				} else {
					extra["/users"] = 403
				}
				for p, status := range extra {
					resp, err := page.Goto(p)
					if err != nil {
						t.Fatalf("goto %s: %v", p, err)
					}
					if resp == nil || resp.Status() != status {
						t.Fatalf("goto %s: %v, want status %d", p, resp, status)
					}
					total += reportAxe(t, name, p, runAxe(t, page, axePath))
				}
			}
		}
	}
	if total > 0 {
		t.Errorf("%d axe violations (critical, serious or moderate); see above", total)
	}
}

// reportAxe logs a page's violations, counted by impact (one line per
// page, for the record), and returns how many would fail the journey
// (critical, serious or moderate).
func reportAxe(t *testing.T, name, path string, vs []axeViolation) int {
	t.Helper()
	count := map[string]int{}
	var b strings.Builder
	bad := 0
	for _, v := range vs {
		count[v.Impact]++
		if !axeImpacts[v.Impact] {
			fmt.Fprintf(&b, "\n  [%s] %s: %s (does not fail)", v.Impact, v.ID, v.Help)
			continue
		}
		bad++
		fmt.Fprintf(&b, "\n  [%s] %s: %s", v.Impact, v.ID, v.Help)
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "\n      %s", n)
		}
	}
	t.Logf("axe %s %s: critical %d, serious %d, moderate %d, minor %d%s",
		name, path, count["critical"], count["serious"], count["moderate"], count["minor"], b.String())
	return bad
}
