package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// Schedules run on two kinds of job. A periodic "schedule tick" (every
// ScheduleTick, enqueued by the leader, one at a time) asks the Scheduler
// for the runs now due, each claimed once across replicas by its
// (schedule, due time) row, and inserts one "schedule run" job per run,
// unique by run id. The tick also re-enqueues runs left unfinished (a
// manual run whose enqueue failed, a run whose process died), so every
// claimed run is executed, but never a run whose job was given up on
// (discarded after its attempts, or cancelled): that run is finished as
// failed. The run job calls Scheduler.ExecuteSlice, which works 4
// machines at a time for a slice of RescueAfter/4 and is snoozed to go on
// (as bulk operations), records each machine's item as started before its
// call and settles an item left started by reading the machine (never a
// second call), so a retried or rescued run job is safe. Its lease on the
// run is the job timeout and is released whenever an attempt returns
// unfinished, so a retry goes on at once.

// Job kinds of the schedules.
const (
	KindScheduleTick = "schedule_tick"
	KindScheduleRun  = "schedule_run"
)

// DefaultScheduleTick is how often due schedules are looked for: a 07:30
// schedule starts its machines within this long after 07:30.
const DefaultScheduleTick = 15 * time.Second

// ScheduleTickArgs is the job that claims due schedule runs.
type ScheduleTickArgs struct{}

// Kind implements river.JobArgs.
func (ScheduleTickArgs) Kind() string { return KindScheduleTick }

// InsertOpts: one tick at a time across replicas, none retried (the next
// tick comes soon).
func (ScheduleTickArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSchedule, MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: activeStates}}
}

// ScheduleRunArgs is the job of one claimed schedule run.
type ScheduleRunArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind implements river.JobArgs.
func (ScheduleRunArgs) Kind() string { return KindScheduleRun }

// InsertOpts: one job per run; retries are safe (Execute settles by state).
func (ScheduleRunArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSchedule, MaxAttempts: 10,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

type scheduleTickWorker struct {
	river.WorkerDefaults[ScheduleTickArgs]
	sched *fleet.Scheduler
	jobs  *Jobs
}

func (w *scheduleTickWorker) Work(ctx context.Context, _ *river.Job[ScheduleTickArgs]) error {
	claimed, err := w.sched.ClaimDue(ctx)
	if err != nil {
		return fmt.Errorf("schedules: claim due runs: %w", err)
	}
	open, err := w.sched.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("schedules: unfinished runs: %w", err)
	}
	requeue, err := w.jobs.runsToRequeue(ctx, w.sched, open)
	if err != nil {
		return err
	}
	seen := map[int64]bool{}
	var params []river.InsertManyParams
	for _, id := range append(claimed, requeue...) {
		if !seen[id] {
			seen[id] = true
			params = append(params, river.InsertManyParams{Args: ScheduleRunArgs{RunID: id}})
		}
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := w.jobs.client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("schedules: enqueue %d runs: %w", len(params), err)
	}
	return nil
}

// maxRunJobs is how many finished jobs one run may have had before the
// tick stops giving it new ones (each ended without finishing the run).
const maxRunJobs = 5

