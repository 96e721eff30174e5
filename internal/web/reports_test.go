package web

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// reportSync runs one real sessions-sync pass from the app's simulator into
// its database.
func reportSync(t *testing.T, app *testApp) fleet.SyncResult {
	t.Helper()
	s := fleet.NewSyncer(app.API, app.Store, fleet.SyncOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	res, err := s.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("sync pass: %v", err)
	}
	if res.SessionsNew == 0 {
		t.Fatalf("sync pass stored no sessions: %+v", res)
	}
	return res
}

// reportClient signs in a new user with role.
func reportClient(t *testing.T, app *testApp, role string) *client {
	t.Helper()
	email := role + "-" + randHex(3) + "@example.com"
	return app.Login(t, email, app.CreateUser(t, email, role))
}

// usageRecord is one usage group as the table or the CSV shows it.
type usageRecord struct {
	Key, Label        string
	Sessions, Minutes int64
}

func usageTable(t *testing.T, doc *goquery.Document) []usageRecord {
	t.Helper()
	var out []usageRecord
	// The people, then (group user) the machines without a user, apart.
	doc.Find(`[data-testid="usage-row"], [data-testid="usage-unassigned"]`).Each(func(_ int, s *goquery.Selection) {
		key, _ := s.Attr("data-key")
		label, _ := s.Attr("data-label")
		ss, _ := s.Attr("data-sessions")
		ms, _ := s.Attr("data-minutes")
		sessions, err1 := strconv.ParseInt(ss, 10, 64)
		minutes, err2 := strconv.ParseInt(ms, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("usage row %q: sessions %q minutes %q", key, ss, ms)
		}
		out = append(out, usageRecord{key, label, sessions, minutes})
	})
	return out
}

// getCSV fetches path and parses it as CSV, failing unless it is a 200
// text/csv download.
func getCSV(t *testing.T, c *client, path string) [][]string {
	t.Helper()
	resp, _ := c.Get(t, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Fatalf("GET %s: Content-Disposition %q", path, cd)
	}
	recs, err := csv.NewReader(strings.NewReader(bodyText(t, resp))).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: parse csv: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("GET %s: empty file, no header", path)
	}
	return recs
}

func getPage(t *testing.T, c *client, path string, want int) *goquery.Document {
	t.Helper()
	resp, doc := c.Get(t, path)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d", path, resp.StatusCode, want)
	}
	return doc
}

func href(t *testing.T, doc *goquery.Document, testID string) string {
	t.Helper()
	h, ok := doc.Find(`[data-testid="` + testID + `"]`).Attr("href")
	if !ok {
		t.Fatalf("no %s link", testID)
	}
	return h
}

func TestReports_usageCSVEqualsTable(t *testing.T) {
	app := newTestApp(t)
	reportSync(t, app)
	c := reportClient(t, app, fleet.RoleViewer)

	var totals []int64
	for _, group := range db.UsageGroups {
		t.Run(group, func(t *testing.T) {
			doc := getPage(t, c, "/reports/usage?preset=last_90_days&group="+group, http.StatusOK)
			table := usageTable(t, doc)
			if len(table) == 0 {
				t.Fatal("the table has no rows after a sync")
			}
			csvURL := href(t, doc, "usage-csv")
			if want := "/reports/usage.csv?group=" + group + "&preset=last_90_days"; csvURL != want {
				t.Errorf("CSV link %q, want %q", csvURL, want)
			}
			recs := getCSV(t, c, csvURL)
			if !slices.Equal(recs[0], []string{"group_key", "label", "sessions", "minutes"}) {
				t.Fatalf("CSV header %q", recs[0])
			}
			if len(recs)-1 != len(table) {
				t.Fatalf("CSV has %d rows, the table %d", len(recs)-1, len(table))
			}
			var sum int64
			for i, r := range recs[1:] {
				s, _ := strconv.ParseInt(r[2], 10, 64)
				m, _ := strconv.ParseInt(r[3], 10, 64)
				if got := (usageRecord{r[0], r[1], s, m}); got != table[i] {
					t.Errorf("row %d: CSV %+v, table %+v", i, got, table[i])
				}
				sum += s
			}
			total, _ := strconv.ParseInt(strings.TrimSpace(doc.Find(`[data-testid="usage-total-sessions"]`).Text()), 10, 64)
			if total != sum || sum == 0 {
				t.Errorf("total sessions %d, sum of rows %d", total, sum)
			}
			totals = append(totals, sum)
		})
	}
	// Every grouping partitions the same sessions.
	for _, n := range totals {
		if n != totals[0] {
			t.Errorf("session totals differ between groupings: %v", totals)
		}
	}
}

