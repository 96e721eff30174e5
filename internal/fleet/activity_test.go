package fleet_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

// activityEnv is a simulator with seeded activity behind a real HTTP
// server, the real client and a fresh database.
type activityEnv struct {
	clk   *vagonsim.ManualClock
	sim   *vagonsim.Sim
	api   *vagon.Client
	store *db.Store
}

func newActivityEnv(t testing.TB, opts vagonsim.Options, wrap ...func(http.Handler) http.Handler) *activityEnv {
	t.Helper()
	e := &activityEnv{clk: vagonsim.NewManualClock(syncStart)}
	opts.Key, opts.Secret, opts.Clock = simKey, simSecret, e.clk.Now
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	e.sim = vagonsim.New(opts)
	var h http.Handler = e.sim
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	api, err := vagon.New(srv.URL+vagonsim.BasePath, simKey, simSecret, vagon.WithClock(e.clk.Now), vagon.WithRetry(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	e.store = dbtest.Store(t)
	return e
}

func (e *activityEnv) importer(o fleet.ActivityOptions) *fleet.ActivityImporter {
	if o.Now == nil {
		o.Now = e.clk.Now
	}
	o.Log = slog.New(slog.DiscardHandler)
	return fleet.NewActivityImporter(e.api, e.store, o)
}

func (e *activityEnv) count(t testing.TB) int64 {
	t.Helper()
	n, err := e.store.CountActivity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestActivityImporter_splitsAndDedups(t *testing.T) {
	ctx := context.Background()
	// 2500 entries in the last day: every reply of a wide window is full.
	e := newActivityEnv(t, vagonsim.Options{Machines: 12, ActivityLogs: 2500, ActivityWindow: 24 * time.Hour})
	imp := e.importer(fleet.ActivityOptions{})
	r, err := imp.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.New != 2500 || e.count(t) != 2500 || r.Calls < 3 || r.Truncated != 0 {
		t.Fatalf("first run: %+v, %d rows; want all 2500 through split windows", r, e.count(t))
	}
	if !r.From.Equal(syncStart.Add(-vagon.UserActionLogRetention)) {
		t.Errorf("first run from %v, want 30 days back", r.From)
	}
	oldest, newest := e.sim.ActivityRange()
	latest, _, _ := e.store.LatestActivityAt(ctx)
	if !latest.Equal(newest) {
		t.Errorf("latest stored %v, sim's newest %v (oldest %v)", latest, newest, oldest)
	}

	// Again at once: only the overlap is read, nothing is added.
	r, err = imp.RunOnce(ctx)
	if err != nil || r.New != 0 || r.Fetched == 0 || !r.From.Equal(newest.Add(-fleet.DefaultActivityOverlap)) {
		t.Fatalf("second run: %+v, %v", r, err)
	}

	// What the API's calls do shows up in the next run, once.
	for _, id := range e.sim.MachineIDs() {
		if m, _ := e.sim.Machine(id); m.Attributes.FriendlyStatus == vagon.StatusOff {
			if err := e.api.StartMachine(ctx, id); err == nil {
				break
			}
		}
	}
	e.clk.Advance(time.Minute)
	if _, err := e.api.CreateMachines(ctx, &vagon.CreateMachinesRequest{PlanID: 1, Quantity: 2, Region: "frankfurt"}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	r, err = imp.RunOnce(ctx)
	if err != nil || r.New != 3 {
		t.Fatalf("after a start and two creates: %+v, %v; want 3 new", r, err)
	}
	got, err := e.store.ListActivity(ctx, db.ActivityFilter{ActorEmail: vagonsim.APIUserEmail})
	if err != nil || len(got) != 3 || got[0].ActionType != vagon.ActionMachineCreated || got[2].ActionType != vagon.ActionMachineStarted ||
		got[0].MachineID == nil || got[0].MachineName == "" {
		t.Fatalf("API activity %+v, %v", got, err)
	}

	// A wide overlap re-reads everything and adds nothing.
	wide := e.importer(fleet.ActivityOptions{Overlap: 40 * 24 * time.Hour})
	r, err = wide.RunOnce(ctx)
	if err != nil || r.New != 0 || r.Fetched < 2503 || e.count(t) != 2503 {
		t.Fatalf("wide re-import: %+v, %v, %d rows", r, err, e.count(t))
	}
}

func TestActivityImporter_bothShapes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		shape vagonsim.LogShape
		attrs bool
	}{
		{"flat", vagonsim.LogShapeFlat, false},
		{"jsonapi", vagonsim.LogShapeJSONAPI, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newActivityEnv(t, vagonsim.Options{Machines: 10, ActivityLogs: 600, LogShape: tc.shape})
			if _, err := e.importer(fleet.ActivityOptions{}).RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			rows, err := e.store.ListActivity(ctx, db.ActivityFilter{})
			if err != nil || len(rows) != 600 {
				t.Fatalf("%d rows, %v", len(rows), err)
			}
			machines := 0
			for _, row := range rows {
				if !strings.HasPrefix(row.ID, "id:") || row.ActorEmail == "" || row.ActionType == "" {
					t.Fatalf("row %+v", row)
				}
				if strings.Contains(string(row.Details), `"attributes"`) != tc.attrs {
					t.Fatalf("details %s: not what came", row.Details)
				}
				if row.MachineID != nil {
					machines++
					if row.MachineName == "" {
						t.Fatalf("machine row without name: %+v", row)
					}
				}
			}
			if machines == 0 {
				t.Fatal("no machine ids read (machine_id / organization_machine_id)")
			}
			// The other shape, re-read in full: the same keys, nothing new.
			e.sim.SetLogShape(map[bool]vagonsim.LogShape{true: vagonsim.LogShapeFlat, false: vagonsim.LogShapeJSONAPI}[tc.attrs])
			r, err := e.importer(fleet.ActivityOptions{Overlap: 40 * 24 * time.Hour}).RunOnce(ctx)
			if err != nil || r.New != 0 || r.Fetched != 600 {
				t.Fatalf("re-read in the other shape: %+v, %v", r, err)
			}
		})
	}
}

func TestActivityImporter_firstRunReadsThirtyDays(t *testing.T) {
	ctx := context.Background()
	e := newActivityEnv(t, vagonsim.Options{Machines: 5, ActivityLogs: 900, ActivityWindow: 60 * 24 * time.Hour})
	r, err := e.importer(fleet.ActivityOptions{}).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := e.store.ListActivity(ctx, db.ActivityFilter{})
	cut := syncStart.Add(-vagon.UserActionLogRetention)
	if len(rows) == 0 || len(rows) >= 900 || int64(len(rows)) != r.New {
		t.Fatalf("%d rows of 900 seeded over 60 days (%+v)", len(rows), r)
	}
	if rows[len(rows)-1].At.Before(cut) {
		t.Errorf("oldest row %v is older than 30 days", rows[len(rows)-1].At)
	}
}

func TestActivityImporter_apiErrorKeepsWhatWasStored(t *testing.T) {
	ctx := context.Background()
	var failed atomic.Bool
	e := newActivityEnv(t, vagonsim.Options{Machines: 5, ActivityLogs: 3000, ActivityWindow: 24 * time.Hour}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Windows are read oldest first: fail the first one in the
			// second half of the seeded day, once.
			from, _ := vagon.ParseAPITime(r.URL.Query().Get("start_date"))
			if strings.HasSuffix(r.URL.Path, "/user-action-logs") && from.After(syncStart.Add(-12*time.Hour)) && failed.CompareAndSwap(false, true) {
				http.Error(w, `{"client_code":500,"message":"boom"}`, http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	imp := e.importer(fleet.ActivityOptions{})
	r, err := imp.RunOnce(ctx)
	if err == nil || r.New == 0 || r.New >= 3000 || e.count(t) != r.New {
		t.Fatalf("failing run: %+v, %v, %d rows: want part stored and the error", r, err, e.count(t))
	}
	if _, ok := imp.LastResult(); !ok {
		t.Error("no last result")
	}
	r, err = imp.RunOnce(ctx)
	if err != nil || e.count(t) != 3000 {
		t.Fatalf("next run: %+v, %v, %d rows", r, err, e.count(t))
	}
}
