package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bulk operation statuses (bulk_operations.status).
const (
	BulkQueued    = "queued"
	BulkRunning   = "running"
	BulkSucceeded = "succeeded"
	BulkFailed    = "failed"
)

// Bulk item states (bulk_items.state).
const (
	ItemPending     = "pending"
	ItemRunning     = "running"
	ItemDone        = "done"
	ItemSkipped     = "skipped"
	ItemFailed      = "failed"
	ItemInterrupted = "interrupted"
)

// BulkOp is one bulk operation.
type BulkOp struct {
	ID          int64           `db:"id"`
	Action      string          `db:"action"`
	Params      json.RawMessage `db:"params"`
	ActorEmail  string          `db:"actor_email"`
	ActorRole   string          `db:"actor_role"`
	RemoteAddr  string          `db:"remote_addr"`
	UserAgent   string          `db:"user_agent"`
	RequestID   string          `db:"request_id"`
	Concurrency int             `db:"concurrency"`
	Status      string          `db:"status"`
	CreatedAt   time.Time       `db:"created_at"`
	StartedAt   *time.Time      `db:"started_at"`
	FinishedAt  *time.Time      `db:"finished_at"`
	// CancelledBy is the email of who cancelled the operation ("" when
	// nobody did); CancelledAt when.
	CancelledBy *string    `db:"cancelled_by"`
	CancelledAt *time.Time `db:"cancelled_at"`
}

// Cancelled reports whether someone cancelled the operation.
func (o *BulkOp) Cancelled() bool { return o.CancelledBy != nil }

// Finished reports whether the operation has ended.
func (o *BulkOp) Finished() bool { return o.Status == BulkSucceeded || o.Status == BulkFailed }

// BulkItem is one machine of a bulk operation.
type BulkItem struct {
	OpID        int64  `db:"op_id"`
	Seq         int    `db:"seq"`
	MachineID   string `db:"machine_id"`
	MachineName string `db:"machine_name"`
	State       string `db:"state"`
	Message     string `db:"message"`
	ClientCode  *int   `db:"client_code"`
	Attempts    int    `db:"attempts"`
	// Runner is the token of the runner that last began the item's call
	// (0: none did).
	Runner    int64     `db:"runner"`
	UpdatedAt time.Time `db:"updated_at"`
}

const bulkOpColumns = `id, action, params, actor_email, actor_role, remote_addr, user_agent,
request_id, concurrency, status, created_at, started_at, finished_at, cancelled_by, cancelled_at`

const bulkItemColumns = `op_id, seq, machine_id, machine_name, state, message, client_code, attempts, runner, updated_at`

// CreateBulkOp stores a queued operation with one pending item per machine
// id, in the order given, and returns its id. names may be nil, or hold a
// known name per machine id. inTx, when not nil, runs in the same
// transaction once the rows are written (the job queue inserts the
// operation's job there, so an operation is never stored without its job);
// its error rolls everything back.
func (s *Store) CreateBulkOp(ctx context.Context, op *BulkOp, ids []string, names map[string]string, inTx func(ctx context.Context, tx pgx.Tx, id int64) error) (int64, error) {
	if len(ids) == 0 {
		return 0, fmt.Errorf("db: create bulk operation: no machines")
	}
	params := op.Params
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	conc := op.Concurrency
	if conc < 1 {
		conc = 1
	}
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO bulk_operations
			(action, params, actor_email, actor_role, remote_addr, user_agent, request_id, concurrency)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			op.Action, params, op.ActorEmail, op.ActorRole, op.RemoteAddr, op.UserAgent, op.RequestID, conc).Scan(&id)
		if err != nil {
			return err
		}
		rows := make([][]any, len(ids))
		for i, mid := range ids {
			rows[i] = []any{id, int32(i + 1), mid, truncate(names[mid], 300)}
		}
		if _, err = tx.CopyFrom(ctx, pgx.Identifier{"bulk_items"}, []string{"op_id", "seq", "machine_id", "machine_name"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if inTx != nil {
			return inTx(ctx, tx, id)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("db: create bulk operation: %w", err)
	}
	return id, nil
}

// BulkOp returns one operation, or ErrNotFound.
func (s *Store) BulkOp(ctx context.Context, id int64) (*BulkOp, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+bulkOpColumns+` FROM bulk_operations WHERE id = $1`, id)
	op, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[BulkOp])
	if err != nil {
		return nil, fmt.Errorf("db: bulk operation %d: %w", id, notFound(err))
	}
	op.CreatedAt = op.CreatedAt.UTC()
	for _, t := range []**time.Time{&op.StartedAt, &op.FinishedAt, &op.CancelledAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	return op, nil
}

// BulkItems returns an operation's items in their order.
func (s *Store) BulkItems(ctx context.Context, opID int64) ([]BulkItem, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+bulkItemColumns+` FROM bulk_items WHERE op_id = $1 ORDER BY seq`, opID)
	items, err := pgx.CollectRows(rows, pgx.RowToStructByName[BulkItem])
	if err != nil {
		return nil, fmt.Errorf("db: bulk items of %d: %w", opID, err)
	}
	for i := range items {
		items[i].UpdatedAt = items[i].UpdatedAt.UTC()
	}
	return items, nil
}

// ErrBulkFenced means a newer runner took the operation over (or it is
// finished), or the item is no longer in the state its caller saw: the
// claim or write changed nothing, and the caller must not make the call.
var ErrBulkFenced = errors.New("db: the bulk operation was taken over by another runner, or the item changed")

