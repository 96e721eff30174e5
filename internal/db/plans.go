package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// KnownPlan is a plan ID that created machines before, from the audit log.
type KnownPlan struct {
	PlanID int64 `db:"plan_id"`
	// Machines is how many machines creates with this plan made.
	Machines int       `db:"machines"`
	LastAt   time.Time `db:"last_at"`
}

// KnownPlans lists the plan IDs of successful machine.create actions, the
// most recently used first, at most limit. The Vagon API has no way to look
// a plan up, so these are the only plan IDs known to work.
func (s *Store) KnownPlans(ctx context.Context, limit int) ([]KnownPlan, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT (params->>'plan_id')::bigint AS plan_id,
		       coalesce(sum(CASE WHEN jsonb_typeof(params->'created_ids') = 'array'
		                         THEN jsonb_array_length(params->'created_ids') ELSE 0 END), 0)::int AS machines,
		       max(at) AS last_at
		FROM audit_events
		WHERE action = 'machine.create' AND outcome = $1
		  AND params->>'plan_id' ~ '^[0-9]{1,18}$'
		GROUP BY 1
		ORDER BY last_at DESC, plan_id
		LIMIT $2`, OutcomeSucceeded, limit)
	if err != nil {
		return nil, fmt.Errorf("db: known plans: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[KnownPlan])
	if err != nil {
		return nil, fmt.Errorf("db: known plans: %w", err)
	}
	return out, nil
}
