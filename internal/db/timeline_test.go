package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

var timelineMatches = map[string]string{"machine_started": "machine.start", "machine_stopped": "machine.stop"}

func TestTimeline(t *testing.T) {
	ctx := context.Background()
	s := dbtest.Store(t)
	base := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	audit := func(at time.Duration, actor, action, machine, outcome, req string) {
		t.Helper()
		if _, err := s.InsertAudit(ctx, &db.AuditEvent{At: base.Add(at), ActorEmail: actor, ActorRole: "operator", Action: action,
			MachineID: machine, Outcome: outcome, RequestID: req, Params: json.RawMessage(`{"machine_name":"Audit name"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	// A dashboard start on m1 at +0 (started + succeeded rows: one line).
	audit(0, "op@x.com", "machine.start", "m1", db.OutcomeStarted, "r1")
	audit(time.Second, "op@x.com", "machine.start", "m1", db.OutcomeSucceeded, "r1")
	// A failed stop on m2 at +10m: it does not match Vagon's stop.
	audit(10*time.Minute, "op@x.com", "machine.stop", "m2", db.OutcomeFailed, "r2")
	// A login with no machine at +20m.
	audit(20*time.Minute, "help@x.com", "auth.login", "", db.OutcomeSucceeded, "r3")
	m1, m2 := "m1", "m2"
	vag := []db.ActivityEntry{
		{ID: "id:v1", At: base.Add(2 * time.Minute), ActorEmail: "api@x.com", ActionType: "machine_started", MachineID: &m1, MachineName: "One"},                   // exactly +2 min of the start: matched
		{ID: "id:v2", At: base.Add(-2*time.Minute - time.Microsecond), ActorEmail: "api@x.com", ActionType: "machine_started", MachineID: &m1, MachineName: "One"}, // just outside the window
		{ID: "id:v3", At: base.Add(10 * time.Minute), ActorEmail: "API@x.com", ActionType: "machine_stopped", MachineID: &m2, MachineName: "Two"},                  // the audit row failed: outside
		{ID: "id:v4", At: base.Add(10 * time.Minute), ActorEmail: "help@x.com", ActionType: "file_downloaded", MachineID: &m2, MachineName: "Two"},                 // not a dashboard action: not checked
		{ID: "id:v5", At: base.Add(time.Minute), ActorEmail: "op@x.com", ActionType: "machine_stopped", MachineID: &m1, MachineName: "One"},                        // other action on m1: outside
	}
	if _, err := s.InsertActivity(ctx, vag, base); err != nil {
		t.Fatal(err)
	}
	ids := func(es []db.TimelineEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Source[:1]+":"+e.EntryID)
		}
		return out
	}
	all, next, err := s.ListTimeline(ctx, db.TimelineFilter{Matches: timelineMatches, MatchWindow: 2 * time.Minute})
	if err != nil || next != "" {
		t.Fatalf("list: next %q, %v", next, err)
	}
	// Newest first; at +10m the tie puts the Vagon entries (v:...) first, by id descending.
	want := []string{"d:4", "v:id:v4", "v:id:v3", "d:3", "v:id:v1", "v:id:v5", "d:2", "v:id:v2"}
	if got := ids(all); !equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	byID := map[string]db.TimelineEntry{}
	for _, e := range all {
		byID[e.EntryID] = e
	}
	for _, c := range []struct {
		id               string
		checked, outside bool
	}{
		{"id:v1", true, false}, {"id:v2", true, true}, {"id:v3", true, true}, {"id:v4", false, false}, {"id:v5", true, true}, {"2", false, false},
	} {
		if e := byID[c.id]; e.Checked != c.checked || e.Outside != c.outside {
			t.Errorf("%s: checked %v outside %v, want %v %v", c.id, e.Checked, e.Outside, c.checked, c.outside)
		}
	}
	if e := byID["2"]; e.Outcome != db.OutcomeSucceeded || e.MachineName != "Audit name" || e.ActorRole != "operator" {
		t.Errorf("audit line %+v", e)
	}
	// Without a mapping nothing is checked.
	none, _, _ := s.ListTimeline(ctx, db.TimelineFilter{})
	for _, e := range none {
		if e.Checked || e.Outside {
			t.Errorf("no matches given, %s checked", e.EntryID)
		}
	}

	// Paging across both sources: pages of 3 give the same order.
	var paged []db.TimelineEntry
	f := db.TimelineFilter{Matches: timelineMatches, MatchWindow: 2 * time.Minute, Limit: 3}
	for range 10 {
		page, next, err := s.ListTimeline(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if next == "" {
			break
		}
		f.After = next
	}
	if got := ids(paged); !equal(got, want) {
		t.Fatalf("paged %v, want %v", got, want)
	}
	var streamed []db.TimelineEntry
	if err := s.StreamTimeline(ctx, db.TimelineFilter{}, func(e db.TimelineEntry) error { streamed = append(streamed, e); return nil }); err != nil || !equal(ids(streamed), want) {
		t.Fatalf("stream %v %v", ids(streamed), err)
	}

	for _, c := range []struct {
		name string
		f    db.TimelineFilter
		want []string
	}{
		{"source vagon", db.TimelineFilter{Source: db.SourceVagon}, []string{"v:id:v4", "v:id:v3", "v:id:v1", "v:id:v5", "v:id:v2"}},
		{"source dashboard", db.TimelineFilter{Source: db.SourceDashboard}, []string{"d:4", "d:3", "d:2"}},
		{"own email, both sources, case of Vagon's", db.TimelineFilter{ActorEmail: "api@x.com"}, []string{"v:id:v3", "v:id:v1", "v:id:v2"}},
		{"actor part", db.TimelineFilter{Actor: "HELP"}, []string{"d:4", "v:id:v4"}},
		{"machine id", db.TimelineFilter{MachineID: "m2"}, []string{"v:id:v4", "v:id:v3", "d:3"}},
		{"machine name", db.TimelineFilter{Machine: "two"}, []string{"v:id:v4", "v:id:v3"}},
		{"machine name recorded by audit", db.TimelineFilter{Machine: "audit NAME"}, []string{"d:4", "d:3", "d:2"}},
		{"action", db.TimelineFilter{Action: "machine_stopped"}, []string{"v:id:v3", "v:id:v5"}},
		{"range", db.TimelineFilter{From: base, To: base.Add(10 * time.Minute)}, []string{"v:id:v1", "v:id:v5", "d:2"}},
		{"like wildcards are literal", db.TimelineFilter{Actor: "%"}, nil},
	} {
		got, _, err := s.ListTimeline(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !equal(ids(got), c.want) {
			t.Errorf("%s: %v, want %v", c.name, ids(got), c.want)
		}
	}
	if _, _, err := s.ListTimeline(ctx, db.TimelineFilter{After: "not a cursor!"}); !errors.Is(err, db.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	if _, _, err := s.ListTimeline(ctx, db.TimelineFilter{Source: "other"}); err == nil {
		t.Errorf("unknown source accepted")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
