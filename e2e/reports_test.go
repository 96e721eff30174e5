package e2e

// Issue 5 journey: a viewer opens the usage report, picks the last 30 days
// grouped by user with the filter form (htmx swaps the report and the URL
// follows), sees the chart, and downloads the CSV of exactly the table.

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// waitForSync reloads the usage report until the sessions sync that demo
// mode runs at start has finished (it runs in the background while the
// server already answers).
func waitForSync(t *testing.T, page playwright.Page) {
	t.Helper()
	// Admins see the passes; others read "updated ..." (issue 9.22).
	done := page.Locator(`[data-testid="sync-pass"][data-status="succeeded"], [data-testid="sync-freshness"][data-synced="true"]`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		gotoPath(t, page, "/reports/usage")
		if n, err := done.Count(); err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no successful sessions sync listed on /reports/usage within 30 s")
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func selectOption(t *testing.T, page playwright.Page, testID, value string) {
	t.Helper()
	if _, err := byTestID(page, testID).SelectOption(playwright.SelectOptionValues{Values: &[]string{value}}); err != nil {
		t.Fatalf("select %s=%s: %v", testID, value, err)
	}
}

func TestJourney_usageReportByUser(t *testing.T) {
	t.Parallel()
	page := signIn(t, "viewer")
	click(t, page, "nav-reports")
	if err := waitURL(page, regexp.MustCompile(`/reports/usage$`)); err != nil {
		t.Fatalf("Reports link: at %s: %v", page.URL(), err)
	}
	waitForSync(t, page)

	// The form swaps the report in place and pushes the URL of the view.
	selectOption(t, page, "report-preset", "last_7_days")
	if err := expect.Page(page).ToHaveURL(regexp.MustCompile(`preset=last_7_days`)); err != nil {
		t.Fatal(err)
	}
	selectOption(t, page, "usage-group", "user")
	if err := expect.Page(page).ToHaveURL(regexp.MustCompile(`group=user`)); err != nil {
		t.Fatal(err)
	}
	selectOption(t, page, "report-preset", "last_30_days")
	if err := expect.Page(page).ToHaveURL(regexp.MustCompile(`/reports/usage\?group=user&preset=last_30_days$`)); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "report-range")).ToContainText("(30 days)"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(byTestID(page, "usage-note")).ToContainText("Sessions count by their start time"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(byTestID(page, "sort-label")).ToContainText("User"); err != nil {
		t.Error(err)
	}

	// The chart: an SVG with bars and a legend.
	svg := page.Locator(`[data-testid="report-chart"] svg`)
	if err := expect.Locator(svg).ToBeVisible(); err != nil {
		t.Fatal(err)
	}
	bars, err := svg.Locator(`rect[data-testid="report-chart-bar"]`).Count()
	if err != nil || bars == 0 {
		t.Fatalf("the chart has %d bars (%v)", bars, err)
	}
	if err := expect.Locator(byTestID(page, "report-chart-legend")).ToBeVisible(); err != nil {
		t.Error(err)
	}

	// The table's groups, in order: the people, then the machines without
	// a user, apart.
	rows := page.Locator(`[data-testid="usage-row"], [data-testid="usage-unassigned"]`)
	n, err := rows.Count()
	if err != nil || n == 0 {
		t.Fatalf("the table has %d rows (%v)", n, err)
	}
	var keys []string
	for i := range n {
		k, err := rows.Nth(i).GetAttribute("data-key")
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}

	// The CSV download: the contract's header, then the table's rows.
	dl, err := page.ExpectDownload(func() error { return byTestID(page, "usage-csv").Click() })
	if err != nil {
		t.Fatalf("download the CSV: %v", err)
	}
	path, err := dl.Path()
	if err != nil {
		t.Fatalf("download path: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("parse the CSV: %v", err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], []string{"group_key", "label", "sessions", "minutes"}) {
		t.Fatalf("CSV header: %q", recs)
	}
	if len(recs)-1 != n {
		t.Fatalf("the CSV has %d rows, the table %d", len(recs)-1, n)
	}
	for i, r := range recs[1:] {
		if r[0] != keys[i] {
			t.Errorf("CSV row %d is %q, table row %q", i, r[0], keys[i])
		}
	}
	if name := dl.SuggestedFilename(); !regexp.MustCompile(`^usage-by-user-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv$`).MatchString(name) {
		t.Errorf("download name %q", name)
	}

	// Screenshots for a look at both themes, when asked for.
	if os.Getenv("E2E_REPORT_SCREENSHOTS") != "" {
		for _, scheme := range []*playwright.ColorScheme{playwright.ColorSchemeLight, playwright.ColorSchemeDark} {
			if err := page.EmulateMedia(playwright.PageEmulateMediaOptions{ColorScheme: scheme}); err != nil {
				t.Fatal(err)
			}
			// A fresh load with the pointer away from the buttons.
			if err := page.Mouse().Move(0, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := page.Reload(); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(artifactsDir, "reports-usage-"+string(*scheme)+".png")
			if _, err := page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(out), FullPage: playwright.Bool(true)}); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", out)
		}
	}
}

// TestJourney_usageReportCustomDates: typing a date switches the report to
// that custom range at once, and the URL says so.
func TestJourney_usageReportCustomDates(t *testing.T) {
	t.Parallel()
	page := signIn(t, "viewer")
	gotoPath(t, page, "/reports/usage?group=day&preset=last_30_days")
	from := time.Now().UTC().AddDate(0, 0, -6).Format(time.DateOnly)
	fill(t, page, "report-from", from)
	if err := expect.Page(page).ToHaveURL(regexp.MustCompile(`preset=custom`)); err != nil {
		t.Fatal(err)
	}
	if err := expect.Page(page).ToHaveURL(regexp.MustCompile(`from=` + from)); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "report-preset")).ToHaveValue("custom"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(byTestID(page, "report-range")).ToContainText("(7 days)"); err != nil {
		t.Error(err)
	}
	// Grouped by day, the table has a row per day of the range.
	if err := expect.Locator(byTestID(page, "usage-row")).ToHaveCount(7); err != nil {
		t.Error(err)
	}
	csvHref, err := byTestID(page, "usage-csv").GetAttribute("href")
	if err != nil || !regexp.MustCompile(`^/reports/usage\.csv\?.*from=`+from).MatchString(csvHref) {
		t.Errorf("CSV link %q (%v) does not carry the custom range", csvHref, err)
	}
}
