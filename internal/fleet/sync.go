package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Defaults of SyncOptions.
const (
	DefaultSyncConcurrency = 8
	DefaultSyncPerPage     = 100 // the API's largest page
	DefaultSyncRetention   = 90 * 24 * time.Hour
)

// SyncOptions configure a Syncer. Zero fields take the defaults.
type SyncOptions struct {
	// Concurrency is how many machines' sessions are fetched at once
	// (DefaultSyncConcurrency).
	Concurrency int
	// PerPage is the machine list page size (DefaultSyncPerPage).
	PerPage int
	// Retention is how long pass records and machine snapshots are kept;
	// older ones are deleted after a successful pass. Sessions are kept for
	// ever. DefaultSyncRetention when zero; negative keeps everything.
	Retention time.Duration
	Log       *slog.Logger
	Now       func() time.Time
	// OnResult, when set, is called after every pass RunOnce makes, with
	// its result and error: a hook for metrics.
	OnResult func(SyncResult, error)
}

// SyncResult is what one pass did.
type SyncResult struct {
	PassID          int64
	StartedAt       time.Time
	FinishedAt      time.Time
	Status          string // db.PassSucceeded or db.PassFailed
	Machines        int    // machines listed
	MachinesDone    int    // machines whose sessions were stored
	MachinesFailed  int
	Failed          []db.FailedMachine // every failed machine, with a short error
	SessionsNew     int64
	SessionsUpdated int64
	Error           string // why the pass failed; empty when it succeeded
}

// Duration is how long the pass took.
func (r SyncResult) Duration() time.Duration { return r.FinishedAt.Sub(r.StartedAt) }

// Syncer copies every machine's sessions from the Vagon API into Postgres,
// with a snapshot of each machine. The periodic job in internal/jobs runs
// its passes, one at a time across replicas (a unique River job); a pass
// run by hand (`dashboard sync`) is not held back by one in progress, which
// is harmless: sessions are upserted by id.
type Syncer struct {
	api   *vagon.Client
	store *db.Store
	o     SyncOptions

	mu   sync.Mutex
	last *SyncResult
}

// NewSyncer builds a Syncer.
func NewSyncer(client *vagon.Client, store *db.Store, opts SyncOptions) *Syncer {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultSyncConcurrency
	}
	if opts.PerPage <= 0 {
		opts.PerPage = DefaultSyncPerPage
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultSyncRetention
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Syncer{api: client, store: store, o: opts}
}

// LastResult returns the result of the last pass this Syncer made, and
// false when it has made none.
func (s *Syncer) LastResult() (SyncResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return SyncResult{}, false
	}
	return *s.last, true
}

// passState gathers the outcome of the machines of one pass.
type passState struct {
	mu     sync.Mutex
	done   int
	failed []db.FailedMachine
	counts db.UpsertCounts
}

func (p *passState) fail(id string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = append(p.failed, db.FailedMachine{ID: id, Error: shortError(err)})
}

func (p *passState) ok(c db.UpsertCounts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.counts.New += c.New
	p.counts.Updated += c.Updated
}

