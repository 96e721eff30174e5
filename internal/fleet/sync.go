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
	// Slice is the number of the slice that wrote it (SyncResult.Slices).
	Slice int
	// Machines and Sessions are the batch's size.
	Machines int
	Sessions int
	// ProgressErr is why the progress could not be recorded (nil: it was).
	ProgressErr error
}

// SyncResult is what one pass did.
type SyncResult struct {
	PassID     int64
	StartedAt  time.Time
	FinishedAt time.Time
	Status     string // db.PassSucceeded or db.PassFailed; db.PassRunning after a slice that left it for the next
	// Slices is how many slices have worked on the pass, this one included.
	Slices         int
	Machines       int // machines listed
	MachinesDone   int // machines whose sessions were stored
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
// its passes in slices (JobPass, RunSlice), one pass at a time across
// replicas (a unique River job, and at most one running pass per job); a
// pass run whole by hand (`dashboard sync`, RunOnce) is not held back by
// one in progress, which is harmless: sessions are upserted by id.
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

// fetched is one machine on its way from the dispatcher through a fetch
// worker to the writer.
type fetched struct {
	snap     db.Snapshot
	sessions []db.Session
	err      error // the sessions could not be fetched
	page     int   // the list page it came from
	// dropped: not fetched (the slice ended first) or cut off (ctx ended):
	// not stored, so the next slice lists and fetches it again.
	dropped bool
}

// listedMachine is one machine of the listing, or (pageEnd) the end of a
// page, with the page to list next (0: the last page).
type listedMachine struct {
	m       vagon.Machine
	page    int
	pageEnd bool
	next    int
}

// passWriter gathers the fetched machines of a slice into batches and hands
// each full batch to its one writing goroutine, which stores it while the
// next batch fills: the fetches do not wait for the writes unless the
// writes are the slower. It holds at most two batches.
type passWriter struct {
	s      *Syncer
	passID int64
	slice  int        // the slice's number (db.ClaimSyncPass): every write names it
	end    func()     // ends the slice: the pass was lost, or a write failed
	full   chan batch // to the writing goroutine; unbuffered
	wrote  chan struct{}

	// listed is the pass's machines listed so far (those it held when the
	// slice began, then each one dispatched, less those dropped); listedAll
	// says the slice's listing walked to the last page. Written by the
	// dispatcher and add; read by the writing goroutine.
	listed    atomic.Int64
	listedAll atomic.Bool

	// For add and close only: the batch filling, and the lowest page of a
	// dropped machine (0: none).
	batch     batch
	lastFlush time.Time
	dropPage  int

	// For the writing goroutine only (until close): the pass's progress as
	// last written (at first, as the slice found it), and why the writes
	// stopped.
	progress db.SyncProgress
	lost     bool  // the pass is no longer this slice's (db.ErrSyncPassLost)
	writeErr error // the first batch that could not be stored
}

// batch is the machines of one write, with their sessions counted.
type batch struct {
	machines []fetched
	sessions int
}

// newPassWriter starts the writing goroutine of a slice of pass p (as
// db.ClaimSyncPass returned it); close stops it.
func (s *Syncer) newPassWriter(ctx context.Context, p db.SyncPass, end func()) *passWriter {
	w := &passWriter{s: s, passID: p.ID, slice: p.Slices, end: end, full: make(chan batch), wrote: make(chan struct{}),
		lastFlush: time.Now()}
	w.progress = db.SyncProgress{PassID: p.ID, MachinesListed: p.MachinesDone + p.MachinesFailed,
		MachinesDone: p.MachinesDone, MachinesFailed: p.MachinesFailed, FailedMachines: p.FailedMachines,
		SessionsSeen: p.SessionsSeen, SessionsNew: p.SessionsNew, SessionsUpdated: p.SessionsUpdated}
	w.listed.Store(int64(p.MachinesDone + p.MachinesFailed))
	go func() {
		defer close(w.wrote)
		for b := range w.full {
			w.write(ctx, b)
		}
	}()
	return w
}

// add takes one fetched machine and hands the batch over when it is full.
// A dropped machine is no longer counted as listed.
func (w *passWriter) add(f fetched) {
	if f.dropped {
		w.listed.Add(-1)
		if w.dropPage == 0 || f.page < w.dropPage {
			w.dropPage = f.page
		}
		return
	}
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

// write stores a batch in one transaction (db.WriteSyncBatch): the
// machines' snapshots and sessions and the pass's progress. Once ctx has
// ended (the job's timeout), what was fetched is still stored, under a
// detached context with a timeout of its own. A batch that cannot be
// stored, or finds the pass taken over, ends the slice: no later batch is
// written.
func (w *passWriter) write(ctx context.Context, b batch) {
	if w.lost || w.writeErr != nil {
		return
	}
	ms := make([]db.SyncMachine, len(b.machines))
	for i, f := range b.machines {
		ms[i] = db.SyncMachine{Snapshot: f.snap, Sessions: f.sessions}
		if f.err != nil {
			ms[i] = db.SyncMachine{Snapshot: f.snap, FetchErr: shortError(f.err)}
		}
	}
	in := db.SyncBatch{PassID: w.passID, Slice: w.slice, Machines: ms,
		Listed: int(w.listed.Load()), ListedAll: w.listedAll.Load(), Now: w.s.o.Now()}
	fctx, cancel := detached(ctx)
	defer cancel()
	wctx := ctx
	if ctx.Err() != nil {
		wctx = fctx
	}
	r, err := w.s.store.WriteSyncBatch(wctx, in)
	if err != nil && !errors.Is(err, db.ErrSyncPassLost) && ctx.Err() != nil && wctx == ctx {
		r, err = w.s.store.WriteSyncBatch(fctx, in)
	}
	switch {
	case errors.Is(err, db.ErrSyncPassLost):
		w.lost = true
		w.end()
		w.s.o.Log.Warn("sessions sync: the pass was taken over or closed; this slice stops", "pass", w.passID, "slice", w.slice)
	case err != nil:
		w.writeErr = err
		w.end()
		w.s.o.Log.Warn("sessions sync: write a batch", "pass", w.passID, "err", err)
	default:
		w.progress = r.Progress
		// Machines the pass already held (none in practice: the lister
		// skips them, the dispatcher drops repeats) are not listed twice.
		w.listed.Add(-int64(r.Skipped))
	}
	if w.s.o.OnFlush != nil {
		w.s.o.OnFlush(SyncFlush{Progress: w.progress, Slice: w.slice, Machines: len(b.machines), Sessions: r.Sessions, ProgressErr: err})
	}
}

// RunOnce makes one whole sync pass: it records the pass, walks every page
// of machines, fetches each machine's sessions with bounded concurrency and
// upserts them by id in batches, stores a snapshot of every machine,
// records the pass's progress with each batch, and closes the pass record.
// A machine whose sessions cannot be fetched or stored is counted and named
// in the result; it does not fail the pass. The pass fails, and RunOnce
// returns an error along with the result, when the machine list cannot be
// walked, a batch cannot be stored, every machine failed, or ctx ends.
// It is RunSlice without a deadline, on a pass of its own (`dashboard
// sync`, tests, benchmarks).
func (s *Syncer) RunOnce(ctx context.Context) (SyncResult, error) {
	started := s.o.Now()
	id, err := s.store.BeginSyncPass(ctx, started)
	if err != nil {
		return SyncResult{StartedAt: started}, fmt.Errorf("fleet: sync: %w", err)
	}
	res, _, err := s.runSlice(ctx, id, sliceBounds{whole: true})
	return res, err
}

// JobPass returns the pass River job jobID works on: the running pass it
// began, or a new one (db.BeginJobSyncPass: every other running pass is
// closed as interrupted, since no other sync job runs).
func (s *Syncer) JobPass(ctx context.Context, jobID int64) (int64, error) {
	id, resumed, err := s.store.BeginJobSyncPass(ctx, jobID, s.o.Now())
	if err != nil {
		return 0, fmt.Errorf("fleet: sync: %w", err)
	}
	if !resumed {
		s.o.Log.Info("sessions sync: pass begun", "pass", id, "job", jobID)
	}
	return id, nil
}

// RunSlice works on running pass passID (JobPass) until the pass is done,
// ctx ends, the deadline passes or stop is closed (the process is shutting
// down), whichever comes first, and reports whether the pass is finished.
// After the deadline or stop it lists and fetches no new machine, lets the
// calls in flight finish, writes what was fetched, and records the page the
// next slice lists from (db.SuspendSyncPass); when ctx ends, the calls in
// flight are cut off and their machines left for the next slice. The next
// slice (a fresh job attempt, here or on another replica) continues the
// same pass: it lists from that page, skips the machines the pass already
// holds, and adds to its counts. Only a slice whose listing reaches the last
// page with every machine stored finishes the pass (deleted machines are
// marked, old history pruned, the record closed and the result published);
// a pass whose listing fails, or a batch of which cannot be stored, is
// finished as failed. A zero deadline is none; a nil stop never closes. The
// deadline counts only once the slice has got somewhere (a machine fetched,
// or a page passed that held nothing left to fetch), so that even a slice
// shorter than one API call moves the pass on.
//
// Each slice takes the pass first (db.ClaimSyncPass): a slice a newer one
// took over (a rescued attempt still alive) writes nothing more and returns
// an error wrapping db.ErrSyncPassLost.
func (s *Syncer) RunSlice(ctx context.Context, passID int64, deadline time.Time, stop <-chan struct{}) (SyncResult, bool, error) {
	return s.runSlice(ctx, passID, sliceBounds{deadline: deadline, stop: stop})
}

// AbandonPass closes running pass passID as failed with reason, keeping
// what it stored: for a pass whose job was cancelled (nobody will continue
// it).
func (s *Syncer) AbandonPass(ctx context.Context, passID int64, reason string) error {
	if err := s.store.AbandonSyncPass(ctx, passID, reason, s.o.Now()); err != nil {
		return fmt.Errorf("fleet: sync: %w", err)
	}
	s.o.Log.Warn("sessions sync: pass abandoned", "pass", passID, "reason", reason)
	return nil
}

// sliceBounds say when a slice stops beginning machines.
type sliceBounds struct {
	deadline time.Time       // zero: none
	stop     <-chan struct{} // nil: never
	// whole: the slice is the whole pass (RunOnce): when it ends early
	// (ctx), the pass fails instead of waiting for a next slice.
	whole bool
}

// runSlice is RunSlice, and RunOnce with b.whole.
func (s *Syncer) runSlice(ctx context.Context, passID int64, b sliceBounds) (SyncResult, bool, error) {
	claim, err := s.store.ClaimSyncPass(ctx, passID)
	if err != nil {
		return SyncResult{PassID: passID}, false, fmt.Errorf("fleet: sync: %w", err)
	}
	resumed := claim.MachinesDone+claim.MachinesFailed > 0

	// ended is closed when the slice is to begin no new machine. The
	// deadline counts only once the slice has got somewhere (a machine
	// fetched, which the slice stores before it returns, or a page passed
	// that held nothing left to fetch), so that every slice moves the pass
	// on.
	ended := make(chan struct{})
	var endOnce sync.Once
	end := func() { endOnce.Do(func() { close(ended) }) }
	defer end()
	var late, moved atomic.Bool
	progress := func() {
		if !moved.Swap(true) && late.Load() {
			end()
		}
	}
	if !b.deadline.IsZero() {
		t := time.AfterFunc(time.Until(b.deadline), func() {
			late.Store(true)
			if moved.Load() {
				end()
			}
		})
		defer t.Stop()
	}
	go func() {
		select {
		case <-b.stop:
			end()
		case <-ctx.Done():
			end()
		case <-ended:
		}
	}()
	w := s.newPassWriter(ctx, claim, end)

	// The lister reads the list ahead: the next page is on its way while
	// the machines of this one are still being fetched. A resumed pass
	// skips the machines it already holds before they are fetched.
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	listed := make(chan listedMachine, s.o.PerPage)
	var listErr error // written before listed is closed
	var listEnd bool  // the listing walked to its last page; likewise
	go func() {
		defer close(listed)
		for page, err := range s.api.MachinePages(lctx, &vagon.ListMachinesOptions{PerPage: s.o.PerPage, Page: claim.NextPage}) {
			if err != nil {
				if lctx.Err() == nil {
					listErr = err
				}
				return
			}
			ms := page.Machines
			if resumed {
				if ms, err = s.unheld(lctx, passID, ms); err != nil {
					if lctx.Err() == nil {
						listErr = err
					}
					return
				}
			}
			next := 0
			if page.NextPage != nil {
				next = *page.NextPage
			}
			send := func(lm listedMachine) bool {
				select {
				case listed <- lm:
					return true
				case <-lctx.Done():
					return false
				}
			}
			for _, m := range ms {
				if !send(listedMachine{m: m, page: page.Page}) {
					return
				}
			}
			if !send(listedMachine{page: page.Page, pageEnd: true, next: next}) {
				return
			}
		}
		listEnd = true
	}()

	// The dispatcher drops machines listed twice (the list can shift while
	// it is paged: machines created or deleted) and hands the others to the
	// workers, until the slice ends. cursor is the page from which the
	// listing must be read again for every machine not dispatched.
	work := make(chan fetched, s.o.Concurrency)
	cursor := claim.NextPage // read once work is closed
	go func() {
		defer close(work)
		defer func() {
			lcancel()
			for range listed { // the lister ends
			}
		}()
		seen := map[vagon.ID]bool{}
		fromPage := false // a machine of the page being read was dispatched
		for {
			var lm listedMachine
			var ok bool
			select {
			case lm, ok = <-listed:
			case <-ended:
				return
			case <-b.stop:
				return
			}
			switch {
			case !ok:
				w.listedAll.Store(listEnd && listErr == nil)
				return
			case lm.pageEnd:
				if lm.next > 0 {
					cursor = lm.next
					if !fromPage {
						progress() // a page the pass already held
					}
				}
				fromPage = false
				continue
			case lm.m.ID == "" || seen[lm.m.ID]:
				continue
			}
			seen[lm.m.ID] = true
			w.listed.Add(1)
			select {
			case work <- fetched{snap: snapshotOf(lm.m, s.o.Now()), page: lm.page}:
				cursor, fromPage = lm.page, true
			case <-ended:
				w.listed.Add(-1)
				return
			case <-b.stop:
				w.listed.Add(-1)
				return
			}
		}
	}()

	results := make(chan fetched, s.o.Concurrency)
	var wg sync.WaitGroup
	for range s.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				select {
				case <-ended:
					f.dropped = true
				case <-b.stop:
					f.dropped = true
				default:
					f = s.fetchMachine(ctx, f)
				}
				results <- f
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
			if !f.dropped {
				progress()
			}
		case <-tick:
			w.handOverStale()
		}
	}
	w.close()
	return s.endSlice(ctx, claim, b, w, listErr, resumePage(w.dropPage, cursor))
}

