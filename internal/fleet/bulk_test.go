package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// bulkEnv is a simulator behind a recording proxy, a client on it over
// real HTTP, and a fresh database.
type bulkEnv struct {
	sim    *vagonsim.Sim
	api    *vagon.Client
	dbURL  string
	store  *db.Store
	svc    *fleet.Service
	actor  fleet.Actor
	mu     sync.Mutex
	bodies map[string][]string // path → request bodies of POSTs
	// inflight/maxInflight count concurrent POSTs whose path ends in watch.
	watch       string
	inflight    atomic.Int64
	maxInflight atomic.Int64
}

func newBulkEnv(t *testing.T, machines int) *bulkEnv {
	t.Helper()
	e := &bulkEnv{bodies: map[string][]string{}, actor: fleet.Actor{Email: "op@example.com", Role: "operator", RequestID: "req-1"}}
	e.sim = vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: machines, Seed: 11})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			e.mu.Lock()
			e.bodies[r.URL.Path] = append(e.bodies[r.URL.Path], string(b))
			watched := e.watch != "" && strings.HasSuffix(r.URL.Path, e.watch)
			e.mu.Unlock()
			if watched {
				n := e.inflight.Add(1)
				defer e.inflight.Add(-1)
				for {
					m := e.maxInflight.Load()
					if n <= m || e.maxInflight.CompareAndSwap(m, n) {
						break
					}
				}
			}
		}
		e.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, "k", "s")
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	e.dbURL = dbtest.URL(t)
	e.store = e.open(t)
	if err := jobs.Migrate(context.Background(), e.store); err != nil {
		t.Fatal(err)
	}
	e.svc = fleet.NewService(api, e.store, fleet.ServiceOptions{})
	return e
}

func (e *bulkEnv) open(t *testing.T) *db.Store {
	t.Helper()
	return dbtest.Open(t, e.dbURL)
}