// runsToRequeue picks, of the unfinished runs open, those that need a new
// job: no job of theirs is queued or running, and their last job was not
// given up on. A run whose last job was discarded (its attempts spent) or
// cancelled is finished as failed instead, so it is not re-queued forever.
func (j *Jobs) runsToRequeue(ctx context.Context, sched *fleet.Scheduler, open []int64) ([]int64, error) {
	if len(open) == 0 {
		return nil, nil
	}
	byRun := map[int64][]*rivertype.JobRow{}
	p := river.NewJobListParams().Kinds(KindScheduleRun).
		Where("(args->>'run_id')::bigint = any(@run_ids::bigint[])", river.NamedArgs{"run_ids": open}).
		OrderBy(river.JobListOrderByID, river.SortOrderAsc).First(10000)
	res, err := j.client.JobList(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("schedules: list run jobs: %w", err)
	}
	for _, job := range res.Jobs {
		var a ScheduleRunArgs
		if json.Unmarshal(job.EncodedArgs, &a) == nil {
			byRun[a.RunID] = append(byRun[a.RunID], job)
		}
	}
	var out []int64
	for _, id := range open {
		jobs := byRun[id]
		if slices.ContainsFunc(jobs, func(r *rivertype.JobRow) bool { return slices.Contains(activeStates, r.State) }) {
			continue // queued or running: it will be executed
		}
		if len(jobs) == 0 {
			out = append(out, id) // never enqueued (run now's enqueue failed, or the tick's)
			continue
		}
		last := jobs[len(jobs)-1]
		var reason string
		switch {
		case last.State == rivertype.JobStateDiscarded:
			reason = fmt.Sprintf("Gave up after %d attempts", last.Attempt)
			if n := len(last.Errors); n > 0 {
				reason += ": " + redact(clean(last.Errors[n-1].Error, 300, false))
			}
			reason += "."
		case last.State == rivertype.JobStateCancelled:
			reason = "Stopped: its job was cancelled."
		case len(jobs) >= maxRunJobs:
			reason = fmt.Sprintf("Gave up: %d jobs ended without finishing it.", len(jobs))
		default:
			out = append(out, id) // its job ended early (a run left for later): go on
			continue
		}
		if err := sched.GiveUpRun(ctx, id, reason); err != nil && !errors.Is(err, fleet.ErrRunFinished) && !errors.Is(err, db.ErrNotFound) {
			j.log.Error("schedules: give up run", "run", id, "err", err.Error())
		}
	}
	return out, nil
}

type scheduleRunWorker struct {
	river.WorkerDefaults[ScheduleRunArgs]
	sched   *fleet.Scheduler
	slice   time.Duration
	timeout time.Duration
}

func (w *scheduleRunWorker) Timeout(*river.Job[ScheduleRunArgs]) time.Duration { return w.timeout }

func (w *scheduleRunWorker) Work(ctx context.Context, job *river.Job[ScheduleRunArgs]) error {
	// A slice at a time, as bulk operations: the lease is the job timeout,
	// so a rescued attempt of a dead process finds it lapsed.
	done, err := w.sched.ExecuteSlice(ctx, job.Args.RunID, fleet.ExecOptions{Deadline: time.Now().Add(w.slice), Lease: w.timeout})
	switch {
	case errors.Is(err, fleet.ErrRunCancelled):
		return river.JobCancel(err)
	case errors.Is(err, fleet.ErrRunBusy):
		// Another executor holds the run's lease (or held it when its
		// process died): look again once the lease may have lapsed.
		return river.JobSnooze(min(time.Minute, w.timeout))
	case err != nil && !done && ctx.Err() != nil:
		// Timeout or shutdown: the rest in a fresh attempt.
		return river.JobSnooze(0)
	case err != nil:
		return err
	case !done:
		return river.JobSnooze(0) // the slice ended: go on in a fresh attempt
	}
	return nil
}

// registerSchedules adds the schedule workers and the periodic tick.
func (j *Jobs) registerSchedules(cfg Config, timeout time.Duration, workers *river.Workers, periodic *[]*river.PeriodicJob, queues map[string]river.QueueConfig) {
	if cfg.Scheduler == nil {
		return
	}
	tick := cfg.ScheduleTick
	if tick <= 0 {
		tick = DefaultScheduleTick
	}
	river.AddWorker(workers, &scheduleTickWorker{sched: cfg.Scheduler, jobs: j})
	river.AddWorker(workers, &scheduleRunWorker{sched: cfg.Scheduler, slice: j.slice, timeout: timeout})
	queues[QueueSchedule] = river.QueueConfig{MaxWorkers: 4}
	*periodic = append(*periodic, river.NewPeriodicJob(river.PeriodicInterval(tick),
		func() (river.JobArgs, *river.InsertOpts) { return ScheduleTickArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true, ID: KindScheduleTick}))
}

// EnqueueScheduleRun inserts the job of a claimed run (fleet.RunQueue), so
// "run now" does not wait for the next tick.
func (j *Jobs) EnqueueScheduleRun(ctx context.Context, runID int64) error {
	if _, err := j.client.Insert(ctx, ScheduleRunArgs{RunID: runID}, nil); err != nil {
		return fmt.Errorf("jobs: enqueue schedule run %d: %w", runID, err)
	}
	return nil
}
