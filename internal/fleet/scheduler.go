package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Defaults of a Scheduler.
const (
	// DefaultScheduleGrace is how late a due occurrence may still run: one
	// older than this (every replica was down) is recorded as missed.
	DefaultScheduleGrace = 10 * time.Minute
	// DefaultRunLease is how long one executor holds a run before another
	// may take it over (after a crash), when its caller gives no lease of
	// its own (the job queue passes its job timeout, ExecOptions.Lease). A
	// call that returns unfinished releases it at once.
	DefaultRunLease = 10 * time.Minute
	// DefaultRunConcurrency is how many of a run's machines are worked on
	// at once.
	DefaultRunConcurrency = 4
	// maxClaimPerSchedule bounds the occurrences one ClaimDue looks at per
	// schedule (a long outage is worked off over several calls).
	maxClaimPerSchedule = 100
)

// Errors of the Scheduler. Their text is fit to show a person.
var (
	// ErrRunInProgress: run now found the schedule's manual run still going
	// (a double click); the id returned with it is that run.
	ErrRunInProgress = errors.New("this schedule is already running; see its progress below")
	// ErrRunBusy: another executor holds the run's lease.
	ErrRunBusy = errors.New("fleet: the run is being worked on elsewhere")
	// ErrRunCancelled: the run was closed by someone else (CancelRun)
	// while it was being executed; its machines not begun were not called.
	ErrRunCancelled = errors.New("fleet: the schedule run was cancelled")
	// ErrRunFinished: the run had already ended.
	ErrRunFinished = errors.New("this run has already finished")
	// ErrScheduleStale: the schedule changed since the form was opened.
	ErrScheduleStale = errors.New("someone changed this schedule after you opened it; your changes are kept below, check them against the current settings and save again")
)

// PowerRequest is one machine action a schedule performs.
type PowerRequest struct {
	Action     string // ScheduleStart or ScheduleStop
	MachineID  string
	Gracefully bool // stop only
	ScheduleID int64
	RunID      int64
	// Machine is the machine as the run read it (nil: not read).
	Machine *vagon.Machine
}

// PowerAction performs one machine start or stop for a schedule, as actor
// (the schedule's owner), and says how it ended, as the fleet's action
// methods do. ServicePower is the one used; tests wrap it to inject faults.
type PowerAction func(ctx context.Context, actor Actor, r PowerRequest) (*ActionResult, error)

// ServicePower is the PowerAction over svc's own Start and Stop (the path
// the pages and bulk operations use), recording schedule_id and
// schedule_run_id.
func ServicePower(svc *Service) PowerAction {
	return func(ctx context.Context, actor Actor, r PowerRequest) (*ActionResult, error) {
		via := Origin{ScheduleID: r.ScheduleID, ScheduleRunID: r.RunID}
		if r.Action == ScheduleStop {
			return svc.Stop(ctx, actor, r.MachineID, StopInput{Via: via, Machine: r.Machine, Gracefully: r.Gracefully})
		}
		return svc.Start(ctx, actor, r.MachineID, StartInput{Via: via, Machine: r.Machine})
	}
}

// SchedulerOptions configure a Scheduler; zero fields take defaults.
type SchedulerOptions struct {
	// Now is the clock every decision reads (time.Now when nil); tests share
	// a vagonsim.ManualClock between the simulator and the scheduler.
	Now   func() time.Time
	Grace time.Duration // DefaultScheduleGrace
	Lease time.Duration // DefaultRunLease
	// Concurrency is how many machines of a run are worked on at once
	// (DefaultRunConcurrency).
	Concurrency int
	// Power performs the machine actions (ServicePower(svc) when nil).
	Power PowerAction
	// MayAct says whether a role may perform a schedule action (start or
	// stop) by the dashboard's role rules; nil allows every role. A run
	// skips every machine when its owner may no longer do the action.
	MayAct func(role, action string) bool
	Log    *slog.Logger
}

// Scheduler keeps schedules, claims their due runs and executes them. It
// has no loop of its own: a job queue (or a test) calls ClaimDue
// periodically and Execute per claimed run.
type Scheduler struct {
	svc   *Service
	store *db.Store
	audit *Auditor
	o     SchedulerOptions
	queue RunQueue
}

// RunQueue executes claimed runs in the background (the job queue).
type RunQueue interface {
	EnqueueScheduleRun(ctx context.Context, runID int64) error
}

// SetQueue makes RunNow hand its run to q at once; without it a manual run
// waits for whoever executes unfinished runs (the queue's periodic tick).
func (s *Scheduler) SetQueue(q RunQueue) { s.queue = q }

