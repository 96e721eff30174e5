package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The access-link ledger: every link issued through the dashboard (the
// succeeded machine.access_link audit rows) and every
// machine_external_access_created entry of Vagon's log the dashboard did not
// issue. The rule (the match window, the lifetime assumed when an entry says
// none) is fleet's; it comes in through AccessLinkFilter.

// The sources of a ledger row.
const (
	AccessSourceDashboard = "dashboard"
	AccessSourceVagon     = "vagon"
)

// AccessLinkRow is one row of the ledger.
type AccessLinkRow struct {
	Source      string    `db:"source"`
	IssuedAt    time.Time `db:"issued_at"`
	IssuedBy    string    `db:"issued_by"`
	MachineID   string    `db:"machine_id"`
	MachineName string    `db:"machine_name"`
	Note        string    `db:"note"`
	ExpiresIn   *int64    `db:"expires_in"` // minutes; nil when unknown
	// ExpiresAt is when the link stops working: the recorded expiry, else
	// IssuedAt plus ExpiresIn, else IssuedAt plus the filter's
	// AssumedLifetime (then ExpiryKnown is false).
	ExpiresAt   time.Time `db:"expires_at"`
	ExpiryKnown bool      `db:"expiry_known"`
	Fingerprint string    `db:"fingerprint"` // dashboard rows; "" for vagon rows
	AccessID    string    `db:"access_id"`   // vagon rows: Vagon's access id, when the entry has one
	Active      bool      `db:"active"`      // ExpiresAt after the filter's Now
	Total       int64     `db:"total"`       // rows matching the filter, before paging
}

// AccessLinkFilter selects ledger rows; empty strings do not filter.
type AccessLinkFilter struct {
	MachineID string
	IssuedBy  string
	Source    string // AccessSourceDashboard or AccessSourceVagon
	State     string // "active" or "expired"
	// Now decides active or expired.
	Now time.Time
	// MatchWindow: a Vagon entry is the dashboard's own when a succeeded
	// machine.access_link row for its machine lies within this of it (and,
	// when the entry says its minutes, with the same expires_in).
	MatchWindow time.Duration
	// AssumedLifetime is the lifetime of a Vagon entry that says none.
	AssumedLifetime time.Duration
	Limit, Offset   int // Limit <= 0: all
}

// accessLedgerSQL is the ledger; $1 now, $2 match window, $3 assumed
// lifetime; filters follow.
const accessLedgerSQL = `
WITH dash AS (
	SELECT 'dashboard'::text AS source, a.at AS issued_at, a.actor_email AS issued_by,
		a.machine_id, coalesce(a.params->>'note', '') AS note,
		CASE WHEN a.params->>'expires_in' ~ '^\d{1,9}$' THEN (a.params->>'expires_in')::bigint END AS expires_in,
		CASE WHEN a.params->>'expires_at' ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}' THEN (a.params->>'expires_at')::timestamptz END AS rec_expires_at,
		coalesce(a.params->>'fingerprint', '') AS fingerprint, ''::text AS access_id
	FROM audit_events a
	WHERE a.action = 'machine.access_link' AND a.outcome = 'succeeded' AND a.machine_id IS NOT NULL
),
vmeta AS (
	SELECT v.at, v.actor_email, v.machine_id, v.machine_name,
		coalesce(v.details->'attributes'->'metadata', v.details->'metadata', '{}'::jsonb) AS meta
	FROM vagon_activity v
	WHERE v.action_type = 'machine_external_access_created' AND v.machine_id IS NOT NULL
),
vag AS (
	SELECT 'vagon'::text AS source, m.at AS issued_at, m.actor_email AS issued_by, m.machine_id,
		m.machine_name, ''::text AS note,
		CASE WHEN m.meta->>'expires_in_minutes' ~ '^\d{1,9}$' THEN (m.meta->>'expires_in_minutes')::bigint
		     WHEN m.meta->>'expires_in' ~ '^\d{1,9}$' THEN (m.meta->>'expires_in')::bigint END AS expires_in,
		NULL::timestamptz AS rec_expires_at, ''::text AS fingerprint,
		CASE WHEN jsonb_typeof(m.meta->'access_id') IN ('string', 'number') THEN m.meta->>'access_id' ELSE '' END AS access_id
	FROM vmeta m
),
outside AS (
	SELECT g.* FROM vag g
	WHERE NOT EXISTS (
		SELECT 1 FROM audit_events a
		WHERE a.action = 'machine.access_link' AND a.outcome = 'succeeded' AND a.machine_id = g.machine_id
			AND a.at BETWEEN g.issued_at - $2::interval AND g.issued_at + $2::interval
			AND (g.expires_in IS NULL OR a.params->>'expires_in' = g.expires_in::text))
),
ledger AS (
	SELECT d.source, d.issued_at, d.issued_by, d.machine_id,
		coalesce((SELECT v.machine_name FROM vagon_activity v WHERE v.machine_id = d.machine_id AND v.machine_name <> ''
			ORDER BY v.at DESC LIMIT 1), '') AS machine_name,
		d.note, d.expires_in,
		coalesce(d.rec_expires_at, d.issued_at + make_interval(mins => d.expires_in::int)) AS expires_at,
		(d.rec_expires_at IS NOT NULL OR d.expires_in IS NOT NULL) AS expiry_known,
		d.fingerprint, d.access_id
	FROM dash d
	UNION ALL
	SELECT o.source, o.issued_at, o.issued_by, o.machine_id, o.machine_name, o.note, o.expires_in,
		coalesce(o.issued_at + make_interval(mins => o.expires_in::int), o.issued_at + $3::interval) AS expires_at,
		o.expires_in IS NOT NULL AS expiry_known, o.fingerprint, o.access_id
	FROM outside o
)
SELECT l.source, l.issued_at, l.issued_by, l.machine_id, l.machine_name, l.note, l.expires_in,
	coalesce(l.expires_at, l.issued_at + $3::interval) AS expires_at, l.expiry_known, l.fingerprint, l.access_id,
	coalesce(l.expires_at, l.issued_at + $3::interval) > $1 AS active,
	count(*) OVER () AS total
FROM ledger l WHERE true`

// ListAccessLinks returns the ledger rows matching f, newest first.
func (s *Store) ListAccessLinks(ctx context.Context, f AccessLinkFilter) ([]AccessLinkRow, error) {
	if f.Now.IsZero() {
		return nil, errors.New("db: list access links: no time given")
	}
	q := accessLedgerSQL
	args := []any{f.Now, f.MatchWindow, f.AssumedLifetime}
	add := func(cond string, v any) {
		args = append(args, v)
		q += fmt.Sprintf(" AND "+cond, len(args))
	}
	if f.MachineID != "" {
		add("l.machine_id = $%d", f.MachineID)
	}
	if f.IssuedBy != "" {
		add("l.issued_by = $%d", f.IssuedBy)
	}
	if f.Source != "" {
		add("l.source = $%d", f.Source)
	}
	switch f.State {
	case "active":
		q += " AND coalesce(l.expires_at, l.issued_at + $3::interval) > $1"
	case "expired":
		q += " AND coalesce(l.expires_at, l.issued_at + $3::interval) <= $1"
	}
	q += " ORDER BY l.issued_at DESC, l.source, l.machine_id"
	if f.Limit > 0 {
		args = append(args, f.Limit, max(f.Offset, 0))
		q += fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(args)-1, len(args))
	}
	rows, _ := s.pool.Query(ctx, q, args...)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[AccessLinkRow])
	if err != nil {
		return nil, fmt.Errorf("db: list access links: %w", err)
	}
	return out, nil
}

// GetSetting returns the value stored under key, and false when none is.
func (s *Store) GetSetting(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("db: get setting %q: %w", key, err)
	}
	return v, true, nil
}

// PutSetting stores value under key, replacing what was there.
func (s *Store) PutSetting(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, key, value); err != nil {
		return fmt.Errorf("db: put setting %q: %w", key, err)
	}
	return nil
}
