package views_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/vagon-dashboard/dashboard/internal/views"
)

// utcText is an instant written out in UTC: FormatTime's "2025-03-04 14:04
// UTC" or an RFC 3339 stamp.
var utcText = regexp.MustCompile(`\d{4}-\d{2}-\d{2}( \d{2}:\d{2} UTC|T\d{2}:\d{2})`)

// utcOutsideTime lists the UTC instants a page shows (text, or a title,
// label or aria-label) outside a <time datetime data-local> element, which
// app.js rewrites into the reader's zone, and any <time> it would not
// rewrite.
func utcOutsideTime(s *goquery.Selection) []string {
	var found []string
	s.Contents().Each(func(_ int, n *goquery.Selection) {
		switch name := goquery.NodeName(n); name {
		case "#text":
			if utcText.MatchString(n.Text()) {
				found = append(found, strings.TrimSpace(n.Text()))
			}
		case "script", "style", "#comment":
		default:
			if name == "time" {
				// app.js rewrites <time datetime data-local> (or the older
				// data-relative) only.
				_, local := n.Attr("data-local")
				_, rel := n.Attr("data-relative")
				if n.AttrOr("datetime", "") == "" || !local && !rel {
					found = append(found, "<time> not rewritten: "+strings.TrimSpace(n.Text()))
				}
				return
			}
			for _, key := range []string{"title", "label", "aria-label", "placeholder"} {
				if v, ok := n.Attr(key); ok && utcText.MatchString(v) {
					found = append(found, "<"+name+" "+key+"="+v+">")
				}
			}
			found = append(found, utcOutsideTime(n)...)
		}
	})
	return found
}

// TestPages_timesAreLocal (issue 9.12): every instant a page shows is a
// <time datetime> (LocalTime), never UTC text: the audit details, the
// low-remaining run-out, the known plans on the create form, the bulk,
// users and report pages with their sync panels.
func TestPages_timesAreLocal(t *testing.T) {
	admin := samplePage("admin")
	runOut := t0.Add(72 * time.Hour)
	done := t0.Add(time.Minute)
	sync := views.SyncStatusView{Passes: []views.SyncPassView{{ID: 1, StartedAt: t0, FinishedAt: &done, Status: "succeeded"}}}
	pages := allPages()
	pages["low remaining"] = views.LowRemainingReportPage(admin, views.LowRemainingReportView{BelowHours: "5", Valid: true, Sync: sync,
		Rows: []views.LowRemainingRowView{{MachineID: "12", Name: "m12", RemainingMinutes: 120, MinutesUsed: 600, BurnPerDay: 40, RunOut: &runOut, TakenAt: t0}}})
	plain := sync
	plain.ShowDetails = false
	pages["low remaining viewer"] = views.LowRemainingReportPage(samplePage("viewer"), views.LowRemainingReportView{BelowHours: "5", Valid: true, Sync: plain})
	sync.ShowDetails = true
	pages["low remaining admin sync"] = views.LowRemainingReportPage(admin, views.LowRemainingReportView{BelowHours: "5", Valid: true, Sync: sync})
	pages["create known plans"] = views.CreatePage(admin, views.CreateView{Errors: map[string]string{},
		KnownPlans: []views.KnownPlanOption{{ID: "7", Machines: 2, LastAt: t0}}})
	pages["bulk op"] = views.BulkOpPage(admin, views.BulkOpView{ID: 3, Action: "stop", ActionLabel: "Stop", Status: "done", ActorEmail: "op@example.com", CreatedAt: t0, Total: 0})
	for name, c := range pages {
		doc, _ := render(t, c)
		if bad := utcOutsideTime(doc.Selection); len(bad) > 0 {
			t.Errorf("%s shows UTC text outside <time datetime>: %q", name, bad)
		}
	}
}

// TestConvertedTimes_areLocalTime: each place that printed UTC text now
// renders LocalTime (<time datetime data-local>) with the instant.
func TestConvertedTimes_areLocalTime(t *testing.T) {
	admin := samplePage("admin")
	runOut := time.Date(2025, 3, 7, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		name, sel, datetime string
		page                templ.Component
	}{
		{"audit details", `[data-testid="audit-event"] time[data-local]`, "2025-03-04T14:04:05Z", views.AuditPage(admin, sampleAudit())},
		{"run-out", `[data-testid="low-run-out"] time[data-local]`, "2025-03-07T15:04:05Z",
			views.LowRemainingReportPage(admin, views.LowRemainingReportView{BelowHours: "5", Valid: true,
				Rows: []views.LowRemainingRowView{{MachineID: "12", RunOut: &runOut}}})},
		{"known plan", `[data-testid="create-known-plans"] time[data-local]`, "2025-03-04T14:04:05Z",
			views.CreatePage(admin, views.CreateView{Errors: map[string]string{}, KnownPlans: []views.KnownPlanOption{{ID: "7", Machines: 2, LastAt: t0}}})},
	}
	for _, tt := range tests {
		doc, _ := render(t, tt.page)
		found := false
		doc.Find(tt.sel).Each(func(_ int, s *goquery.Selection) {
			found = found || s.AttrOr("datetime", "") == tt.datetime
		})
		if !found {
			t.Errorf("%s: no LocalTime with datetime %s (%d <time>)", tt.name, tt.datetime, doc.Find(tt.sel).Length())
		}
	}
}
