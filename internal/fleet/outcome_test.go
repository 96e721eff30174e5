package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// TestAuditor_unknownStartSettledByState: the simulator does the start but
// its answer never reaches the client before the deadline; reading the
// machine afterwards shows it turning on, so the row is succeeded, "settled
// by reading state", and the start was sent once.
func TestAuditor_unknownStartSettledByState(t *testing.T) {
	t.Parallel()
	sim := vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: 3, Seed: 5})
	var swallow atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if swallow.Load() && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/start") {
			sim.ServeHTTP(httptest.NewRecorder(), r) // done at Vagon ...
			<-r.Context().Done()                     // ... but the answer is lost
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, "k", "s")
	if err != nil {
		t.Fatal(err)
	}
	store := dbtest.Store(t)
	svc := fleet.NewService(api, store, fleet.ServiceOptions{})
	ids := sim.MachineIDs()
	for _, id := range ids[:2] {
		_ = sim.SetStatus(id, vagon.StatusOff)
	}
	actor := fleet.Actor{Email: "op@example.com", Role: "operator"}
	swallow.Store(true)
	start := func(id string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		return svc.Auditor().Do(ctx, actor, fleet.ActMachineStart, id, nil, func(ctx context.Context, _ fleet.Params) error {
			return api.StartMachine(ctx, id)
		})
	}
	if err := start(ids[0]); err != nil {
		t.Fatalf("settled start: %v", err)
	}
	rows := auditRows(t, store, fleet.ActMachineStart)
	if len(rows) != 2 || rows[1].Outcome != db.OutcomeSucceeded || !strings.HasPrefix(rows[1].Message, "settled by reading state: the machine is turning_on") {
		t.Fatalf("rows %+v", rows)
	}
	if n := sim.AuthCount("POST /machines/{id}/start"); n != 1 {
		t.Fatalf("start sent %d times", n)
	}
	// A 504 from a gateway that did not pass the call on: the machine is
	// still off, so the outcome stays unknown.
	swallow.Store(false)
	sim.Enqueue("POST /machines/{id}/start", 1, vagonsim.GatewayError(504, true))
	err = start(ids[1])
	var unknown *fleet.UnknownOutcomeError
	if !errors.As(err, &unknown) || unknown.Action != fleet.ActMachineStart {
		t.Fatalf("504 start: %v, want an UnknownOutcomeError", err)
	}
	rows = auditRows(t, store, fleet.ActMachineStart)
	last := rows[len(rows)-1]
	if last.Outcome != db.OutcomeUnknown || !strings.Contains(last.Message, "HTTP 504") || !strings.Contains(last.Message, "still off") {
		t.Fatalf("last row %s %q", last.Outcome, last.Message)
	}
}

// TestBulk_unknownOutcomeNotRetried: a bulk start answered 504 is neither
// failed nor sent again: the item is interrupted with what to check, the
// row unknown.
func TestBulk_unknownOutcomeNotRetried(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 4)
	ids := e.machines(t, 2, vagon.StatusOff)
	e.sim.Enqueue("POST /machines/{id}/start", 1, vagonsim.GatewayError(504, false))
	b, _ := e.runner(t, e.store, 1)
	id, err := b.Submit(context.Background(), e.actor, fleet.BulkStart, ids, fleet.BulkParams{})
	if err != nil {
		t.Fatal(err)
	}
	st := waitBulk(t, b, id, finished)
	if st.Counts.Interrupted != 1 || st.Counts.Done != 1 {
		t.Fatalf("counts %+v", st.Counts)
	}
	if n := e.sim.Count("POST /machines/{id}/start"); n != 2 {
		t.Fatalf("start sent %d times for 2 machines, want 2 (no retry)", n)
	}
	var got *db.BulkItem
	for i := range st.Items {
		if st.Items[i].State == db.ItemInterrupted {
			got = &st.Items[i]
		}
	}
	if got == nil || got.Message != fleet.UnknownOutcomeHint {
		t.Fatalf("interrupted item %+v", got)
	}
	rows := auditRows(t, e.store, fleet.ActMachineStart)
	var unknown int
	for _, r := range rows {
		if r.Outcome == db.OutcomeUnknown {
			unknown++
			if r.MachineID != got.MachineID {
				t.Errorf("unknown row for %s, want %s", r.MachineID, got.MachineID)
			}
		}
	}
	if unknown != 1 {
		t.Fatalf("%d unknown rows", unknown)
	}
}

// TestAuditor_outcomeRowSpooledAndWrittenLater: the start is done but its
// outcome row is refused: Do says so (not as a Vagon failure), logs at
// ERROR, keeps the row in the spool file, and a later process writes it.
func TestAuditor_outcomeRowSpooledAndWrittenLater(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 2)
	ids := e.machines(t, 1, vagon.StatusOff)
	file := filepath.Join(t.TempDir(), "spool", "audit.jsonl")
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	spool, err := fleet.NewSpool(e.store, file, log)
	if err != nil {
		t.Fatal(err)
	}
	a := fleet.NewAuditorWith(e.store, fleet.AuditorOptions{Log: log, Spool: spool})
	dbtest.RejectOutcomesOnce(t, e.dbURL)
	before := time.Now()
	err = a.Do(context.Background(), e.actor, fleet.ActMachineStart, ids[0], nil, func(ctx context.Context, _ fleet.Params) error {
		return e.api.StartMachine(ctx, ids[0])
	})
	var nr *fleet.OutcomeNotRecordedError
	if !errors.As(err, &nr) || nr.CallErr != nil || nr.Outcome != db.OutcomeSucceeded || errors.Is(err, fleet.ErrAuditUnavailable) {
		t.Fatalf("Do = %v, want an OutcomeNotRecordedError of a succeeded call", err)
	}
	if m, _ := e.sim.Machine(ids[0]); m.Attributes.FriendlyStatus != vagon.StatusTurningOn {
		t.Fatalf("machine is %s: the start was not done", m.Attributes.FriendlyStatus)
	}
	if !strings.Contains(logBuf.String(), "level=ERROR") || !strings.Contains(logBuf.String(), "outcome row could not be written") {
		t.Errorf("log: %s", logBuf.String())
	}
	if rows := auditRows(t, e.store, fleet.ActMachineStart); len(rows) != 1 || spool.Len() != 1 {
		t.Fatalf("%d rows, %d spooled; want only started, and one waiting", len(rows), spool.Len())
	}
	if b, _ := os.ReadFile(file); strings.Count(string(b), "\n") != 1 {
		t.Fatalf("spool file %q", b)
	}
	// The process dies; the next one loads the spool and writes it.
	again, err := fleet.NewSpool(e.store, file, log)
	if err != nil || again.Len() != 1 {
		t.Fatalf("reloaded spool: %d, %v", again.Len(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); again.Run(ctx, 20*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for again.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	rows := auditRows(t, e.store, fleet.ActMachineStart)
	if len(rows) != 2 || rows[1].Outcome != db.OutcomeSucceeded || rows[1].MachineID != ids[0] || rows[1].ActorEmail != e.actor.Email {
		t.Fatalf("rows after the retry: %+v\n%s", rows, logBuf.String())
	}
	if rows[1].At.Before(before.Add(-time.Second)) || rows[1].At.After(time.Now()) {
		t.Errorf("late row at %s, want the time of the outcome", rows[1].At)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool file still there: %v", err)
	}
	if v, err := e.store.VerifyAuditChain(context.Background()); err != nil || v.BadID != 0 {
		t.Fatalf("chain: %+v %v", v, err)
	}
}