// resumePage is where the next slice lists from: the lowest page of a
// machine dropped, else the dispatcher's cursor.
func resumePage(dropPage, cursor int) int {
	if dropPage > 0 && dropPage < cursor {
		return dropPage
	}
	return max(1, cursor)
}

// endSlice records how the slice ended: the page the next slice lists from,
// or the pass's outcome when it is finished.
func (s *Syncer) endSlice(ctx context.Context, claim db.SyncPass, b sliceBounds, w *passWriter, listErr error, next int) (SyncResult, bool, error) {
	p := w.progress
	res := SyncResult{PassID: claim.ID, StartedAt: claim.StartedAt, Slices: claim.Slices, Status: db.PassRunning,
		Machines: int(w.listed.Load()), MachinesDone: p.MachinesDone, MachinesFailed: p.MachinesFailed, Failed: p.FailedMachines,
		SessionsSeen: p.SessionsSeen, SessionsNew: p.SessionsNew, SessionsUpdated: p.SessionsUpdated}
	// The record must be written even when ctx was cancelled.
	fctx, cancel := detached(ctx)
	defer cancel()

	lost := func() (SyncResult, bool, error) {
		err := fmt.Errorf("fleet: sync pass %d: slice %d: %w", claim.ID, claim.Slices, db.ErrSyncPassLost)
		if b.whole {
			res.Status, res.Error, res.FinishedAt = db.PassFailed, err.Error(), s.o.Now()
			s.report(res, err)
		}
		return res, false, err
	}
	if w.lost {
		return lost()
	}
	var errs []error
	if listErr != nil {
		errs = append(errs, fmt.Errorf("list machines: %w", listErr))
	}
	if w.writeErr != nil {
		errs = append(errs, w.writeErr)
	}
	complete := w.listedAll.Load() && w.dropPage == 0
	switch {
	case len(errs) > 0:
	case b.whole && ctx.Err() != nil:
		errs = append(errs, ctx.Err())
	case !complete && b.whole:
		errs = append(errs, errors.New("the pass ended before its listing did"))
	case !complete:
		// The slice ended: the next one goes on from where it stopped.
		if err := s.store.SuspendSyncPass(fctx, claim.ID, claim.Slices, next, s.o.Now()); err != nil {
			if errors.Is(err, db.ErrSyncPassLost) {
				return lost()
			}
			return res, false, fmt.Errorf("fleet: sync pass %d: %w", claim.ID, err)
		}
		res.Machines = res.MachinesDone + res.MachinesFailed
		s.o.Log.Info("sessions sync: slice ended; the pass goes on in the next", "pass", claim.ID, "slice", claim.Slices,
			"machines_done", res.MachinesDone, "machines_failed", res.MachinesFailed, "next_page", next)
		return res, false, nil
	}
	if len(errs) == 0 && res.Machines > 0 && res.MachinesDone == 0 && res.MachinesFailed > 0 {
		errs = append(errs, fmt.Errorf("every machine failed, first: %s: %s", res.Failed[0].ID, res.Failed[0].Error))
	}

	res.Status = db.PassSucceeded
	if len(errs) > 0 {
		res.Status = db.PassFailed
		res.Error = errors.Join(errs...).Error()
	} else {
		// Only a complete listing tells which machines are gone.
		if _, err := s.store.MarkMachinesGone(fctx, claim.ID, res.StartedAt); err != nil {
			s.o.Log.Warn("sessions sync: mark deleted machines", "err", err)
		}
		if s.o.Retention > 0 {
			if _, err := s.store.PruneSyncHistory(fctx, res.StartedAt.Add(-s.o.Retention)); err != nil {
				s.o.Log.Warn("sessions sync: prune history", "err", err)
			}
		}
	}
	res.FinishedAt = s.o.Now()
	err := s.store.FinishSyncPass(fctx, db.SyncPass{
		ID: claim.ID, FinishedAt: &res.FinishedAt, Status: res.Status, Slices: claim.Slices,
		MachinesDone: res.MachinesDone, MachinesFailed: res.MachinesFailed, FailedMachines: res.Failed,
		SessionsNew: res.SessionsNew, SessionsUpdated: res.SessionsUpdated, Error: res.Error,
		MachinesListed: res.Machines, ListedAll: complete, SessionsSeen: res.SessionsSeen,
	})
	if errors.Is(err, db.ErrSyncPassLost) {
		return lost()
	}
	if err != nil {
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
		runErr = fmt.Errorf("fleet: sync pass %d: %w", claim.ID, errors.Join(errs...))
	}
	s.report(res, runErr)
	return res, true, runErr
}

