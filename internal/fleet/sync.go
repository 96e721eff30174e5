package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Defaults of SyncOptions.
const (
	DefaultSyncConcurrency   = 8
	DefaultSyncPerPage       = 100 // the API's largest page
	DefaultSyncRetention     = 90 * 24 * time.Hour
	DefaultSyncBatchMachines = 200
	DefaultSyncBatchSessions = 5000
	DefaultSyncFlushInterval = 5 * time.Second
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
	// BatchMachines and BatchSessions bound one write: the pass stores the
	// machines (snapshots and sessions) it has fetched once it holds
	// BatchMachines machines or BatchSessions sessions, whichever comes
	// first, and records its progress. Defaults DefaultSyncBatchMachines
	// and DefaultSyncBatchSessions.
	BatchMachines int
	BatchSessions int
	// FlushInterval also stores a batch that has waited this long since the
	// last write (checked as machines come and on a ticker of half of it),
	// so that a slow API still shows progress (DefaultSyncFlushInterval;
	// negative: only by size).
	FlushInterval time.Duration
	Log           *slog.Logger
	Now           func() time.Time
	// OnResult, when set, is called after every pass RunOnce makes, with
	// its result and error: a hook for metrics.
	OnResult func(SyncResult, error)
	// OnFlush, when set, is called after each batch is written and the
	// pass's progress recorded, with that progress: a hook for tests and
	// metrics. It runs on the pass's writer; a slow hook slows the pass.
	OnFlush func(SyncFlush)
}

// SyncFlush is one batch a pass wrote, and the pass's progress after it.
type SyncFlush struct {
	Progress db.SyncProgress
	// Machines and Sessions are the batch's size.
	Machines int
	Sessions int
	// ProgressErr is why the progress could not be recorded (nil: it was).
	ProgressErr error
}

