package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Defaults of ActivityOptions.
const (
	// DefaultActivityOverlap is how far before the newest stored entry a
	// run starts reading again: entries can reach the log late, and a
	// re-read entry adds nothing (its key is stored).
	DefaultActivityOverlap = 10 * time.Minute
	// DefaultActivityMinSplit is the narrowest window split to get under the
	// 1000-entry cap.
	DefaultActivityMinSplit = time.Second
)

// ActivityOptions configure an ActivityImporter. Zero fields take the defaults.
type ActivityOptions struct {
	Overlap  time.Duration // DefaultActivityOverlap
	MinSplit time.Duration // DefaultActivityMinSplit
	Log      *slog.Logger
	Now      func() time.Time
	// OnResult, when set, is called after every run with its result and
	// error: a hook for metrics.
	OnResult func(ActivityResult, error)
}

// ActivityResult is what one import run did.
type ActivityResult struct {
	From, To   time.Time // the range read
	StartedAt  time.Time
	FinishedAt time.Time
	Calls      int   // GET /user-action-logs calls
	Fetched    int   // entries read, overlaps counted
	New        int64 // entries stored that were not there
	// Truncated counts one-second windows still holding 1000 entries:
	// entries there may be missing.
	Truncated int
}

// Duration is how long the run took.
func (r ActivityResult) Duration() time.Duration { return r.FinishedAt.Sub(r.StartedAt) }

// ActivityImporter copies Vagon's activity log (GET /user-action-logs) into
// Postgres (vagon_activity). Each run reads from the newest stored entry
// minus the overlap (the last 30 days on the first run, all the API keeps)
// up to now, splitting windows whose replies hit the 1000-entry cap. Runs
// are idempotent: an entry is stored once, by its key. The periodic job in
// internal/jobs runs it, one run at a time across replicas; `dashboard
// sync` runs it once.
type ActivityImporter struct {
	api   *vagon.Client
	store *db.Store
	o     ActivityOptions

	mu   sync.Mutex
	last *ActivityResult
}

// NewActivityImporter builds an ActivityImporter.
func NewActivityImporter(client *vagon.Client, store *db.Store, opts ActivityOptions) *ActivityImporter {
	if opts.Overlap <= 0 {
		opts.Overlap = DefaultActivityOverlap
	}
	if opts.MinSplit <= 0 {
		opts.MinSplit = DefaultActivityMinSplit
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &ActivityImporter{api: client, store: store, o: opts}
}

// LastResult returns the result of the last run, and false when none ran.
func (a *ActivityImporter) LastResult() (ActivityResult, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		return ActivityResult{}, false
	}
	return *a.last, true
}

// RunOnce imports the entries since the last run. Windows are stored
// oldest first as they are read, so a run that fails part way keeps what
// it stored and the next one goes on from there.
func (a *ActivityImporter) RunOnce(ctx context.Context) (ActivityResult, error) {
	r, err := a.run(ctx)
	r.FinishedAt = a.o.Now()
	a.mu.Lock()
	a.last = &r
	a.mu.Unlock()
	if err != nil {
		a.o.Log.Error("activity import failed", "from", r.From, "to", r.To, "calls", r.Calls, "new", r.New, "err", err.Error())
	} else {
		lvl := slog.LevelInfo
		if r.Truncated > 0 {
			lvl = slog.LevelWarn
		}
		a.o.Log.Log(ctx, lvl, "activity import", "from", r.From, "to", r.To, "calls", r.Calls, "fetched", r.Fetched,
			"new", r.New, "truncated_windows", r.Truncated, "duration", r.Duration())
	}
	if a.o.OnResult != nil {
		a.o.OnResult(r, err)
	}
	return r, err
}

func (a *ActivityImporter) run(ctx context.Context) (ActivityResult, error) {
	now := a.o.Now()
	r := ActivityResult{StartedAt: now, To: now}
	oldest := now.Add(-vagon.UserActionLogRetention)
	r.From = oldest
	latest, ok, err := a.store.LatestActivityAt(ctx)
	if err != nil {
		return r, fmt.Errorf("fleet: activity import: %w", err)
	}
	if ok && latest.Add(-a.o.Overlap).After(oldest) {
		r.From = latest.Add(-a.o.Overlap)
	}
	if !r.To.After(r.From) {
		return r, nil // a newest entry in the future: nothing to ask for
	}
	// Reading and storing overlap: the walk sends each window's entries on,
	// in order, while the previous window is being inserted.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	windows := make(chan []vagon.UserActionLog, 2)
	var st vagon.WalkStats
	var walkErr error
	go func() {
		defer close(windows)
		st, walkErr = a.api.WalkUserActionLogs(wctx, vagon.UserActionLogOptions{From: r.From, To: r.To}, a.o.MinSplit, func(logs []vagon.UserActionLog) error {
			select {
			case windows <- logs:
				return nil
			case <-wctx.Done():
				return wctx.Err()
			}
		})
	}()
	var storeErr error
	for logs := range windows {
		if storeErr != nil {
			continue // drain until the walk sees the cancel
		}
		n, err := a.store.InsertActivity(ctx, ActivityEntries(logs, now), a.o.Now())
		r.New += n
		if err != nil {
			storeErr = err
			cancel()
		}
	}
	r.Calls, r.Fetched, r.Truncated = st.Calls, st.Entries, st.Truncated
	if storeErr != nil {
		return r, fmt.Errorf("fleet: activity import: %w", storeErr)
	}
	if walkErr != nil {
		return r, fmt.Errorf("fleet: activity import: %w", walkErr)
	}
	return r, nil
}

// ActivityEntries maps API entries to stored rows: the key, the acting
// email, the machine, and the entry as it came as details. An entry
// without a time is stored at fallback (the run's start).
func ActivityEntries(logs []vagon.UserActionLog, fallback time.Time) []db.ActivityEntry {
	out := make([]db.ActivityEntry, len(logs))
	for i, l := range logs {
		e := db.ActivityEntry{ID: l.Key(), At: l.CreatedAt, ActorEmail: l.UserEmail, ActionType: l.ActionType,
			MachineName: l.MachineName, Details: l.Raw}
		if e.At.IsZero() {
			e.At = fallback
		}
		if l.MachineID != "" {
			id := string(l.MachineID)
			e.MachineID = &id
		}
		out[i] = e
	}
	return out
}
