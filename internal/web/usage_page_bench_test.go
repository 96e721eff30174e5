package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// BenchmarkUsagePage is the whole /reports/usage page (table, chart, sync
// panel, organization usage card from the API behind the 40 ms proxy),
// over HTTP as a browser asks for it, for a 90-day range of 1,000,000
// sessions (dbtest.SeedUsage), per grouping. Target (issue 13): 100 ms
// median.
func BenchmarkUsagePage(b *testing.B) {
	const target = 100 * time.Millisecond
	now := time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC)
	clock := vagonsim.NewManualClock(now)
	app, _ := fleetBenchApp(b, withClock(clock))
	dbtest.SeedUsage(b, app.Store, now)
	pw := app.CreateUser(b, "manager@example.com", fleet.RoleViewer)
	c := app.Login(b, "manager@example.com", pw)
	cookie := sessionName + "=" + c.SessionCookie(b)
	hc := benchClient(2)
	for _, group := range []string{db.GroupUser, db.GroupMachine, db.GroupDay, db.GroupRegion} {
		b.Run(group, func(b *testing.B) {
			url := app.URL + "/reports/usage?preset=last_90_days&group=" + group
			// The page shows the seeded sessions (not an empty range).
			resp, doc := c.Get(b, strings.TrimPrefix(url, app.URL))
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
			if n := doc.Find(`[data-testid="usage-row"]`).Length(); n == 0 {
				b.Fatalf("no usage rows on the page")
			}
			for range 3 { // warm
				if st, _, err := fetchPage(hc, url, cookie); err != nil || st != http.StatusOK {
					b.Fatalf("warm-up: status %d, %v", st, err)
				}
			}
			var times []time.Duration
			var size int
			for i := 0; i < b.N+10; i++ {
				t0 := time.Now()
				st, n, err := fetchPage(hc, url, cookie)
				if err != nil || st != http.StatusOK {
					b.Fatalf("status %d, %v", st, err)
				}
				times = append(times, time.Since(t0))
				size = n
			}
			slices.Sort(times)
			med := times[len(times)/2]
			verdict := "within"
			if med > target {
				verdict = "OVER"
			}
			b.ReportMetric(ms(med), "ms/page(median)")
			b.ReportMetric(ms(times[len(times)-1]), "ms/page(max)")
			b.Logf("group %s: %d bytes (compressed); median %v, max %v (%s target %v)",
				group, size, med.Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), verdict, target)
		})
	}
}
