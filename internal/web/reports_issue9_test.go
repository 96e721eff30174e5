package web

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// addMachine puts a machine into the sync's latest table after a pass, as
// a later pass would: userEmail "" is a spare.
func addMachine(t *testing.T, app *testApp, id, name, userEmail, userName string) {
	t.Helper()
	var email, uname any
	if userEmail != "" {
		email, uname = userEmail, userName
	}
	if _, err := app.Store.Pool().Exec(context.Background(), `
		INSERT INTO machines_latest (machine_id, pass_id, name, user_email, user_name, region, machine_type, status,
			usage_source, remaining_usage_minutes, taken_at, first_seen_at)
		VALUES ($1, (SELECT max(id) FROM sync_passes), $2, $3, $4, 'dublin', 'g4', 'off', 'hourly', 600, now(), now())`,
		id, name, email, uname); err != nil {
		t.Fatal(err)
	}
}

// TestReports_usageByUserUnassignedApart (issue 9.18): machines without a
// user are one row apart from the people, after them whatever the sort,
// and people are named with their emails.
func TestReports_usageByUserUnassignedApart(t *testing.T) {
	app := newTestApp(t)
	reportSync(t, app)
	c := reportClient(t, app, fleet.RoleViewer)
	for _, q := range []string{"", "&sort=minutes&dir=asc", "&sort=label&dir=desc"} {
		doc := getPage(t, c, "/reports/usage?preset=last_90_days&group=user"+q, http.StatusOK)
		if doc.Find(`[data-testid="usage-row"][data-key=""]`).Length() != 0 {
			t.Errorf("%s: the unassigned machines are ranked among the users", q)
		}
		apart := doc.Find(`tbody[data-testid="usage-unassigned-group"]`)
		if apart.Length() != 1 {
			t.Fatalf("%s: %d groups of unassigned machines, want 1 (the simulator has spares with sessions)", q, apart.Length())
		}
		if apart.Prev().Is("tbody") == false || apart.Prev().Find(`[data-testid="usage-row"]`).Length() == 0 {
			t.Errorf("%s: the unassigned machines are not after the people", q)
		}
		// The chart's legend: the machines without a user after the
		// people (only "Other" may follow), in words.
		var legend []string
		doc.Find(`[data-testid="report-chart-legend"] .rchart-legend-label`).Each(func(_ int, l *goquery.Selection) {
			legend = append(legend, l.Text())
		})
		for i, l := range legend {
			if l == "(unassigned)" {
				t.Errorf("%s: legend says (unassigned)", q)
			}
			if l == "Machines without a user" && i < len(legend)-1 && legend[i+1] != "Other" {
				t.Errorf("%s: legend %q ranks the unassigned machines among the people", q, legend)
			}
		}
		named := 0
		doc.Find(`[data-testid="usage-row"]`).Each(func(_ int, r *goquery.Selection) {
			key, _ := r.Attr("data-key")
			main := strings.TrimSpace(r.Find(".cell-main").Text())
			sub := strings.TrimSpace(r.Find(".cell-sub").Text())
			if main != key && sub == key {
				named++
			}
		})
		if named == 0 {
			t.Errorf("%s: no user is shown by name with the email", q)
		}
	}
}

var durationText = regexp.MustCompile(`^(\d+ h( \d+ min)?|\d+ min)$`)

// TestReports_oneDurationFormat (issue 9.19): the legend, the table and the
// total write durations the same way ("80 h 53 min"), never "80.9 h".
func TestReports_oneDurationFormat(t *testing.T) {
	app := newTestApp(t)
	reportSync(t, app)
	c := reportClient(t, app, fleet.RoleViewer)
	decimalHours := regexp.MustCompile(`\d\.\d+ h\b`)
	for _, p := range []string{"/reports/usage?preset=last_90_days&group=machine", "/reports/usage?preset=last_90_days&group=user", "/reports/top-users?preset=last_90_days"} {
		doc := getPage(t, c, p, http.StatusOK)
		if txt := doc.Find("main").Text(); decimalHours.MatchString(txt) {
			t.Errorf("%s shows decimal hours: %q", p, decimalHours.FindString(txt))
		}
		n := 0
		doc.Find(`[data-testid="report-chart-legend"] li .muted, [data-testid="usage-total-hours"], table td.num`).Each(func(_ int, s *goquery.Selection) {
			v := strings.TrimSpace(s.Text())
			if strings.Contains(v, "h") || strings.Contains(v, "min") {
				n++
				if !durationText.MatchString(v) {
					t.Errorf("%s: duration %q", p, v)
				}
			}
		})
		if n == 0 {
			t.Errorf("%s: no durations found", p)
		}
	}
}

// TestReports_idleSparesNeverUsedAndRange (issue 9.20): the idle report
// lists spares (flagged unassigned) and never-used machines, takes a range
// like usage, and still answers days=N.
func TestReports_idleSparesNeverUsedAndRange(t *testing.T) {
	app := newTestApp(t)
	reportSync(t, app)
	addMachine(t, app, "spare-1", "Spare one", "", "")
	addMachine(t, app, "new-1", "New hire", "new@example.com", "New Hire")
	c := reportClient(t, app, fleet.RoleViewer)
	for _, p := range []string{"/reports/idle", "/reports/idle?days=3", "/reports/idle?preset=last_7_days", "/reports/idle?preset=custom&from=2020-01-01&to=2020-01-31"} {
		doc := getPage(t, c, p, http.StatusOK)
		spare := doc.Find(`[data-testid="idle-row"][data-machine-id="spare-1"]`)
		if spare.Length() != 1 || spare.AttrOr("data-unassigned", "") != "true" || spare.Find(`[data-testid="idle-unassigned"]`).Length() != 1 {
			t.Errorf("%s: the spare is missing or not flagged unassigned", p)
		}
		if spare.Find(`[data-testid="idle-never-used"]`).Text() != "never used" {
			t.Errorf("%s: the spare is not flagged never used", p)
		}
		hire := doc.Find(`[data-testid="idle-row"][data-machine-id="new-1"]`)
		if hire.AttrOr("data-never-used", "") != "true" || hire.AttrOr("data-unassigned", "") != "false" {
			t.Errorf("%s: the never-used assigned machine: %q %q", p, hire.AttrOr("data-never-used", ""), hire.AttrOr("data-unassigned", ""))
		}
		recs := getCSV(t, c, href(t, doc, "idle-csv"))
		if len(recs)-1 != doc.Find(`[data-testid="idle-row"]`).Length() {
			t.Errorf("%s: CSV %d rows, table %d", p, len(recs)-1, doc.Find(`[data-testid="idle-row"]`).Length())
		}
	}
	// A range before any session: every machine is idle in it.
	past := getPage(t, c, "/reports/idle?preset=custom&from=2020-01-01&to=2020-01-31", http.StatusOK)
	machines, err := app.Store.LatestMachines(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := past.Find(`[data-testid="idle-row"]`).Length(); n != len(machines) {
		t.Errorf("January 2020: %d idle machines, want all %d", n, len(machines))
	}
	if note := past.Find(`[data-testid="idle-note"]`).Text(); !strings.Contains(note, "31 days") {
		t.Errorf("idle note %q", note)
	}
	// The last 90 days: a machine with sessions is not idle.
	recent := getPage(t, c, "/reports/idle?preset=last_90_days", http.StatusOK)
	if n := recent.Find(`[data-testid="idle-row"]`).Length(); n >= len(machines) {
		t.Errorf("last 90 days: %d of %d machines idle, after a sync with sessions", n, len(machines))
	}
}
