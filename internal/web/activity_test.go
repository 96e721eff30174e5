package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// TestActivity_rolesCSVAndParams (issue 11): operators see both sources and
// everyone's entries, a helpdesk only their own whatever actor they ask
// for; a Vagon start the dashboard did is matched, one it did not is
// outside; the CSV has the contract's columns, neutralised formulas and no
// link; bad parameters are field errors (422) or a 400 for a bad cursor.
func TestActivity_rolesCSVAndParams(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	ctx := context.Background()
	id := f.app.MachineID(t)
	hd := f.clients[fleet.RoleHelpdesk]
	if resp, _ := hd.PostForm(t, "/machines/"+id+"/start", nil); resp.StatusCode >= 400 {
		t.Fatalf("start: status %d", resp.StatusCode)
	}
	now := time.Now().UTC()
	mid := id
	entries := []db.ActivityEntry{
		// Caused by the dashboard's start: matched.
		{ID: "id:a1", At: now, ActorEmail: f.emails[fleet.RoleHelpdesk], ActionType: vagon.ActionMachineStarted, MachineID: &mid, MachineName: "Seat"},
		// Someone in Vagon stopped it: outside the dashboard. Its name is a
		// formula and its details carry a link that must never show.
		{ID: "id:a2", At: now.Add(-time.Hour), ActorEmail: "api@vagon.example", ActionType: vagon.ActionMachineStopped, MachineID: &mid,
			MachineName: "=HYPERLINK(\"http://x\")", Details: json.RawMessage(`{"access_link":"https://secret.example/t","metadata":{"reason":"@SUM(1)","url":"https://x"}}`)},
	}
	if _, err := f.app.Store.InsertActivity(ctx, entries, now); err != nil {
		t.Fatal(err)
	}

	op := f.clients[fleet.RoleOperator]
	resp, doc := op.Get(t, "/activity")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("operator: status %d", resp.StatusCode)
	}
	rows := doc.Find(`[data-testid="activity-row"]`)
	vg := rows.Filter(`[data-source="vagon"]`)
	if vg.Length() != 2 || rows.Filter(`[data-source="dashboard"]`).Length() == 0 {
		t.Fatalf("operator: %d vagon lines of %d", vg.Length(), rows.Length())
	}
	if doc.Find(`[data-testid="activity-own-only"]`).Length() != 0 {
		t.Error("operator told they see only their own")
	}
	started := vg.Filter(`[data-action="machine_started"]`)
	stopped := vg.Filter(`[data-action="machine_stopped"]`)
	if started.AttrOr("data-outside", "") != "false" || started.Find(`[data-testid="outside-badge"]`).Length() != 0 {
		t.Error("the dashboard's own start is marked outside")
	}
	if stopped.AttrOr("data-outside", "") != "true" || stopped.Find(`[data-testid="outside-badge"]`).Length() != 1 {
		t.Error("a stop done in Vagon is not marked outside")
	}
	if d := stopped.Find(`[data-testid="activity-details"]`).Text(); strings.Contains(d, "secret") || strings.Contains(d, "https") || !strings.Contains(d, "reason=@SUM(1)") {
		t.Errorf("details %q", d)
	}
	if href := stopped.Find(`[data-testid="activity-actor"]`).AttrOr("href", ""); href != "/activity?actor=api%40vagon.example" {
		t.Errorf("actor link %q", href)
	}
	_, doc = op.Get(t, "/activity?source=vagon&actor=api")
	if n := doc.Find(`[data-testid="activity-row"]`).Length(); n != 1 {
		t.Errorf("source=vagon&actor=api: %d lines", n)
	}

	// A helpdesk sees their own entries only, from both sources.
	for _, q := range []string{"/activity", "/activity?actor=api"} {
		resp, doc = hd.Get(t, q)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("helpdesk %s: status %d", q, resp.StatusCode)
		}
		if doc.Find(`[data-testid="activity-own-only"]`).Length() != 1 {
			t.Errorf("helpdesk %s: not told", q)
		}
		srcs := map[string]bool{}
		doc.Find(`[data-testid="activity-row"]`).Each(func(_ int, r *goquery.Selection) {
			srcs[r.AttrOr("data-source", "")] = true
			if a := r.Find(`[data-testid="activity-actor"]`).Text(); a != f.emails[fleet.RoleHelpdesk] {
				t.Errorf("helpdesk %s: sees %q's entry", q, a)
			}
		})
		if !srcs["vagon"] || !srcs["dashboard"] {
			t.Errorf("helpdesk %s: sources %v", q, srcs)
		}
	}
	// Their CSV too.
	resp, _ = hd.Get(t, "/activity.csv")
	recs := readActivityCSV(t, resp)
	for _, r := range recs[1:] {
		if r[2] != f.emails[fleet.RoleHelpdesk] {
			t.Errorf("helpdesk csv has %q", r[2])
		}
	}

	// The machine's tab.
	resp, doc = op.Get(t, "/machines/"+id+"/activity")
	if resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="machine-activity"] [data-testid="activity-row"]`).Length() < 3 {
		t.Fatalf("machine tab: status %d", resp.StatusCode)
	}
	if href := doc.Find(`[data-testid="machine-activity-all"]`).AttrOr("href", ""); href != "/activity?machine_id="+id {
		t.Errorf("machine tab link %q", href)
	}
	_, doc = op.Get(t, "/machines/"+id)
	if doc.Find(`[data-testid="machine-activity-tab"]`).Length() != 1 {
		t.Error("machine page has no Activity tab")
	}

	// CSV: columns, formulas neutralised, no link.
	resp, _ = op.Get(t, "/activity.csv?source=vagon")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("content type %q", ct)
	}
	recs = readActivityCSV(t, resp)
	if got := strings.Join(recs[0], ","); got != "at,source,actor_email,action,machine_id,machine_name,outcome,details" {
		t.Fatalf("header %q", got)
	}
	if len(recs) != 3 {
		t.Fatalf("%d vagon records", len(recs)-1)
	}
	stop := recs[2]
	if stop[1] != "vagon" || stop[3] != "machine_stopped" || stop[4] != id {
		t.Errorf("record %q", stop)
	}
	if !strings.HasPrefix(stop[5], "'=") {
		t.Errorf("machine_name not neutralised: %q", stop[5])
	}
	if !strings.HasPrefix(stop[7], "outside the dashboard") || strings.Contains(stop[7], "secret") || strings.Contains(stop[7], "https") {
		t.Errorf("details %q", stop[7])
	}

	// Bad parameters.
	for _, c := range []struct {
		q      string
		status int
		field  string
	}{
		{"from=2026-13-01", http.StatusUnprocessableEntity, "from"},
		{"from=2026-02-01&to=2026-01-01", http.StatusUnprocessableEntity, "to"},
		{"source=elsewhere", http.StatusUnprocessableEntity, "source"},
		{"action=drop_tables", http.StatusUnprocessableEntity, "action"},
		{"after=%21%21", http.StatusBadRequest, ""},
	} {
		resp, doc := op.Get(t, "/activity?"+c.q)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.q, resp.StatusCode, c.status)
		}
		if c.field != "" && doc.Find(`#field-`+c.field).Parent().Find(`.field-error`).Length() == 0 {
			t.Errorf("%s: no error next to %s", c.q, c.field)
		}
		if c.field != "" {
			if resp, _ := op.Get(t, "/activity.csv?"+c.q); resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("csv %s: status %d", c.q, resp.StatusCode)
			}
		}
	}
}

func readActivityCSV(t *testing.T, resp *http.Response) [][]string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("csv: %v\n%s", err, b)
	}
	return recs
}
