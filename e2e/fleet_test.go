package e2e

// Issue 9 journeys on the fleet list: tables that fit (the page scrolls,
// phones get cards, nothing stretches the document), the bulk selection
// kept across pages, the quiet refresh, sorting, saved views and the
// column chooser, the time-left filter in hours and minutes, and the
// keyboard (skip link, "/", focus kept after htmx swaps).

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

func evalNum(t *testing.T, page playwright.Page, js string) float64 {
	t.Helper()
	v, err := page.Evaluate(js)
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	t.Fatalf("evaluate %s: %T %v", js, v, v)
	return 0
}

func evalStr(t *testing.T, page playwright.Page, js string) string {
	t.Helper()
	v, err := page.Evaluate(js)
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	s, _ := v.(string)
	return s
}

// TestJourney_fleetTablesFit (9.3, 9.4): at 390 px no page is wider than
// the viewport nor taller than its body; the fleet's rows are cards with
// "Time left" in view; at 1440 px the table has no inner scroller, the page
// scrolls to the last row and the header sticks under the top bar.
func TestJourney_fleetTablesFit(t *testing.T) {
	t.Parallel()
	machineID, bulkPath, schedulePath := axeSetup(t)
	_, pages := everyPage(machineID, bulkPath, schedulePath)
	// The usage report's widest table (per machine, 90 days) as well.
	pages = append(pages, "/reports/usage?group=machine&preset=last_90_days")
	page := signIn(t, "admin")
	page.Context().SetDefaultTimeout(30_000)
	if err := page.SetViewportSize(390, 844); err != nil {
		t.Fatal(err)
	}
	for _, path := range pages {
		gotoPath(t, page, path)
		sw := evalNum(t, page, "() => document.documentElement.scrollWidth")
		iw := evalNum(t, page, "() => innerWidth")
		if sw > iw {
			t.Errorf("%s at 390 px: document %v px wide", path, sw)
		}
		sh := evalNum(t, page, "() => document.documentElement.scrollHeight")
		bh := evalNum(t, page, "() => Math.ceil(document.body.getBoundingClientRect().height)")
		if sh > bh+1 {
			t.Errorf("%s at 390 px: document %v px tall for a %v px body", path, sh, bh)
		}
	}
	gotoPath(t, page, "/machines")
	cell := byTestID(page, "machine-row").First().Locator(`td[data-label="Time left"]`)
	if err := cell.ScrollIntoViewIfNeeded(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(cell).ToBeInViewport(); err != nil {
		t.Errorf("time left of the first row is not in view on a phone: %v", err)
	}
	box, err := cell.BoundingBox()
	if err != nil || box == nil || box.X < 0 || box.X+box.Width > 390 {
		t.Errorf("time left cell at %+v, not within 390 px", box)
	}

	if err := page.SetViewportSize(1440, 900); err != nil {
		t.Fatal(err)
	}
	gotoPath(t, page, "/machines")
	if inner := evalNum(t, page, `() => { const w = document.querySelector(".table-wrap"); return w.scrollHeight - w.clientHeight; }`); inner > 0 {
		t.Errorf("the table scrolls inside the page (%v px hidden in it)", inner)
	}
	last := byTestID(page, "machine-row").Last()
	if err := last.ScrollIntoViewIfNeeded(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(last).ToBeInViewport(); err != nil {
		t.Errorf("the last row cannot be scrolled to: %v", err)
	}
	if y := evalNum(t, page, "() => scrollY"); y <= 0 {
		t.Errorf("the page did not scroll (scrollY %v)", y)
	}
	top := evalNum(t, page, `() => Math.round(document.querySelector('[data-testid="machines-table"] thead th').getBoundingClientRect().top)`)
	bar := evalNum(t, page, `() => Math.round(document.querySelector(".topbar").getBoundingClientRect().bottom)`)
	if top != bar {
		t.Errorf("scrolled down, the header row is at %v px, want under the top bar at %v px", top, bar)
	}
	for _, scheme := range []*playwright.ColorScheme{playwright.ColorSchemeLight, playwright.ColorSchemeDark} {
		if err := page.EmulateMedia(playwright.PageEmulateMediaOptions{ColorScheme: scheme}); err != nil {
			t.Fatal(err)
		}
		if sw := evalNum(t, page, "() => document.documentElement.scrollWidth"); sw > 1440 {
			t.Errorf("%v: document %v px wide at 1440", *scheme, sw)
		}
	}
}

// TestJourney_fleetSelectionAcrossPages (9.5): ticks survive Next and
// Previous and a filter, a live count says how many, the page's box ticks
// all on it, "Clear selection" clears, and the review lists machines from
// both pages.
func TestJourney_fleetSelectionAcrossPages(t *testing.T) {
	t.Parallel()
	page := signIn(t, "operator")
	gotoPath(t, page, "/machines?per_page=10")
	count := byTestID(page, "bulk-count")
	if err := expect.Locator(count).ToHaveText("No machines selected"); err != nil {
		t.Fatal(err)
	}
	if live, _ := count.GetAttribute("aria-live"); live != "polite" {
		t.Errorf("count aria-live %q", live)
	}
	first := rowIDs(t, page)
	for _, id := range first[:2] {
		if err := rowByID(page, id).GetByTestId("machine-select").Check(); err != nil {
			t.Fatal(err)
		}
	}
	if err := expect.Locator(count).ToHaveText("2 selected"); err != nil {
		t.Fatal(err)
	}
	click(t, page, "page-next")
	if err := waitURL(page, regexp.MustCompile(`page=2`)); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(rowByID(page, first[0])).ToHaveCount(0); err != nil {
		t.Fatal(err)
	}
	second := rowIDs(t, page)
	if err := rowByID(page, second[0]).GetByTestId("machine-select").Check(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(count).ToHaveText("3 selected (2 on other pages)"); err != nil {
		t.Error(err)
	}
	click(t, page, "page-prev")
	if err := expect.Locator(rowByID(page, first[0])).ToHaveCount(1); err != nil {
		t.Fatal(err)
	}
	for _, id := range first[:2] {
		if err := expect.Locator(rowByID(page, id).GetByTestId("machine-select")).ToBeChecked(); err != nil {
			t.Errorf("tick on %s lost after Next/Previous: %v", id, err)
		}
	}
	if err := expect.Locator(rowByID(page, first[2]).GetByTestId("machine-select")).Not().ToBeChecked(); err != nil {
		t.Error(err)
	}
	// A reload keeps them too (sessionStorage), and so does a filter.
	if _, err := page.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(count).ToHaveText("3 selected (1 on other pages)"); err != nil {
		t.Error(err)
	}
	// Review: the three, from two pages.
	form := byTestID(page, "bulk-form")
	if _, err := form.GetByTestId("bulk-action").SelectOption(playwright.SelectOptionValues{Values: &[]string{"start"}}); err != nil {
		t.Fatal(err)
	}
	if err := form.GetByTestId("bulk-submit").Click(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "bulk-target")).ToHaveCount(3); err != nil {
		t.Fatalf("review lists: %v", err)
	}
	for _, id := range []string{first[0], first[1], second[0]} {
		if err := expect.Locator(page.Locator(`[data-testid="bulk-target"][data-machine-id="` + id + `"]`)).ToHaveCount(1); err != nil {
			t.Errorf("machine %s not in the review: %v", id, err)
		}
	}
	click(t, page, "bulk-cancel")
	if err := waitURL(page, regexp.MustCompile(`/machines`)); err != nil {
		t.Fatal(err)
	}

	// The page's box ticks the page; the count follows; Clear clears all.
	gotoPath(t, page, "/machines?per_page=10")
	if err := byTestID(page, "select-page").Check(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(count).ToHaveText("11 selected (1 on other pages)"); err != nil {
		t.Error(err)
	}
	fill(t, page, "machines-q", "zzz-no-such-machine")
	if err := expect.Locator(byTestID(page, "empty-state")).ToBeVisible(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(count).ToHaveText("11 selected (11 on other pages)"); err != nil {
		t.Errorf("a filter dropped the selection: %v", err)
	}
	click(t, page, "bulk-clear")
	if err := expect.Locator(count).ToHaveText("No machines selected"); err != nil {
		t.Error(err)
	}
	gotoPath(t, page, "/machines?per_page=10")
	if err := expect.Locator(count).ToHaveText("No machines selected"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(byTestID(page, "machine-select").First()).Not().ToBeChecked(); err != nil {
		t.Error(err)
	}
	// "All N matching" counts the filter.
	if err := byTestID(page, "bulk-all-matching").Check(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(count).ToHaveText(regexp.MustCompile(`^All \d+ machines matching the filter selected$`)); err != nil {
		t.Error(err)
	}
}

// TestJourney_fleetQuietRefresh (9.10): a machine someone else starts
// changes on an open list without a reload, while the tick on another row,
// the focus and the scroll position stay.
func TestJourney_fleetQuietRefresh(t *testing.T) {
	t.Parallel()
	page := signIn(t, "operator")
	id := claimFirst(t, page, "/machines?status=off&time_left=60&per_page=100")
	gotoPath(t, page, "/machines?per_page=100")
	row := rowByID(page, id)
	if err := expect.Locator(row.GetByTestId("status-badge")).ToHaveAttribute("data-status", "off"); err != nil {
		t.Fatal(err)
	}
	ids := rowIDs(t, page)
	var other string
	for _, x := range ids {
		if x != id {
			other = x
			break
		}
	}
	if err := rowByID(page, other).GetByTestId("machine-select").Check(); err != nil {
		t.Fatal(err)
	}
	if _, err := page.Evaluate(`() => { window.__noReload = true; document.getElementById("field-q").focus({ preventScroll: true }); window.scrollTo(0, 300); }`); err != nil {
		t.Fatal(err)
	}

	// Someone else starts it.
	helper := signIn(t, "helpdesk")
	openMachine(t, helper, id)
	click(t, helper, "action-start")
	if err := expect.Locator(byTestID(helper, "machine-overview").GetByTestId("status-badge")).Not().ToHaveAttribute("data-status", "off", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: timeout(30 * time.Second)}); err != nil {
		t.Fatalf("start by helpdesk: %v", err)
	}

	if err := expect.Locator(row.GetByTestId("status-badge")).Not().ToHaveAttribute("data-status", "off", playwright.LocatorAssertionsToHaveAttributeOptions{Timeout: timeout(30 * time.Second)}); err != nil {
		t.Fatalf("the open list did not show the start: %v", err)
	}
	if v, _ := page.Evaluate(`() => window.__noReload === true`); v != true {
		t.Error("the page was reloaded")
	}
	if err := expect.Locator(rowByID(page, other).GetByTestId("machine-select")).ToBeChecked(); err != nil {
		t.Errorf("the tick was lost: %v", err)
	}
	if f := evalStr(t, page, `() => document.activeElement && document.activeElement.getAttribute("data-testid")`); f != "machines-q" {
		t.Errorf("focus moved to %q", f)
	}
	if y := evalNum(t, page, "() => scrollY"); y != 300 {
		t.Errorf("scroll moved to %v", y)
	}
}

// TestJourney_fleetSortViewsColumns (9.6): sort by a header (in the URL),
// keep it as a named view that is a link, and bring back a folded column.
func TestJourney_fleetSortViewsColumns(t *testing.T) {
	t.Parallel()
	page := signIn(t, "viewer")
	gotoPath(t, page, "/machines")
	if err := byTestID(page, "sort-link-time_left").Click(); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(page, regexp.MustCompile(`/machines\?dir=asc&sort=time_left$`)); err != nil {
		t.Fatalf("sort URL: %v", err)
	}
	if err := expect.Locator(byTestID(page, "sort-time_left")).ToHaveAttribute("aria-sort", "ascending"); err != nil {
		t.Error(err)
	}
	if err := byTestID(page, "sort-link-time_left").Click(); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(page, regexp.MustCompile(`dir=desc&sort=time_left$`)); err != nil {
		t.Fatal(err)
	}
	// Filtering keeps the sort; Reset is there.
	selectOption(t, page, "machines-status", "off")
	if err := waitURL(page, regexp.MustCompile(`/machines\?dir=desc&sort=time_left&status=off$`)); err != nil {
		t.Fatalf("filter after sort: %v", err)
	}
	if err := expect.Locator(byTestID(page, "machines-filter-reset")).ToBeVisible(); err != nil {
		t.Error(err)
	}

	name := "Off, most time " + randHex(3)
	fill(t, page, "saved-view-name", name)
	click(t, page, "saved-view-save")
	link := byTestID(page, "saved-view-link").Filter(playwright.LocatorFilterOptions{HasText: name})
	if err := expect.Locator(link).ToHaveAttribute("href", "/machines?dir=desc&sort=time_left&status=off"); err != nil {
		t.Fatal(err)
	}
	click(t, page, "machines-filter-reset")
	if err := waitURL(page, regexp.MustCompile(`/machines$`)); err != nil {
		t.Fatal(err)
	}
	if err := link.Click(); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(page, regexp.MustCompile(`/machines\?dir=desc&sort=time_left&status=off$`)); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "machines-status")).ToHaveValue("off"); err != nil {
		t.Error(err)
	}
	// The same name twice is refused next to the field.
	fill(t, page, "saved-view-name", strings.ToUpper(name))
	click(t, page, "saved-view-save")
	if err := expect.Locator(byTestID(page, "saved-view-error")).ToContainText("already have a view"); err != nil {
		t.Error(err)
	}

	// A phone folds Type; the chooser brings it back, and it stays.
	if err := page.SetViewportSize(390, 844); err != nil {
		t.Fatal(err)
	}
	typeCell := byTestID(page, "machine-row").First().Locator("td.col-type")
	if err := expect.Locator(typeCell).ToBeHidden(); err != nil {
		t.Fatal(err)
	}
	click(t, page, "col-chooser-toggle")
	if err := byTestID(page, "col-type").Check(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(typeCell).ToBeVisible(); err != nil {
		t.Errorf("the chooser did not show Type: %v", err)
	}
	if _, err := page.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "machine-row").First().Locator("td.col-type")).ToBeVisible(); err != nil {
		t.Errorf("the column choice was not kept: %v", err)
	}
	if sw := evalNum(t, page, "() => document.documentElement.scrollWidth"); sw > 390 {
		t.Errorf("with Type shown the phone page is %v px wide", sw)
	}
}

// TestJourney_fleetTimeLeftAndKeyboard (9.9, 9.24, 9.8): the skip link is
// the first Tab stop, "/" focuses the search, the URL carries only set
// parameters, Reset appears after live filtering, the time-left filter
// takes hours and minutes, and focus stays on Next after paging.
func TestJourney_fleetTimeLeftAndKeyboard(t *testing.T) {
	t.Parallel()
	page := signIn(t, "viewer")
	gotoPath(t, page, "/machines?per_page=10")
	kb := page.Keyboard()
	if err := kb.Press("Tab"); err != nil {
		t.Fatal(err)
	}
	if got := evalStr(t, page, "() => document.activeElement.textContent.trim()"); got != "Skip to content" {
		t.Fatalf("first Tab stop is %q", got)
	}
	if err := kb.Press("Enter"); err != nil {
		t.Fatal(err)
	}
	if got := evalStr(t, page, "() => document.activeElement.id"); got != "main" {
		t.Errorf("skip link moved focus to %q", got)
	}
	if err := kb.Press("/"); err != nil {
		t.Fatal(err)
	}
	if got := evalStr(t, page, `() => document.activeElement.getAttribute("data-testid")`); got != "machines-q" {
		t.Fatalf("/ focused %q", got)
	}
	if err := kb.Type("a"); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(page, regexp.MustCompile(`/machines\?per_page=10&q=a$`)); err != nil {
		t.Fatalf("URL after typing: %v", err)
	}
	if err := expect.Locator(byTestID(page, "machines-filter-reset")).ToBeVisible(); err != nil {
		t.Errorf("Reset missing after live filtering: %v", err)
	}
	if got := evalStr(t, page, `() => document.activeElement.getAttribute("data-testid")`); got != "machines-q" {
		t.Errorf("focus left the search: %q", got)
	}
	// A "/" typed into the search is text.
	if err := kb.Type("/"); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "machines-q")).ToHaveValue("a/"); err != nil {
		t.Error(err)
	}

	// Time left as the column shows it; the URL keeps minutes.
	gotoPath(t, page, "/machines?per_page=10")
	fill(t, page, "machines-time-left", "1 h 30 min")
	if err := byTestID(page, "machines-time-left").Press("Enter"); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(page, regexp.MustCompile(`/machines\?per_page=10&time_left=90$`)); err != nil {
		t.Fatalf("time left URL: %v", err)
	}
	if _, err := page.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "machines-time-left")).ToHaveValue("1 h 30 min"); err != nil {
		t.Error(err)
	}

	// Paging by keyboard keeps focus on Next.
	gotoPath(t, page, "/machines?per_page=10")
	next := page.Locator(`a[data-testid="page-next"]`)
	if err := next.Focus(); err != nil {
		t.Fatal(err)
	}
	if err := kb.Press("Enter"); err != nil {
		t.Fatal(err)
	}
	if err := waitURL(page, regexp.MustCompile(`page=2`)); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(next).ToBeFocused(); err != nil {
		t.Errorf("focus after Next: %q: %v", evalStr(t, page, `() => document.activeElement.getAttribute("data-testid") || document.activeElement.tagName`), err)
	}
}

