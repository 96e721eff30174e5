package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

// insertMachineName puts a machine into the sessions sync's latest table,
// as a sync pass would.
func insertMachineName(t *testing.T, s *db.Store, id, name string) {
	t.Helper()
	_, err := s.Pool().Exec(context.Background(), `
		INSERT INTO machines_latest (machine_id, pass_id, name, region, machine_type, status,
			usage_source, remaining_usage_minutes, taken_at, first_seen_at)
		VALUES ($1, 1, $2, 'dublin', 'g4', 'off', 'hourly', 600, now(), now())`, id, name)
	if err != nil {
		t.Fatal(err)
	}
}

func insertAudit(t *testing.T, s *db.Store, ev db.AuditEvent) db.AuditEvent {
	t.Helper()
	if ev.ActorRole == "" {
		ev.ActorRole = "admin"
	}
	if _, err := s.InsertAudit(context.Background(), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// The actor filter matches part of an email, the machine filter part of a
// name or id, both ignoring case and taking % and _ literally.
func TestListAudit_partialActorAndMachine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	insertMachineName(t, s, "m-1", "Design Lab 1")
	insertMachineName(t, s, "m-2", "render_farm")
	ids := map[string]int64{}
	for _, e := range []db.AuditEvent{
		{ActorEmail: "helpdesk@demo.local", Action: "machine.start", MachineID: "m-1", Outcome: db.OutcomeSucceeded, Message: "a"},
		{ActorEmail: "admin@demo.local", Action: "machine.stop", MachineID: "m-2", Outcome: db.OutcomeSucceeded, Message: "b"},
		{ActorEmail: "ops_team@x.io", Action: "machine.reset", MachineID: "m-3", Outcome: db.OutcomeSucceeded, Message: "c",
			Params: json.RawMessage(`{"machine_name":"Old Reset Box"}`)},
		{ActorEmail: "opsXteam@x.io", Action: "auth.login", Outcome: db.OutcomeSucceeded, Message: "d"},
	} {
		ev := insertAudit(t, s, e)
		ids[e.Message] = ev.ID
	}
	tests := []struct {
		name string
		f    db.AuditFilter
		want []string
	}{
		{"actor part", db.AuditFilter{Actor: "helpdesk"}, []string{"a"}},
		{"actor case", db.AuditFilter{Actor: "DEMO.local"}, []string{"b", "a"}},
		{"actor underscore is literal", db.AuditFilter{Actor: "ops_"}, []string{"c"}},
		{"actor percent is literal", db.AuditFilter{Actor: "%"}, nil},
		{"machine by name part", db.AuditFilter{Machine: "lab"}, []string{"a"}},
		{"machine underscore is literal", db.AuditFilter{Machine: "e_d"}, nil}, // a wildcard would match "render"
		{"machine by synced name with underscore", db.AuditFilter{Machine: "render_"}, []string{"b"}},
		{"machine by id part", db.AuditFilter{Machine: "M-3"}, []string{"c"}},
		{"machine by recorded name", db.AuditFilter{Machine: "reset box"}, []string{"c"}},
		{"machine and actor", db.AuditFilter{Machine: "m-", Actor: "admin"}, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, _, err := s.ListAudit(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var want, got []int64
			for _, m := range tt.want {
				want = append(want, ids[m])
			}
			for _, e := range page {
				got = append(got, e.ID)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("ids %v, want %v", got, want)
			}
		})
	}
}

// Each started row is shown with its outcome row (same request, action and
// machine), on whatever page; a started row without an outcome stands
// alone; rows of other requests or machines are never paired.
func TestListAuditActions_pairsStartedWithOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	base := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	ev := func(sec int, req, action, machine, outcome string) db.AuditEvent {
		return insertAudit(t, s, db.AuditEvent{At: at(sec), ActorEmail: "op@x", Action: action, MachineID: machine,
			Outcome: outcome, RequestID: req})
	}
	// A bulk request: two machines, interleaved.
	s1 := ev(0, "r1", "machine.stop", "m-1", db.OutcomeStarted)
	s2 := ev(1, "r1", "machine.stop", "m-2", db.OutcomeStarted)
	o2 := ev(2, "r1", "machine.stop", "m-2", db.OutcomeFailed)
	o1 := ev(3, "r1", "machine.stop", "m-1", db.OutcomeSucceeded)
	// No outcome (yet).
	lone := ev(4, "r2", "machine.start", "m-3", db.OutcomeStarted)
	// Denied: one row.
	den := ev(5, "r3", "machine.reset", "m-3", db.OutcomeDenied)
	// No request id: never paired.
	nr1 := ev(6, "", "machine.start", "m-4", db.OutcomeStarted)
	nr2 := ev(7, "", "machine.start", "m-4", db.OutcomeSucceeded)
	// The same request, action and machine again: each outcome closes
	// the started row just before it.
	s5 := ev(8, "r5", "machine.start", "m-5", db.OutcomeStarted)
	o5 := ev(9, "r5", "machine.start", "m-5", db.OutcomeSucceeded)
	s6 := ev(10, "r5", "machine.start", "m-5", db.OutcomeStarted)
	o6 := ev(11, "r5", "machine.start", "m-5", db.OutcomeDenied)

	type line struct{ head, started int64 }
	want := []line{{o6.ID, s6.ID}, {o5.ID, s5.ID}, {nr2.ID, 0}, {nr1.ID, 0}, {den.ID, 0}, {lone.ID, 0}, {o1.ID, s1.ID}, {o2.ID, s2.ID}}
	for _, limit := range []int{1, 2, 3, 50} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []line
			f := db.AuditFilter{Limit: limit}
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatal("paging does not end")
				}
				acts, next, err := s.ListAuditActions(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(acts) > limit {
					t.Fatalf("%d actions on a page of %d", len(acts), limit)
				}
				for _, a := range acts {
					l := line{head: a.ID}
					if a.Started != nil {
						l.started = a.Started.ID
						if a.Started.Outcome != db.OutcomeStarted || a.Started.MachineID != a.MachineID {
							t.Errorf("row %d paired with %+v", a.ID, *a.Started)
						}
					}
					got = append(got, l)
				}
				if next == 0 {
					break
				}
				f.BeforeID = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("lines %v\nwant  %v", got, want)
			}
		})
	}

	t.Run("outcome filter keeps the started row in the details", func(t *testing.T) {
		acts, _, err := s.ListAuditActions(ctx, db.AuditFilter{Outcome: db.OutcomeFailed})
		if err != nil {
			t.Fatal(err)
		}
		if len(acts) != 1 || acts[0].ID != o2.ID || acts[0].Started == nil || acts[0].Started.ID != s2.ID {
			t.Fatalf("got %+v", acts)
		}
	})
	t.Run("started filter lists only actions without an outcome", func(t *testing.T) {
		acts, _, err := s.ListAuditActions(ctx, db.AuditFilter{Outcome: db.OutcomeStarted})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, a := range acts {
			got = append(got, a.ID)
		}
		if !slices.Equal(got, []int64{nr1.ID, lone.ID}) {
			t.Fatalf("got %v, want %v", got, []int64{nr1.ID, lone.ID})
		}
	})
}