// NewScheduler builds a Scheduler over svc.
func NewScheduler(svc *Service, o SchedulerOptions) *Scheduler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Grace <= 0 {
		o.Grace = DefaultScheduleGrace
	}
	if o.Lease <= 0 {
		o.Lease = DefaultRunLease
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultRunConcurrency
	}
	if o.Power == nil {
		o.Power = ServicePower(svc)
	}
	if o.Log == nil {
		o.Log = svc.log
	}
	return &Scheduler{svc: svc, store: svc.Store(), audit: svc.Auditor(), o: o}
}

// Now is the scheduler's clock.
func (s *Scheduler) Now() time.Time { return s.o.Now() }

// scheduleParams are a schedule's settings as the audit log records them.
func scheduleParams(sc Schedule) Params {
	p := Params{
		"schedule_id": sc.ID, "name": sc.Name, "schedule_action": sc.Action, "gracefully": sc.Gracefully,
		"machine_ids": sc.MachineIDs, "days": sc.Days, "at": FormatAt(sc.AtMinute), "timezone": sc.TimeZone,
		"skip_dates": sc.SkipDates, "skip_active_sessions": sc.SkipActiveSessions, "enabled": sc.Enabled,
	}
	if sc.SavedViewID != nil {
		p["saved_view_id"] = *sc.SavedViewID
	}
	return p
}

// Create checks in and stores a new schedule owned by owner (its id and
// email); it runs from now on. errs holds a message per bad field (nothing
// stored then). It writes schedule.create.
func (s *Scheduler) Create(ctx context.Context, actor Actor, ownerID int64, in ScheduleInput, view *db.SavedView) (Schedule, map[string]string, error) {
	var sc Schedule
	if errs := CheckSchedule(in, view, &sc); len(errs) > 0 {
		return Schedule{}, errs, nil
	}
	now := s.Now()
	sc.OwnerID, sc.OwnerEmail, sc.RunsFrom, sc.UpdatedAt = &ownerID, actor.Email, now, now
	var out Schedule
	err := s.audit.Do(ctx, actor, ActScheduleCreate, "", scheduleParams(sc), func(ctx context.Context, p Params) error {
		var err error
		out, err = s.store.CreateSchedule(ctx, sc)
		p["schedule_id"] = out.ID
		return err
	})
	return out, nil, err
}

// Update checks in and replaces schedule id's settings, when in.Version is
// still its version (ErrScheduleStale otherwise). The schedule runs from
// now on: occurrences between its last run and now are not made up. It
// writes schedule.update with before and after.
func (s *Scheduler) Update(ctx context.Context, actor Actor, id int64, in ScheduleInput, view *db.SavedView) (Schedule, map[string]string, error) {
	cur, err := s.store.Schedule(ctx, id)
	if err != nil {
		return Schedule{}, nil, err
	}
	sc := cur
	if errs := CheckSchedule(in, view, &sc); len(errs) > 0 {
		return Schedule{}, errs, nil
	}
	if view == nil && len(sc.MachineIDs) > 0 {
		sc.SavedViewID = nil
	}
	sc.Version = in.Version
	return s.save(ctx, actor, cur, sc)
}

// SetEnabled turns schedule id on or off, when version is still its
// version (ErrScheduleStale otherwise). It writes schedule.update.
func (s *Scheduler) SetEnabled(ctx context.Context, actor Actor, id int64, version int, enabled bool) (Schedule, error) {
	cur, err := s.store.Schedule(ctx, id)
	if err != nil {
		return Schedule{}, err
	}
	sc := cur
	sc.Enabled, sc.Version = enabled, version
	out, _, err := s.save(ctx, actor, cur, sc)
	return out, err
}

func (s *Scheduler) save(ctx context.Context, actor Actor, cur, sc Schedule) (Schedule, map[string]string, error) {
	if sc.Version != cur.Version {
		return Schedule{}, nil, ErrScheduleStale
	}
	now := s.Now()
	sc.RunsFrom, sc.UpdatedAt = now, now
	var out Schedule
	p := Params{"schedule_id": cur.ID, "before": scheduleParams(cur), "after": scheduleParams(sc)}
	err := s.audit.Do(ctx, actor, ActScheduleUpdate, "", p, func(ctx context.Context, _ Params) error {
		var err error
		out, err = s.store.UpdateSchedule(ctx, sc)
		return err
	})
	if errors.Is(err, db.ErrStale) {
		err = ErrScheduleStale
	}
	if err == nil {
		s.recordUnclaimed(context.WithoutCancel(ctx), cur, now)
	}
	return out, nil, err
}