// RunOnce makes one sync pass: it records the pass, walks every page of machines,
// fetches each machine's sessions with bounded concurrency and upserts them
// by id, stores a snapshot of every machine, and closes the pass record. A
// machine whose sessions cannot be fetched or stored is counted and named
// in the result; it does not fail the pass. The pass fails, and RunOnce
// returns an error along with the result, when the machine list cannot be
// walked, the snapshots cannot be stored, every machine failed, or ctx ends.
func (s *Syncer) RunOnce(ctx context.Context) (SyncResult, error) {
	res := SyncResult{StartedAt: s.o.Now()}
	var err error
	res.PassID, err = s.store.BeginSyncPass(ctx, res.StartedAt)
	if err != nil {
		return res, fmt.Errorf("fleet: sync: %w", err)
	}

	var (
		st    passState
		snaps []db.Snapshot
		seen  = map[vagon.ID]bool{}
		g     errgroup.Group
		// apiSlots bounds the calls to the API; a worker gives its slot
		// back before writing to Postgres, so writes overlap the next
		// calls instead of holding them up.
		apiSlots = make(chan struct{}, s.o.Concurrency)
	)
	g.SetLimit(2 * s.o.Concurrency)

	// The list is read ahead by its own goroutine: the next page is on its
	// way while the machines of this one are still being fetched.
	listed := make(chan vagon.Machine, s.o.PerPage)
	var listErr error // written before listed is closed
	go func() {
		defer close(listed)
		for m, err := range s.api.Machines(ctx, &vagon.ListMachinesOptions{PerPage: s.o.PerPage}) {
			if err != nil {
				listErr = err
				return
			}
			select {
			case listed <- m:
			case <-ctx.Done():
				listErr = ctx.Err()
				return
			}
		}
	}()
	for m := range listed {
		// The list can shift while it is paged (machines created or
		// deleted): a machine may come twice.
		if m.ID == "" || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		snaps = append(snaps, snapshotOf(m, s.o.Now()))
		id := m.ID.String()
		g.Go(func() error {
			s.syncMachine(ctx, id, apiSlots, &st)
			return nil
		})
	}
	_ = g.Wait() // workers record their failures; they never return one

	// The record must be closed even when ctx was cancelled.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()

	var errs []error
	switch {
	case listErr != nil:
		errs = append(errs, fmt.Errorf("list machines: %w", listErr))
	case ctx.Err() != nil:
		errs = append(errs, ctx.Err())
	}
	if err := s.store.InsertSnapshots(fctx, res.PassID, snaps); err != nil {
		errs = append(errs, err)
	}
	res.Machines = len(snaps)
	res.MachinesDone, res.Failed = st.done, st.failed
	res.MachinesFailed = len(st.failed)
	res.SessionsNew, res.SessionsUpdated = st.counts.New, st.counts.Updated
	if res.Machines > 0 && res.MachinesDone == 0 && len(st.failed) > 0 {
		errs = append(errs, fmt.Errorf("every machine failed, first: %s: %s", st.failed[0].ID, st.failed[0].Error))
	}

	res.Status = db.PassSucceeded
	if len(errs) > 0 {
		res.Status = db.PassFailed
		res.Error = errors.Join(errs...).Error()
	} else {
		// Only a complete listing tells which machines are gone.
		if _, err := s.store.MarkMachinesGone(fctx, res.PassID, res.StartedAt); err != nil {
			s.o.Log.Warn("sessions sync: mark deleted machines", "err", err)
		}
		if s.o.Retention > 0 {
			if _, err := s.store.PruneSyncHistory(fctx, res.StartedAt.Add(-s.o.Retention)); err != nil {
				s.o.Log.Warn("sessions sync: prune history", "err", err)
			}
		}
	}
	res.FinishedAt = s.o.Now()
	if err := s.store.FinishSyncPass(fctx, db.SyncPass{
		ID: res.PassID, FinishedAt: &res.FinishedAt, Status: res.Status,
		MachinesDone: res.MachinesDone, MachinesFailed: res.MachinesFailed, FailedMachines: res.Failed,
		SessionsNew: res.SessionsNew, SessionsUpdated: res.SessionsUpdated, Error: res.Error,
	}); err != nil {
		errs = append(errs, err)
		res.Status = db.PassFailed
		if res.Error == "" {
			res.Error = err.Error()
		}
	}

	if ctx.Err() == nil {
		s.snapshotOrgUsage(fctx) // logged, never fatal (orgusage.go)
	}

	var runErr error
	if len(errs) > 0 {
		runErr = fmt.Errorf("fleet: sync pass %d: %w", res.PassID, errors.Join(errs...))
	}
	s.report(res, runErr)
	return res, runErr
}

// syncMachine fetches and stores one machine's sessions.
func (s *Syncer) syncMachine(ctx context.Context, id string, apiSlots chan struct{}, st *passState) {
	select {
	case apiSlots <- struct{}{}:
	case <-ctx.Done():
		st.fail(id, ctx.Err())
		return
	}
	sessions, err := s.api.ListSessions(ctx, id)
	<-apiSlots
	if err != nil {
		st.fail(id, err)
		return
	}
	rows := make([]db.Session, 0, len(sessions))
	for _, x := range sessions {
		if x.ID == "" {
			continue
		}
		rows = append(rows, db.Session{
			ID: x.ID.String(), MachineID: id,
			StartAt: x.Attributes.StartAt, EndAt: x.Attributes.EndAt,
			DurationMinutes: max(0, x.Attributes.Duration),
		})
	}
	c, err := s.store.UpsertSessions(ctx, rows, s.o.Now())
	if err != nil {
		st.fail(id, err)
		return
	}
	st.ok(c)
}

// snapshotOf is the part of a listed machine the reports keep.
func snapshotOf(m vagon.Machine, at time.Time) db.Snapshot {
	a := m.Attributes
	snap := db.Snapshot{
		MachineID: m.ID.String(), Name: a.Name, Region: a.Region, MachineType: a.MachineType,
		Status: string(a.FriendlyStatus), UsageSource: a.UsageSource,
		RemainingUsageMinutes: a.RemainingUsage, TakenAt: at,
	}
	if a.User != nil {
		snap.UserEmail = strings.TrimSpace(a.User.Attributes.Email)
		snap.UserName = strings.TrimSpace(a.User.Attributes.Name)
	}
	return snap
}

// shortError is an error's text cut to what a pass record keeps.
func shortError(err error) string {
	msg := err.Error()
	if len(msg) <= db.MaxFailedError {
		return msg
	}
	n := db.MaxFailedError - len("...")
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n] + "..."
}

// report remembers, logs and publishes a pass's result.
func (s *Syncer) report(res SyncResult, err error) {
	s.mu.Lock()
	s.last = &res
	s.mu.Unlock()
	attrs := []any{"pass", res.PassID, "machines", res.Machines, "failed", res.MachinesFailed,
		"sessions_new", res.SessionsNew, "sessions_updated", res.SessionsUpdated,
		"duration", res.Duration().Round(time.Millisecond)}
	if res.MachinesFailed > 0 {
		ids := make([]string, 0, 5)
		for _, f := range res.Failed[:min(5, len(res.Failed))] {
			ids = append(ids, f.ID)
		}
		attrs = append(attrs, "failed_ids", strings.Join(ids, ","), "first_error", res.Failed[0].Error)
	}
	if err != nil {
		s.o.Log.Error("sessions sync failed", append(attrs, "err", err)...)
	} else {
		s.o.Log.Info("sessions sync finished", attrs...)
	}
	if s.o.OnResult != nil {
		s.o.OnResult(res, err)
	}
}