// unheld is ms without the machines pass passID already holds.
func (s *Syncer) unheld(ctx context.Context, passID int64, ms []vagon.Machine) ([]vagon.Machine, error) {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.ID.String())
	}
	held, err := s.store.PassMachineIDs(ctx, passID, ids)
	if err != nil || len(held) == 0 {
		return ms, err
	}
	out := make([]vagon.Machine, 0, len(ms)-len(held))
	for _, m := range ms {
		if !held[m.ID.String()] {
			out = append(out, m)
		}
	}
	return out, nil
}

// detached is ctx without its cancellation, with a timeout of its own: for
// the writes that must happen even once a pass's context has ended.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// fetchMachine fetches the sessions of f's machine. A call cut off by ctx
// leaves the machine dropped, for the next slice.
func (s *Syncer) fetchMachine(ctx context.Context, f fetched) fetched {
	if ctx.Err() != nil {
		f.dropped = true
		return f
	}
	sessions, err := s.api.ListSessions(ctx, f.snap.MachineID)
	if err != nil {
		f.err, f.dropped = err, ctx.Err() != nil
		return f
	}
	f.sessions = make([]db.Session, 0, len(sessions))
	for _, x := range sessions {
		if x.ID == "" {
			continue
		}
		f.sessions = append(f.sessions, db.Session{
			ID: x.ID.String(), MachineID: f.snap.MachineID,
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