// recordUnclaimed records, after a schedule was saved at now, the
// occurrences of its previous version that were due but not yet claimed
// (saved at 07:30:05, before the tick took 07:30): the saved version runs
// from now on, so they are not run, and each is recorded as missed with
// why, rather than silently dropped.
func (s *Scheduler) recordUnclaimed(ctx context.Context, cur Schedule, now time.Time) {
	if !cur.Enabled {
		return
	}
	since := cur.RunsFrom
	last, err := s.store.LastScheduledDue(ctx, cur.ID)
	if err != nil {
		s.o.Log.Warn("schedule: record occurrences skipped by an edit", "schedule", cur.ID, "err", err.Error())
		return
	}
	if last != nil && last.After(since) {
		since = *last
	}
	loc, err := time.LoadLocation(cur.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	for _, due := range NextRuns(cur, since, maxClaimPerSchedule) {
		if due.After(now) {
			break
		}
		r := db.ScheduleRun{ScheduleID: cur.ID, DueAt: due, Trigger: db.TriggerScheduled, State: db.RunMissed,
			ActorEmail: cur.OwnerEmail, ClaimedAt: now, FinishedAt: &now}
		if now.Sub(due) > s.o.Grace {
			r.Message = fmt.Sprintf("Missed: nothing was running to start it within %s of its time, so it was not run.", durationWords(s.o.Grace))
		} else {
			r.Message = "Not run: the schedule was edited at " + now.In(loc).Format("15:04:05") +
				", after this run was due and before it was started; the edited schedule runs from then on."
		}
		if _, _, err := s.store.InsertScheduleRun(ctx, r); err != nil {
			s.o.Log.Warn("schedule: record occurrences skipped by an edit", "schedule", cur.ID, "err", err.Error())
			return
		}
	}
}

// Delete removes a schedule and its history (the audit log keeps the
// record of every run). It writes schedule.delete with the number of runs
// the history held.
func (s *Scheduler) Delete(ctx context.Context, actor Actor, id int64) (Schedule, error) {
	cur, err := s.store.Schedule(ctx, id)
	if err != nil {
		return Schedule{}, err
	}
	p := Params{"schedule_id": id, "name": cur.Name}
	if n, err := s.store.CountScheduleRuns(ctx, id); err == nil {
		p["history_runs"] = n
	}
	var out Schedule
	err = s.audit.Do(ctx, actor, ActScheduleDelete, "", p, func(ctx context.Context, _ Params) error {
		var err error
		out, err = s.store.DeleteSchedule(ctx, id)
		return err
	})
	return out, err
}

// ownerActor is the schedule's owner as the actor of its machine actions,
// with their current role; reason says why the owner cannot act ("" when
// they can).
func (s *Scheduler) ownerActor(ctx context.Context, sc Schedule, runID int64) (Actor, string, error) {
	a := Actor{Email: sc.OwnerEmail, RequestID: "schedule-" + strconv.FormatInt(sc.ID, 10) + "-run-" + strconv.FormatInt(runID, 10)}
	var u db.User
	var err error
	if sc.OwnerID != nil {
		u, err = s.store.UserByID(ctx, *sc.OwnerID)
	} else {
		u, err = s.store.UserByEmail(ctx, sc.OwnerEmail)
	}
	if errors.Is(err, db.ErrNotFound) {
		return a, "The schedule's owner " + sc.OwnerEmail + " no longer exists, so the schedule did nothing; an operator should take it over by saving it.", nil
	}
	if err != nil {
		return a, "", err
	}
	a.Email, a.Role = u.Email, u.Role
	if u.Disabled {
		return a, "The schedule's owner " + u.Email + " is disabled, so the schedule did nothing; an operator should take it over by saving it.", nil
	}
	if s.o.MayAct != nil && !s.o.MayAct(u.Role, sc.Action) {
		return a, "The schedule's owner " + u.Email + " (" + u.Role + ") may no longer " + sc.Action + " machines, so the schedule did nothing.", nil
	}
	return a, "", nil
}

// ClaimDue claims, for every enabled schedule, the occurrences due up to
// now that no replica has claimed: each becomes a run (inserted once, the
// unique (schedule_id, due_at) refusing the second replica). It returns the
// ids of the runs this call claimed. An occurrence older than the grace
// window is recorded as missed and not run.
func (s *Scheduler) ClaimDue(ctx context.Context) ([]int64, error) {
	now := s.Now()
	scheds, err := s.store.EnabledSchedules(ctx)
	if err != nil {
		return nil, err
	}
	var claimed []int64
	for _, sc := range scheds {
		since := sc.RunsFrom
		last, err := s.store.LastScheduledDue(ctx, sc.ID)
		if err != nil {
			return claimed, err
		}
		if last != nil && last.After(since) {
			since = *last
		}
		for _, due := range NextRuns(sc, since, maxClaimPerSchedule) {
			if due.After(now) {
				break
			}
			r := db.ScheduleRun{ScheduleID: sc.ID, DueAt: due, Trigger: db.TriggerScheduled, State: db.RunClaimed,
				ActorEmail: sc.OwnerEmail, ActorRole: "", ClaimedAt: now}
			if late := now.Sub(due); late > s.o.Grace {
				r.State, r.FinishedAt = db.RunMissed, &now
				r.Message = fmt.Sprintf("Missed: nothing was running to start it within %s of its time, so it was not run.", durationWords(s.o.Grace))
			}
			id, inserted, err := s.store.InsertScheduleRun(ctx, r)
			if err != nil {
				return claimed, err
			}
			if inserted && r.State == db.RunClaimed {
				claimed = append(claimed, id)
			}
		}
	}
	return claimed, nil
}

// Unfinished returns the runs claimed or running, for a worker that picks
// up runs whose executor died.
func (s *Scheduler) Unfinished(ctx context.Context) ([]int64, error) {
	return s.store.UnfinishedScheduleRuns(ctx)
}

// RunNow claims a manual run of the schedule, as actor, due now. While an
// earlier manual run of it is unfinished, it returns that run's id with
// ErrRunInProgress (a double click runs it once).
func (s *Scheduler) RunNow(ctx context.Context, actor Actor, scheduleID int64) (int64, error) {
	if _, err := s.store.Schedule(ctx, scheduleID); err != nil {
		return 0, err
	}
	now := s.Now()
	id, inserted, err := s.store.InsertScheduleRun(ctx, db.ScheduleRun{ScheduleID: scheduleID, DueAt: now,
		Trigger: db.TriggerManual, State: db.RunClaimed, ActorEmail: actor.Email, ActorRole: actor.Role, ClaimedAt: now})
	if err != nil {
		return 0, err
	}
	if inserted {
		if s.queue != nil {
			if err := s.queue.EnqueueScheduleRun(ctx, id); err != nil {
				// Claimed all the same: the next tick enqueues it.
				s.o.Log.Warn("schedule: enqueue run now", "run", id, "err", err.Error())
			}
		}
		return id, nil
	}
	prev, err := s.store.ActiveManualRun(ctx, scheduleID)
	if err != nil {
		return 0, fmt.Errorf("fleet: run now: %w", err)
	}
	return prev, ErrRunInProgress
}

// RunCounts counts a run's items by state.
type RunCounts struct {
	Total, Started, Done, Skipped, Failed, Unknown int
}

// CountRunItems counts items by state.
func CountRunItems(items []db.ScheduleRunItem) RunCounts {
	c := RunCounts{Total: len(items)}
	for _, it := range items {
		switch it.State {
		case db.RunItemStarted:
			c.Started++
		case db.RunItemDone:
			c.Done++
		case db.RunItemSkipped:
			c.Skipped++
		case db.RunItemFailed:
			c.Failed++
		case db.RunItemUnknown:
			c.Unknown++
		}
	}
	return c
}

// ExecOptions bound one call of ExecuteSlice.
type ExecOptions struct {
	// Deadline, when set, is when the call stops beginning machines (at
	// least one is begun per call): the calls in flight finish and
	// ExecuteSlice returns not finished, for the caller to go on in a fresh
	// call (the job queue snoozes the job). Zero: work until done.
	Deadline time.Time
	// Lease is how long the call holds the run against other executors
	// (SchedulerOptions.Lease when zero). The job queue passes its job
	// timeout: a live attempt never outlasts it, so a rescued attempt of a
	// dead process finds the lease lapsed.
	Lease time.Duration
}

// Execute runs one claimed run to its end; see ExecuteSlice.
func (s *Scheduler) Execute(ctx context.Context, runID int64) error {
	_, err := s.ExecuteSlice(ctx, runID, ExecOptions{})
	return err
}

// ExecuteSlice runs one claimed run, or a slice of it: it resolves the
// targets (the picked ids, or the saved filter evaluated now; kept on the
// run so a retry works on the same machines), and for each machine, up to
// SchedulerOptions.Concurrency at a time, writes an item started before
// the call, makes the call through PowerAction as the schedule's owner,
// and records done, skipped (and why), failed (and why) or unknown. It
// writes schedule.run started and then succeeded or failed with counts.
// finished is false when o.Deadline came (or ctx ended) with machines
// left: call again to go on.
//
// It is safe to call again for the same run (a retry after a crash):
// finished items are left as they are, and an item left started is settled
// by reading the machine's state, never by calling again. A finished run
// is a no-op; a run another executor holds gives ErrRunBusy; a run closed
// by someone else meanwhile (CancelRun) gives ErrRunCancelled once the
// calls in flight are done. Returning without finishing it releases the
// run's lease, so a retry may begin at once.
func (s *Scheduler) ExecuteSlice(ctx context.Context, runID int64, o ExecOptions) (finished bool, err error) {
	lease := o.Lease
	if lease <= 0 {
		lease = s.o.Lease
	}
	now := s.Now()
	run, ok, err := s.store.LeaseScheduleRun(ctx, runID, now, now.Add(lease))
	if err != nil {
		return false, err
	}
	if !ok {
		r, err := s.store.ScheduleRun(ctx, runID)
		if err != nil {
			if errors.Is(err, db.ErrNotFound) {
				return true, nil // its schedule was deleted
			}
			return false, err
		}
		if r.Finished() {
			return true, nil
		}
		return false, ErrRunBusy
	}
	returned := false
	defer func() {
		// Not on a panic: that is taken for a crash, and the lease lapses.
		if !returned || finished || run.LeaseUntil == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := s.store.ReleaseScheduleRun(rctx, run.ID, *run.LeaseUntil); rerr != nil {
			s.o.Log.Warn("schedule: release run", "run", run.ID, "err", rerr.Error())
		}
	}()
	finished, err = s.execute(ctx, run, o.Deadline)
	returned = true
	return finished, err
}

func (s *Scheduler) execute(ctx context.Context, run db.ScheduleRun, deadline time.Time) (bool, error) {
	sc, err := s.store.Schedule(ctx, run.ScheduleID)
	if err != nil {
		if errors.Is(err, db.ErrNotFound) {
			return true, nil // deleted meanwhile, with its runs
		}
		return false, err
	}
	owner, ownerReason, err := s.ownerActor(ctx, sc, run.ID)
	if err != nil {
		return false, err
	}
	runActor := owner
	if run.Trigger == db.TriggerManual {
		runActor = Actor{Email: run.ActorEmail, Role: run.ActorRole, RequestID: owner.RequestID}
	}
	base := Params{"schedule_id": sc.ID, "schedule_run_id": run.ID, "due_at": run.DueAt.UTC().Format(time.RFC3339), "trigger": run.Trigger}
	wctx := context.WithoutCancel(ctx)
	if run.Attempts == 1 {
		if err := s.audit.Record(ctx, runActor, ActScheduleRun, "", db.OutcomeStarted, base, nil, ""); err != nil {
			_ = s.store.FinishScheduleRun(wctx, run.ID, db.RunFailed, "Not run: the audit log could not be written.", s.Now())
			return true, fmt.Errorf("%w: %v", ErrAuditUnavailable, err)
		}
	}
	targets := run.MachineIDs
	if targets == nil {
		targets, err = s.resolve(ctx, sc)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			msg := "Its machines could not be listed: " + ExplainAPIError(err)
			if errors.Is(err, ErrTooManyToList) || errors.Is(err, ErrBulkTooMany) {
				msg = "Its filter matches too many machines (more than " + strconv.Itoa(MaxBulkMachines) + "), so nothing was done."
			}
			return s.finish(wctx, runActor, run, base, msg, true)
		}
		if err := s.store.SetScheduleRunTargets(ctx, run.ID, targets); err != nil {
			return false, err
		}
	}
	base["machine_ids"] = targets
	items, err := s.store.ScheduleRunItems(ctx, run.ID)
	if err != nil {
		return false, err
	}
	have := map[string]db.ScheduleRunItem{}
	for _, it := range items {
		have[it.MachineID] = it
	}
	snap, serr := readMachines(ctx, s.svc.API(), targets)
	if serr != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		s.o.Log.Warn("schedule: could not read machine states; calling without checks", "run", run.ID, "err", serr.Error())
		snap = nil
	}
	var (
		wg       sync.WaitGroup
		slots    = make(chan struct{}, s.o.Concurrency)
		closed   atomic.Bool // someone else ended the run (cancelled)
		broke    atomic.Bool // a machine's goroutine panicked
		mu       sync.Mutex
		panicked any
		begun    int
		left     bool
	)
	for _, id := range targets {
		it, seen := have[id]
		if seen && it.State != db.RunItemStarted {
			continue
		}
		if seen {
			s.settle(wctx, sc, it, snap)
			continue
		}
		if ctx.Err() != nil || closed.Load() {
			left = true
			break
		}
		slots <- struct{}{} // wait for a free slot
		if broke.Load() {
			<-slots
			break // a machine's goroutine panicked: re-raised below
		}
		if begun > 0 && !deadline.IsZero() && time.Now().After(deadline) {
			<-slots
			left = true
			break
		}
		begun++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer func() {
				if r := recover(); r != nil {
					broke.Store(true)
					mu.Lock()
					if panicked == nil {
						panicked = r
					}
					mu.Unlock()
				}
			}()
			if !s.runMachine(ctx, sc, run, owner, ownerReason, id, snap) {
				if r, err := s.store.ScheduleRun(wctx, run.ID); err == nil && r.Finished() {
					closed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked) // the caller's recovery (River's) sees it, as before
	}
	switch {
	case closed.Load():
		return true, ErrRunCancelled
	case left && ctx.Err() != nil:
		return false, ctx.Err() // the items are left as they are; a retry goes on
	case left:
		return false, nil
	}
	return s.finish(wctx, runActor, run, base, "", false)
}