// ids returns the first n machine ids of the fleet, each set to status st.
func (e *bulkEnv) machines(t *testing.T, n int, st vagon.Status) []string {
	t.Helper()
	ids := e.sim.MachineIDs()[:n]
	for _, id := range ids {
		if err := e.sim.SetStatus(id, st); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// runner starts a Bulk with its River client on its own store (a replica)
// and stops it at cleanup. kill stops the client at once, cancelling the
// jobs it runs: calls in flight are abandoned and their items left running,
// as a crash leaves them.
func (e *bulkEnv) runner(t *testing.T, store *db.Store, conc int) (b *fleet.Bulk, kill func()) {
	t.Helper()
	b, q := e.queued(t, store, conc)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := q.Client().StopAndCancel(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	t.Cleanup(kill)
	return b, kill
}

// queued is a Bulk with a River client that is not started: a process that
// submits operations and never works on them.
func (e *bulkEnv) queued(t *testing.T, store *db.Store, conc int) (*fleet.Bulk, *jobs.Jobs) {
	t.Helper()
	svc := fleet.NewService(e.api, store, fleet.ServiceOptions{})
	b := fleet.NewBulk(svc, fleet.BulkOptions{Concurrency: conc})
	q, err := jobs.New(store, jobs.Config{Bulk: b, RescueAfter: time.Minute, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b.SetQueue(q)
	return b, q
}

func waitBulk(t *testing.T, b *fleet.Bulk, id int64, cond func(*fleet.BulkStatus) bool) *fleet.BulkStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := b.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("bulk %d did not get there: status %s, counts %+v", id, st.Op.Status, st.Counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func finished(st *fleet.BulkStatus) bool { return st.Op.Finished() }

func auditRows(t *testing.T, s *db.Store, action string) []db.AuditEvent {
	t.Helper()
	evs, _, err := s.ListAudit(context.Background(), db.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(evs)
	return evs
}

func itemByID(st *fleet.BulkStatus, id string) db.BulkItem {
	for _, it := range st.Items {
		if it.MachineID == id {
			return it
		}
	}
	return db.BulkItem{}
}

func TestBulk_stop_concurrencySkipAndAudit(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 12)
	ids := e.machines(t, 7, vagon.StatusReady)
	if err := e.sim.SetStatus(ids[6], vagon.StatusOff); err != nil {
		t.Fatal(err)
	}
	e.watch = "/stop"
	e.sim.SetLatency(150*time.Millisecond, 150*time.Millisecond)
	b, _ := e.runner(t, e.store, 4)
	id, err := b.Submit(context.Background(), e.actor, fleet.BulkStop, ids, fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitBulk(t, b, id, finished)
	if st.Op.Status != db.BulkSucceeded || st.Counts.Done != 6 || st.Counts.Skipped != 1 {
		t.Fatalf("status %s counts %+v", st.Op.Status, st.Counts)
	}
	if got := e.maxInflight.Load(); got > 4 || got < 2 {
		t.Fatalf("max concurrent stop calls = %d, want 2..4", got)
	}
	off := itemByID(st, ids[6])
	if off.State != db.ItemSkipped || off.Message != "Already off." || off.MachineName == "" {
		t.Fatalf("off machine's item = %+v", off)
	}
	if n := e.sim.AuthCount("POST /machines/{id}/stop"); n != 6 {
		t.Fatalf("stop calls = %d, want 6 (the off machine is skipped)", n)
	}
	for _, mid := range ids[:6] {
		m, _ := e.sim.Machine(mid)
		if m.Attributes.FriendlyStatus != vagon.StatusGracefulStopping {
			t.Fatalf("machine %s is %s, want graceful_stopping (default)", mid, m.Attributes.FriendlyStatus)
		}
	}
	// Parent rows: started (from Submit) and succeeded with the counts.
	parent := auditRows(t, e.store, fleet.ActBulk)
	if len(parent) != 2 || parent[0].Outcome != db.OutcomeStarted || parent[1].Outcome != db.OutcomeSucceeded {
		t.Fatalf("bulk.run rows = %+v", parent)
	}
	var fin map[string]any
	_ = json.Unmarshal(parent[1].Params, &fin)
	if fin["done"] != float64(6) || fin["skipped"] != float64(1) || fin["bulk_op_id"] != float64(id) {
		t.Fatalf("bulk.run outcome params = %s", parent[1].Params)
	}
	if parent[0].RequestID != "req-1" || parent[0].ActorEmail != "op@example.com" {
		t.Fatalf("started row = %+v", parent[0])
	}
	// One started and one succeeded row per stopped machine, linked to the op.
	per := auditRows(t, e.store, fleet.ActMachineStop)
	if len(per) != 12 {
		t.Fatalf("machine.stop rows = %d, want 12", len(per))
	}
	for _, ev := range per {
		var p map[string]any
		_ = json.Unmarshal(ev.Params, &p)
		if p["bulk_op_id"] != float64(id) || p["gracefully"] != true || ev.ActorEmail != "op@example.com" || ev.MachineID == ids[6] {
			t.Fatalf("machine.stop row = %+v params %s", ev, ev.Params)
		}
	}
}

func TestBulk_resumesAfterKill(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 12)
	ids := e.machines(t, 8, vagon.StatusReady)
	e.sim.SetLatency(300*time.Millisecond, 300*time.Millisecond)

	// First process: concurrency 2; killed once the first machines are done,
	// with the next ones in flight.
	b1, kill := e.runner(t, e.open(t), 2)
	id, err := b1.Submit(context.Background(), e.actor, fleet.BulkStop, ids, fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	waitBulk(t, b1, id, func(st *fleet.BulkStatus) bool { return st.Counts.Done >= 2 && st.Counts.Running > 0 })
	kill()
	mid, err := b1.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if mid.Op.Finished() || mid.Counts.Pending == 0 || mid.Counts.Running == 0 {
		t.Fatalf("after the kill: status %s counts %+v; want unfinished with pending and running items", mid.Op.Status, mid.Counts)
	}
	// A call that went through just before the process died: the item is
	// left running, and the machine is already stopping.
	var through string
	for _, it := range mid.Items {
		if it.State == db.ItemPending {
			through = it.MachineID
			break
		}
	}
	// The dead process's slice: a runner token of its own, then the claim.
	r, err := e.store.StartBulkOp(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.BeginBulkItem(context.Background(), id, through, r, db.ItemPending, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.SetStatus(through, vagon.StatusGracefulStopping); err != nil {
		t.Fatal(err)
	}
	apiStopsBefore := e.sim.AuthCount("POST /machines/{id}/stop")

	// Second process on the same database picks it up at start.
	e.sim.SetLatency(20*time.Millisecond, 20*time.Millisecond)
	b2, _ := e.runner(t, e.open(t), 4)
	st := waitBulk(t, b2, id, finished)
	if st.Op.Status != db.BulkSucceeded || st.Counts.Done != 8 {
		t.Fatalf("after resume: status %s counts %+v items %+v", st.Op.Status, st.Counts, st.Items)
	}
	if it := itemByID(st, through); !strings.Contains(it.Message, "went through") {
		t.Fatalf("re-checked item = %+v", it)
	}
	// Exactly one stop reached Vagon per machine: 7 calls (the 8th machine
	// was stopped "before the crash" outside the API). A second stop of the
	// same machine would have been refused with 4204 and the item skipped.
	if n := e.sim.AuthCount("POST /machines/{id}/stop"); n != 7 {
		t.Fatalf("stop calls = %d (%d before the restart), want 7", n, apiStopsBefore)
	}
	for _, mid := range ids {
		m, _ := e.sim.Machine(mid)
		if s := m.Attributes.FriendlyStatus; s != vagon.StatusGracefulStopping && s != vagon.StatusOff {
			t.Fatalf("machine %s is %s", mid, s)
		}
	}
	if parent := auditRows(t, e.store, fleet.ActBulk); len(parent) != 2 || parent[1].Outcome != db.OutcomeSucceeded {
		t.Fatalf("bulk.run rows = %+v", parent)
	}
}

func TestBulk_twoReplicasOneRunner(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 10)
	ids := e.machines(t, 6, vagon.StatusOff)
	for _, id := range ids {
		_ = e.sim.SetRemainingUsage(id, 600)
	}
	e.sim.SetLatency(50*time.Millisecond, 50*time.Millisecond)
	a, _ := e.runner(t, e.open(t), 4)
	b, _ := e.runner(t, e.open(t), 4)
	id, err := a.Submit(context.Background(), e.actor, fleet.BulkStart, ids, fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitBulk(t, b, id, finished)
	if st.Counts.Done != 6 {
		t.Fatalf("counts %+v items %+v", st.Counts, st.Items)
	}
	if n := e.sim.AuthCount("POST /machines/{id}/start"); n != 6 {
		t.Fatalf("start calls = %d, want 6", n)
	}
	if n := len(auditRows(t, e.store, fleet.ActMachineStart)); n != 12 {
		t.Fatalf("machine.start rows = %d, want 12", n)
	}
}

func TestBulk_permissions_sendsOnlyChosenKeys(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 5)
	ids := e.sim.MachineIDs()[:3]
	ctx := context.Background()
	set := func(id string, kv map[string]bool) {
		var u vagon.PermissionsUpdate
		for k, v := range kv {
			u.Set(k, v)
		}
		if err := e.api.UpdatePermissions(ctx, id, u); err != nil {
			t.Fatal(err)
		}
	}
	set(ids[0], map[string]bool{vagon.PermClipboard: true, vagon.PermScreenRecording: false})
	set(ids[1], map[string]bool{vagon.PermClipboard: false, vagon.PermScreenRecording: false})
	set(ids[2], map[string]bool{vagon.PermClipboard: false, vagon.PermScreenRecording: true})
	before := map[string]vagon.Permissions{}
	for _, id := range ids {
		m, _ := e.sim.Machine(id)
		before[id] = m.Attributes.Permissions
	}
	e.mu.Lock()
	e.bodies = map[string][]string{}
	e.mu.Unlock()

	b, _ := e.runner(t, e.store, 4)
	chosen := map[string]bool{vagon.PermClipboard: false, vagon.PermScreenRecording: true}
	id, err := b.Submit(ctx, e.actor, fleet.BulkPermissions, ids, fleet.BulkParams{Permissions: chosen})
	if err != nil {
		t.Fatal(err)
	}
	st := waitBulk(t, b, id, finished)
	if st.Counts.Done != 2 || itemByID(st, ids[2]).State != db.ItemSkipped {
		t.Fatalf("counts %+v items %+v", st.Counts, st.Items)
	}
	body := func(id string) map[string]map[string]bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		bs := e.bodies[vagonsim.BasePath+"/machines/"+id+"/permissions"]
		if len(bs) != 1 {
			t.Fatalf("machine %s got %d permission calls", id, len(bs))
		}
		var out map[string]map[string]bool
		if err := json.Unmarshal([]byte(bs[0]), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := body(ids[0])["permissions"]; len(got) != 2 || got[vagon.PermClipboard] || !got[vagon.PermScreenRecording] {
		t.Fatalf("machine 0 sent %v", got)
	}
	if got := body(ids[1])["permissions"]; len(got) != 1 || !got[vagon.PermScreenRecording] {
		t.Fatalf("machine 1 sent %v, want only the key that changes", got)
	}
	e.mu.Lock()
	if n := len(e.bodies[vagonsim.BasePath+"/machines/"+ids[2]+"/permissions"]); n != 0 {
		t.Fatalf("skipped machine got %d calls", n)
	}
	e.mu.Unlock()
	// Keys not chosen are untouched.
	for _, id := range ids {
		m, _ := e.sim.Machine(id)
		a, b := m.Attributes.Permissions.AsMap(), before[id].AsMap()
		for k := range a {
			if _, ok := chosen[k]; !ok && a[k] != b[k] {
				t.Fatalf("machine %s: %s changed", id, k)
			}
		}
	}
	rows := auditRows(t, e.store, fleet.ActMachinePermissions)
	if len(rows) != 4 {
		t.Fatalf("machine.permissions rows = %d", len(rows))
	}
	if !strings.Contains(string(rows[1].Params), `"before"`) || !strings.Contains(string(rows[1].Params), `"after"`) {
		t.Fatalf("params = %s", rows[1].Params)
	}
}

func TestBulk_autoStop(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 4)
	ids := e.sim.MachineIDs()[:2]
	n := 3600
	if _, err := e.api.UpdateMachine(context.Background(), ids[1], &vagon.UpdateMachineRequest{AutoStopThreshold: &n}); err != nil {
		t.Fatal(err)
	}
	zero := 0
	if _, err := e.api.UpdateMachine(context.Background(), ids[0], &vagon.UpdateMachineRequest{AutoStopThreshold: &zero}); err != nil {
		t.Fatal(err)
	}
	b, _ := e.runner(t, e.store, 4)
	id, err := b.Submit(context.Background(), e.actor, fleet.BulkAutoStop, ids, fleet.BulkParams{AutoStopThreshold: &n})
	if err != nil {
		t.Fatal(err)
	}
	st := waitBulk(t, b, id, finished)
	if itemByID(st, ids[0]).State != db.ItemDone || itemByID(st, ids[1]).Message != "Auto-stop already 1 h." {
		t.Fatalf("items %+v", st.Items)
	}
	if m, _ := e.sim.Machine(ids[0]); m.Attributes.AutoStopThreshold != 3600 {
		t.Fatalf("auto stop = %d", m.Attributes.AutoStopThreshold)
	}
}

func TestBulk_Submit_validation(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 1)
	b, _ := e.queued(t, e.store, 4)
	ctx := context.Background()
	bad := []struct {
		name   string
		action string
		ids    []string
		p      fleet.BulkParams
	}{
		{"unknown action", "reset", []string{"1"}, fleet.BulkParams{}},
		{"no machines", fleet.BulkStart, nil, fleet.BulkParams{}},
		{"bad id", fleet.BulkStart, []string{"1", "x"}, fleet.BulkParams{}},
		{"leading zero", fleet.BulkStart, []string{"01"}, fleet.BulkParams{}},
		{"no permission", fleet.BulkPermissions, []string{"1"}, fleet.BulkParams{}},
		{"unknown permission", fleet.BulkPermissions, []string{"1"}, fleet.BulkParams{Permissions: map[string]bool{"root": true}}},
		{"bad threshold", fleet.BulkAutoStop, []string{"1"}, fleet.BulkParams{AutoStopThreshold: new(int(5))}},
		{"too many", fleet.BulkStart, manyIDs(fleet.MaxBulkMachines + 1), fleet.BulkParams{}},
	}
	for _, c := range bad {
		if _, err := b.Submit(ctx, e.actor, c.action, c.ids, c.p); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if n := countRows(t, e.store, "bulk_operations"); n != 0 {
		t.Fatalf("invalid submissions stored: %d", n)
	}
	if n := countRows(t, e.store, "river_job"); n != 0 {
		t.Fatalf("invalid submissions enqueued: %d", n)
	}
	if e.sim.Total() != 0 {
		t.Fatalf("validation reached the API: %v", e.sim.Counts())
	}
}

func manyIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i + 1)
	}
	return out
}

func TestSkipReason(t *testing.T) {
	t.Parallel()
	mk := func(st vagon.Status) vagon.Machine {
		var m vagon.Machine
		m.Attributes.FriendlyStatus = st
		m.Attributes.AutoStopThreshold = 900
		m.Attributes.Permissions = vagon.DefaultPermissions()
		return m
	}
	th := 900
	cases := []struct {
		action string
		p      fleet.BulkParams
		st     vagon.Status
		skip   bool
	}{
		{fleet.BulkStart, fleet.BulkParams{}, vagon.StatusOff, false},
		{fleet.BulkStart, fleet.BulkParams{}, vagon.StatusReady, true},
		{fleet.BulkStart, fleet.BulkParams{}, vagon.StatusTurningOn, true},
		{fleet.BulkStop, fleet.BulkParams{}, vagon.StatusReady, false},
		{fleet.BulkStop, fleet.BulkParams{}, vagon.StatusOff, true},
		{fleet.BulkStop, fleet.BulkParams{}, vagon.StatusGracefulStopping, true},
		{fleet.BulkStop, fleet.BulkParams{}, vagon.StatusTurningOff, true},
		{fleet.BulkStop, fleet.BulkParams{}, vagon.StatusInstalling, true},
		{fleet.BulkPermissions, fleet.BulkParams{Permissions: map[string]bool{vagon.PermClipboard: true}}, vagon.StatusOff, true},
		{fleet.BulkPermissions, fleet.BulkParams{Permissions: map[string]bool{vagon.PermClipboard: false}}, vagon.StatusOff, false},
		{fleet.BulkAutoStop, fleet.BulkParams{AutoStopThreshold: &th}, vagon.StatusOff, true},
	}
	for _, c := range cases {
		if got := fleet.SkipReason(c.action, c.p, mk(c.st)) != ""; got != c.skip {
			t.Errorf("%s on %s: skip=%v, want %v", c.action, c.st, got, c.skip)
		}
	}
}

func TestBulk_resume_recheckRetryInterrupt(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 6)
	ids := e.machines(t, 4, vagon.StatusReady)
	ctx := context.Background()
	// Submitted by a process that died before its runner got far.
	dead, _ := e.queued(t, e.store, 4)
	id, err := dead.Submit(ctx, e.actor, fleet.BulkStop, ids, fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.store.StartBulkOp(ctx, id) // the dead process's slice
	if err != nil {
		t.Fatal(err)
	}
	begin := func(mid string, times int) {
		for n := range times {
			state := db.ItemPending
			if n > 0 {
				state = db.ItemRunning
			}
			if _, err := e.store.BeginBulkItem(ctx, id, mid, r, state, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	begin(ids[0], 1) // in flight once, call lost: retried
	begin(ids[1], 1) // in flight once, call went through
	if err := e.sim.SetStatus(ids[1], vagon.StatusTurningOff); err != nil {
		t.Fatal(err)
	}
	begin(ids[2], 2) // the retry was interrupted too: not tried a third time
	// ids[3] still pending: run normally.

	b, _ := e.runner(t, e.open(t), 4)
	st := waitBulk(t, b, id, finished)
	want := map[string]string{ids[0]: db.ItemDone, ids[1]: db.ItemDone, ids[2]: db.ItemInterrupted, ids[3]: db.ItemDone}
	for mid, state := range want {
		if it := itemByID(st, mid); it.State != state {
			t.Fatalf("machine %s: %s (%s), want %s", mid, it.State, it.Message, state)
		}
	}
	if st.Op.Status != db.BulkFailed {
		t.Fatalf("op status %s, want failed (one interrupted)", st.Op.Status)
	}
	if n := e.sim.AuthCount("POST /machines/{id}/stop"); n != 2 {
		t.Fatalf("stop calls = %d, want 2 (the retry and the pending one)", n)
	}
	if m, _ := e.sim.Machine(ids[2]); m.Attributes.FriendlyStatus != vagon.StatusReady {
		t.Fatalf("interrupted machine was touched: %s", m.Attributes.FriendlyStatus)
	}
}

// countRows counts a table's rows (a test's look at what was stored).
func countRows(t *testing.T, s *db.Store, table string) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBulk_stopDuringSlice: a normal shutdown (Jobs.Stop) while calls are
// in flight begins no new machine, lets those calls finish and leaves no
// item running; another process then does the rest, one call per machine.
func TestBulk_stopDuringSlice(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 10)
	ids := e.machines(t, 8, vagon.StatusReady)
	e.sim.SetLatency(400*time.Millisecond, 400*time.Millisecond)
	b1, q := e.queued(t, e.open(t), 2)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	id, err := b1.Submit(context.Background(), e.actor, fleet.BulkStop, ids, fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	waitBulk(t, b1, id, func(st *fleet.BulkStatus) bool { return st.Counts.Running > 0 })
	q.Stop(30 * time.Second)
	st, err := b1.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts.Running != 0 || st.Counts.Pending == 0 || st.Op.Finished() {
		t.Fatalf("after Stop: status %s counts %+v; want no item running and some pending", st.Op.Status, st.Counts)
	}
	calls := e.sim.AuthCount("POST /machines/{id}/stop")
	if calls != st.Counts.Done {
		t.Fatalf("%d stop calls for %d done items: a call was cut off", calls, st.Counts.Done)
	}
	for _, ev := range auditRows(t, e.store, fleet.ActMachineStop) {
		if ev.Outcome == db.OutcomeUnknown {
			t.Fatalf("a call ended unknown: %+v", ev)
		}
	}
	e.sim.SetLatency(10*time.Millisecond, 10*time.Millisecond)
	b2, _ := e.runner(t, e.open(t), 4)
	st = waitBulk(t, b2, id, finished)
	if st.Op.Status != db.BulkSucceeded || st.Counts.Done != 8 {
		t.Fatalf("after the restart: status %s counts %+v", st.Op.Status, st.Counts)
	}
	if n := e.sim.AuthCount("POST /machines/{id}/stop"); n != 8 {
		t.Fatalf("stop calls = %d, want 8 (one per machine)", n)
	}
}

func TestReachedBy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		action      string
		st          vagon.Status
		reached, no bool
	}{
		{fleet.BulkStart, vagon.StatusOff, false, true},
		{fleet.BulkStart, vagon.StatusCreating, true, false},
		{fleet.BulkStart, vagon.StatusTurningOn, true, false},
		{fleet.BulkStart, vagon.StatusWarmingUp, true, false},
		{fleet.ActMachineStart, vagon.StatusReady, true, false},
		{fleet.BulkStart, vagon.StatusTurningOff, false, false},
		{fleet.BulkStart, vagon.StatusResizingDisk, false, false},
		{fleet.BulkStop, vagon.StatusReady, false, true},
		{fleet.BulkStop, vagon.StatusTurningOff, true, false},
		{fleet.ActMachineStop, vagon.StatusGracefulStopping, true, false},
		{fleet.BulkStop, vagon.StatusOff, true, false},
		{fleet.BulkStop, vagon.StatusTurningOn, false, false},
		{fleet.BulkStop, vagon.Status("mystery"), false, false},
		{fleet.BulkPermissions, vagon.StatusOff, false, false},
		{fleet.ActMachineReset, vagon.StatusOff, false, false},
	}
	for _, c := range cases {
		if got := fleet.ReachedBy(c.action, c.st); got != c.reached {
			t.Errorf("ReachedBy(%s, %s) = %v, want %v", c.action, c.st, got, c.reached)
		}
		if got := fleet.NotReachedBy(c.action, c.st); got != c.no {
			t.Errorf("NotReachedBy(%s, %s) = %v, want %v", c.action, c.st, got, c.no)
		}
	}
	// The skip rules agree: start/stop skips a machine exactly when it
	// already shows the action (stop also refuses a machine not running).
	for _, st := range vagon.KnownStatuses {
		m := vagon.Machine{}
		m.Attributes.FriendlyStatus = st
		if (fleet.StartSkipReason(&m) != "") != fleet.ReachedBy(fleet.BulkStart, st) {
			t.Errorf("start on %s: skip rule and ReachedBy disagree", st)
		}
		if r, refused := fleet.StopSkipReason(&m); (r != "" && !refused) != fleet.ReachedBy(fleet.BulkStop, st) {
			t.Errorf("stop on %s: skip rule and ReachedBy disagree", st)
		}
	}
}
