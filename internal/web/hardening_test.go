package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
	"github.com/vagon-dashboard/dashboard/internal/views"
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
	c := f.clients[views.RoleAdmin]
	c.CSRFFrom(t, "/machines/"+id)
	resp, doc := c.PostHTMX(t, "/machines/"+id+"/access", url.Values{"expires_in": {"60"}})
	if resp.StatusCode < 400 {
		t.Errorf("status %d, want an error", resp.StatusCode)
	}
	if doc.Find(`[data-testid="flash"][data-kind="error"]`).Length() == 0 {
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
