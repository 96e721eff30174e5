package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// TestBulk_stopReviewNamesInUse (9.7): the review of a bulk stop marks the
// machine someone is connected to with its user and the running session's
// start, says how many are in use in an alert, and leaves the machine
// nobody uses unmarked; nothing is sent.
func TestBulk_stopReviewNamesInUse(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	withBulkRunner(t, app)
	var busy, idle string
	for _, id := range app.Sim.MachineIDs() {
		m, _ := app.Sim.Machine(id)
		if busy == "" && m.Attributes.User != nil {
			busy = id
		} else if idle == "" && id != busy {
			idle = id
		}
	}
	if busy == "" || idle == "" {
		t.Fatal("the simulator has no assigned machine")
	}
	if err := app.Sim.SetStatus(busy, vagon.StatusReady); err != nil {
		t.Fatal(err)
	}
	if err := app.Sim.SetStatus(idle, vagon.StatusOff); err != nil {
		t.Fatal(err)
	}
	var open *time.Time
	for _, ss := range app.Sim.Sessions(busy) {
		if ss.Attributes.EndAt == nil {
			st := ss.Attributes.StartAt
			open = &st
		}
	}
	if open == nil {
		t.Fatal("the ready machine has no running session in the simulator")
	}
	m, _ := app.Sim.Machine(busy)
	email := m.Attributes.User.Attributes.Email
	c := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", fleet.RoleOperator))

	reads := app.Sim.Count("GET /machines/{id}/sessions")
	resp, doc := c.PostForm(t, "/bulk", url.Values{"action": {"stop"}, "machine_id": {busy, idle}, "gracefully": {"true"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("review: status %d: %s", resp.StatusCode, doc.Find(testID("bulk-error")).Text())
	}
	if n := app.Sim.Count("GET /machines/{id}/sessions") - reads; n != 1 {
		t.Errorf("the review read sessions %d times, want once (only the running machine)", n)
	}
	warn := doc.Find(testID("bulk-inuse"))
	if role, _ := warn.Attr("role"); role != "alert" {
		t.Errorf("in-use warning role %q, want alert", role)
	}
	if got := warn.Find(testID("bulk-inuse-summary")).Text(); !strings.Contains(got, "1 of these machines is in use: stopping it ends its session.") {
		t.Errorf("summary %q", got)
	}
	mark := doc.Find(`[data-machine-id="` + busy + `"] ` + testID("bulk-target-inuse"))
	if !strings.Contains(mark.Text(), email) {
		t.Errorf("busy machine's mark %q does not name %s", mark.Text(), email)
	}
	if got := mark.Find("time[data-local]").AttrOr("datetime", ""); got != open.UTC().Format(time.RFC3339) {
		t.Errorf("session start %q, want %s", got, open.UTC().Format(time.RFC3339))
	}
	if n := doc.Find(`[data-machine-id="` + idle + `"] [data-testid^="bulk-target-inuse"]`).Length(); n != 0 {
		t.Errorf("the machine nobody uses is marked (%d marks)", n)
	}
	if n := app.Sim.Count("POST /machines/{id}/stop"); n != 0 {
		t.Errorf("the review sent %d stops", n)
	}
	// Other actions read no sessions and warn of nothing.
	before := app.Sim.Count("GET /machines/{id}/sessions")
	_, doc = c.PostForm(t, "/bulk", url.Values{"action": {"start"}, "machine_id": {busy, idle}})
	if doc.Find(testID("bulk-inuse")).Length() != 0 || app.Sim.Count("GET /machines/{id}/sessions") != before {
		t.Error("a bulk start checked sessions or warned of use")
	}
}