// TestJourney_fleetSelectionClearedByBulk (9.5): starting a bulk operation
// uses up the selection; the list afterwards has no ticks left over.
func TestJourney_fleetSelectionClearedByBulk(t *testing.T) {
	t.Parallel()
	page := signIn(t, "operator")
	id := claimFirst(t, page, "/machines?status=off&time_left=60&per_page=100")
	if err := rowByID(page, id).GetByTestId("machine-select").Check(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "bulk-count")).ToHaveText("1 selected"); err != nil {
		t.Fatal(err)
	}
	form := byTestID(page, "bulk-form")
	if _, err := form.GetByTestId("bulk-action").SelectOption(playwright.SelectOptionValues{Values: &[]string{"auto_stop"}}); err != nil {
		t.Fatal(err)
	}
	if err := form.GetByTestId("bulk-submit").Click(); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "bulk-target")).ToHaveCount(1); err != nil {
		t.Fatal(err)
	}
	click(t, page, "bulk-confirm-submit")
	if ok := byTestID(page, "confirm-ok"); ok != nil {
		if visible, _ := ok.IsVisible(); visible {
			_ = ok.Click()
		}
	}
	if err := waitURL(page, regexp.MustCompile(`/bulk/[^/?]+$`)); err != nil {
		t.Fatalf("not on the operation's page: %v", err)
	}
	gotoPath(t, page, "/machines?status=off&time_left=60&per_page=100")
	if err := expect.Locator(byTestID(page, "bulk-count")).ToHaveText("No machines selected"); err != nil {
		t.Error(err)
	}
}