func TestReports_usagePageParts(t *testing.T) {
	app := newTestApp(t)
	res := reportSync(t, app)
	c := reportClient(t, app, fleet.RoleViewer)
	doc := getPage(t, c, "/reports/usage?preset=last_30_days&group=user", http.StatusOK)

	note := doc.Find(`[data-testid="usage-note"]`).Text()
	for _, want := range []string{"Sessions count by their start time", "UTC", "30 days"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	if doc.Find(`[data-testid="report-tab-usage"][aria-current="page"]`).Length() != 1 {
		t.Error("the usage tab is not marked current")
	}
	svg := doc.Find(`[data-testid="report-chart"] svg`)
	if svg.Length() != 1 {
		t.Fatal("no chart svg")
	}
	bars := svg.Find(`rect[data-testid="report-chart-bar"]`)
	if bars.Length() == 0 {
		t.Fatal("the chart has no bars")
	}
	bars.Each(func(_ int, b *goquery.Selection) {
		if b.Find("title").Text() == "" {
			t.Error("a bar has no <title> tooltip")
		}
	})
	if n := doc.Find(`[data-testid="report-chart-legend"] li`).Length(); n == 0 || n > chartTopGroups+1 {
		t.Errorf("legend has %d entries", n)
	}
	form := doc.Find(`form[data-testid="usage-filter"]`)
	if v, _ := form.Attr("hx-get"); v != "/reports/usage" {
		t.Errorf("filter hx-get %q", v)
	}
	if v, _ := form.Attr("hx-push-url"); v != "true" {
		t.Errorf("filter hx-push-url %q", v)
	}
	if v, _ := form.Attr("method"); v != "get" {
		t.Errorf("filter method %q", v)
	}
	// The date fields show the preset's days.
	if v, _ := doc.Find(`[data-testid="report-from"]`).Attr("value"); v == "" {
		t.Error("from date is empty for a preset")
	}

	// A viewer reads how fresh the data is, in words (issue 9.22); the
	// operations details are for admins.
	fresh := doc.Find(`[data-testid="sync-freshness"]`).Text()
	if !strings.Contains(fresh, "updated") || doc.Find(`[data-testid="sync-pass"]`).Length() != 0 {
		t.Errorf("viewer's sync panel %q, %d passes", fresh, doc.Find(`[data-testid="sync-pass"]`).Length())
	}
	if body := doc.Find(`[data-testid="sync-passes"]`).Text(); strings.Contains(body, "SYNC_INTERVAL") || strings.Contains(body, "dashboard sync") {
		t.Errorf("a viewer sees operations jargon: %q", body)
	}
	doc = getPage(t, reportClient(t, app, fleet.RoleAdmin), "/reports/usage?preset=last_30_days&group=user", http.StatusOK)
	if !strings.Contains(doc.Find(`[data-testid="sync-ops"]`).Text(), "SYNC_INTERVAL") {
		t.Error("an admin does not see the sync settings")
	}
	pass := doc.Find(`[data-testid="sync-pass"]`)
	if pass.Length() != 1 {
		t.Fatalf("%d sync passes listed, want 1", pass.Length())
	}
	if st, _ := pass.Attr("data-status"); st != db.PassSucceeded {
		t.Errorf("pass status %q", st)
	}
	if txt := pass.Text(); !strings.Contains(txt, strconv.Itoa(res.MachinesDone)) || !strings.Contains(txt, strconv.FormatInt(res.SessionsNew, 10)) {
		t.Errorf("pass row %q lacks machines done %d or sessions new %d", txt, res.MachinesDone, res.SessionsNew)
	}
	if doc.Find(`[data-testid="sync-empty"]`).Length() != 0 {
		t.Error("the no-sync hint shows after a sync")
	}
}

func TestReports_noSyncYet(t *testing.T) {
	app := newTestApp(t)
	c := reportClient(t, app, fleet.RoleAdmin)
	doc := getPage(t, c, "/reports/usage", http.StatusOK)
	hint := doc.Find(`[data-testid="sync-empty"]`).Text()
	if !strings.Contains(hint, "SYNC_INTERVAL") || !strings.Contains(hint, "dashboard sync") {
		t.Errorf("no-sync hint %q", hint)
	}
	vdoc := getPage(t, reportClient(t, app, fleet.RoleViewer), "/reports/usage", http.StatusOK)
	if hint := vdoc.Find(`[data-testid="sync-freshness"]`).Text(); !strings.Contains(hint, "not been loaded yet") || strings.Contains(hint, "SYNC_INTERVAL") {
		t.Errorf("viewer's no-sync hint %q", hint)
	}
	if doc.Find(`[data-testid="usage-row"]`).Length() != 0 || doc.Find(`[data-testid="empty-state"]`).Length() == 0 {
		t.Error("no empty state without data")
	}
	if doc.Find(`[data-testid="report-chart-empty"]`).Length() != 1 {
		t.Error("the chart does not say it is empty")
	}
	// The CSV of nothing is just the header.
	recs := getCSV(t, c, href(t, doc, "usage-csv"))
	if len(recs) != 1 {
		t.Errorf("CSV %q, want the header only", recs)
	}
	for _, p := range []string{"/reports/idle", "/reports/low-remaining", "/reports/top-users"} {
		if getPage(t, c, p, http.StatusOK).Find(`[data-testid="sync-empty"]`).Length() != 1 {
			t.Errorf("%s: no no-sync hint", p)
		}
	}
}

func TestReports_usageBadInput(t *testing.T) {
	app := newTestApp(t)
	c := reportClient(t, app, fleet.RoleViewer)
	tests := []struct {
		name, query, errTestID string
	}{
		{"not a date", "preset=custom&from=2025-02-30&to=2025-03-10", "report-from-error"},
		{"missing end", "preset=custom&from=2025-02-01", "report-to-error"},
		{"end before start", "from=2025-03-10&to=2025-03-01", "report-to-error"},
		{"unknown preset", "preset=forever", "report-preset-error"},
		{"unknown group", "group=planet", "usage-group-error"},
		{"unknown sort", "sort=price", "form-error-sort"},
		{"bad direction", "sort=sessions&dir=up", "form-error-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := getPage(t, c, "/reports/usage?"+tt.query, http.StatusUnprocessableEntity)
			if msg := strings.TrimSpace(doc.Find(`[data-testid="` + tt.errTestID + `"]`).Text()); msg == "" {
				t.Errorf("no error at %s", tt.errTestID)
			}
			if doc.Find(`[data-testid="usage-csv"]`).Length() != 0 || doc.Find(`[data-testid="usage-table"]`).Length() != 0 {
				t.Error("an invalid filter still offers a table or a CSV")
			}
			if doc.Find(`form[data-testid="usage-filter"]`).Length() != 1 {
				t.Error("the form is gone")
			}
			resp, _ := c.Get(t, "/reports/usage.csv?"+tt.query)
			if resp.StatusCode != http.StatusUnprocessableEntity || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
				t.Errorf("CSV of an invalid filter: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		})
	}
	// The field keeps what was typed and is marked invalid.
	doc := getPage(t, c, "/reports/usage?preset=custom&from=2025-02-30&to=2025-03-10", http.StatusUnprocessableEntity)
	in := doc.Find(`[data-testid="report-from"]`)
	if v, _ := in.Attr("value"); v != "2025-02-30" {
		t.Errorf("from value %q", v)
	}
	if v, _ := in.Attr("aria-invalid"); v != "true" {
		t.Error("from is not aria-invalid")
	}
}

func TestReports_usageSort(t *testing.T) {
	app := newTestApp(t)
	reportSync(t, app)
	c := reportClient(t, app, fleet.RoleViewer)
	sorted := func(rows []usageRecord, desc bool) bool {
		return slices.IsSortedFunc(rows, func(a, b usageRecord) int {
			if desc {
				a, b = b, a
			}
			return int(a.Sessions - b.Sessions)
		})
	}

	doc := getPage(t, c, "/reports/usage?preset=last_90_days&group=machine&sort=sessions&dir=asc", http.StatusOK)
	rows := usageTable(t, doc)
	if len(rows) < 2 || !sorted(rows, false) {
		t.Fatalf("not ascending by sessions: %+v", rows)
	}
	th := doc.Find(`[data-testid="sort-sessions"]`)
	if v, _ := th.Attr("aria-sort"); v != "ascending" {
		t.Errorf("sessions aria-sort %q", v)
	}
	if n := doc.Find(`th[aria-sort]`).Length(); n != 1 {
		t.Errorf("%d headers carry aria-sort", n)
	}
	link, _ := th.Find("a").Attr("href")
	u, err := url.Parse(link)
	if err != nil || u.Path != "/reports/usage" {
		t.Fatalf("sort link %q", link)
	}
	want := url.Values{"preset": {"last_90_days"}, "group": {"machine"}, "sort": {"sessions"}, "dir": {"desc"}}
	if u.Query().Encode() != want.Encode() {
		t.Errorf("sort link keeps %q, want %q", u.RawQuery, want.Encode())
	}
	if v, _ := th.Find("a").Attr("hx-get"); v != link {
		t.Errorf("sort link hx-get %q", v)
	}

	// Following the header link sorts the other way, and the CSV follows.
	doc = getPage(t, c, link, http.StatusOK)
	rows = usageTable(t, doc)
	if !sorted(rows, true) {
		t.Fatalf("not descending by sessions: %+v", rows)
	}
	if v, _ := doc.Find(`[data-testid="sort-sessions"]`).Attr("aria-sort"); v != "descending" {
		t.Errorf("aria-sort after toggle %q", v)
	}
	recs := getCSV(t, c, href(t, doc, "usage-csv"))
	for i, r := range recs[1:] {
		if r[0] != rows[i].Key {
			t.Fatalf("CSV row %d is %q, table row %q: the CSV does not keep the order", i, r[0], rows[i].Key)
		}
	}

	// The default order is total hours, most first.
	doc = getPage(t, c, "/reports/usage?preset=last_90_days&group=region", http.StatusOK)
	if v, _ := doc.Find(`[data-testid="sort-minutes"]`).Attr("aria-sort"); v != "descending" {
		t.Errorf("default aria-sort on minutes %q", v)
	}
	if rows := usageTable(t, doc); !slices.IsSortedFunc(rows, func(a, b usageRecord) int { return int(b.Minutes - a.Minutes) }) {
		t.Errorf("default order is not by minutes: %+v", rows)
	}
	// Days run in calendar order by default.
	doc = getPage(t, c, "/reports/usage?preset=last_7_days&group=day", http.StatusOK)
	days := usageTable(t, doc)
	if len(days) != 7 || !slices.IsSortedFunc(days, func(a, b usageRecord) int { return strings.Compare(a.Key, b.Key) }) {
		t.Errorf("days: %+v", days)
	}
}

func TestReports_htmxFragment(t *testing.T) {
	app := newTestApp(t)
	c := reportClient(t, app, fleet.RoleViewer)
	req, _ := http.NewRequest(http.MethodGet, app.URL+"/reports/usage?group=user&preset=last_7_days&from=2020-01-01", nil)
	req.Header.Set("HX-Request", "true")
	resp, doc := c.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body := bodyText(t, resp)
	if strings.Contains(body, "<html") || doc.Find(`#report-body`).Length() != 1 {
		t.Error("an htmx request did not get the #report-body fragment")
	}
	// The pushed URL is the canonical one: a preset's dates are left out.
	if got, want := resp.Header.Get("HX-Push-Url"), "/reports/usage?group=user&preset=last_7_days"; got != want {
		t.Errorf("HX-Push-Url %q, want %q", got, want)
	}
	if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "HX-Request") {
		t.Error("no Vary: HX-Request")
	}
}

func TestReports_managerViews(t *testing.T) {
	app := newTestApp(t)
	reportSync(t, app)
	c := reportClient(t, app, fleet.RoleViewer)
	machines, err := app.Store.LatestMachines(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, page, rowTestID, csvTestID string
		header                           []string
		minRows                          int
	}{
		{"idle", "/reports/idle?days=1", "idle-row", "idle-csv", idleCSVHeader, 0},
		{"idle default", "/reports/idle", "idle-row", "idle-csv", idleCSVHeader, 0},
		// Every machine has less than 100,000 hours left.
		{"low remaining", "/reports/low-remaining?below_hours=100000", "low-row", "low-csv", lowCSVHeader, len(machines)},
		{"top users", "/reports/top-users?preset=last_90_days", "top-row", "top-csv", topUsersCSVHeader, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := getPage(t, c, tt.page, http.StatusOK)
			rows := doc.Find(`[data-testid="` + tt.rowTestID + `"]`)
			if rows.Length() < tt.minRows {
				t.Fatalf("%d rows, want at least %d", rows.Length(), tt.minRows)
			}
			if doc.Find(`[data-testid="report-tabs"] [aria-current="page"]`).Length() != 1 {
				t.Error("no current tab")
			}
			recs := getCSV(t, c, href(t, doc, tt.csvTestID))
			if !slices.Equal(recs[0], tt.header) {
				t.Errorf("CSV header %q, want %q", recs[0], tt.header)
			}
			if len(recs)-1 != rows.Length() {
				t.Errorf("CSV has %d rows, the table %d", len(recs)-1, rows.Length())
			}
			rows.Each(func(i int, s *goquery.Selection) {
				if id, ok := s.Attr("data-machine-id"); ok && recs[i+1][0] != id {
					t.Errorf("row %d: CSV %q, table %q", i, recs[i+1][0], id)
				}
				if email, ok := s.Attr("data-email"); ok && recs[i+1][1] != email {
					t.Errorf("row %d: CSV %q, table %q", i, recs[i+1][1], email)
				}
			})
		})
	}

	// The idle report defaults to 14 days, shown as dates.
	idle := getPage(t, c, "/reports/idle", http.StatusOK)
	if v, _ := idle.Find(`[data-testid="report-from"]`).Attr("value"); v != app.Clock.Now().UTC().AddDate(0, 0, -14).Format(time.DateOnly) {
		t.Errorf("idle default from %q", v)
	}
	if !strings.Contains(idle.Find(`[data-testid="idle-note"]`).Text(), "in the last 14 days") {
		t.Errorf("idle note %q", idle.Find(`[data-testid="idle-note"]`).Text())
	}

	// Top users agree with the usage report grouped by user.
	top := getPage(t, c, "/reports/top-users?preset=last_90_days&limit=3", http.StatusOK).Find(`[data-testid="top-row"]`)
	usage := usageTable(t, getPage(t, c, "/reports/usage?preset=last_90_days&group=user", http.StatusOK))
	usage = slices.DeleteFunc(usage, func(r usageRecord) bool { return r.Key == "" })
	if top.Length() != min(3, len(usage)) {
		t.Fatalf("top users: %d rows, want %d", top.Length(), min(3, len(usage)))
	}
	top.Each(func(i int, s *goquery.Selection) {
		email, _ := s.Attr("data-email")
		m, _ := s.Attr("data-minutes")
		if email != usage[i].Key || m != strconv.FormatInt(usage[i].Minutes, 10) {
			t.Errorf("top user %d: %s %s, usage report %s %d", i, email, m, usage[i].Key, usage[i].Minutes)
		}
	})
}

func TestReports_managerViewsBadInput(t *testing.T) {
	app := newTestApp(t)
	c := reportClient(t, app, fleet.RoleViewer)
	tests := []struct{ page, csv, errTestID string }{
		{"/reports/idle?days=abc", "/reports/idle.csv?days=abc", "form-error-days"},
		{"/reports/idle?days=-1", "/reports/idle.csv?days=-1", "form-error-days"},
		{"/reports/idle?preset=custom&from=2026-02-01&to=x", "/reports/idle.csv?preset=custom&from=2026-02-01&to=x", "report-to-error"},
		{"/reports/low-remaining?below_hours=-2", "/reports/low-remaining.csv?below_hours=-2", "low-below-hours-error"},
		{"/reports/low-remaining?below_hours=NaN", "/reports/low-remaining.csv?below_hours=NaN", "low-below-hours-error"},
		{"/reports/top-users?limit=0", "/reports/top-users.csv?limit=0", "top-limit-error"},
		{"/reports/top-users?preset=custom&from=2025-01-01&to=x", "/reports/top-users.csv?preset=custom&from=2025-01-01&to=x", "report-to-error"},
	}
	for _, tt := range tests {
		doc := getPage(t, c, tt.page, http.StatusUnprocessableEntity)
		if strings.TrimSpace(doc.Find(`[data-testid="`+tt.errTestID+`"]`).Text()) == "" {
			t.Errorf("%s: no error at %s", tt.page, tt.errTestID)
		}
		if doc.Find(`a[download]`).Length() != 0 {
			t.Errorf("%s: a CSV link for an invalid filter", tt.page)
		}
		resp, _ := c.Get(t, tt.csv)
		if resp.StatusCode != http.StatusUnprocessableEntity || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Errorf("%s: status %d, type %q", tt.csv, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestReports_access(t *testing.T) {
	app := newTestApp(t)
	paths := []string{
		"/reports/usage", "/reports/usage.csv", "/reports/idle", "/reports/idle.csv",
		"/reports/low-remaining", "/reports/low-remaining.csv", "/reports/top-users", "/reports/top-users.csv",
	}
	for _, role := range fleet.Roles {
		c := reportClient(t, app, role)
		for _, p := range paths {
			if resp, _ := c.Get(t, p); resp.StatusCode != http.StatusOK {
				t.Errorf("%s GET %s: status %d", role, p, resp.StatusCode)
			}
		}
	}
	anon := app.NewClient()
	for _, p := range paths {
		resp, _ := anon.Get(t, p)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("signed out GET %s: status %d, Location %q", p, resp.StatusCode, resp.Header.Get("Location"))
		}
		req, _ := http.NewRequest(http.MethodGet, app.URL+p, nil)
		req.Header.Set("HX-Request", "true")
		if resp, _ := anon.Do(t, req); !strings.HasPrefix(resp.Header.Get("HX-Redirect"), "/login") {
			t.Errorf("signed out htmx GET %s: HX-Redirect %q", p, resp.Header.Get("HX-Redirect"))
		}
	}
}
