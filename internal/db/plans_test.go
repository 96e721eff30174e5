package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestKnownPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	add := func(at time.Time, action, outcome, params string) {
		t.Helper()
		_, err := s.InsertAudit(ctx, &db.AuditEvent{At: at, ActorEmail: "a@example.com", ActorRole: "admin",
			Action: action, Outcome: outcome, Params: []byte(params)})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(t0, "machine.create", db.OutcomeSucceeded, `{"plan_id": 2, "created_ids": ["1", "2"]}`)
	add(t0.Add(time.Hour), "machine.create", db.OutcomeSucceeded, `{"plan_id": 1, "created_ids": ["3"]}`)
	add(t0.Add(2*time.Hour), "machine.create", db.OutcomeSucceeded, `{"plan_id": 2, "created_ids": ["4"]}`)
	// Not a success, not a create, or no usable plan: ignored.
	add(t0.Add(3*time.Hour), "machine.create", db.OutcomeFailed, `{"plan_id": 99}`)
	add(t0.Add(3*time.Hour), "machine.create", db.OutcomeStarted, `{"plan_id": 98}`)
	add(t0.Add(3*time.Hour), "machine.update", db.OutcomeSucceeded, `{"plan_id": 97}`)
	add(t0.Add(3*time.Hour), "machine.create", db.OutcomeSucceeded, `{"plan_id": "x"}`)
	add(t0.Add(3*time.Hour), "machine.create", db.OutcomeSucceeded, `{}`)

	got, err := s.KnownPlans(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].PlanID != 2 || got[0].Machines != 3 || !got[0].LastAt.Equal(t0.Add(2*time.Hour)) ||
		got[1].PlanID != 1 || got[1].Machines != 1 {
		t.Fatalf("known plans %+v", got)
	}
	if got, _ := s.KnownPlans(ctx, 1); len(got) != 1 || got[0].PlanID != 2 {
		t.Fatalf("limit 1: %+v", got)
	}
}
