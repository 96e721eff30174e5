package db_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func ptr[T any](v T) *T { return &v }

func TestUpsertSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 123_000_000, time.UTC)
	now1 := t0.Add(5 * time.Hour)

	in := []db.Session{
		{ID: "1", MachineID: "100", StartAt: t0, EndAt: ptr(t0.Add(30 * time.Minute)), DurationMinutes: 30},
		{ID: "2", MachineID: "100", StartAt: t0.Add(time.Hour), EndAt: ptr(t0.Add(70 * time.Minute)), DurationMinutes: 10},
		{ID: "3", MachineID: "101", StartAt: t0.Add(2 * time.Hour), DurationMinutes: 180}, // running
	}
	c, err := s.UpsertSessions(ctx, in, now1)
	if err != nil {
		t.Fatal(err)
	}
	if c != (db.UpsertCounts{New: 3}) {
		t.Fatalf("first upsert = %+v, want 3 new", c)
	}

	// The same sessions again change nothing, not even updated_at.
	c, err = s.UpsertSessions(ctx, in, now1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if c != (db.UpsertCounts{}) {
		t.Fatalf("repeat upsert = %+v, want nothing", c)
	}
	got, err := s.MachineSessions(ctx, "100", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "2" || got[1].ID != "1" {
		t.Fatalf("machine 100 sessions = %+v, want 2 then 1", got)
	}
	if !got[1].StartAt.Equal(t0) || !got[1].EndAt.Equal(t0.Add(30*time.Minute)) || got[1].DurationMinutes != 30 {
		t.Fatalf("session 1 = %+v (time zone or precision bug?)", got[1])
	}
	if !got[0].UpdatedAt.Equal(now1) || !got[0].FirstSeenAt.Equal(now1) {
		t.Fatalf("unchanged session was touched: %+v", got[0])
	}

	// The running session ends; a new one appears; a duplicate id in the
	// batch keeps the last.
	now2 := now1.Add(2 * time.Hour)
	in2 := []db.Session{
		{ID: "3", MachineID: "101", StartAt: t0.Add(2 * time.Hour), DurationMinutes: 1},
		{ID: "3", MachineID: "101", StartAt: t0.Add(2 * time.Hour), EndAt: ptr(t0.Add(6 * time.Hour)), DurationMinutes: 240},
		{ID: "4", MachineID: "101", StartAt: t0.Add(7 * time.Hour), DurationMinutes: 0},
		in[0],
	}
	c, err = s.UpsertSessions(ctx, in2, now2)
	if err != nil {
		t.Fatal(err)
	}
	if c != (db.UpsertCounts{New: 1, Updated: 1}) {
		t.Fatalf("second upsert = %+v, want 1 new 1 updated", c)
	}
	got, err = s.MachineSessions(ctx, "101", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "4" {
		t.Fatalf("limit 1 = %+v", got)
	}
	got, _ = s.MachineSessions(ctx, "101", 0)
	if s3 := got[1]; s3.EndAt == nil || s3.DurationMinutes != 240 || !s3.UpdatedAt.Equal(now2) || !s3.FirstSeenAt.Equal(now1) {
		t.Fatalf("ended session = %+v", s3)
	}
}

func TestUpsertSessions_chunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var in []db.Session
	for i := range 12_345 {
		st := t0.Add(time.Duration(i) * time.Minute)
		in = append(in, db.Session{ID: fmt.Sprint(i), MachineID: fmt.Sprint(i % 7), StartAt: st, EndAt: ptr(st.Add(time.Minute)), DurationMinutes: 1})
	}
	c, err := s.UpsertSessions(ctx, in, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c.New != 12_345 || c.Updated != 0 {
		t.Fatalf("counts = %+v", c)
	}
	in[12_000].DurationMinutes = 2
	c, err = s.UpsertSessions(ctx, in, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c != (db.UpsertCounts{Updated: 1}) {
		t.Fatalf("counts = %+v, want 1 updated", c)
	}
}

func snap(id, name, email, region string, remaining int64, at time.Time) db.Snapshot {
	return db.Snapshot{MachineID: id, Name: name, UserEmail: email, UserName: strings.Split(email, "@")[0],
		Region: region, MachineType: "Planet", Status: "off", UsageSource: "machine",
		RemainingUsageMinutes: remaining, TakenAt: at}
}

func TestSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t1 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t2 := t1.Add(15 * time.Minute)

	p1, err := s.BeginSyncPass(ctx, t1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSnapshots(ctx, p1, []db.Snapshot{
		snap("100", "Alpha", "ann@example.com", "dublin", 600, t1),
		snap("101", "Beta", "", "frankfurt", 50, t1),
	}); err != nil {
		t.Fatal(err)
	}
	p2, err := s.BeginSyncPass(ctx, t2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSnapshots(ctx, p2, []db.Snapshot{
		snap("100", "Alpha 2", "bob@example.com", "dublin", 540, t2),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSnapshots(ctx, p2, nil); err != nil {
		t.Fatalf("no snapshots: %v", err)
	}
	gone, err := s.MarkMachinesGone(ctx, p2, t2)
	if err != nil {
		t.Fatal(err)
	}
	if gone != 1 {
		t.Fatalf("gone = %d, want 1 (machine 101)", gone)
	}
	latest, err := s.LatestMachines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 1 || latest[0].MachineID != "100" || latest[0].Name != "Alpha 2" ||
		latest[0].UserEmail != "bob@example.com" || latest[0].RemainingUsageMinutes != 540 || !latest[0].TakenAt.Equal(t2) {
		t.Fatalf("latest = %+v", latest)
	}

	// An older snapshot arriving late does not replace a newer one.
	if err := s.InsertSnapshots(ctx, p1, []db.Snapshot{snap("102", "Gamma", "", "dublin", 1, t1)}); err != nil {
		t.Fatal(err)
	}
	trend, err := s.RemainingTrend(ctx, "100", t1, t2.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(trend) != 2 || trend[0].RemainingUsageMinutes != 600 || trend[1].RemainingUsageMinutes != 540 {
		t.Fatalf("trend = %+v", trend)
	}

	// A machine seen again is no longer gone.
	p3, _ := s.BeginSyncPass(ctx, t2.Add(time.Hour))
	if err := s.InsertSnapshots(ctx, p3, []db.Snapshot{snap("101", "Beta", "", "frankfurt", 50, t2.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	latest, _ = s.LatestMachines(ctx)
	if len(latest) != 3 {
		t.Fatalf("latest = %+v, want 100, 101, 102", latest)
	}
}

func TestSyncPasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t1 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	p1, err := s.BeginSyncPass(ctx, t1)
	if err != nil {
		t.Fatal(err)
	}
	// A pass left running (its process died) is closed by the next one.
	p2, err := s.BeginSyncPass(ctx, t1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var failed []db.FailedMachine
	for i := range 60 {
		failed = append(failed, db.FailedMachine{ID: fmt.Sprint(i), Error: strings.Repeat("é", 300)})
	}
	fin := t1.Add(time.Hour + time.Minute)
	err = s.FinishSyncPass(ctx, db.SyncPass{ID: p2, FinishedAt: &fin, Status: db.PassSucceeded,
		MachinesDone: 940, MachinesFailed: 60, FailedMachines: failed, SessionsNew: 7, SessionsUpdated: 3})
	if err != nil {
		t.Fatal(err)
	}
	passes, err := s.LastSyncPasses(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(passes) != 2 || passes[0].ID != p2 || passes[1].ID != p1 {
		t.Fatalf("passes = %+v", passes)
	}
	got := passes[0]
	if got.Status != db.PassSucceeded || !got.FinishedAt.Equal(fin) || !got.StartedAt.Equal(t1.Add(time.Hour)) ||
		got.MachinesDone != 940 || got.MachinesFailed != 60 || got.SessionsNew != 7 || got.SessionsUpdated != 3 {
		t.Fatalf("pass = %+v", got)
	}
	if len(got.FailedMachines) != db.MaxFailedMachines || got.FailedMachines[0].ID != "0" ||
		len(got.FailedMachines[0].Error) > db.MaxFailedError || !strings.HasPrefix(got.FailedMachines[0].Error, "éé") {
		t.Fatalf("failed machines kept = %d, first %+v", len(got.FailedMachines), got.FailedMachines[0])
	}
	if old := passes[1]; old.Status != db.PassFailed || old.FinishedAt == nil || !strings.Contains(old.Error, "interrupted") {
		t.Fatalf("abandoned pass = %+v", old)
	}

	if err := s.FinishSyncPass(ctx, db.SyncPass{ID: 9999, Status: db.PassFailed}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("unknown pass: err = %v", err)
	}
	if err := s.FinishSyncPass(ctx, db.SyncPass{ID: p2, Status: db.PassRunning}); err == nil {
		t.Fatal("finish as running: no error")
	}

	n, err := s.PruneSyncHistory(ctx, t1.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("pruned %d, want 1 (the newest pass stays)", n)
	}
}