// finish closes the run with its counts and writes schedule.run's outcome
// (in the same transaction: a finished run is always audited). A run
// someone else closed meanwhile gives ErrRunCancelled.
func (s *Scheduler) finish(ctx context.Context, actor Actor, run db.ScheduleRun, base Params, failMsg string, failed bool) (bool, error) {
	var final, finalMsg string
	closed, err := s.store.CloseScheduleRun(ctx, run.ID, db.CloseRun{At: s.Now(),
		Decide: func(ctx context.Context, _ db.ScheduleRun, items []db.ScheduleRunItem) (string, string, error) {
			c := CountRunItems(items)
			if c.Started > 0 {
				return "", "", fmt.Errorf("fleet: schedule run %d: %d machines not settled", run.ID, c.Started)
			}
			msg := failMsg
			if msg == "" {
				msg = runSummary(c)
			}
			st, m, err := s.recordOutcome(ctx, actor, base, c, msg, failed)
			final, finalMsg = st, m
			return st, m, err
		}})
	if err != nil {
		return false, err
	}
	if !closed {
		return true, ErrRunCancelled
	}
	s.emitFailed(ctx, run, final, finalMsg)
	return true, nil
}

// runSummary is a finished run's message from its counts.
func runSummary(c RunCounts) string {
	msg := fmt.Sprintf("%d done, %d skipped, %d failed", c.Done, c.Skipped, c.Failed+c.Unknown)
	if c.Unknown > 0 {
		msg += fmt.Sprintf(" (%d unknown)", c.Unknown)
	}
	return msg
}

