package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// Alert deliveries: one job per stored delivery (fleet.Alerts.Emit inserts
// both in one transaction). An attempt POSTs once (fleet.Alerts.Deliver,
// DeliveryTimeout) and records itself in alert_deliveries; a failure is
// returned so River retries it with backoff, up to AlertMaxAttempts, the
// last leaving the delivery failed. Errors name the host at most.

// KindAlert is the job kind of an alert delivery.
const KindAlert = "alert_delivery"

// QueueAlerts is the queue alert deliveries run on, apart from the
// fleet's work so a slow receiver holds up nothing else.
const QueueAlerts = "alerts"

// AlertMaxAttempts is how many times a delivery is tried.
const AlertMaxAttempts = 8

// AlertArgs is the job of one delivery.
type AlertArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (AlertArgs) Kind() string { return KindAlert }

// InsertOpts: one job per delivery.
func (AlertArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueAlerts, MaxAttempts: AlertMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

type alertWorker struct {
	river.WorkerDefaults[AlertArgs]
	alerts *fleet.Alerts
	retry  func(attempt int) time.Duration
}

// Timeout: one POST and two small writes.
func (w *alertWorker) Timeout(*river.Job[AlertArgs]) time.Duration {
	return fleet.DeliveryTimeout + 10*time.Second
}

// NextRetry: River's backoff unless Config.AlertRetry says otherwise.
func (w *alertWorker) NextRetry(job *river.Job[AlertArgs]) time.Time {
	if w.retry == nil {
		return time.Time{}
	}
	return time.Now().Add(w.retry(job.Attempt))
}

func (w *alertWorker) Work(ctx context.Context, job *river.Job[AlertArgs]) error {
	err := w.alerts.Deliver(ctx, job.Args.DeliveryID, job.Attempt >= job.MaxAttempts)
	if errors.Is(err, db.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("alert delivery %d: gone (its destination was deleted)", job.Args.DeliveryID))
	}
	return err
}

// registerAlerts adds the delivery worker and its queue.
func (j *Jobs) registerAlerts(cfg Config, workers *river.Workers, periodic *[]*river.PeriodicJob, queues map[string]river.QueueConfig) {
	if cfg.Alerts == nil {
		return
	}
	river.AddWorker(workers, &alertWorker{alerts: cfg.Alerts, retry: cfg.AlertRetry})
	river.AddWorker(workers, &alertCheckWorker{alerts: cfg.Alerts})
	queues[QueueAlerts] = river.QueueConfig{MaxWorkers: 4}
	every := cfg.AlertCheckInterval
	if every == 0 {
		every = DefaultAlertCheck
	}
	if every > 0 {
		*periodic = append(*periodic, river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) { return AlertCheckArgs{}, nil },
			&river.PeriodicJobOpts{ID: KindAlertCheck}))
	}
}

// KindAlertCheck is the periodic check for idle running machines and low
// usage (fleet.Alerts.Check).
const KindAlertCheck = "alert_check"

// DefaultAlertCheck is how often the check runs across replicas.
const DefaultAlertCheck = 5 * time.Minute

// AlertCheckArgs is the job of one check.
type AlertCheckArgs struct{}

// Kind implements river.JobArgs.
func (AlertCheckArgs) Kind() string { return KindAlertCheck }

// InsertOpts: one at a time, not retried (the next interval checks again).
func (AlertCheckArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueAlerts, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: activeStates}}
}

type alertCheckWorker struct {
	river.WorkerDefaults[AlertCheckArgs]
	alerts *fleet.Alerts
}

func (w *alertCheckWorker) Work(ctx context.Context, _ *river.Job[AlertCheckArgs]) error {
	_, err := w.alerts.Check(ctx)
	return err
}

// AlertCheckNow enqueues a check (tests, or an operator), unless one is
// queued or running.
func (j *Jobs) AlertCheckNow(ctx context.Context) error {
	if _, err := j.client.Insert(ctx, AlertCheckArgs{}, nil); err != nil {
		return fmt.Errorf("jobs: enqueue alert check: %w", err)
	}
	return nil
}

// EnqueueAlertTx inserts the job of delivery id in tx (fleet.AlertQueue).
func (j *Jobs) EnqueueAlertTx(ctx context.Context, tx pgx.Tx, id int64) error {
	if _, err := j.client.InsertTx(ctx, tx, AlertArgs{DeliveryID: id}, nil); err != nil {
		return fmt.Errorf("jobs: enqueue alert delivery %d: %w", id, err)
	}
	return nil
}
