// Package jobs runs the dashboard's background work on River, a Postgres
// job queue: bulk operations, the periodic sessions sync and activity-log
// import, and schedules.
// It owns the River client, its queues, workers and periodic jobs, and
// River's migrations.
//
// It sits between cmd/dashboard, which wires it, and fleet, whose engines
// (fleet.Bulk, fleet.Syncer) do the work: jobs imports fleet, db and River;
// only cmd/dashboard and tests import jobs. web never sees River: it
// submits and cancels through fleet.Bulk, which enqueues through the
// fleet.BulkQueue interface that *Jobs implements.
//
// # Resume and rescue
//
// A bulk operation is one River job (unique by operation id, so never two).
// River runs a job again when the process running it died: its rescuer,
// on the elected leader, takes a job still `running` after RescueAfter for
// dead and schedules a retry, which any replica picks up. The rescuer
// cannot tell a dead process from a slow job, so no attempt may run that
// long: an attempt works for a slice of RescueAfter/4, then stops
// beginning machines, lets the calls in flight finish, and snoozes the job
// (River puts it straight back as available, without spending an attempt)
// for the next slice. River's job timeout (RescueAfter/2) cancels an
// attempt that overruns anyway, and after it the attempt's remaining work
// is bounded (fleet.TailTimeout + fleet.BulkWriteTimeout, less than
// RescueAfter/2 for any RescueAfter >= config.MinJobsRescueAfter), so a
// live attempt is over before the rescuer would look at it. Should one
// still be alive (a stalled process), Postgres fences it off: each attempt
// takes a new runner token, and an item's call is begun only by a
// conditional claim naming the current token (db.BeginBulkItem), so two
// attempts never both begin a machine. The state lives in bulk_items, not
// in the job: a new attempt re-reads it, runs what is pending, and settles
// an item left `running` by reading the machine's state (fleet.ReachedBy's
// policy: at most one more call, and only when the state clearly shows the
// first did not happen).
//
// # The sessions sync
//
// A sync pass over a large fleet outlasts RescueAfter/2 (10,000 machines at
// 8 calls at once and 150-300 ms a call take 190-375 s), so it runs in
// slices too: one job per pass (unique while queued or running: one pass at
// a time across replicas), each attempt working on it for RescueAfter/4
// (fleet.Syncer.RunSlice), then listing and fetching no new machine,
// letting its calls in flight finish, writing what it fetched, recording
// the page it stopped at, and snoozing the job. The next attempt, here or
// on another replica, continues the same pass: the pass carries its job's
// id (fleet.Syncer.JobPass), and a new slice lists from that page, skips
// the machines the pass already holds, and adds to its counts. Only the
// slice whose listing reaches the last page finishes the pass (deleted
// machines marked, history pruned). A rescued attempt (its process died)
// continues the pass too: what it had written is whole (each batch is one
// transaction), what it had not is fetched again. Each slice takes the pass
// by a new slice number, and every write of a slice names it, so a rescued
// attempt still alive writes nothing more. A pass whose job ends without
// finishing it (cancelled, or out of attempts) is closed as interrupted by
// the next sync job.
//
// # Shutdown
//
// Stop tells running bulk and sync slices at once to begin no new machine,
// then waits for the calls in flight (River's soft stop); the snoozed job
// goes on at once on another replica.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// Queue names.
const (
	QueueBulk     = "bulk"
	QueueSync     = "sync"
	QueueSchedule = "schedule"
	QueueActivity = "activity"
)

// Job kinds (river_job.kind).
const (
	KindBulk = "bulk_op"
	KindSync = "sessions_sync"
	// KindActivity imports Vagon's activity log (fleet.ActivityImporter).
	KindActivity = "activity_import"
)

// Defaults of Config.
const (
	DefaultRescueAfter = 5 * time.Minute
	// DefaultSoftStop is how long Stop lets running jobs finish before it
	// cancels them.
	DefaultSoftStop = 15 * time.Second
)

