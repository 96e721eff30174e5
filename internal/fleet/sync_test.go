package fleet_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

const (
	simKey    = "sync-key"
	simSecret = "sync-secret"
)

// syncStart is a Wednesday morning.
var syncStart = time.Date(2026, 4, 15, 9, 30, 0, 0, time.UTC)

// syncEnv is a seeded simulator behind a real HTTP server, the real client,
// and a fresh database.
type syncEnv struct {
	clk   *vagonsim.ManualClock
	sim   *vagonsim.Sim
	api   *vagon.Client
	store *db.Store
	url   string
}

// newSyncEnv starts the simulator with machines machines; wrap, when not
// nil, wraps its handler (to break one endpoint, say).
func newSyncEnv(t testing.TB, machines int, wrap func(http.Handler) http.Handler) *syncEnv {
	t.Helper()
	e := &syncEnv{clk: vagonsim.NewManualClock(syncStart)}
	e.sim = vagonsim.New(vagonsim.Options{Key: simKey, Secret: simSecret, Machines: machines, Seed: 42, Clock: e.clk.Now})
	var h http.Handler = e.sim
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, simKey, simSecret,
		vagon.WithClock(e.clk.Now), vagon.WithRetry(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	e.url = dbtest.URL(t)
	e.store = e.open(t)
	return e
}

// open opens another store on the environment's database (another replica).
func (e *syncEnv) open(t testing.TB) *db.Store {
	t.Helper()
	return dbtest.Open(t, e.url)
}

func (e *syncEnv) syncer(store *db.Store, o fleet.SyncOptions) *fleet.Syncer {
	if o.Now == nil {
		o.Now = e.clk.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return fleet.NewSyncer(e.api, store, o)
}

// simSessionCount is how many sessions the simulator holds.
func (e *syncEnv) simSessionCount() int64 {
	var n int64
	for _, ss := range e.sim.AllSessions() {
		n += int64(len(ss))
	}
	return n
}

// dumpSessions returns every stored session, one line each, in id order.
func dumpSessions(t testing.TB, s *db.Store) string {
	t.Helper()
	var out string
	err := s.Pool().QueryRow(context.Background(), `
		SELECT coalesce(string_agg(concat_ws('|', id, machine_id, start_at AT TIME ZONE 'UTC',
			coalesce((end_at AT TIME ZONE 'UTC')::text, 'NULL'), duration_minutes,
			first_seen_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC'), E'\n' ORDER BY id), '')
		FROM machine_sessions`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSyncer_RunOnce_idempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSyncEnv(t, 40, nil)
	s := e.syncer(e.store, fleet.SyncOptions{Concurrency: 4, PerPage: 15}) // 3 pages

	res, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := e.simSessionCount()
	if want == 0 {
		t.Fatal("the seeded fleet has no sessions")
	}
	if res.Status != db.PassSucceeded || res.Machines != 40 || res.MachinesDone != 40 || res.MachinesFailed != 0 ||
		res.SessionsNew != want || res.SessionsUpdated != 0 || res.PassID == 0 {
		t.Fatalf("first pass = %+v, want 40 machines and %d new sessions", res, want)
	}
	var stored, snaps, latest int64
	if err := e.store.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM machine_sessions),
		(SELECT count(*) FROM machine_snapshots WHERE pass_id = $1), (SELECT count(*) FROM machines_latest)`,
		res.PassID).Scan(&stored, &snaps, &latest); err != nil {
		t.Fatal(err)
	}
	if stored != want || snaps != 40 || latest != 40 {
		t.Fatalf("stored %d sessions, %d snapshots, %d latest; want %d, 40, 40", stored, snaps, latest, want)
	}
	before := dumpSessions(t, e.store)

	// Same simulator state (its clock stands still): running sessions have
	// not grown either.
	res2, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res2.SessionsNew != 0 || res2.SessionsUpdated != 0 || res2.MachinesDone != 40 || res2.PassID == res.PassID {
		t.Fatalf("second pass = %+v, want nothing new or updated", res2)
	}
	if after := dumpSessions(t, e.store); after != before {
		t.Fatalf("second pass changed the table:\nbefore\n%s\nafter\n%s", before, after)
	}
	passes, err := e.store.LastSyncPasses(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(passes) != 2 || passes[0].ID != res2.PassID || passes[0].Status != db.PassSucceeded ||
		passes[1].SessionsNew != want || passes[0].MachinesDone != 40 {
		t.Fatalf("pass records = %+v", passes)
	}
	if last, ok := s.LastResult(); !ok || last.PassID != res2.PassID {
		t.Fatalf("LastResult = %+v, %v", last, ok)
	}
}

func TestSyncer_RunOnce_sessionEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSyncEnv(t, 20, nil)
	// Stop every running machine so that only ours changes between passes.
	var target string
	for _, id := range e.sim.MachineIDs() {
		m, _ := e.sim.Machine(id)
		switch st := m.Attributes.FriendlyStatus; {
		case st == vagon.StatusOff && target == "" && m.Attributes.RemainingUsage > 120:
			target = id
		case st != vagon.StatusOff:
			if err := e.sim.SetStatus(id, vagon.StatusOff); err != nil {
				t.Fatal(err)
			}
		}
	}
	if target == "" {
		t.Fatal("no machine to start")
	}
	if err := e.api.StartMachine(ctx, target); err != nil {
		t.Fatal(err)
	}
	s := e.syncer(e.store, fleet.SyncOptions{})
	res, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sessionID := e.sim.Sessions(target)[0].ID.String()
	got, _ := e.store.MachineSessions(ctx, target, 1)
	if len(got) != 1 || got[0].ID != sessionID || got[0].EndAt != nil {
		t.Fatalf("running session stored as %+v (pass %+v)", got, res)
	}

	e.clk.Advance(45 * time.Minute)
	if err := e.api.StopMachine(ctx, target, false); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	res, err = s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.SessionsNew != 0 || res.SessionsUpdated != 1 {
		t.Fatalf("pass after the stop = %+v, want 0 new, 1 updated", res)
	}
	want := e.sim.Sessions(target)[0]
	got, _ = e.store.MachineSessions(ctx, target, 1)
	if got[0].EndAt == nil || !got[0].EndAt.Equal(*want.Attributes.EndAt) || got[0].DurationMinutes != 45 ||
		got[0].DurationMinutes != want.Attributes.Duration {
		t.Fatalf("ended session stored as %+v, simulator has %+v", got[0], want)
	}
}

func TestSyncer_RunOnce_failingMachine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var badID atomic.Value // the machine whose sessions answer 500
	badID.Store("")
	e := newSyncEnv(t, 12, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if bad := badID.Load().(string); bad != "" && r.URL.Path == vagonsim.BasePath+"/machines/"+bad+"/sessions" {
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	bad := e.sim.MachineIDs()[3]
	badID.Store(bad)
	s := e.syncer(e.store, fleet.SyncOptions{})
	res, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatalf("pass failed: %v", err)
	}
	if res.Status != db.PassSucceeded || res.MachinesDone != 11 || res.MachinesFailed != 1 ||
		len(res.Failed) != 1 || res.Failed[0].ID != bad || !strings.Contains(res.Failed[0].Error, "500") {
		t.Fatalf("pass = %+v, want machine %s failed", res, bad)
	}
	var want int64
	for id, ss := range e.sim.AllSessions() {
		if id != bad {
			want += int64(len(ss))
		}
	}
	if res.SessionsNew != want {
		t.Fatalf("new sessions = %d, want %d (all but the failing machine's)", res.SessionsNew, want)
	}
	passes, err := e.store.LastSyncPasses(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p := passes[0]; p.Status != db.PassSucceeded || p.MachinesFailed != 1 || p.MachinesDone != 11 ||
		len(p.FailedMachines) != 1 || p.FailedMachines[0].ID != bad || p.FailedMachines[0].Error == "" {
		t.Fatalf("pass record = %+v", p)
	}
	// The failing machine still has its snapshot.
	latest, _ := e.store.LatestMachines(ctx)
	if len(latest) != 12 {
		t.Fatalf("latest machines = %d, want 12", len(latest))
	}
}

func TestSyncer_RunOnce_listFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSyncEnv(t, 5, nil)
	e.sim.Enqueue("GET /machines", 2, vagonsim.GatewayError(http.StatusBadGateway, true))
	s := e.syncer(e.store, fleet.SyncOptions{})
	res, err := s.RunOnce(ctx)
	if err == nil || res.Status != db.PassFailed || !strings.Contains(res.Error, "list machines") {
		t.Fatalf("pass = %+v, err %v; want failed", res, err)
	}
	passes, _ := e.store.LastSyncPasses(ctx, 1)
	if passes[0].Status != db.PassFailed || passes[0].FinishedAt == nil || passes[0].Error == "" {
		t.Fatalf("pass record = %+v", passes[0])
	}
}

// TestReports_matchSimulator compares the reports over synced sessions with
// sums computed straight from the simulator's sessions.
func TestReports_matchSimulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSyncEnv(t, 60, nil)
	if _, err := e.syncer(e.store, fleet.SyncOptions{}).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	rg, err := fleet.ParseRange(fleet.PresetLast30, "", "", e.clk.Now(), berlin)
	if err != nil {
		t.Fatal(err)
	}

	type agg struct{ sessions, minutes int64 }
	byMachine, byUser := map[string]agg{}, map[string]agg{}
	var total agg
	for id, ss := range e.sim.AllSessions() {
		m, _ := e.sim.Machine(id)
		user := ""
		if u := m.Attributes.User; u != nil {
			user = strings.ToLower(strings.TrimSpace(u.Attributes.Email))
		}
		for _, x := range ss {
			if st := x.Attributes.StartAt; st.Before(rg.From) || !st.Before(rg.To) {
				continue
			}
			a := byMachine[id]
			a.sessions++
			a.minutes += x.Attributes.Duration
			byMachine[id] = a
			a = byUser[user]
			a.sessions++
			a.minutes += x.Attributes.Duration
			byUser[user] = a
			total.sessions++
			total.minutes += x.Attributes.Duration
		}
	}
	if total.sessions == 0 {
		t.Fatal("no simulated sessions in the last 30 days")
	}

	reports := fleet.NewReports(e.store)
	for _, tt := range []struct {
		group string
		want  map[string]agg
	}{{db.GroupMachine, byMachine}, {db.GroupUser, byUser}} {
		t.Run(tt.group, func(t *testing.T) {
			rep, err := reports.Usage(ctx, rg, tt.group, "", false)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]agg{}
			for _, r := range rep.Rows {
				got[r.GroupKey] = agg{r.Sessions, r.Minutes}
			}
			if len(got) != len(tt.want) {
				t.Errorf("%d groups, want %d", len(got), len(tt.want))
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("group %q = %+v, want %+v", k, got[k], w)
				}
			}
			if rep.Sessions != total.sessions || rep.Minutes != total.minutes {
				t.Errorf("totals %d sessions %d minutes, want %d and %d", rep.Sessions, rep.Minutes, total.sessions, total.minutes)
			}

			// The CSV holds exactly the table's rows.
			var buf bytes.Buffer
			if err := fleet.UsageCSV(&buf, rep.Rows); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(recs[0], ",") != "group_key,label,sessions,minutes" || len(recs) != len(rep.Rows)+1 {
				t.Fatalf("csv header %v, %d records for %d rows", recs[0], len(recs), len(rep.Rows))
			}
			for i, r := range rep.Rows {
				want := []string{r.GroupKey, r.Label, strconv.FormatInt(r.Sessions, 10), strconv.FormatInt(r.Minutes, 10)}
				if strings.Join(recs[i+1], "\x00") != strings.Join(want, "\x00") {
					t.Errorf("csv row %d = %q, want %q", i, recs[i+1], want)
				}
			}
		})
	}

	t.Run("day", func(t *testing.T) {
		rep, err := reports.Usage(ctx, rg, db.GroupDay, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 30 || rep.Rows[0].GroupKey != rg.FirstDay || rep.Rows[29].GroupKey != rg.LastDay ||
			rep.Sessions != total.sessions || rep.Minutes != total.minutes {
			t.Fatalf("day report: %d rows from %s, totals %d/%d; want 30 from %s, %d/%d",
				len(rep.Rows), rep.Rows[0].GroupKey, rep.Sessions, rep.Minutes, rg.FirstDay, total.sessions, total.minutes)
		}
		chart, err := reports.Chart(ctx, rg, db.GroupUser, 3)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, s := range chart.Series {
			sum += s.Total
		}
		if len(chart.Days) != 30 || sum != total.minutes || len(chart.Series) > 4 {
			t.Fatalf("chart: %d days, %d series, %d minutes; want 30 days, <= 4 series, %d minutes",
				len(chart.Days), len(chart.Series), sum, total.minutes)
		}
	})
}

// TestSyncer_RunOnce_batches shows the bound on what a pass holds: the
// writer stores a batch as soon as it holds BatchMachines machines or
// BatchSessions sessions, so no write is bigger than that plus one
// machine's sessions, whatever the fleet's size.
func TestSyncer_RunOnce_batches(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name                       string
		batchMachines, batchRows   int
		wantFlushes                int // 0: not fixed by the machine count
		wantMachinesPerFullFlushes int
	}{
		{name: "by machines", batchMachines: 7, batchRows: 1 << 20, wantFlushes: 6, wantMachinesPerFullFlushes: 7},
		{name: "by sessions", batchMachines: 1000, batchRows: 25},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newSyncEnv(t, 40, nil)
			var maxPerMachine int
			for _, ss := range e.sim.AllSessions() {
				maxPerMachine = max(maxPerMachine, len(ss))
			}
			var flushes []fleet.SyncFlush
			s := e.syncer(e.store, fleet.SyncOptions{Concurrency: 3, PerPage: 15, BatchMachines: tt.batchMachines,
				BatchSessions: tt.batchRows, FlushInterval: -1,
				OnFlush: func(f fleet.SyncFlush) { flushes = append(flushes, f) }})
			res, err := s.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := e.simSessionCount()
			if res.SessionsNew != want || res.SessionsSeen != want || res.MachinesDone != 40 {
				t.Fatalf("pass = %+v, want 40 machines and %d new sessions", res, want)
			}
			if tt.wantFlushes > 0 && len(flushes) != tt.wantFlushes {
				t.Errorf("%d flushes, want %d", len(flushes), tt.wantFlushes)
			}
			if tt.wantFlushes == 0 && int64(len(flushes)) < want/int64(tt.batchRows+maxPerMachine) {
				t.Errorf("%d flushes for %d sessions in batches of %d", len(flushes), want, tt.batchRows)
			}
			var machines, rows int
			for i, f := range flushes {
				machines += f.Machines
				rows += f.Sessions
				if f.Machines > tt.batchMachines || f.Sessions >= tt.batchRows+maxPerMachine {
					t.Errorf("flush %d: %d machines, %d sessions; want at most %d machines, fewer than %d + %d sessions",
						i, f.Machines, f.Sessions, tt.batchMachines, tt.batchRows, maxPerMachine)
				}
				if !last(i, flushes) && tt.wantMachinesPerFullFlushes > 0 && f.Machines != tt.wantMachinesPerFullFlushes {
					t.Errorf("flush %d: %d machines, want %d", i, f.Machines, tt.wantMachinesPerFullFlushes)
				}
				if !last(i, flushes) && tt.wantFlushes == 0 && f.Sessions < tt.batchRows {
					t.Errorf("flush %d of %d sessions before the batch was full (%d)", i, f.Sessions, tt.batchRows)
				}
				if f.ProgressErr != nil {
					t.Errorf("flush %d: progress: %v", i, f.ProgressErr)
				}
			}
			if machines != 40 || int64(rows) != want {
				t.Errorf("flushes wrote %d machines and %d sessions, want 40 and %d", machines, rows, want)
			}
		})
	}
}

func last[T any](i int, s []T) bool { return i == len(s)-1 }

// TestSyncer_RunOnce_progress reads the pass record, as another replica's
// sync panel would, after every batch: it shows the pass running and
// advancing, and the next pass expects as many machines as the last
// listing had.
func TestSyncer_RunOnce_progress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSyncEnv(t, 30, nil)
	replica := e.open(t)
	var seen []db.SyncPass
	var hookErr error
	s := e.syncer(e.store, fleet.SyncOptions{Concurrency: 2, PerPage: 10, BatchMachines: 4, FlushInterval: -1,
		OnFlush: func(f fleet.SyncFlush) {
			passes, err := replica.LastSyncPasses(ctx, 1)
			if err != nil || len(passes) != 1 {
				hookErr = fmt.Errorf("read the pass: %v (%d passes)", err, len(passes))
				return
			}
			p := passes[0]
			if p.ID != f.Progress.PassID || p.Status != db.PassRunning || p.FinishedAt != nil || p.ProgressAt == nil ||
				p.MachinesDone != f.Progress.MachinesDone || p.SessionsNew != f.Progress.SessionsNew ||
				p.SessionsSeen != f.Progress.SessionsSeen || p.MachinesListed < p.MachinesDone+p.MachinesFailed {
				hookErr = fmt.Errorf("pass record %+v after flush %+v", p, f.Progress)
			}
			seen = append(seen, p)
		}})
	res, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if len(seen) != 8 { // 30 machines in batches of 4
		t.Fatalf("%d progress records, want 8", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].MachinesDone <= seen[i-1].MachinesDone || seen[i].SessionsSeen < seen[i-1].SessionsSeen {
			t.Fatalf("progress went from %+v to %+v", seen[i-1], seen[i])
		}
	}
	if seen[0].MachinesExpected != nil || seen[len(seen)-1].MachinesDone != 30 {
		t.Fatalf("first progress %+v, last %+v", seen[0], seen[len(seen)-1])
	}
	passes, _ := replica.LastSyncPasses(ctx, 1)
	if p := passes[0]; p.Status != db.PassSucceeded || !p.ListedAll || p.MachinesListed != 30 ||
		p.SessionsSeen != res.SessionsSeen || p.SessionsSeen != e.simSessionCount() {
		t.Fatalf("finished pass = %+v", p)
	}

	// The next pass expects the 30 machines from its start.
	seen = nil
	if _, err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if len(seen) == 0 || seen[0].MachinesExpected == nil || *seen[0].MachinesExpected != 30 {
		t.Fatalf("second pass's progress = %+v, want 30 machines expected", seen)
	}
}

// TestSyncer_RunOnce_cancelled cancels a pass after its first batch (as a
// job's timeout would): the pass is recorded as failed, closed, and keeps
// what it had stored.
func TestSyncer_RunOnce_cancelled(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t, 30, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var flushes int
	s := e.syncer(e.store, fleet.SyncOptions{Concurrency: 2, PerPage: 10, BatchMachines: 5, FlushInterval: -1,
		OnFlush: func(fleet.SyncFlush) {
			flushes++
			if flushes == 1 {
				cancel()
			}
		}})
	res, err := s.RunOnce(ctx)
	if !errors.Is(err, context.Canceled) || res.Status != db.PassFailed {
		t.Fatalf("pass = %+v, err %v; want failed, cancelled", res, err)
	}
	if res.MachinesDone < 5 || res.MachinesDone+res.MachinesFailed != res.Machines {
		t.Fatalf("pass = %+v: want the first batch done, every listed machine done or failed", res)
	}
	passes, _ := e.store.LastSyncPasses(context.Background(), 1)
	if p := passes[0]; p.Status != db.PassFailed || p.FinishedAt == nil || !strings.Contains(p.Error, "context canceled") ||
		p.MachinesDone != res.MachinesDone {
		t.Fatalf("pass record = %+v", p)
	}
	var stored int64
	if err := e.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM machine_sessions`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != res.SessionsNew || stored == 0 {
		t.Fatalf("%d sessions stored, the pass counted %d new", stored, res.SessionsNew)
	}
}

// TestSyncer_RunOnce_manyFailed keeps the first db.MaxFailedMachines failed
// machines and counts them all.
func TestSyncer_RunOnce_manyFailed(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t, 60, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/sessions") {
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	res, err := e.syncer(e.store, fleet.SyncOptions{}).RunOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "every machine failed") {
		t.Fatalf("err = %v, want every machine failed", err)
	}
	if res.MachinesFailed != 60 || len(res.Failed) != db.MaxFailedMachines || res.MachinesDone != 0 {
		t.Fatalf("pass = %d failed, %d named, %d done; want 60, %d, 0", res.MachinesFailed, len(res.Failed), res.MachinesDone, db.MaxFailedMachines)
	}
	latest, _ := e.store.LatestMachines(context.Background())
	if len(latest) != 60 {
		t.Fatalf("%d machines' snapshots stored, want 60", len(latest))
	}
}

// TestSyncer_RunOnce_flushWhileWaiting holds every sessions call after the
// first 5: the 5 machines fetched are still written (FlushInterval), and
// their progress recorded, while the others wait.
func TestSyncer_RunOnce_flushWhileWaiting(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	var calls atomic.Int64
	e := newSyncEnv(t, 20, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/sessions") && calls.Add(1) > 5 {
				<-gate
			}
			h.ServeHTTP(w, r)
		})
	})
	flushed := make(chan fleet.SyncFlush, 100)
	s := e.syncer(e.store, fleet.SyncOptions{Concurrency: 2, FlushInterval: 20 * time.Millisecond,
		OnFlush: func(f fleet.SyncFlush) { flushed <- f }})
	type outcome struct {
		res fleet.SyncResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := s.RunOnce(context.Background())
		done <- outcome{res, err}
	}()
	var got int
	for got < 5 {
		select {
		case f := <-flushed:
			got = f.Progress.MachinesDone
			if f.ProgressErr != nil {
				t.Fatal(f.ProgressErr)
			}
		case <-time.After(30 * time.Second):
			close(gate)
			t.Fatalf("no write of the first 5 machines while the others wait (%d done)", got)
		}
	}
	passes, _ := e.store.LastSyncPasses(context.Background(), 1)
	if p := passes[0]; p.Status != db.PassRunning || p.MachinesDone != 5 {
		t.Fatalf("pass record while waiting = %+v", p)
	}
	close(gate)
	o := <-done
	if o.err != nil || o.res.MachinesDone != 20 {
		t.Fatalf("pass = %+v, %v", o.res, o.err)
	}
}
