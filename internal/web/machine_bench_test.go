package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// benchFleet is a 100-row fleet view built the way listMachines builds it.
func benchFleet() views.FleetView {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	statuses := vagon.KnownStatuses
	v := views.FleetView{MachinesView: views.MachinesView{Query: views.MachineQuery{Q: "studio", PerPage: "100", Page: 1}, Count: 340}, Machines: make([]views.FleetRow, 0, 100)}
	for i := range 100 {
		last := now.Add(-time.Duration(i) * time.Hour)
		img := "ready"
		m := vagon.Machine{ID: vagon.ID(fmt.Sprint(100 + i)), Attributes: vagon.MachineAttributes{
			Name: fmt.Sprintf("Studio <%d> & co", i), FriendlyStatus: statuses[i%len(statuses)], Region: "dublin",
			MachineType: "Planet", RemainingUsage: int64(i * 17), AutoStopThreshold: 900, LastSessionStartAt: &last,
			LatestImageStatus: &img, Task: &vagon.ActiveTask{UID: "Outputs"},
			User: &vagon.User{},
		}}
		m.Attributes.User.Attributes.Name = fmt.Sprintf("User %d", i)
		m.Attributes.User.Attributes.Email = fmt.Sprintf("user%d@example.com", i)
		v.Machines = append(v.Machines, fleetRow(m, 0))
	}
	v.NextURL = "/machines?q=studio&per_page=100&page=2"
	return v
}

// BenchmarkMachinesRender is the server-side render of /machines with 100
// rows, upstream excluded: the full page component into a buffer.
func BenchmarkMachinesRender(b *testing.B) {
	v := benchFleet()
	p := views.Page{Title: "Machines", Nav: views.NavMachines, CSRFToken: "tok", User: &views.CurrentUser{Email: "a@example.com", Role: fleet.RoleAdmin}}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := views.FleetPage(p, v).Render(context.Background(), &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}

// BenchmarkMachinesHandler is GET /machines?per_page=100 through the whole
// router (session, CSRF, user from Postgres, render) with the list served
// from the warm cache; upstream calls during the run are reported.
func BenchmarkMachinesHandler(b *testing.B) {
	app := newTestApp(b, withSim(func(o *vagonsim.Options) { o.Machines = 120 }))
	pw := app.CreateUser(b, "bench@example.com", fleet.RoleViewer)
	c := app.Login(b, "bench@example.com", pw)
	resp, doc := c.Get(b, "/machines?per_page=100")
	if resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="machine-row"]`).Length() != 100 {
		b.Fatalf("warm-up: status %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, app.URL+"/machines?per_page=100", nil)
	for _, ck := range c.http.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	before := app.Sim.Count("GET /machines")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		app.Server.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	b.ReportMetric(float64(app.Sim.Count("GET /machines")-before), "upstream-calls")
}