// A filter that matches only started rows whose outcomes exist reads a
// bounded number of chunks per page and still pages to the end.
func TestListAuditActions_boundedReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	for i := range 30 {
		req := fmt.Sprint("r", i)
		insertAudit(t, s, db.AuditEvent{ActorEmail: "op@x", Action: "machine.start", MachineID: "m", Outcome: db.OutcomeStarted, RequestID: req})
		insertAudit(t, s, db.AuditEvent{ActorEmail: "op@x", Action: "machine.start", MachineID: "m", Outcome: db.OutcomeSucceeded, RequestID: req})
	}
	f := db.AuditFilter{Outcome: db.OutcomeStarted, Limit: 1}
	acts, next, err := s.ListAuditActions(ctx, f)
	if err != nil || len(acts) != 0 || next == 0 {
		t.Fatalf("first page: %d actions, next %d, %v; want none and a cursor", len(acts), next, err)
	}
	f.BeforeID = next
	acts, next, err = s.ListAuditActions(ctx, f)
	if err != nil || len(acts) != 0 || next != 0 {
		t.Fatalf("second page: %d actions, next %d, %v; want the end", len(acts), next, err)
	}
}

func TestMachineNames(t *testing.T) {
	t.Parallel()
	s := dbtest.Store(t)
	insertMachineName(t, s, "m-1", "Design Lab 1")
	got, err := s.MachineNames(context.Background(), []string{"m-1", "m-9"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["m-1"] != "Design Lab 1" {
		t.Fatalf("names %v", got)
	}
}
