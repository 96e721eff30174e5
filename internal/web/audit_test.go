package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// TestAudit_searchAndOneLinePerAction (issue 9.16): the actor filter finds
// part of an email, the machine filter part of a name, each action is one
// line in words with the machine's name, its outcome and its note, the
// details hold both rows, and htmx filtering pushes a URL without the empty
// parameters.
func TestAudit_searchAndOneLinePerAction(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	// The sessions sync has seen the machine under its name.
	if _, err := f.app.Store.Pool().Exec(context.Background(), `
		INSERT INTO machines_latest (machine_id, pass_id, name, region, machine_type, status,
			usage_source, remaining_usage_minutes, taken_at, first_seen_at)
		VALUES ($1, 1, $2, 'dublin', 'g4', 'off', 'hourly', 600, now(), now())`, id, "Lab_Seat 7"); err != nil {
		t.Fatal(err)
	}
	hd := f.clients[fleet.RoleHelpdesk]
	form := url.Values{"expires_in": {"60"}, "note": {"INC-42 for Ana"}}
	if resp, _ := hd.PostForm(t, "/machines/"+id+"/access", form); resp.StatusCode >= 400 {
		t.Fatalf("access link: status %d", resp.StatusCode)
	}
	admin := f.clients[fleet.RoleAdmin]

	lines := func(t *testing.T, doc *goquery.Document) *goquery.Selection {
		return doc.Find(`[data-testid="audit-row"][data-action="machine.access_link"]`)
	}
	for _, q := range []string{"actor=helpdesk", "actor=HELPDESK%40EX", "machine=lab_seat", "machine=" + url.QueryEscape(id)} {
		resp, doc := admin.Get(t, "/audit?"+q)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", q, resp.StatusCode)
		}
		if n := lines(t, doc).Length(); n != 1 {
			t.Fatalf("%s: %d access-link lines, want 1 (started and succeeded as one)", q, n)
		}
	}
	for _, q := range []string{"actor=nobody", "machine=lab%25seat", "actor=m_helpdesk"} {
		_, doc := admin.Get(t, "/audit?"+q)
		if n := lines(t, doc).Length(); n != 0 {
			t.Errorf("%s: %d lines, want none", q, n)
		}
	}

	_, doc := admin.Get(t, "/audit?actor=helpdesk")
	r := lines(t, doc)
	if got := r.AttrOr("data-outcome", ""); got != "succeeded" {
		t.Errorf("outcome %q", got)
	}
	if got := r.Find(`[data-testid="audit-action-label"]`).Text(); got != "Issue access link" {
		t.Errorf("action %q", got)
	}
	if got := strings.TrimSpace(r.Find(`[data-testid="audit-machine-name"]`).Text()); got != "Lab_Seat 7" {
		t.Errorf("machine %q", got)
	}
	if got := r.Find(`[data-testid="audit-note"]`).Text(); got != "Note: INC-42 for Ana" {
		t.Errorf("note %q", got)
	}
	ev := r.Find(`[data-testid="audit-event"]`)
	if ev.Length() != 2 || ev.First().AttrOr("data-outcome", "") != "started" || ev.Last().AttrOr("data-outcome", "") != "succeeded" {
		t.Errorf("details: %d rows", ev.Length())
	}

	// htmx: the pushed URL has only the filters that are set.
	req, _ := http.NewRequest(http.MethodGet, f.app.URL+"/audit?actor=helpdesk&action=&machine=&outcome=&from=&to=", nil)
	req.Header.Set("HX-Request", "true")
	resp, _ := admin.Do(t, req)
	if got := resp.Header.Get("HX-Push-Url"); got != "/audit?actor=helpdesk" {
		t.Errorf("HX-Push-Url %q", got)
	}

	// The CSV keeps its columns and its rows (both rows of the action).
	resp, _ = admin.Get(t, "/audit.csv?actor=helpdesk&action=machine.access_link")
	body := bodyText(t, resp)
	if !strings.HasPrefix(body, "id,at,actor_email,actor_role,action,machine_id,outcome,error_code,message,params\n") {
		t.Errorf("csv header: %.120q", body)
	}
	if n := strings.Count(body, ",machine.access_link,"); n != 2 {
		t.Errorf("csv: %d access-link rows, want 2", n)
	}
}