// recordOutcome writes schedule.run's outcome row and returns the run's
// final state with msg.
func (s *Scheduler) recordOutcome(ctx context.Context, actor Actor, base Params, c RunCounts, msg string, failed bool) (string, string, error) {
	state, outcome := db.RunSucceeded, db.OutcomeSucceeded
	if failed || c.Failed+c.Unknown > 0 {
		state, outcome = db.RunFailed, db.OutcomeFailed
	}
	p := Params{"count": c.Total, "done": c.Done, "skipped": c.Skipped, "failed": c.Failed + c.Unknown}
	for k, v := range base {
		p[k] = v
	}
	if err := s.audit.Record(ctx, actor, ActScheduleRun, "", outcome, p, nil, msg); err != nil {
		return "", "", fmt.Errorf("fleet: schedule run: record outcome: %w", err)
	}
	return state, msg, nil
}

// CancelRun ends an unfinished run as failed, "Cancelled by" actor: its
// machines not begun yet are recorded skipped and will not be called;
// calls already in flight finish (their items keep their own outcome),
// and items a dead executor left started become unknown. It writes
// schedule.run's failed outcome as actor. An executor working on the run
// stops beginning machines and returns ErrRunCancelled. ErrRunFinished
// when the run had ended; db.ErrNotFound when there is no such run.
func (s *Scheduler) CancelRun(ctx context.Context, actor Actor, runID int64) error {
	msg := "Cancelled by " + actor.Email + "."
	return s.close(ctx, actor, runID, msg, "Not run: the run was cancelled by "+actor.Email+".", true)
}