// Migrate applies River's migrations to the store's database, after the
// app's own (db.Migrate). Replicas starting together take turns (a
// Postgres advisory lock); with nothing to apply it only reads River's
// version table.
func Migrate(ctx context.Context, store *db.Store) error {
	return store.WithMigrateLock(ctx, func(ctx context.Context) error {
		m, err := rivermigrate.New(riverpgxv5.New(store.Pool()), nil)
		if err != nil {
			return fmt.Errorf("jobs: migrate: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42501" {
				// A role that may not create tables: the owner must migrate.
				return fmt.Errorf("%w (River's job queue tables): %v", db.ErrMigrateNotOwner, err)
			}
			return fmt.Errorf("jobs: migrate: %w", err)
		}
		return nil
	})
}

// Config configures New.
type Config struct {
	// Bulk runs bulk operations; nil registers no bulk worker.
	Bulk *fleet.Bulk
	// BulkWorkers is how many operations this process works on at once
	// (fleet.DefaultBulkMaxOps when zero).
	BulkWorkers int
	// Syncer makes sessions-sync passes; nil registers no sync worker.
	Syncer *fleet.Syncer
	// SyncInterval is how often the sync runs across all replicas; zero
	// disables the periodic job (a pass can still be enqueued, SyncNow).
	SyncInterval time.Duration
	// Activity imports Vagon's activity log; nil registers no worker. It
	// runs every SyncInterval, like the sessions sync (zero: only when
	// enqueued, ActivityNow).
	Activity *fleet.ActivityImporter
	// Scheduler keeps schedules; nil registers no schedule workers.
	Scheduler *fleet.Scheduler
	// ScheduleTick is how often due schedules are claimed
	// (DefaultScheduleTick when zero).
	ScheduleTick time.Duration
	// RescueAfter is how long a job may look running before it is taken
	// for dead and run again (JOBS_RESCUE_AFTER; DefaultRescueAfter).
	RescueAfter time.Duration
	// Alerts delivers alert events (alerts.go); nil registers no worker.
	Alerts *fleet.Alerts
	// AlertRetry, when set, is the wait before a delivery's next attempt
	// (tests); River's backoff otherwise.
	AlertRetry func(attempt int) time.Duration
	// AlertCheckInterval is how often idle running machines and low
	// usage are checked (DefaultAlertCheck when zero; negative: never).
	AlertCheckInterval time.Duration
	Log                *slog.Logger
}

// Jobs is the River client with the dashboard's workers.
type Jobs struct {
	client *river.Client[pgx.Tx]
	log    *slog.Logger
	slice  time.Duration
	// stopping is closed by Stop: running bulk slices begin no new machine
	// (River's soft stop is not visible to a worker).
	stopping chan struct{}
	stopOnce sync.Once
}

// New builds the client over the store's pool. Start runs it.
func New(store *db.Store, cfg Config) (*Jobs, error) {
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = DefaultRescueAfter
	}
	if cfg.BulkWorkers <= 0 {
		cfg.BulkWorkers = fleet.DefaultBulkMaxOps
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	timeout := cfg.RescueAfter / 2
	j := &Jobs{log: cfg.Log, slice: cfg.RescueAfter / 4, stopping: make(chan struct{})}

	workers := river.NewWorkers()
	var periodic []*river.PeriodicJob
	queues := map[string]river.QueueConfig{}
	if cfg.Bulk != nil {
		river.AddWorker(workers, &bulkWorker{bulk: cfg.Bulk, slice: j.slice, timeout: timeout, stopping: j.stopping})
		queues[QueueBulk] = river.QueueConfig{MaxWorkers: cfg.BulkWorkers}
	}
	if cfg.Syncer != nil {
		river.AddWorker(workers, &syncWorker{syncer: cfg.Syncer, slice: j.slice, timeout: timeout, stopping: j.stopping, log: cfg.Log})
		queues[QueueSync] = river.QueueConfig{MaxWorkers: 1}
		if cfg.SyncInterval > 0 {
			// The leader enqueues; the job's uniqueness keeps a pass from
			// being enqueued while another is queued or running.
			periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.SyncInterval),
				func() (river.JobArgs, *river.InsertOpts) { return SyncArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true, ID: KindSync}))
		}
	}
	if cfg.Activity != nil {
		river.AddWorker(workers, &activityWorker{importer: cfg.Activity, timeout: timeout})
		queues[QueueActivity] = river.QueueConfig{MaxWorkers: 1}
		if cfg.SyncInterval > 0 {
			periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(cfg.SyncInterval),
				func() (river.JobArgs, *river.InsertOpts) { return ActivityArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true, ID: KindActivity}))
		}
	}
	// Schedules: a periodic tick claims due runs, a job per run executes
	// it (schedules.go).
	j.registerSchedules(cfg, timeout, workers, &periodic, queues)
	j.registerAlerts(cfg, workers, &periodic, queues)

	client, err := river.NewClient(riverpgxv5.New(store.Pool()), &river.Config{
		Queues:               queues,
		Workers:              workers,
		PeriodicJobs:         periodic,
		JobTimeout:           timeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		Logger:               cfg.Log,
		// The client id (river_job.attempted_by) names the process, so an
		// operator can tell which replica works on a job.
		ID: clientID(),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	j.client = client
	return j, nil
}

// clientID is host_pid_start-time, within River's 100 characters.
func clientID() string {
	host, _ := os.Hostname()
	host = strings.NewReplacer(".", "_", "-", "_", ":", "_").Replace(host)
	if len(host) > 60 {
		host = host[:60]
	}
	if host == "" {
		host = "unknown_host"
	}
	return fmt.Sprintf("%s_pid%d_%s", host, os.Getpid(), time.Now().UTC().Format("20060102T150405"))
}

// Start starts working jobs; it returns at once. Jobs left unfinished by a
// previous process (a crash, or a shutdown that cut them off) are picked up
// again: snoozed and retryable ones at once, running ones of a dead
// process once the rescuer finds them.
func (j *Jobs) Start(ctx context.Context) error {
	if err := j.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop stops fetching jobs, tells running bulk slices to begin no new
// machine, and waits up to soft for the running jobs to finish: a bulk
// slice returns once its calls in flight have ended (one machine call each,
// well within soft) and snoozes its job, which goes on at once on another
// replica or at the next start. A job still running after soft is
// cancelled (a call then in flight is cut off and settled by the next
// slice by reading state) and Stop waits up to 10 s more for it to return.
func (j *Jobs) Stop(soft time.Duration) {
	j.stopOnce.Do(func() { close(j.stopping) })
	ctx, cancel := context.WithTimeout(context.Background(), soft)
	defer cancel()
	err := j.client.Stop(ctx)
	if err == nil {
		return
	}
	j.log.Warn("jobs: running jobs did not finish in time; cancelling them", "after", soft)
	hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer hcancel()
	if err := j.client.StopAndCancel(hctx); err != nil {
		j.log.Error("jobs: stop", "err", err.Error())
	}
}

// Client is the River client, for tests and the lead's schedule wiring.
func (j *Jobs) Client() *river.Client[pgx.Tx] { return j.client }

// EnqueueBulkTx inserts the job of bulk operation id in tx (fleet.BulkQueue).
func (j *Jobs) EnqueueBulkTx(ctx context.Context, tx pgx.Tx, id int64) error {
	if _, err := j.client.InsertTx(ctx, tx, BulkArgs{OpID: id}, nil); err != nil {
		return fmt.Errorf("jobs: enqueue bulk %d: %w", id, err)
	}
	return nil
}

// SyncNow enqueues a sessions-sync pass, unless one is queued or running
// (a pass under way between two slices counts as queued).
func (j *Jobs) SyncNow(ctx context.Context) error {
	if _, err := j.client.Insert(ctx, SyncArgs{}, nil); err != nil {
		return fmt.Errorf("jobs: enqueue sync: %w", err)
	}
	return nil
}

// ActivityNow enqueues an activity-log import, unless one is queued or
// running.
func (j *Jobs) ActivityNow(ctx context.Context) error {
	if _, err := j.client.Insert(ctx, ActivityArgs{}, nil); err != nil {
		return fmt.Errorf("jobs: enqueue activity import: %w", err)
	}
	return nil
}

// activeStates are the states in which a job counts for uniqueness: a
// finished job does not keep the next one out.
var activeStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// BulkArgs is the job of one bulk operation.
type BulkArgs struct {
	OpID int64 `json:"op_id"`
}

// Kind implements river.JobArgs.
func (BulkArgs) Kind() string { return KindBulk }

// InsertOpts: one job per operation; an attempt is spent only by a crash
// or an error (a slice's end snoozes), and every attempt is safe, since it
// re-reads the items' state.
func (BulkArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueBulk, MaxAttempts: 25,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

type bulkWorker struct {
	river.WorkerDefaults[BulkArgs]
	bulk     *fleet.Bulk
	slice    time.Duration
	timeout  time.Duration
	stopping <-chan struct{}
}

func (w *bulkWorker) Timeout(*river.Job[BulkArgs]) time.Duration { return w.timeout }

func (w *bulkWorker) Work(ctx context.Context, job *river.Job[BulkArgs]) error {
	id := job.Args.OpID
	done, err := w.bulk.RunSlice(ctx, id, time.Now().Add(w.slice), w.stopping)
	if errors.Is(err, db.ErrNotFound) {
		return river.JobCancel(err) // the operation is gone
	}
	if err != nil {
		return err // retried with backoff: the next attempt re-reads the items
	}
	if !done {
		// The slice ended (its deadline, Stop, or ctx: timeout or a hard
		// stop). The rest in a fresh attempt, so none looks stuck to the
		// rescuer.
		return river.JobSnooze(0)
	}
	if st, err := w.bulk.Get(context.WithoutCancel(ctx), id); err == nil && st.Op.Cancelled() {
		return river.JobCancel(fmt.Errorf("bulk operation %d cancelled by %s", id, *st.Op.CancelledBy))
	}
	return nil
}

// SyncArgs is the job of one sessions-sync pass.
type SyncArgs struct{}

// Kind implements river.JobArgs.
func (SyncArgs) Kind() string { return KindSync }

// SyncMaxAttempts bounds the attempts of a sync job. A slice's end snoozes
// (no attempt spent); a crash (rescue) or an error spends one, and the next
// attempt continues the same pass.
const SyncMaxAttempts = 5

// InsertOpts: one pass at a time across replicas. A finished pass is not
// retried, even a failed one (the next interval makes the next pass).
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSync, MaxAttempts: SyncMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByState: activeStates}}
}

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	syncer   *fleet.Syncer
	slice    time.Duration
	timeout  time.Duration
	stopping <-chan struct{}
	log      *slog.Logger
}

