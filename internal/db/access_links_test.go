package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestListAccessLinks(t *testing.T) {
	ctx := context.Background()
	s := dbtest.Store(t)
	base := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	issued := func(machine string, at time.Time, minutes int, outcome string) {
		t.Helper()
		p, _ := json.Marshal(map[string]any{"expires_in": minutes, "note": "for " + machine, "fingerprint": "fp" + machine,
			"expires_at": at.Add(time.Duration(minutes) * time.Minute)})
		if _, err := s.InsertAudit(ctx, &db.AuditEvent{At: at, ActorEmail: "desk@x.com", ActorRole: "helpdesk", Action: "machine.access_link",
			MachineID: machine, Params: p, Outcome: outcome}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	logged := func(machine string, at time.Time, meta string) {
		t.Helper()
		n++
		e := db.ActivityEntry{ID: fmt.Sprintf("id:%d", n), At: at, ActorEmail: "vagon-user@x.com", ActionType: "machine_external_access_created",
			MachineID: ptr(machine), MachineName: "M" + machine, Details: json.RawMessage(`{"metadata":` + meta + `}`)}
		if _, err := s.InsertActivity(ctx, []db.ActivityEntry{e}, at); err != nil {
			t.Fatal(err)
		}
	}
	// The dashboard's own link on 1, and Vagon's entry of it 90 s later.
	issued("1", base, 60, db.OutcomeSucceeded)
	logged("1", base.Add(90*time.Second), `{"access_id":"7","expires_in_minutes":60}`)
	// Within the window but other minutes: outside.
	logged("1", base.Add(time.Minute), `{"access_id":"8","expires_in_minutes":30}`)
	// Same minutes, 3 minutes later: outside.
	logged("1", base.Add(3*time.Minute), `{"access_id":"9","expires_in_minutes":60}`)
	// Another machine at the same time: outside; no minutes: lifetime assumed.
	logged("2", base.Add(30*time.Second), `{"access_id":10}`)
	// A failed attempt is no link and matches nothing.
	issued("3", base, 60, db.OutcomeFailed)
	logged("3", base, `{"expires_in":"45"}`)

	f := db.AccessLinkFilter{Now: base.Add(40 * time.Minute), MatchWindow: 2 * time.Minute, AssumedLifetime: 24 * time.Hour}
	all, err := s.ListAccessLinks(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ source, machine, access string }
	got := map[key]db.AccessLinkRow{}
	for _, r := range all {
		got[key{r.Source, r.MachineID, r.AccessID}] = r
	}
	if len(all) != 5 || len(got) != 5 || all[0].Total != 5 {
		t.Fatalf("want 5 rows (1 dashboard + 4 outside), got %d: %+v", len(all), all)
	}
	for _, k := range []key{{"dashboard", "1", ""}, {"vagon", "1", "8"}, {"vagon", "1", "9"}, {"vagon", "2", "10"}, {"vagon", "3", ""}} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %v", k)
		}
	}
	if _, ok := got[key{"vagon", "1", "7"}]; ok {
		t.Error("the dashboard's own link is listed as outside")
	}
	d := got[key{"dashboard", "1", ""}]
	if !d.Active || !d.ExpiryKnown || d.Note != "for 1" || d.Fingerprint != "fp1" || !d.ExpiresAt.Equal(base.Add(time.Hour)) || d.MachineName != "M1" {
		t.Errorf("dashboard row %+v", d)
	}
	if r := got[key{"vagon", "1", "8"}]; r.Active || !r.ExpiryKnown || *r.ExpiresIn != 30 {
		t.Errorf("30-minute outside link at +40 min should be expired: %+v", r)
	}
	if r := got[key{"vagon", "2", "10"}]; !r.Active || r.ExpiryKnown || r.ExpiresIn != nil || !r.ExpiresAt.Equal(base.Add(30*time.Second+24*time.Hour)) {
		t.Errorf("unknown-expiry row %+v", r)
	}
	if r := got[key{"vagon", "3", ""}]; *r.ExpiresIn != 45 || !r.Active || !r.ExpiresAt.Equal(base.Add(45*time.Minute)) {
		t.Errorf("string minutes row %+v", r)
	}

	for _, tc := range []struct {
		name string
		f    func(*db.AccessLinkFilter)
		want int
	}{
		{"machine", func(f *db.AccessLinkFilter) { f.MachineID = "1" }, 3},
		{"issuer", func(f *db.AccessLinkFilter) { f.IssuedBy = "desk@x.com" }, 1},
		{"source", func(f *db.AccessLinkFilter) { f.Source = db.AccessSourceVagon }, 4},
		{"active", func(f *db.AccessLinkFilter) { f.State = "active" }, 4},
		{"expired", func(f *db.AccessLinkFilter) { f.State = "expired" }, 1},
		{"active on 1", func(f *db.AccessLinkFilter) { f.State, f.MachineID = "active", "1" }, 2},
		{"page", func(f *db.AccessLinkFilter) { f.Limit, f.Offset = 2, 4 }, 1},
	} {
		ff := f
		tc.f(&ff)
		rows, err := s.ListAccessLinks(ctx, ff)
		if err != nil || len(rows) != tc.want {
			t.Errorf("%s: %d rows, want %d (%v)", tc.name, len(rows), tc.want, err)
		}
	}
}

func TestPutSetting(t *testing.T) {
	ctx := context.Background()
	s := dbtest.Store(t)
	if _, ok, err := s.GetSetting(ctx, "k"); ok || err != nil {
		t.Fatalf("empty: %v %v", ok, err)
	}
	for _, v := range []string{"a", "b"} {
		if err := s.PutSetting(ctx, "k", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.GetSetting(ctx, "k"); !ok || err != nil || string(got) != v {
			t.Fatalf("got %q %v %v", got, ok, err)
		}
	}
}