// GiveUpRun ends an unfinished run that nothing will execute any more
// (its job was discarded after its attempts, or cancelled) as failed with
// reason: machines not begun are skipped, items left started become
// unknown. ErrRunFinished when it had ended.
func (s *Scheduler) GiveUpRun(ctx context.Context, runID int64, reason string) error {
	return s.close(ctx, Actor{}, runID, reason, "Not run: "+reason, false)
}

func (s *Scheduler) close(ctx context.Context, actor Actor, runID int64, msg, skipMsg string, keepLive bool) error {
	run, err := s.store.ScheduleRun(ctx, runID)
	if err != nil {
		return err
	}
	if run.Finished() {
		return ErrRunFinished
	}
	now := s.Now()
	var final, finalMsg string
	c := db.CloseRun{At: now, SkipUnstarted: skipMsg,
		StartedAs: "Interrupted, and nothing is left to check it: whether the call was sent is not known. " + UnknownOutcomeHint}
	if keepLive && run.LeaseUntil != nil && run.LeaseUntil.After(now) {
		c.StartedAs = "" // an executor holds the run: its calls in flight finish
	}
	c.Decide = func(ctx context.Context, run db.ScheduleRun, items []db.ScheduleRunItem) (string, string, error) {
		a := actor
		if a.Email == "" {
			a = Actor{Email: run.ActorEmail, Role: run.ActorRole} // the owner, or who ran it now
		}
		base := Params{"schedule_id": run.ScheduleID, "schedule_run_id": run.ID, "due_at": run.DueAt.UTC().Format(time.RFC3339),
			"trigger": run.Trigger, "machine_ids": run.MachineIDs}
		counts := CountRunItems(items)
		st, m, err := s.recordOutcome(ctx, a, base, counts, msg+" "+runSummary(counts)+".", true)
		final, finalMsg = st, m
		return st, m, err
	}
	closed, err := s.store.CloseScheduleRun(ctx, runID, c)
	if err != nil {
		return err
	}
	if !closed {
		return ErrRunFinished
	}
	s.emitFailed(ctx, run, final, finalMsg)
	return nil
}

