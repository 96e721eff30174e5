package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// Schedules run on two kinds of job. A periodic "schedule tick" (every
// ScheduleTick, enqueued by the leader, one at a time) asks the Scheduler
// for the runs now due, each claimed once across replicas by its
// (schedule, due time) row, and inserts one "schedule run" job per run,
// unique by run id. The tick also re-enqueues runs left unfinished (a
// manual run whose enqueue failed, a run whose process died), so every
// claimed run is executed. The run job calls Scheduler.Execute, which
// records each machine's item as started before its call and settles an
// item left started by reading the machine (never a second call), so a
// retried or rescued run job is safe.

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
	seen := map[int64]bool{}
	var params []river.InsertManyParams
	for _, id := range append(claimed, open...) {
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

type scheduleRunWorker struct {
	river.WorkerDefaults[ScheduleRunArgs]
	sched   *fleet.Scheduler
	timeout time.Duration
}

func (w *scheduleRunWorker) Timeout(*river.Job[ScheduleRunArgs]) time.Duration { return w.timeout }

func (w *scheduleRunWorker) Work(ctx context.Context, job *river.Job[ScheduleRunArgs]) error {
	err := w.sched.Execute(ctx, job.Args.RunID)
	if errors.Is(err, fleet.ErrRunBusy) {
		// Another executor holds the run's lease (or held it when its
		// process died): look again once the lease may have lapsed.
		return river.JobSnooze(time.Minute)
	}
	return err
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
	river.AddWorker(workers, &scheduleRunWorker{sched: cfg.Scheduler, timeout: timeout})
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
