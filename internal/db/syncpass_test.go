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

func syncMachine(id string, at time.Time, sessions ...string) db.SyncMachine {
	m := db.SyncMachine{Snapshot: db.Snapshot{MachineID: id, Name: "m" + id, Region: "dublin", MachineType: "Planet",
		Status: "off", UsageSource: "machine", TakenAt: at}}
	for i, sid := range sessions {
		st := at.Add(-time.Duration(i+1) * time.Hour)
		m.Sessions = append(m.Sessions, db.Session{ID: sid, MachineID: id, StartAt: st, EndAt: ptr(st.Add(10 * time.Minute)), DurationMinutes: 10})
	}
	return m
}

func onePass(t *testing.T, s *db.Store, id int64) db.SyncPass {
	t.Helper()
	passes, err := s.LastSyncPasses(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range passes {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("pass %d not found", id)
	return db.SyncPass{}
}

// A job's pass is continued by every attempt of that job, closed by the
// next job, and left alone by a pass run whole; a pass run whole left
// running is closed by the next one of either kind.
func TestBeginJobSyncPass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)

	p1, resumed, err := s.BeginJobSyncPass(ctx, 41, t0)
	if err != nil || resumed {
		t.Fatalf("first begin = %d, %v, %v; want a new pass", p1, resumed, err)
	}
	again, resumed, err := s.BeginJobSyncPass(ctx, 41, t0.Add(time.Minute))
	if err != nil || !resumed || again != p1 {
		t.Fatalf("same job again = %d, %v, %v; want pass %d resumed", again, resumed, err, p1)
	}
	// `dashboard sync` meanwhile leaves the job's pass running.
	manual, err := s.BeginSyncPass(ctx, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if p := onePass(t, s, p1); p.Status != db.PassRunning || p.JobID == nil || *p.JobID != 41 {
		t.Fatalf("job pass after a manual begin = %+v", p)
	}
	// Another job: job 41 ended without finishing, so its pass and the
	// manual one (no job will continue either) are closed.
	p2, resumed, err := s.BeginJobSyncPass(ctx, 42, t0.Add(3*time.Minute))
	if err != nil || resumed || p2 == p1 {
		t.Fatalf("next job = %d, %v, %v", p2, resumed, err)
	}
	for id, want := range map[int64]string{p1: "its job ended", manual: "process running the pass stopped"} {
		if p := onePass(t, s, id); p.Status != db.PassFailed || p.FinishedAt == nil || !strings.Contains(p.Error, want) {
			t.Errorf("pass %d = %s %q, want failed, %q", id, p.Status, p.Error, want)
		}
	}
	// A second running job pass cannot exist (the index behind the job's
	// uniqueness).
	if _, err := s.Pool().Exec(ctx, `INSERT INTO sync_passes (started_at, job_id) VALUES (now(), 43)`); err == nil {
		t.Fatal("a second running job pass was inserted")
	}
	// A manual pass left running is closed by the next manual one.
	m2, err := s.BeginSyncPass(ctx, t0.Add(4*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	m3, err := s.BeginSyncPass(ctx, t0.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if p := onePass(t, s, m2); p.Status != db.PassFailed {
		t.Fatalf("manual pass %d = %s, want failed", m2, p.Status)
	}
	if p := onePass(t, s, m3); p.Status != db.PassRunning || p.JobID != nil {
		t.Fatalf("manual pass %d = %+v", m3, p)
	}
	if p := onePass(t, s, p2); p.Status != db.PassRunning {
		t.Fatalf("job pass %d = %s, want running", p2, p.Status)
	}
}

// Each claim takes the next slice number; writes of an older slice change
// nothing and say so.
func TestSyncPass_slicesFence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	id, _, err := s.BeginJobSyncPass(ctx, 7, t0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.ClaimSyncPass(ctx, id)
	if err != nil || a.Slices != 1 || a.NextPage != 1 {
		t.Fatalf("first claim = %+v, %v", a, err)
	}
	r, err := s.WriteSyncBatch(ctx, db.SyncBatch{PassID: id, Slice: a.Slices, Now: t0, Listed: 3,
		Machines: []db.SyncMachine{syncMachine("1", t0, "s1", "s2"), syncMachine("2", t0, "s3")}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Done != 2 || r.Sessions != 3 || r.Counts.New != 3 || r.Progress.MachinesDone != 2 || r.Progress.SessionsNew != 3 ||
		r.Progress.MachinesListed != 3 {
		t.Fatalf("batch = %+v", r)
	}
	if err := s.SuspendSyncPass(ctx, id, a.Slices, 4, t0); err != nil {
		t.Fatal(err)
	}
	b, err := s.ClaimSyncPass(ctx, id)
	if err != nil || b.Slices != 2 || b.NextPage != 4 || b.MachinesDone != 2 || b.SessionsNew != 3 || b.MachinesListed != 2 {
		t.Fatalf("second claim = %+v, %v", b, err)
	}
	// Slice 1, still alive, is fenced off from every write.
	_, err = s.WriteSyncBatch(ctx, db.SyncBatch{PassID: id, Slice: a.Slices, Now: t0,
		Machines: []db.SyncMachine{syncMachine("3", t0, "s4")}})
	if !errors.Is(err, db.ErrSyncPassLost) {
		t.Fatalf("stale batch: %v, want ErrSyncPassLost", err)
	}
	if err := s.SuspendSyncPass(ctx, id, a.Slices, 9, t0); !errors.Is(err, db.ErrSyncPassLost) {
		t.Fatalf("stale suspend: %v", err)
	}
	if err := s.FinishSyncPass(ctx, db.SyncPass{ID: id, Slices: a.Slices, Status: db.PassSucceeded}); !errors.Is(err, db.ErrSyncPassLost) {
		t.Fatalf("stale finish: %v", err)
	}
	var snaps, sessions int
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM machine_snapshots WHERE pass_id = $1),
		(SELECT count(*) FROM machine_sessions)`, id).Scan(&snaps, &sessions); err != nil {
		t.Fatal(err)
	}
	if snaps != 2 || sessions != 3 {
		t.Fatalf("%d snapshots, %d sessions after the stale writes; want 2, 3", snaps, sessions)
	}

	// Slice 2 sees machine 1 again (the page shifted): it is skipped, not
	// counted twice, and not an error; InsertSnapshots skips it too.
	r, err = s.WriteSyncBatch(ctx, db.SyncBatch{PassID: id, Slice: b.Slices, Now: t0, Listed: 3, ListedAll: true,
		Machines: []db.SyncMachine{syncMachine("1", t0, "s1", "s2"), syncMachine("3", t0, "s4")}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Done != 1 || r.Skipped != 1 || r.Progress.MachinesDone != 3 || r.Progress.SessionsSeen != 4 || r.Progress.SessionsNew != 4 {
		t.Fatalf("batch with a held machine = %+v", r)
	}
	if err := s.InsertSnapshots(ctx, id, []db.Snapshot{syncMachine("3", t0).Snapshot}); err != nil {
		t.Fatalf("InsertSnapshots of a held machine: %v", err)
	}
	held, err := s.PassMachineIDs(ctx, id, []string{"1", "2", "3", "4"})
	if err != nil || len(held) != 3 || !held["1"] || !held["3"] || held["4"] {
		t.Fatalf("held = %v, %v", held, err)
	}
	if err := s.FinishSyncPass(ctx, db.SyncPass{ID: id, Slices: b.Slices, Status: db.PassSucceeded, MachinesDone: 3,
		MachinesListed: 3, ListedAll: true, SessionsNew: 4, SessionsSeen: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimSyncPass(ctx, id); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("claim of a finished pass: %v, want ErrNotFound", err)
	}
}

// Failures are counted across batches and slices; the first
// db.MaxFailedMachines are kept, in order. A batch whose sessions cannot be
// stored as one statement is stored machine by machine.
func TestWriteSyncBatch_failures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	id, _, err := s.BeginJobSyncPass(ctx, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for slice := range 2 {
		c, err := s.ClaimSyncPass(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			var ms []db.SyncMachine
			for range 20 {
				n++
				m := syncMachine(fmt.Sprint(n), t0)
				m.FetchErr = fmt.Sprintf("boom %d", n)
				ms = append(ms, m)
			}
			if _, err := s.WriteSyncBatch(ctx, db.SyncBatch{PassID: id, Slice: c.Slices, Now: t0, Listed: n, Machines: ms}); err != nil {
				t.Fatalf("slice %d: %v", slice, err)
			}
		}
	}
	p := onePass(t, s, id)
	if p.MachinesFailed != 80 || len(p.FailedMachines) != db.MaxFailedMachines || p.FailedMachines[0].ID != "1" ||
		p.FailedMachines[49].ID != "50" || p.FailedMachines[49].Error != "boom 50" {
		t.Fatalf("pass = %d failed, %d named (%v ... %v)", p.MachinesFailed, len(p.FailedMachines), p.FailedMachines[0], p.FailedMachines[len(p.FailedMachines)-1])
	}

	// A negative duration breaks the batch's statement (a CHECK): only
	// that machine fails; the others' sessions are stored.
	c, _ := s.ClaimSyncPass(ctx, id)
	bad := syncMachine("bad", t0, "b1")
	bad.Sessions[0].DurationMinutes = -1
	r, err := s.WriteSyncBatch(ctx, db.SyncBatch{PassID: id, Slice: c.Slices, Now: t0,
		Machines: []db.SyncMachine{syncMachine("ok1", t0, "g1"), bad, syncMachine("ok2", t0, "g2", "g3")}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Done != 2 || r.Failed != 1 || r.Sessions != 3 || r.Counts.New != 3 || r.Progress.MachinesFailed != 81 || r.Progress.MachinesDone != 2 {
		t.Fatalf("batch with a bad machine = %+v", r)
	}
	var stored int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM machine_sessions`).Scan(&stored); err != nil || stored != 3 {
		t.Fatalf("%d sessions stored, %v; want 3", stored, err)
	}
}