// resolve lists the machine ids a run targets now.
func (s *Scheduler) resolve(ctx context.Context, sc Schedule) ([]string, error) {
	if len(sc.MachineIDs) > 0 {
		return sc.MachineIDs, nil
	}
	o, err := FilterOptions(sc.FilterQuery)
	if err != nil {
		return nil, err
	}
	l, err := s.svc.ListAllMachines(ctx, o)
	if err != nil {
		return nil, err
	}
	if len(l.Machines) > MaxBulkMachines {
		return nil, ErrBulkTooMany
	}
	ids := make([]string, 0, len(l.Machines))
	for _, m := range l.Machines {
		ids = append(ids, string(m.ID))
	}
	return ids, nil
}

// readMachines reads the current state of the machines with ids, walking
// the fleet's pages until it has seen all of them.
func readMachines(ctx context.Context, api *vagon.Client, ids []string) (map[string]vagon.Machine, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := make(map[string]vagon.Machine, len(ids))
	if len(want) == 0 {
		return out, nil
	}
	for m, err := range api.Machines(ctx, &vagon.ListMachinesOptions{Page: 1, PerPage: 100}) {
		if err != nil {
			return nil, err
		}
		if id := string(m.ID); want[id] {
			out[id] = m
			if len(out) == len(want) {
				break
			}
		}
	}
	return out, nil
}

// bulkAction maps a schedule action to the bulk action whose skip rules
// it shares.
func bulkAction(action string) string {
	if action == ScheduleStop {
		return BulkStop
	}
	return BulkStart
}

