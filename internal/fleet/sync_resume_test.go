package fleet_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// Tests of a pass worked in slices (RunSlice), as the periodic job runs it.

const sessionsCalls = "GET /machines/{id}/sessions"

// seedGhost records an earlier complete pass that saw a machine the
// simulator does not list (deleted since): only a finished listing may mark
// it gone.
func seedGhost(t *testing.T, s *db.Store) {
	t.Helper()
	ctx := context.Background()
	at := syncStart.Add(-time.Hour)
	id, err := s.BeginSyncPass(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSnapshots(ctx, id, []db.Snapshot{{MachineID: "ghost", Name: "Deleted", Region: "dublin",
		MachineType: "Planet", Status: "off", UsageSource: "machine", TakenAt: at}}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishSyncPass(ctx, db.SyncPass{ID: id, Status: db.PassSucceeded, MachinesDone: 1,
		MachinesListed: 1, ListedAll: true}); err != nil {
		t.Fatal(err)
	}
}

// gone is how many machines are marked gone, and whether the ghost is.
func gone(t *testing.T, s *db.Store) (int, bool) {
	t.Helper()
	var n int
	var ghost bool
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE gone_at IS NOT NULL),
		coalesce(bool_or(machine_id = 'ghost' AND gone_at IS NOT NULL), false) FROM machines_latest`).Scan(&n, &ghost); err != nil {
		t.Fatal(err)
	}
	return n, ghost
}

// stored is how many snapshots pass id holds, and how many sessions are
// stored.
func stored(t *testing.T, s *db.Store, id int64) (snaps, sessions int64) {
	t.Helper()
	if err := s.Pool().QueryRow(context.Background(), `SELECT (SELECT count(*) FROM machine_snapshots WHERE pass_id = $1),
		(SELECT count(*) FROM machine_sessions)`, id).Scan(&snaps, &sessions); err != nil {
		t.Fatal(err)
	}
	return snaps, sessions
}

func passRecord(t *testing.T, s *db.Store, id int64) db.SyncPass {
	t.Helper()
	passes, err := s.LastSyncPasses(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range passes {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("no pass %d", id)
	return db.SyncPass{}
}

// wholePass is what RunOnce makes of the same fleet (a twin simulator of
// the same seed, with the same ghost), for comparing counts.
func wholePass(t *testing.T, machines int, o fleet.SyncOptions) fleet.SyncResult {
	t.Helper()
	twin := newSyncEnv(t, machines, nil)
	seedGhost(t, twin.store)
	res, err := twin.syncer(twin.store, o).RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// sameCounts fails unless a sliced pass counted what the whole pass did.
func sameCounts(t *testing.T, got, want fleet.SyncResult) {
	t.Helper()
	if got.Status != db.PassSucceeded || got.Machines != want.Machines || got.MachinesDone != want.MachinesDone ||
		got.MachinesFailed != want.MachinesFailed || got.SessionsSeen != want.SessionsSeen ||
		got.SessionsNew != want.SessionsNew || got.SessionsUpdated != want.SessionsUpdated {
		t.Fatalf("sliced pass = %+v\nwhole pass  = %+v", got, want)
	}
}

// A pass worked in slices too short for any work (the deadline has passed
// when each begins) still moves on with every slice and ends as one whole
// pass would: every machine fetched exactly once, stored once, the counts
// of RunOnce, and the deleted machine marked only at the end.
func TestSyncer_RunSlice_tinySlices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const machines = 60
	opts := fleet.SyncOptions{Concurrency: 3, PerPage: 10, BatchMachines: 4, FlushInterval: -1}
	want := wholePass(t, machines, opts)

	e := newSyncEnv(t, machines, nil)
	seedGhost(t, e.store)
	e.sim.SetLatency(3*time.Millisecond, 3*time.Millisecond)
	s := e.syncer(e.store, opts)
	id, err := s.JobPass(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var res fleet.SyncResult
	n := 0
	for done := false; !done; {
		n++
		if n > 200 {
			t.Fatal("no end after 200 slices")
		}
		if again, err := s.JobPass(ctx, 1); err != nil || again != id {
			t.Fatalf("the job's pass before slice %d = %d, %v; want %d", n, again, err, id)
		}
		before := passRecord(t, e.store, id)
		res, done, err = s.RunSlice(ctx, id, time.Now(), nil)
		if err != nil {
			t.Fatalf("slice %d: %v", n, err)
		}
		if done {
			break
		}
		// Between slices: running, as far as it got, nothing marked gone.
		p := passRecord(t, e.store, id)
		snaps, _ := stored(t, e.store, id)
		if p.Status != db.PassRunning || p.Slices != n || p.ListedAll ||
			p.MachinesListed != p.MachinesDone+p.MachinesFailed || int64(p.MachinesDone) != snaps ||
			p.MachinesDone <= before.MachinesDone || res.MachinesDone != p.MachinesDone || res.Status != db.PassRunning {
			t.Fatalf("after slice %d: pass %+v, %d snapshots; result %+v", n, p, snaps, res)
		}
		if g, _ := gone(t, e.store); g != 0 {
			t.Fatalf("after slice %d of an unfinished pass, %d machines marked gone", n, g)
		}
	}
	if n < 2 {
		t.Fatalf("the pass took %d slice", n)
	}
	sameCounts(t, res, want)
	if res.Slices != n || res.SessionsNew != e.simSessionCount() || res.Machines != machines {
		t.Fatalf("result %+v after %d slices; want %d machines, %d new sessions", res, n, machines, e.simSessionCount())
	}
	if c := e.sim.Count(sessionsCalls); c != machines {
		t.Fatalf("%d sessions calls for %d machines: a machine was fetched twice or never", c, machines)
	}
	if c := e.sim.Count("GET /machines"); c <= machines/10 {
		t.Fatalf("%d list calls: no page was read again", c)
	}
	snaps, sessions := stored(t, e.store, id)
	if snaps != machines || sessions != e.simSessionCount() {
		t.Fatalf("%d snapshots, %d sessions; want %d, %d", snaps, sessions, machines, e.simSessionCount())
	}
	if p := passRecord(t, e.store, id); p.Status != db.PassSucceeded || !p.ListedAll || p.MachinesListed != machines ||
		p.MachinesDone != machines || p.SessionsSeen != want.SessionsSeen || p.Slices != n || p.FinishedAt == nil {
		t.Fatalf("finished pass = %+v", p)
	}
	if g, ghost := gone(t, e.store); g != 1 || !ghost {
		t.Fatalf("%d machines marked gone (ghost %v), want the ghost alone", g, ghost)
	}
	if last, ok := s.LastResult(); !ok || last.PassID != id {
		t.Fatalf("LastResult = %+v, %v", last, ok)
	}
	// The job is done with it: the same job would begin a new pass.
	if next, err := s.JobPass(ctx, 1); err != nil || next == id {
		t.Fatalf("the job's pass after the end = %d, %v", next, err)
	}
}

// A slice stopped in the middle of page 2 (stop closes as the 15th
// machine's call arrives): the calls in flight finish and are stored, the
// next slice lists from page 2 again, skips the machines already stored,
// and every machine is fetched once.
func TestSyncer_RunSlice_cutMidPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const machines = 60
	opts := fleet.SyncOptions{Concurrency: 3, PerPage: 10, FlushInterval: -1}
	want := wholePass(t, machines, opts)

	stop := make(chan struct{})
	var calls atomic.Int64
	var mu sync.Mutex
	var pages []string
	e := newSyncEnv(t, machines, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasSuffix(r.URL.Path, "/sessions"):
				if calls.Add(1) == 15 {
					close(stop)
				}
			case r.URL.Path == vagonsim.BasePath+"/machines":
				mu.Lock()
				pages = append(pages, r.URL.Query().Get("page"))
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	seedGhost(t, e.store)
	s := e.syncer(e.store, opts)
	id, err := s.JobPass(ctx, 9)
	if err != nil {
		t.Fatal(err)
	}
	res, done, err := s.RunSlice(ctx, id, time.Time{}, stop)
	if err != nil || done {
		t.Fatalf("first slice = %+v, done %v, %v", res, done, err)
	}
	p := passRecord(t, e.store, id)
	snaps, _ := stored(t, e.store, id)
	// The 15th call and those in flight with it (at most 2 more) finish.
	if p.Status != db.PassRunning || p.NextPage != 2 || p.MachinesDone < 15 || p.MachinesDone > 17 ||
		int64(p.MachinesDone) != snaps || calls.Load() != int64(p.MachinesDone) {
		t.Fatalf("after the cut: pass %+v, %d snapshots, %d calls; want running, next page 2, 15 to 17 done", p, snaps, calls.Load())
	}
	if g, _ := gone(t, e.store); g != 0 {
		t.Fatalf("%d machines marked gone mid-pass", g)
	}

	res, done, err = s.RunSlice(ctx, id, time.Time{}, nil)
	if err != nil || !done {
		t.Fatalf("second slice = %+v, done %v, %v", res, done, err)
	}
	sameCounts(t, res, want)
	if res.Slices != 2 || calls.Load() != machines {
		t.Fatalf("%d slices, %d sessions calls; want 2 and %d", res.Slices, calls.Load(), machines)
	}
	mu.Lock()
	defer mu.Unlock()
	count := func(page string) int {
		n := 0
		for _, p := range pages {
			if p == page {
				n++
			}
		}
		return n
	}
	if count("1") != 1 || count("2") != 2 || !slices.Contains(pages, "6") {
		t.Fatalf("pages listed %v: want page 1 once, page 2 twice, up to page 6", pages)
	}
	if g, ghost := gone(t, e.store); g != 1 || !ghost {
		t.Fatalf("%d machines marked gone (ghost %v), want the ghost alone", g, ghost)
	}
}

// An attempt killed mid-way (its context cancelled after the first batch,
// as a job's timeout or a hard stop does) leaves the pass running with what
// it stored; the calls it cut off are not counted as failed, and the next
// attempt continues the same pass to the same counts as a whole pass.
func TestSyncer_RunSlice_killed(t *testing.T) {
	t.Parallel()
	const machines = 60
	opts := fleet.SyncOptions{Concurrency: 3, PerPage: 10, BatchMachines: 5, FlushInterval: -1}
	want := wholePass(t, machines, opts)

	e := newSyncEnv(t, machines, nil)
	seedGhost(t, e.store)
	e.sim.SetLatency(5*time.Millisecond, 5*time.Millisecond)
	kctx, kill := context.WithCancel(context.Background())
	defer kill()
	var flushes atomic.Int64
	o := opts
	o.OnFlush = func(fleet.SyncFlush) {
		if flushes.Add(1) == 1 {
			kill()
		}
	}
	s := e.syncer(e.store, o)
	id, err := s.JobPass(kctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	res, done, err := s.RunSlice(kctx, id, time.Time{}, nil)
	if err != nil || done {
		t.Fatalf("killed slice = %+v, done %v, %v", res, done, err)
	}
	p := passRecord(t, e.store, id)
	snaps, _ := stored(t, e.store, id)
	if p.Status != db.PassRunning || p.MachinesFailed != 0 || p.MachinesDone < 5 || p.MachinesDone >= machines ||
		int64(p.MachinesDone) != snaps {
		t.Fatalf("after the kill: pass %+v, %d snapshots", p, snaps)
	}

	// Another attempt (another replica's store) continues the pass.
	s2 := e.syncer(e.open(t), opts)
	again, err := s2.JobPass(context.Background(), 3)
	if err != nil || again != id {
		t.Fatalf("the next attempt's pass = %d, %v; want %d", again, err, id)
	}
	res, done, err = s2.RunSlice(context.Background(), id, time.Now().Add(time.Hour), nil)
	if err != nil || !done {
		t.Fatalf("next slice = %+v, done %v, %v", res, done, err)
	}
	sameCounts(t, res, want)
	if snaps, sessions := stored(t, e.store, id); snaps != machines || sessions != e.simSessionCount() {
		t.Fatalf("%d snapshots, %d sessions; want %d, %d", snaps, sessions, machines, e.simSessionCount())
	}
	if c := e.sim.Count(sessionsCalls); c < machines {
		t.Fatalf("%d sessions calls, want at least %d", c, machines)
	}
}

// A slice that stalls (its process frozen) while a newer slice takes the
// pass over (the job rescued on another replica) writes nothing once it
// wakes: the newer slice finishes the pass alone.
func TestSyncer_RunSlice_takenOver(t *testing.T) {
	t.Parallel()
	const machines = 60
	opts := fleet.SyncOptions{Concurrency: 3, PerPage: 10, BatchMachines: 5, FlushInterval: -1}
	want := wholePass(t, machines, opts)

	e := newSyncEnv(t, machines, nil)
	seedGhost(t, e.store)
	stalled, wake := make(chan struct{}), make(chan struct{})
	var once sync.Once
	o := opts
	o.OnFlush = func(fleet.SyncFlush) {
		once.Do(func() {
			close(stalled)
			<-wake
		})
	}
	a := e.syncer(e.store, o)
	id, err := a.JobPass(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		done bool
		err  error
	}
	aDone := make(chan outcome, 1)
	go func() {
		_, done, err := a.RunSlice(context.Background(), id, time.Time{}, nil)
		aDone <- outcome{done, err}
	}()
	<-stalled

	b := e.syncer(e.open(t), opts)
	res, done, err := b.RunSlice(context.Background(), id, time.Time{}, nil)
	if err != nil || !done {
		close(wake)
		t.Fatalf("the newer slice = %+v, done %v, %v", res, done, err)
	}
	sameCounts(t, res, want)
	finished := passRecord(t, e.store, id)

	close(wake)
	ao := <-aDone
	if ao.done || !errors.Is(ao.err, db.ErrSyncPassLost) {
		t.Fatalf("the stalled slice returned done %v, %v; want ErrSyncPassLost", ao.done, ao.err)
	}
	after := passRecord(t, e.store, id)
	if after.Status != db.PassSucceeded || after.MachinesDone != machines || after.MachinesDone != finished.MachinesDone ||
		after.SessionsNew != finished.SessionsNew || after.ProgressAt == nil || !after.ProgressAt.Equal(*finished.ProgressAt) {
		t.Fatalf("pass after the stalled slice woke = %+v, was %+v", after, finished)
	}
	if snaps, _ := stored(t, e.store, id); snaps != machines {
		t.Fatalf("%d snapshots, want %d", snaps, machines)
	}
}
