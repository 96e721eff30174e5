package db

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Timeline sources, as TimelineEntry.Source and TimelineFilter.Source.
const (
	SourceDashboard = "dashboard"
	SourceVagon     = "vagon"
)

// TimelineEntry is one line of the merged timeline: an audit action (its
// outcome row; a started row only when no outcome row exists) or one entry
// of Vagon's activity log.
type TimelineEntry struct {
	At         time.Time
	Source     string // SourceDashboard or SourceVagon
	EntryID    string // the audit row's id, or vagon_activity.id
	ActorEmail string
	ActorRole  string // dashboard only
	Action     string // the audit action, or Vagon's action_type
	MachineID  string
	// MachineName is what the row itself recorded (params' machine_name, or
	// the Vagon entry's machine_name); "" when none.
	MachineName string
	Outcome     string // dashboard only
	Message     string // dashboard only
	// Details is the audit row's params or the Vagon entry's details.
	Details json.RawMessage
	// Checked: a Vagon entry whose action the dashboard can also take (see
	// TimelineFilter.Matches), so Outside means something. Outside: no
	// started or succeeded audit row of that action on that machine within
	// TimelineFilter.MatchWindow of it.
	Checked, Outside bool
	// Cursor is this entry's position, for TimelineFilter.After.
	Cursor string
}

// TimelineFilter selects timeline entries; zero fields do not filter.
type TimelineFilter struct {
	Source     string // SourceDashboard or SourceVagon
	ActorEmail string // exact (ignoring case for Vagon entries)
	Actor      string // part of the email, ignoring case
	MachineID  string // exact
	Machine    string // part of the machine's id or name, ignoring case
	Action     string // exact: an audit action or a Vagon action_type
	From, To   time.Time
	// Matches maps a Vagon action_type to the audit action the dashboard
	// records when it causes it (fleet.ActivityAuditActions): the rule for
	// Outside, passed in as data.
	Matches map[string]string
	// MatchWindow is how far apart in time a Vagon entry and the audit row
	// of the dashboard action that caused it may be (fleet's rule).
	MatchWindow time.Duration
	// After is the cursor of the last entry of the previous page.
	After string
	Limit int // DefaultAuditLimit when <= 0, at most MaxAuditLimit
}

// ErrBadCursor: TimelineFilter.After is not a cursor ListTimeline made.
var ErrBadCursor = errors.New("db: bad timeline cursor")

// cursor is at (UTC, microseconds) and the tie-break key, base64url.
func encodeCursor(at time.Time, tie string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "|" + tie))
}

func decodeCursor(s string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", ErrBadCursor
	}
	us, tie, ok := strings.Cut(string(b), "|")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || tie == "" {
		return time.Time{}, "", ErrBadCursor
	}
	return time.UnixMicro(n).UTC(), tie, nil
}

