package fleet_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// TestIssueAccessLink_cap: over the role's cap nothing reaches Vagon and
// the refusal is audited denied, in the words shown next to the field;
// other roles and links within the cap are issued.
func TestIssueAccessLink_cap(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 2)
	ctx := context.Background()
	id := e.sim.MachineIDs()[0]
	admin := fleet.Actor{Email: "admin@x.com", Role: fleet.RoleAdmin}
	desk := fleet.Actor{Email: "desk@x.com", Role: fleet.RoleHelpdesk}

	for _, bad := range []fleet.AccessLinkCaps{{"viewer": 60}, {"helpdesk": 0}, {"helpdesk": fleet.MaxAccessLinkMinutes + 1}} {
		if err := e.svc.SetAccessLinkCaps(ctx, admin, bad); !errors.Is(err, fleet.ErrInvalidInput) {
			t.Errorf("%v: %v", bad, err)
		}
	}
	if err := e.svc.SetAccessLinkCaps(ctx, admin, fleet.AccessLinkCaps{fleet.RoleHelpdesk: 480}); err != nil {
		t.Fatal(err)
	}
	if caps, err := e.svc.AccessLinkCaps(ctx); err != nil || caps[fleet.RoleHelpdesk] != 480 || len(caps) != 1 {
		t.Fatalf("caps %v %v", caps, err)
	}
	total := e.sim.Total()
	res, err := e.svc.IssueAccessLink(ctx, desk, id, fleet.AccessLinkInput{ExpiresIn: 481, Note: "too long"})
	ce, ok := errors.AsType[*fleet.LinkCapError](err)
	if !ok || ce.Max != 480 || res.Status != fleet.ActionFailed || res.Link != nil ||
		res.Message != "Your role (helpdesk) may issue links of at most 8 h. Choose a shorter time." {
		t.Fatalf("over the cap: %+v %v", res, err)
	}
	if got := e.sim.Total(); got != total {
		t.Fatalf("%d calls reached Vagon for a refused link", got-total)
	}
	rows, _, err := e.store.ListAudit(ctx, db.AuditFilter{Action: fleet.ActMachineAccessLink, Outcome: db.OutcomeDenied})
	if err != nil || len(rows) != 1 || rows[0].ActorEmail != desk.Email || rows[0].Message != res.Message || rows[0].MachineID != id {
		t.Fatalf("denied rows %+v %v", rows, err)
	}
	for _, ok := range []struct {
		who     fleet.Actor
		minutes int
	}{{desk, 480}, {fleet.Actor{Email: "op@x.com", Role: fleet.RoleOperator}, 600}} {
		res, err := e.svc.IssueAccessLink(ctx, ok.who, id, fleet.AccessLinkInput{ExpiresIn: ok.minutes})
		if err != nil || res.Status != fleet.ActionDone || res.Link == nil {
			t.Fatalf("%s %d min: %+v %v", ok.who.Role, ok.minutes, res, err)
		}
	}
	caps, _ := e.svc.AccessLinkCaps(ctx)
	if err := e.svc.SetAccessLinkCaps(ctx, admin, fleet.AccessLinkCaps{}); err != nil || len(caps) != 1 {
		t.Fatal(err)
	}
	if res, err := e.svc.IssueAccessLink(ctx, desk, id, fleet.AccessLinkInput{ExpiresIn: 481}); err != nil || res.Link == nil {
		t.Fatalf("cap removed: %+v %v", res, err)
	}
}

// TestAccessLinks_ledger: links the dashboard issued are listed once, as
// the dashboard's, although Vagon's log has them too; a link made straight
// through the API is listed as Vagon's, active.
func TestAccessLinks_ledger(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 3)
	ctx := context.Background()
	ids := e.sim.MachineIDs()
	if res, err := e.svc.IssueAccessLink(ctx, e.actor, ids[0], fleet.AccessLinkInput{ExpiresIn: 60, Note: "support call"}); err != nil || res.Link == nil {
		t.Fatal(res, err)
	}
	// Outside the dashboard: straight through the API.
	if _, err := e.api.CreateAccessLink(ctx, ids[1], 30); err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.NewActivityImporter(e.api, e.store, fleet.ActivityOptions{}).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	all, total, err := e.svc.AccessLinks(ctx, fleet.AccessLinkQuery{})
	if err != nil || int(total) != len(all) {
		t.Fatal(total, err)
	}
	// The simulator's seeded links (access ids from 900000) are outside
	// ones too; leave them aside.
	var rows []db.AccessLinkRow
	seededActive := map[string]int64{}
	for _, r := range all {
		if r.Source == db.AccessSourceVagon && len(r.AccessID) == 6 && r.AccessID[0] == '9' {
			if r.Active {
				seededActive[r.MachineID]++
			}
			continue
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 {
		t.Fatalf("want 2 rows, got %d: %+v", len(rows), rows)
	}
	for _, r := range rows {
		switch r.MachineID {
		case ids[0]:
			if r.Source != db.AccessSourceDashboard || r.Note != "support call" || r.IssuedBy != e.actor.Email || !r.Active || len(r.Fingerprint) != 12 {
				t.Errorf("dashboard row %+v", r)
			}
		case ids[1]:
			if r.Source != db.AccessSourceVagon || !r.Active || !r.ExpiryKnown || r.ExpiresIn == nil || *r.ExpiresIn != 30 || len(r.Fingerprint) != 12 {
				t.Errorf("outside row %+v", r)
			}
		default:
			t.Errorf("row for another machine %+v", r)
		}
	}
	for _, id := range ids[:2] {
		if n, err := e.svc.ActiveAccessLinks(ctx, id); err != nil || n != 1+seededActive[id] {
			t.Errorf("%s: %d active, %v", id, n, err)
		}
	}
	if n, err := e.svc.ActiveAccessLinks(ctx, ids[2]); err != nil || n != seededActive[ids[2]] {
		t.Errorf("%d active on a machine without links, %v", n, err)
	}
}