// StartBulkOp marks an unfinished operation running, keeping the time it
// first started, and returns a new runner token: from now on only claims
// and writes naming this token take effect (BeginBulkItem,
// SetBulkItemResult), so the runner before it is fenced off. ErrBulkFenced
// when the operation has finished.
func (s *Store) StartBulkOp(ctx context.Context, id int64) (runner int64, err error) {
	err = s.pool.QueryRow(ctx, `UPDATE bulk_operations
		SET status = 'running', started_at = coalesce(started_at, now()), runner = runner + 1
		WHERE id = $1 AND status IN ('queued', 'running') RETURNING runner`, id).Scan(&runner)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("db: start bulk operation %d: %w", id, ErrBulkFenced)
	}
	if err != nil {
		return 0, fmt.Errorf("db: start bulk operation %d: %w", id, err)
	}
	return runner, nil
}

// FinishBulkOp marks an operation succeeded or failed. It reports false when
// the operation had already finished.
func (s *Store) FinishBulkOp(ctx context.Context, id int64, status string) (bool, error) {
	if status != BulkSucceeded && status != BulkFailed {
		return false, fmt.Errorf("db: finish bulk operation %d: bad status %q", id, status)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE bulk_operations SET status = $2, finished_at = now()
		WHERE id = $1 AND status IN ('queued', 'running')`, id, status)
	if err != nil {
		return false, fmt.Errorf("db: finish bulk operation %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetBulkItemName records a machine's name on its item.
func (s *Store) SetBulkItemName(ctx context.Context, opID int64, machineID, name string) error {
	_, err := s.pool.Exec(ctx, `UPDATE bulk_items SET machine_name = $3 WHERE op_id = $1 AND machine_id = $2`,
		opID, machineID, truncate(name, 300))
	if err != nil {
		return fmt.Errorf("db: bulk item name: %w", err)
	}
	return nil
}

// BeginBulkItem claims an item for its API call, before the call: it marks
// it running under runner and returns how many times a call has now been
// begun for it. The claim holds only while runner is the operation's
// current token and the item is still in state with the attempts its
// caller read (one conditional UPDATE; the operation's row is locked FOR
// SHARE, so a StartBulkOp bumping the token either waits for the claim or
// makes it fail). ErrBulkFenced, changing nothing, otherwise.
func (s *Store) BeginBulkItem(ctx context.Context, opID int64, machineID string, runner int64, state string, seenAttempts int) (attempts int, err error) {
	err = s.pool.QueryRow(ctx, `WITH op AS (
			SELECT 1 FROM bulk_operations
			WHERE id = $1 AND runner = $3 AND status = 'running' FOR SHARE)
		UPDATE bulk_items
		SET state = 'running', attempts = attempts + 1, runner = $3, message = '', client_code = NULL, updated_at = now()
		WHERE op_id = $1 AND machine_id = $2 AND state = $4 AND attempts = $5 AND EXISTS (SELECT 1 FROM op)
		RETURNING attempts`, opID, machineID, runner, state, seenAttempts).Scan(&attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("db: begin bulk item %s of %d: %w", machineID, opID, ErrBulkFenced)
	}
	if err != nil {
		return 0, fmt.Errorf("db: begin bulk item: %w", err)
	}
	return attempts, nil
}

// SetBulkItemResult records an item's final (or pending) state, on behalf
// of runner: ErrBulkFenced, changing nothing, when runner is no longer the
// operation's token (a newer runner settles the item instead).
func (s *Store) SetBulkItemResult(ctx context.Context, opID int64, machineID string, runner int64, state, message string, code *int) error {
	tag, err := s.pool.Exec(ctx, `WITH op AS (
			SELECT 1 FROM bulk_operations WHERE id = $1 AND runner = $6 FOR SHARE)
		UPDATE bulk_items SET state = $3, message = $4, client_code = $5, updated_at = now()
		WHERE op_id = $1 AND machine_id = $2 AND EXISTS (SELECT 1 FROM op)`,
		opID, machineID, state, truncate(message, 1000), code, runner)
	if err != nil {
		return fmt.Errorf("db: bulk item result: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: bulk item result %s of %d: %w", machineID, opID, ErrBulkFenced)
	}
	return nil
}

// CancelBulkOp cancels an unfinished operation for by (an email): it records
// who and when, and marks every pending item skipped with "Cancelled by
// <by>." in one transaction. Items running (a call in flight) are left to
// finish. It reports false, changing nothing, when the operation had
// already finished or been cancelled; ErrNotFound when there is none.
func (s *Store) CancelBulkOp(ctx context.Context, id int64, by string) (bool, error) {
	var ok bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var status string
		var cancelled bool
		err := tx.QueryRow(ctx, `SELECT status, cancelled_by IS NOT NULL FROM bulk_operations WHERE id = $1 FOR UPDATE`, id).Scan(&status, &cancelled)
		if err != nil {
			return notFound(err)
		}
		if cancelled || (status != BulkQueued && status != BulkRunning) {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE bulk_operations SET cancelled_by = $2, cancelled_at = now() WHERE id = $1`, id, truncate(by, 320)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE bulk_items SET state = 'skipped', message = $2, updated_at = now()
			WHERE op_id = $1 AND state = 'pending'`, id, truncate("Cancelled by "+by+".", 1000)); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("db: cancel bulk operation %d: %w", id, err)
	}
	return ok, nil
}

// BulkOpCancelled reports whether an operation was cancelled.
func (s *Store) BulkOpCancelled(ctx context.Context, id int64) (bool, error) {
	var cancelled bool
	err := s.pool.QueryRow(ctx, `SELECT cancelled_by IS NOT NULL FROM bulk_operations WHERE id = $1`, id).Scan(&cancelled)
	if err != nil {
		return false, fmt.Errorf("db: bulk operation %d cancelled: %w", id, notFound(err))
	}
	return cancelled, nil
}