// timelineQuery builds the UNION ALL of both halves. Column names are
// constants; every value is a parameter.
func (f TimelineFilter) query(limit int) (string, []any, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var vk, aa []string
	for k := range f.Matches {
		vk = append(vk, k)
	}
	slices.Sort(vk)
	for _, k := range vk {
		aa = append(aa, f.Matches[k])
	}
	pVK, pAA := arg(vk), arg(aa)
	a := []string{`true`} // audit half (alias a)
	v := []string{`true`} // vagon half (alias v)
	switch f.Source {
	case "":
	case SourceDashboard:
		v = append(v, "false")
	case SourceVagon:
		a = append(a, "false")
	default:
		return "", nil, fmt.Errorf("db: unknown timeline source %q", f.Source)
	}
	if f.ActorEmail != "" {
		p := arg(f.ActorEmail)
		a = append(a, "a.actor_email = "+p)
		v = append(v, "lower(v.actor_email) = lower("+p+")")
	}
	if f.Actor != "" {
		p := arg(containsPattern(f.Actor))
		a = append(a, `a.actor_email ILIKE `+p+` ESCAPE '\'`)
		v = append(v, `v.actor_email ILIKE `+p+` ESCAPE '\'`)
	}
	if f.MachineID != "" {
		p := arg(f.MachineID)
		a = append(a, "a.machine_id = "+p)
		v = append(v, "v.machine_id = "+p)
	}
	if f.Machine != "" {
		p := arg(containsPattern(f.Machine))
		inLatest := `IN (SELECT ml.machine_id FROM machines_latest ml WHERE ml.name ILIKE ` + p + ` ESCAPE '\')`
		a = append(a, `(a.machine_id ILIKE `+p+` ESCAPE '\' OR a.params->>'machine_name' ILIKE `+p+` ESCAPE '\' OR a.machine_id `+inLatest+`)`)
		v = append(v, `(v.machine_id ILIKE `+p+` ESCAPE '\' OR v.machine_name ILIKE `+p+` ESCAPE '\' OR v.machine_id `+inLatest+`)`)
	}
	if f.Action != "" {
		p := arg(f.Action)
		a = append(a, "a.action = "+p)
		v = append(v, "v.action_type = "+p)
	}
	if !f.From.IsZero() {
		p := arg(f.From)
		a = append(a, "a.at >= "+p)
		v = append(v, "v.at >= "+p)
	}
	if !f.To.IsZero() {
		p := arg(f.To)
		a = append(a, "a.at < "+p)
		v = append(v, "v.at < "+p)
	}
	if f.After != "" {
		at, tie, err := decodeCursor(f.After)
		if err != nil {
			return "", nil, err
		}
		pAt, pTie := arg(at), arg(tie)
		a = append(a, "(a.at, "+auditTie+") < ("+pAt+"::timestamptz, "+pTie+`::text COLLATE "C")`)
		v = append(v, "(v.at, "+vagonTie+") < ("+pAt+"::timestamptz, "+pTie+`::text COLLATE "C")`)
	}
	win := arg(strconv.Itoa(int(f.MatchWindow/time.Second)) + " seconds")
	pLimit := arg(limit)
	q := `
SELECT at, source, entry_id, tie, actor_email, actor_role, action, machine_id, machine_name,
	outcome, message, details, checked, outside
FROM (
	SELECT a.at, 'dashboard' AS source, a.id::text AS entry_id, ` + auditTie + ` AS tie,
		a.actor_email, a.actor_role, a.action, coalesce(a.machine_id, '') AS machine_id,
		coalesce(a.params->>'machine_name', '') AS machine_name, a.outcome, a.message,
		a.params::text AS details, false AS checked, false AS outside
	FROM audit_events a
	WHERE ` + strings.Join(a, " AND ") + `
		-- One line per action: a started row whose outcome row exists is
		-- shown as that outcome row.
		AND NOT (a.outcome = 'started' AND a.request_id <> '' AND EXISTS (
			SELECT 1 FROM audit_events o
			WHERE o.request_id = a.request_id AND o.action = a.action
				AND o.machine_id IS NOT DISTINCT FROM a.machine_id
				AND o.id > a.id AND o.outcome <> 'started'))
	UNION ALL
	SELECT v.at, 'vagon', v.id, ` + vagonTie + `,
		v.actor_email, '', v.action_type, coalesce(v.machine_id, ''), v.machine_name, '', '',
		v.details::text, m.aa IS NOT NULL AND v.machine_id IS NOT NULL,
		m.aa IS NOT NULL AND v.machine_id IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM audit_events x
			WHERE x.machine_id = v.machine_id AND x.action = m.aa
				AND x.at BETWEEN v.at - ` + win + `::interval AND v.at + ` + win + `::interval
				AND x.outcome IN ('started', 'succeeded'))
	FROM vagon_activity v
	LEFT JOIN unnest(` + pVK + `::text[], ` + pAA + `::text[]) AS m(vk, aa) ON m.vk = v.action_type
	WHERE ` + strings.Join(v, " AND ") + `
) t
ORDER BY at DESC, tie COLLATE "C" DESC
LIMIT ` + pLimit
	return q, args, nil
}

// The tie-break keys: unique across both sources, ordered within each.
const (
	auditTie = `('d:' || lpad(a.id::text, 20, '0')) COLLATE "C"`
	vagonTie = `('v:' || v.id) COLLATE "C"`
)

// ListTimeline returns one page of the merged timeline, newest first, and
// the cursor of the next page ("" on the last page).
func (s *Store) ListTimeline(ctx context.Context, f TimelineFilter) ([]TimelineEntry, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	out, err := s.timelinePage(ctx, f, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Cursor
	}
	return out, next, nil
}

// StreamTimeline calls fn for every matching entry, newest first (f.Limit
// and f.After are ignored), in keyset batches.
func (s *Store) StreamTimeline(ctx context.Context, f TimelineFilter, fn func(TimelineEntry) error) error {
	f.After = ""
	for {
		batch, err := s.timelinePage(ctx, f, streamBatch)
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < streamBatch {
			return nil
		}
		f.After = batch[len(batch)-1].Cursor
	}
}

func (s *Store) timelinePage(ctx context.Context, f TimelineFilter, limit int) ([]TimelineEntry, error) {
	q, args, err := f.query(limit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("db: list timeline: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TimelineEntry, error) {
		var e TimelineEntry
		var tie, details string
		err := r.Scan(&e.At, &e.Source, &e.EntryID, &tie, &e.ActorEmail, &e.ActorRole, &e.Action, &e.MachineID,
			&e.MachineName, &e.Outcome, &e.Message, &details, &e.Checked, &e.Outside)
		e.At = e.At.UTC()
		e.Details = json.RawMessage(details)
		e.Cursor = encodeCursor(e.At, tie)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: list timeline: %w", err)
	}
	return out, nil
}
