package db

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditAction is one action as a person reads the log: the row that tells
// how it ended and, for an audited call, the started row written before it.
// An action that has a started row but no outcome yet (in flight, or its
// outcome could not be written) is its started row alone.
type AuditAction struct {
	AuditEvent             // the outcome row, or a started row without one
	Started    *AuditEvent // the started row paired with an outcome row; nil if none
}

// pairWindow bounds how far apart in time a started row and its outcome row
// may be: far more than any API call takes, and it lets the pairing query
// use the index on at instead of scanning the log.
const pairWindow = time.Hour

// maxActionChunks bounds the reads of one ListAuditActions page, for a
// filter that matches long runs of started rows whose outcomes are listed
// elsewhere.
const maxActionChunks = 20

// ListAuditActions returns one page of actions, newest first: each outcome
// row matching f with its started row (same request_id, action and
// machine_id, written before it), and started rows matching f that have no
// outcome. A started row whose outcome exists is not listed on its own,
// whichever page that outcome is on. The page holds up to f.Limit actions
// (default DefaultAuditLimit), fewer when maxActionChunks reads did not find
// as many; nextBeforeID is the cursor for the next page (0 at the end), as
// for ListAudit.
func (s *Store) ListAuditActions(ctx context.Context, f AuditFilter) (actions []AuditAction, nextBeforeID int64, err error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	f.Limit = limit
	for chunk := 1; ; chunk++ {
		page, next, err := s.ListAudit(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		got, err := s.pairAudit(ctx, page)
		if err != nil {
			return nil, 0, fmt.Errorf("db: list audit actions: %w", err)
		}
		actions = append(actions, got...)
		switch {
		case len(actions) > limit:
			// More rows of this chunk follow the last action kept: the
			// next page starts after it.
			actions = actions[:limit]
			return actions, actions[limit-1].ID, nil
		case len(actions) == limit || next == 0 || chunk == maxActionChunks:
			// (After maxActionChunks reads the page may be short; the
			// cursor goes on from the last row read.)
			return actions, next, nil
		}
		f.BeforeID = next
	}
}

// pairAudit turns a page of rows (newest first) into actions, reading the
// rows of the same requests around them.
func (s *Store) pairAudit(ctx context.Context, page []AuditEvent) ([]AuditAction, error) {
	var reqIDs []string
	var lo, hi time.Time
	for _, e := range page {
		if e.RequestID == "" {
			continue
		}
		if !slices.Contains(reqIDs, e.RequestID) {
			reqIDs = append(reqIDs, e.RequestID)
		}
		if lo.IsZero() || e.At.Before(lo) {
			lo = e.At
		}
		if hi.IsZero() || e.At.After(hi) {
			hi = e.At
		}
	}
	// The rows of the page's requests, in id order.
	var related []AuditEvent
	if len(reqIDs) > 0 {
		rows, _ := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_events
			WHERE at >= $1 AND at <= $2 AND request_id = ANY($3) ORDER BY id`,
			lo.Add(-pairWindow), hi.Add(pairWindow), reqIDs)
		var err error
		related, err = pgx.CollectRows(rows, pgx.RowToStructByName[AuditEvent])
		if err != nil {
			return nil, err
		}
	}
	// Walk each (request, action, machine) in id order: an outcome row
	// closes the latest open started row before it.
	type key struct{ req, action, machine string }
	open := map[key]*AuditEvent{}
	startedOf := map[int64]*AuditEvent{} // outcome row id -> its started row
	closed := map[int64]bool{}           // started row ids that have an outcome
	for i := range related {
		e := &related[i]
		e.At = e.At.UTC()
		k := key{e.RequestID, e.Action, e.MachineID}
		if e.Outcome == OutcomeStarted {
			open[k] = e
			continue
		}
		if st := open[k]; st != nil {
			startedOf[e.ID] = st
			closed[st.ID] = true
			delete(open, k)
		}
	}
	out := make([]AuditAction, 0, len(page))
	for _, e := range page {
		if e.Outcome == OutcomeStarted && closed[e.ID] {
			continue
		}
		out = append(out, AuditAction{AuditEvent: e, Started: startedOf[e.ID]})
	}
	return out, nil
}

// MachineNames returns the name of each of ids that the sessions sync has
// seen (its latest snapshot, deleted machines included); ids it never saw
// are absent.
func (s *Store) MachineNames(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT machine_id, name FROM machines_latest
		WHERE machine_id = ANY($1) AND name <> ''`, ids)
	var id, name string
	_, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		out[id] = name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: machine names: %w", err)
	}
	return out, nil
}