func (w *syncWorker) Timeout(*river.Job[SyncArgs]) time.Duration { return w.timeout }

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	passID, err := w.syncer.JobPass(ctx, job.ID)
	if err != nil {
		if ctx.Err() != nil {
			return river.JobSnooze(0)
		}
		return err // retried with backoff
	}
	// A finished pass logs and publishes its own result.
	_, done, err := w.syncer.RunSlice(ctx, passID, time.Now().Add(w.slice), w.stopping)
	switch {
	case done && err != nil:
		// Failed (the pass record says why): not retried, a retry would
		// be a new pass; the next interval makes one.
		return river.JobCancel(err)
	case done:
		return nil
	case errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely):
		// Cancelled from the jobs page: nobody will continue the pass.
		if aerr := w.syncer.AbandonPass(context.WithoutCancel(ctx), passID, "stopped: its job was cancelled"); aerr != nil {
			w.log.Warn("sessions sync: close the pass of a cancelled job", "pass", passID, "err", aerr.Error())
		}
		return river.JobCancel(context.Cause(ctx))
	case err != nil && ctx.Err() == nil:
		return err // retried with backoff; the next attempt continues the pass
	}
	// The slice ended (its deadline, Stop, or ctx: timeout or a hard stop):
	// the rest in a fresh attempt, so that none looks stuck to the rescuer.
	return river.JobSnooze(0)
}

// ActivityArgs is the job of one activity-log import run.
type ActivityArgs struct{}

// Kind implements river.JobArgs.
func (ActivityArgs) Kind() string { return KindActivity }

// InsertOpts: one run at a time across replicas, none retried (the next
// interval goes on from what is stored).
func (ActivityArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueActivity, MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: activeStates}}
}

type activityWorker struct {
	river.WorkerDefaults[ActivityArgs]
	importer *fleet.ActivityImporter
	timeout  time.Duration
}

func (w *activityWorker) Timeout(*river.Job[ActivityArgs]) time.Duration { return w.timeout }

func (w *activityWorker) Work(ctx context.Context, _ *river.Job[ActivityArgs]) error {
	// RunOnce logs and publishes its own result.
	_, err := w.importer.RunOnce(ctx)
	return err
}