// SyncResult is what one pass did.
type SyncResult struct {
	PassID         int64
	StartedAt      time.Time
	FinishedAt     time.Time
	Status         string // db.PassSucceeded or db.PassFailed
	Machines       int    // machines listed
	MachinesDone   int    // machines whose sessions were stored
	MachinesFailed int
	// Failed are the first db.MaxFailedMachines failed machines, with a
	// short error each; MachinesFailed counts them all.
	Failed          []db.FailedMachine
	SessionsSeen    int64 // sessions read from the API
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
//
// A pass streams: the machine list is read page by page, Concurrency
// workers fetch the machines' sessions, and one writer stores them in
// batches. What it holds at once is bounded by the batch size and the
// sessions of about 3 × Concurrency machines, whatever the fleet's size.
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
	if opts.BatchMachines <= 0 {
		opts.BatchMachines = DefaultSyncBatchMachines
	}
	if opts.BatchSessions <= 0 {
		opts.BatchSessions = DefaultSyncBatchSessions
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = DefaultSyncFlushInterval
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

// fetched is one machine on its way from a fetch worker to the writer.
type fetched struct {
	snap     db.Snapshot
	sessions []db.Session
	err      error // the sessions could not be fetched
}

// passWriter gathers the fetched machines of a pass into batches and hands
// each full batch to its one writing goroutine, which stores it while the
// next batch fills: the fetches do not wait for the writes unless the
// writes are the slower. It holds at most two batches.
type passWriter struct {
	s      *Syncer
	passID int64

	full  chan batch // to the writing goroutine; unbuffered
	wrote chan struct{}

	// listed and listedAll are written by the dispatcher; the writing
	// goroutine reads them for the progress it records.
	listed    atomic.Int64
	listedAll atomic.Bool

	// The batch filling, for add and close only.
	batch     batch
	lastFlush time.Time

	// The outcome so far, for the writing goroutine only (until close).
	done     int
	failed   int
	failures []db.FailedMachine // the first db.MaxFailedMachines
	seen     int64
	counts   db.UpsertCounts
	snapErr  error // the first batch of snapshots that could not be stored
}

func (w *passWriter) fail(id string, err error) {
	w.failed++
	if len(w.failures) < db.MaxFailedMachines {
		w.failures = append(w.failures, db.FailedMachine{ID: id, Error: shortError(err)})
	}
}

// batch is the machines of one write, with their sessions counted.
type batch struct {
	machines []fetched
	sessions int
}

// newPassWriter starts the writing goroutine of a pass; close stops it.
func (s *Syncer) newPassWriter(ctx context.Context, passID int64) *passWriter {
	w := &passWriter{s: s, passID: passID, full: make(chan batch), wrote: make(chan struct{}), lastFlush: time.Now()}
	go func() {
		defer close(w.wrote)
		for b := range w.full {
			w.write(ctx, b)
		}
	}()
	return w
}

// add takes one fetched machine and hands the batch over when it is full.
func (w *passWriter) add(f fetched) {
	w.batch.machines = append(w.batch.machines, f)
	w.batch.sessions += len(f.sessions)
	if len(w.batch.machines) >= w.s.o.BatchMachines || w.batch.sessions >= w.s.o.BatchSessions {
		w.handOver()
		return
	}
	w.handOverStale()
}

// handOverStale hands the batch over when it has waited FlushInterval.
func (w *passWriter) handOverStale() {
	if len(w.batch.machines) > 0 && w.s.o.FlushInterval > 0 && time.Since(w.lastFlush) >= w.s.o.FlushInterval {
		w.handOver()
	}
}

func (w *passWriter) handOver() {
	if len(w.batch.machines) > 0 {
		w.full <- w.batch
	}
	w.batch, w.lastFlush = batch{machines: make([]fetched, 0, w.s.o.BatchMachines)}, time.Now()
}

// close writes the last batch and waits for every write to end.
func (w *passWriter) close() {
	w.handOver()
	close(w.full)
	<-w.wrote
}

// write stores a batch: the machines' snapshots, then their sessions in one
// upsert, and records the pass's progress. Once ctx has ended (the job's
// timeout), what was fetched is still stored, under a detached context with
// a timeout of its own.
func (w *passWriter) write(ctx context.Context, b batch) {
	fctx, cancel := detached(ctx)
	defer cancel()
	wctx := ctx
	if ctx.Err() != nil {
		wctx = fctx
	}
	snaps := make([]db.Snapshot, len(b.machines))
	for i, f := range b.machines {
		snaps[i] = f.snap
	}
	err := w.s.store.InsertSnapshots(wctx, w.passID, snaps)
	if err != nil && ctx.Err() != nil && wctx == ctx {
		err = w.s.store.InsertSnapshots(fctx, w.passID, snaps)
	}
	if err != nil && w.snapErr == nil {
		w.snapErr = err
	}

	rows := make([]db.Session, 0, b.sessions)
	for _, f := range b.machines {
		if f.err == nil {
			rows = append(rows, f.sessions...)
		}
	}
	now := w.s.o.Now()
	c, err := w.s.store.UpsertSessions(wctx, rows, now)
	if err != nil && ctx.Err() != nil && wctx == ctx {
		c, err = w.s.store.UpsertSessions(fctx, rows, now)
	}
	for _, f := range b.machines {
		switch {
		case f.err != nil:
			w.fail(f.snap.MachineID, f.err)
		case err != nil:
			// The batch failed as one statement: store its machines one by
			// one, so that only a machine whose sessions cannot be stored
			// fails. (A failed statement wrote nothing.)
			mc, merr := w.s.store.UpsertSessions(wctx, f.sessions, now)
			if merr != nil {
				w.fail(f.snap.MachineID, merr)
				continue
			}
			w.done++
			w.seen += int64(len(f.sessions))
			w.counts.New += mc.New
			w.counts.Updated += mc.Updated
		default:
			w.done++
			w.seen += int64(len(f.sessions))
		}
	}
	if err == nil {
		w.counts.New += c.New
		w.counts.Updated += c.Updated
	}

	p := w.progress()
	perr := w.s.store.UpdateSyncProgress(fctx, p)
	if perr != nil {
		w.s.o.Log.Warn("sessions sync: record progress", "pass", w.passID, "err", perr)
	}
	if w.s.o.OnFlush != nil {
		w.s.o.OnFlush(SyncFlush{Progress: p, Machines: len(b.machines), Sessions: len(rows), ProgressErr: perr})
	}
}

func (w *passWriter) progress() db.SyncProgress {
	return db.SyncProgress{
		PassID: w.passID, MachinesListed: int(w.listed.Load()), ListedAll: w.listedAll.Load(),
		MachinesDone: w.done, MachinesFailed: w.failed, FailedMachines: w.failures,
		SessionsSeen: w.seen, SessionsNew: w.counts.New, SessionsUpdated: w.counts.Updated,
		At: w.s.o.Now(),
	}
}

// RunOnce makes one sync pass: it records the pass, walks every page of machines,
// fetches each machine's sessions with bounded concurrency and upserts them
// by id in batches, stores a snapshot of every machine, records the pass's
// progress after each batch, and closes the pass record. A machine whose
// sessions cannot be fetched or stored is counted and named in the result;
// it does not fail the pass. The pass fails, and RunOnce returns an error
// along with the result, when the machine list cannot be walked, the
// snapshots cannot be stored, every machine failed, or ctx ends.
func (s *Syncer) RunOnce(ctx context.Context) (SyncResult, error) {
	res := SyncResult{StartedAt: s.o.Now()}
	var err error
	res.PassID, err = s.store.BeginSyncPass(ctx, res.StartedAt)
	if err != nil {
		return res, fmt.Errorf("fleet: sync: %w", err)
	}
	w := s.newPassWriter(ctx, res.PassID)

	// The lister reads the list ahead: the next page is on its way while
	// the machines of this one are still being fetched.
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

	// The dispatcher drops machines listed twice (the list can shift while
	// it is paged: machines created or deleted) and hands the others to the
	// workers.
	work := make(chan db.Snapshot, s.o.Concurrency)
	go func() {
		defer close(work)
		seen := map[vagon.ID]bool{}
		for m := range listed {
			if m.ID == "" || seen[m.ID] {
				continue
			}
			seen[m.ID] = true
			w.listed.Add(1)
			work <- snapshotOf(m, s.o.Now())
		}
		w.listedAll.Store(listErr == nil)
	}()

	results := make(chan fetched, s.o.Concurrency)
	var wg sync.WaitGroup
	for range s.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for snap := range work {
				results <- s.fetchMachine(ctx, snap)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	// A batch that waited FlushInterval is written even when no machine
	// comes (calls slower than the interval): the panel still moves.
	var tick <-chan time.Time
	if s.o.FlushInterval > 0 {
		t := time.NewTicker(s.o.FlushInterval / 2)
		defer t.Stop()
		tick = t.C
	}
	for in := results; in != nil; {
		select {
		case f, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			w.add(f)
		case <-tick:
			w.handOverStale()
		}
	}
	w.close()

	// The record must be closed even when ctx was cancelled.
	fctx, cancel := detached(ctx)
	defer cancel()

	var errs []error
	switch {
	case listErr != nil:
		errs = append(errs, fmt.Errorf("list machines: %w", listErr))
	case ctx.Err() != nil:
		errs = append(errs, ctx.Err())
	}
	if w.snapErr != nil {
		errs = append(errs, w.snapErr)
	}
	res.Machines = int(w.listed.Load())
	res.MachinesDone, res.MachinesFailed, res.Failed = w.done, w.failed, w.failures
	res.SessionsSeen, res.SessionsNew, res.SessionsUpdated = w.seen, w.counts.New, w.counts.Updated
	if res.Machines > 0 && res.MachinesDone == 0 && res.MachinesFailed > 0 {
		errs = append(errs, fmt.Errorf("every machine failed, first: %s: %s", res.Failed[0].ID, res.Failed[0].Error))
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
		MachinesListed: res.Machines, ListedAll: listErr == nil, SessionsSeen: res.SessionsSeen,
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

// detached is ctx without its cancellation, with a timeout of its own: for
// the writes that must happen even once a pass's context has ended.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// fetchMachine fetches one machine's sessions.
func (s *Syncer) fetchMachine(ctx context.Context, snap db.Snapshot) fetched {
	f := fetched{snap: snap}
	if err := ctx.Err(); err != nil {
		f.err = err
		return f
	}
	sessions, err := s.api.ListSessions(ctx, snap.MachineID)
	if err != nil {
		f.err = err
		return f
	}
	f.sessions = make([]db.Session, 0, len(sessions))
	for _, x := range sessions {
		if x.ID == "" {
			continue
		}
		f.sessions = append(f.sessions, db.Session{
			ID: x.ID.String(), MachineID: snap.MachineID,
			StartAt: x.Attributes.StartAt, EndAt: x.Attributes.EndAt,
			DurationMinutes: max(0, x.Attributes.Duration),
		})
	}
	return f
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