// runMachine works on one machine not yet tried in this run. It returns
// false when the machine's item could not be written (the run was closed
// meanwhile, or the database failed): no call was made then.
func (s *Scheduler) runMachine(ctx context.Context, sc Schedule, run db.ScheduleRun, owner Actor, ownerReason, id string, snap map[string]vagon.Machine) bool {
	wctx := context.WithoutCancel(ctx)
	m, known := snap[id]
	item := db.ScheduleRunItem{RunID: run.ID, MachineID: id, MachineName: m.Attributes.Name}
	final := func(state, msg string, code *int) bool {
		item.State, item.Message, item.ErrorCode, item.UpdatedAt = state, msg, code, s.Now()
		inserted, err := s.store.InsertScheduleRunItem(wctx, item)
		if err != nil {
			s.o.Log.Error("schedule: record item", "run", run.ID, "machine", id, "err", err.Error())
		}
		return inserted
	}
	switch {
	case ownerReason != "":
		return final(db.RunItemSkipped, ownerReason, nil)
	case snap != nil && !known:
		return final(db.RunItemSkipped, "Not found in the fleet: it may have been deleted.", nil)
	}
	if known {
		g := sc.Gracefully
		if reason := SkipReason(bulkAction(sc.Action), BulkParams{Gracefully: &g}, m); reason != "" {
			return final(db.RunItemSkipped, reason, nil)
		}
	}
	if sc.Action == ScheduleStop && sc.SkipActiveSessions {
		if reason := s.activeSessionReason(ctx, id, m); reason != "" {
			return final(db.RunItemSkipped, reason, nil)
		}
	}
	item.State, item.UpdatedAt = db.RunItemStarted, s.Now()
	inserted, err := s.store.InsertScheduleRunItem(ctx, item)
	if err != nil || !inserted {
		return false // not claimed: no call (a retry settles what is there)
	}
	set := func(state, msg string, code *int) {
		item.State, item.Message, item.ErrorCode, item.UpdatedAt = state, msg, code, s.Now()
		if err := s.store.SetScheduleRunItem(wctx, item); err != nil {
			s.o.Log.Error("schedule: record item", "run", run.ID, "machine", id, "err", err.Error())
		}
	}
	var seen *vagon.Machine
	if known {
		seen = &m
	}
	res, err := s.o.Power(ctx, owner, PowerRequest{Action: sc.Action, MachineID: id, Gracefully: sc.Gracefully,
		ScheduleID: sc.ID, RunID: run.ID, Machine: seen})
	o := OutcomeOf(res, err)
	state := map[ActionStatus]string{ActionDone: db.RunItemDone, ActionSkipped: db.RunItemSkipped,
		ActionUnknown: db.RunItemUnknown, ActionFailed: db.RunItemFailed}[o.Status]
	set(state, o.Message, o.Code)
	return true
}

// activeSessionReason says why a stop would cut someone off ("" when no
// session is running): a session without an end is in use.
func (s *Scheduler) activeSessionReason(ctx context.Context, id string, m vagon.Machine) string {
	sessions, err := s.svc.API().ListSessions(ctx, id)
	if err != nil {
		return "Its sessions could not be read, so it was left running rather than risk cutting someone off."
	}
	for _, se := range sessions {
		if se.Attributes.EndAt != nil {
			continue
		}
		who := "someone"
		if u := m.Attributes.User; u != nil {
			if u.Attributes.Name != "" && u.Attributes.Email != "" {
				who = u.Attributes.Name + " (" + u.Attributes.Email + ")"
			} else if u.Attributes.Email != "" {
				who = u.Attributes.Email
			}
		}
		return fmt.Sprintf("A session is running (%s, since %s UTC), so it was not stopped.", who,
			se.Attributes.StartAt.UTC().Format("2006-01-02 15:04"))
	}
	return ""
}

// settle decides an item a crashed attempt left started, by the machine's
// state: in (or on the way to) the action's result, the call went through;
// otherwise it is unknown. It never calls again.
func (s *Scheduler) settle(ctx context.Context, sc Schedule, it db.ScheduleRunItem, snap map[string]vagon.Machine) {
	it.UpdatedAt = s.Now()
	m, known := snap[it.MachineID]
	switch {
	case !known:
		it.State, it.Message = db.RunItemUnknown, "Interrupted, and the machine's state could not be read to check it. "+UnknownOutcomeHint
	case ReachedBy(sc.Action, m.Attributes.FriendlyStatus):
		it.State, it.Message = db.RunItemDone, "Settled by reading state after an interruption: the machine is "+string(m.Attributes.FriendlyStatus)+"."
	default:
		it.State, it.Message = db.RunItemUnknown, "Interrupted, and the machine is still "+string(m.Attributes.FriendlyStatus)+", so whether the call was sent is not known; it was not sent again. Check the machine."
	}
	if err := s.store.SetScheduleRunItem(ctx, it); err != nil {
		s.o.Log.Error("schedule: settle item", "run", it.RunID, "machine", it.MachineID, "err", err.Error())
	}
}

// durationWords writes a short duration in words ("10 min").
func durationWords(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.Itoa(int(d/time.Hour)) + " h"
	}
	return strings.TrimSuffix(strconv.Itoa(int(d/time.Minute)), ".0") + " min"
}

// emitFailed emits schedule.failed for a run that ended failed.
func (s *Scheduler) emitFailed(ctx context.Context, run db.ScheduleRun, state, msg string) {
	if state == db.RunFailed {
		s.svc.emit(ctx, AlertScheduleFailed, ScheduleFailedData{ScheduleID: run.ScheduleID, RunID: run.ID, Message: msg})
	}
}
