package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery states of alert_deliveries.status.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// AlertWebhook is one alert destination. URL and Secret are credentials:
// never display, log or audit them.
type AlertWebhook struct {
	ID        int64
	Name      string
	URL       string
	Format    string
	Secret    string
	Events    []string
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AlertDelivery is one event sent (or being sent) to one destination.
type AlertDelivery struct {
	ID        int64
	WebhookID int64
	Event     string
	Payload   []byte
	Status    string
	Attempts  int
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const webhookCols = `id, name, url, format, secret, events, created_by, created_at, updated_at`

func scanWebhook(row pgx.Row) (AlertWebhook, error) {
	var w AlertWebhook
	err := row.Scan(&w.ID, &w.Name, &w.URL, &w.Format, &w.Secret, &w.Events, &w.CreatedBy, &w.CreatedAt, &w.UpdatedAt)
	return w, notFound(err)
}

// CreateAlertWebhook stores w and returns its id.
func (s *Store) CreateAlertWebhook(ctx context.Context, w AlertWebhook) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO alert_webhooks (name, url, format, secret, events, created_by)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, w.Name, w.URL, w.Format, w.Secret, w.Events, w.CreatedBy).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("db: create alert webhook: %w", err)
	}
	return id, nil
}

// UpdateAlertWebhook replaces the fields of destination w.ID; an empty URL
// or Secret keeps the stored one. ErrNotFound when there is none.
func (s *Store) UpdateAlertWebhook(ctx context.Context, w AlertWebhook) error {
	tag, err := s.pool.Exec(ctx, `UPDATE alert_webhooks SET name = $2,
		url = CASE WHEN $3 = '' THEN url ELSE $3 END,
		secret = CASE WHEN $4 = '' THEN secret ELSE $4 END,
		format = $5, events = $6, updated_at = now() WHERE id = $1`,
		w.ID, w.Name, w.URL, w.Secret, w.Format, w.Events)
	if err != nil {
		return fmt.Errorf("db: update alert webhook: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteAlertWebhook deletes destination id and its delivery log.
func (s *Store) DeleteAlertWebhook(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM alert_webhooks WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("db: delete alert webhook: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// AlertWebhook reads destination id.
func (s *Store) AlertWebhook(ctx context.Context, id int64) (AlertWebhook, error) {
	return scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookCols+` FROM alert_webhooks WHERE id = $1`, id))
}

// AlertWebhooks lists every destination by name.
func (s *Store) AlertWebhooks(ctx context.Context) ([]AlertWebhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+webhookCols+` FROM alert_webhooks ORDER BY lower(name), id`)
	if err != nil {
		return nil, fmt.Errorf("db: alert webhooks: %w", err)
	}
	defer rows.Close()
	var out []AlertWebhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("db: alert webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// InsertAlertDeliveries stores one pending delivery of event per
// destination subscribed to it (only webhookID when it is not 0, whatever
// its events: a test send) and calls enqueue for each in the same
// transaction, so a delivery exists exactly when its job does.
func (s *Store) InsertAlertDeliveries(ctx context.Context, event string, payload []byte, webhookID int64, enqueue func(ctx context.Context, tx pgx.Tx, id int64) error) ([]int64, error) {
	var ids []int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `INSERT INTO alert_deliveries (webhook_id, event, payload)
			SELECT id, $1, $2 FROM alert_webhooks
			WHERE CASE WHEN $3::bigint = 0 THEN $1 = ANY(events) ELSE id = $3 END
			RETURNING id`, event, payload, webhookID)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := enqueue(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: insert alert deliveries: %w", err)
	}
	return ids, nil
}

// AlertDeliveryTarget is a delivery with its destination, for the worker.
type AlertDeliveryTarget struct {
	Delivery AlertDelivery
	Webhook  AlertWebhook
}

const deliveryCols = `d.id, d.webhook_id, d.event, d.payload, d.status, d.attempts, d.last_error, d.created_at, d.updated_at`

func scanDelivery(row pgx.Row, extra ...any) (AlertDelivery, error) {
	var d AlertDelivery
	dst := append([]any{&d.ID, &d.WebhookID, &d.Event, &d.Payload, &d.Status, &d.Attempts, &d.LastError, &d.CreatedAt, &d.UpdatedAt}, extra...)
	return d, notFound(row.Scan(dst...))
}

// AlertDeliveryTarget reads delivery id with its destination; ErrNotFound
// when either is gone.
func (s *Store) AlertDeliveryTarget(ctx context.Context, id int64) (AlertDeliveryTarget, error) {
	var w AlertWebhook
	row := s.pool.QueryRow(ctx, `SELECT `+deliveryCols+`, w.name, w.url, w.format, w.secret, w.events
		FROM alert_deliveries d JOIN alert_webhooks w ON w.id = d.webhook_id WHERE d.id = $1`, id)
	d, err := scanDelivery(row, &w.Name, &w.URL, &w.Format, &w.Secret, &w.Events)
	w.ID = d.WebhookID
	return AlertDeliveryTarget{Delivery: d, Webhook: w}, err
}

// RecordAlertAttempt counts one attempt of delivery id, with its status and
// (sanitised) error.
func (s *Store) RecordAlertAttempt(ctx context.Context, id int64, status, lastError string) error {
	_, err := s.pool.Exec(ctx, `UPDATE alert_deliveries SET attempts = attempts + 1, status = $2,
		last_error = $3, updated_at = now() WHERE id = $1`, id, status, lastError)
	if err != nil {
		return fmt.Errorf("db: record alert attempt: %w", err)
	}
	return nil
}

// AlertDelivery reads delivery id.
func (s *Store) AlertDelivery(ctx context.Context, id int64) (AlertDelivery, error) {
	return scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryCols+` FROM alert_deliveries d WHERE d.id = $1`, id))
}

// AlertDeliveries lists the newest limit deliveries of destination
// webhookID.
func (s *Store) AlertDeliveries(ctx context.Context, webhookID int64, limit int) ([]AlertDelivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryCols+` FROM alert_deliveries d
		WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2`, webhookID, limit)
	if err != nil {
		return nil, fmt.Errorf("db: alert deliveries: %w", err)
	}
	defer rows.Close()
	var out []AlertDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("db: alert deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// IdleRunning is a machine in status running (its latest snapshot) with
// no open session since IdleSince.
type IdleRunning struct {
	MachineID string    `db:"machine_id"`
	Name      string    `db:"name"`
	IdleSince time.Time `db:"idle_since"`
}

// IdleRunningMachines returns the machines (not deleted) whose latest
// snapshot says status, with no open session, idle since before cutoff:
// idle since is the later of the end of their last session and the first
// snapshot of their current streak in status.
func (s *Store) IdleRunningMachines(ctx context.Context, status string, cutoff time.Time) ([]IdleRunning, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT machine_id, name, idle_since FROM (
			SELECT ml.machine_id, ml.name,
				greatest(
					(SELECT min(sn.taken_at) FROM machine_snapshots sn
					 WHERE sn.machine_id = ml.machine_id AND sn.taken_at > coalesce(
						(SELECT max(x.taken_at) FROM machine_snapshots x
						 WHERE x.machine_id = ml.machine_id AND x.status <> $1), '-infinity')),
					(SELECT max(coalesce(ms.end_at, 'infinity'::timestamptz)) FROM machine_sessions ms
					 WHERE ms.machine_id = ml.machine_id)
				) AS idle_since
			FROM machines_latest ml
			WHERE ml.gone_at IS NULL AND ml.status = $1
		) q
		WHERE idle_since IS NOT NULL AND idle_since <= $2
		ORDER BY machine_id`, status, cutoff)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[IdleRunning])
	if err != nil {
		return nil, fmt.Errorf("db: idle running machines: %w", err)
	}
	return out, nil
}

// ClaimAlertSent records that event was sent for subject's condition that
// began at since; false when it had been already (do not send again).
func (s *Store) ClaimAlertSent(ctx context.Context, event, subject string, since time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO alert_sent (event, subject, since) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, event, subject, since)
	if err != nil {
		return false, fmt.Errorf("db: claim alert sent: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ClearAlertSent forgets event's rows for every subject not in keep, so
// a condition that ended alerts again when it comes back.
func (s *Store) ClearAlertSent(ctx context.Context, event string, keep []string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM alert_sent WHERE event = $1 AND NOT (subject = ANY($2))`, event, keep)
	if err != nil {
		return fmt.Errorf("db: clear alert sent: %w", err)
	}
	return nil
}
