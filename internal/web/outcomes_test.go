package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// TestAccessLink_malformedAnswerKeepsLinkOut: a 2xx answer of POST
// .../access that is not JSON but holds a link fails the action, and no part
// of the body reaches the page, the audit row (message), the audit page or
// the log.
func TestAccessLink_malformedAnswerKeepsLinkOut(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	const secret = "FAKESECRET0123456789abcdef"
	link := "https://connect.vagon.io/s/" + secret
	f.app.Sim.Enqueue("POST /machines/{id}/access", 1, vagonsim.Fault{Status: 200,
		Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("here is your link " + link + " enjoy")})
	c := f.clients[fleet.RoleAdmin]
	c.CSRFFrom(t, "/machines/"+id)
	resp, doc := c.PostHTMX(t, "/machines/"+id+"/access", url.Values{"expires_in": {"60"}})
	if resp.StatusCode < 400 {
		t.Errorf("status %d, want an error", resp.StatusCode)
	}
	if doc.Find(`[data-testid="section-message"][data-kind="error"]`).Length() == 0 {
		t.Error("no error flash")
	}
	parts := []string{secret[:10], "connect.vagon", "here is your link"}
	check := func(where, text string) {
		t.Helper()
		for _, p := range parts {
			if strings.Contains(text, p) {
				t.Errorf("%s holds %q of the answer", where, p)
			}
		}
	}
	html, _ := doc.Html()
	check("the page", html)
	rows := f.app.AuditRows(t)
	last := rows[len(rows)-1]
	if last.Action != fleet.ActMachineAccessLink || last.Outcome != db.OutcomeFailed {
		t.Errorf("last row %s %s", last.Action, last.Outcome)
	}
	for _, r := range rows {
		check("audit row message", r.Message)
		check("audit row params", string(r.Params))
	}
	resp, _ = c.Get(t, "/audit")
	check("the audit page", bodyText(t, resp))
	resp, _ = c.Get(t, "/audit.csv")
	check("the audit CSV", bodyText(t, resp))
	check("the log", f.app.Log.String())
}

// TestStart_timeoutIsUnknown: a start whose answer does not come before
// the handler's deadline (the simulator's latency fault) is recorded as
// unknown, not failed; the user is told to check the status rather than
// try again; the audit page shows and filters the unknown outcome.
func TestStart_timeoutIsUnknown(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, withAPITimeout(800*time.Millisecond))
	pw := app.CreateUser(t, "unk@example.com", fleet.RoleAdmin)
	c := app.Login(t, "unk@example.com", pw)
	id := app.MachineID(t)
	if err := app.Sim.SetStatus(id, vagon.StatusOff); err != nil {
		t.Fatal(err)
	}
	c.CSRFFrom(t, "/machines/"+id)
	c.Get(t, "/machines") // the fleet list is cached: the action's look-up needs no call
	app.Sim.SetLatency(1200*time.Millisecond, 1200*time.Millisecond)
	resp, doc := c.PostHTMX(t, "/machines/"+id+"/start", nil)
	app.Sim.SetLatency(0, 0)
	flash := doc.Find(`[data-testid="section-message"][data-kind="error"]`).Text()
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(flash, "the machine may be starting. Check its status before trying again.") {
		t.Fatalf("status %d, flash %q", resp.StatusCode, flash)
	}
	if strings.Contains(flash, "Try again") || strings.Contains(flash, "could not be reached") {
		t.Errorf("flash %q invites a blind retry", flash)
	}
	rows := app.AuditRows(t)
	last := rows[len(rows)-1]
	if last.Action != fleet.ActMachineStart || last.Outcome != db.OutcomeUnknown || !strings.Contains(last.Message, "did not answer in time") {
		t.Fatalf("last row %s %s %q", last.Action, last.Outcome, last.Message)
	}
	if app.Sim.Count("POST /machines/{id}/start") != 1 {
		t.Errorf("start sent %d times, want once", app.Sim.Count("POST /machines/{id}/start"))
	}
	_, doc = c.Get(t, "/audit?outcome=unknown")
	if doc.Find(`[data-testid="audit-outcome"] option[value="unknown"]`).Length() != 1 {
		t.Error("no unknown choice in the outcome filter")
	}
	badges := doc.Find(`[data-testid="outcome-badge"]`)
	if badges.Length() != 1 || strings.TrimSpace(badges.Text()) != "unknown" || !badges.HasClass("badge-warning") {
		t.Errorf("badges %d %q", badges.Length(), badges.Text())
	}
	// The page says what unknown means, under the badge and as its title.
	if got := strings.TrimSpace(doc.Find(`[data-testid="audit-outcome-hint"]`).Text()); got != fleet.UnknownOutcomeHint {
		t.Errorf("outcome hint %q, want %q", got, fleet.UnknownOutcomeHint)
	}
	if got := badges.AttrOr("title", ""); got != fleet.UnknownOutcomeHint {
		t.Errorf("badge title %q", got)
	}
}

// TestStart_outcomeRowFailsTellsTheTruth: the start is done but its outcome
// row is refused: the user is told it was started and that the record will
// follow (not "Vagon could not be reached"), the server logs it at ERROR,
// and the row is written by the next audited action.
func TestStart_outcomeRowFailsTellsTheTruth(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "late@example.com", fleet.RoleAdmin)
	c := app.Login(t, "late@example.com", pw)
	id := app.MachineID(t)
	if err := app.Sim.SetStatus(id, vagon.StatusOff); err != nil {
		t.Fatal(err)
	}
	c.CSRFFrom(t, "/machines/"+id)
	dbtest.RejectOutcomesOnce(t, app.DBURL)
	resp, doc := c.PostHTMX(t, "/machines/"+id+"/start", nil)
	flash := doc.Find(`[data-testid="section-message"]`).Text()
	if resp.StatusCode != http.StatusOK || !strings.Contains(flash, "Starting") || !strings.Contains(flash, "record in the audit log failed and will be written") {
		t.Fatalf("status %d, flash %q", resp.StatusCode, flash)
	}
	if strings.Contains(flash, "could not be reached") {
		t.Errorf("flash %q blames Vagon", flash)
	}
	if m, _ := app.Sim.Machine(id); m.Attributes.FriendlyStatus != vagon.StatusTurningOn {
		t.Errorf("machine is %s", m.Attributes.FriendlyStatus)
	}
	if log := app.Log.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "outcome row could not be written") || !strings.Contains(log, "action=machine.start") {
		t.Errorf("no ERROR line for the lost outcome:\n%s", log)
	}
	outcomes := func() []string {
		var out []string
		for _, r := range app.AuditRows(t) {
			if r.Action == fleet.ActMachineStart {
				out = append(out, r.Outcome)
			}
		}
		return out
	}
	if got := outcomes(); len(got) != 1 {
		t.Fatalf("start rows %v, want only started for now", got)
	}
	// The next audited action writes what waits first.
	c.PostHTMX(t, "/machines/"+id+"/stop", nil)
	if got := outcomes(); len(got) != 2 || got[1] != db.OutcomeSucceeded {
		t.Fatalf("start rows %v after the next action, want started, succeeded", got)
	}
}
