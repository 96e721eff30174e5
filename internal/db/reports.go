package db

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrInvalidQuery is returned (wrapped) for a report query with an unknown
// group or sort column, or an empty, inverted or too long range.
var ErrInvalidQuery = errors.New("invalid report query")

// Usage report groups.
const (
	GroupMachine = "machine"
	GroupUser    = "user"
	GroupDay     = "day"
	GroupRegion  = "region"
)

// UsageGroups lists the groups UsageReport accepts.
var UsageGroups = []string{GroupMachine, GroupUser, GroupDay, GroupRegion}

// Usage report sort columns.
const (
	SortKey      = "group_key"
	SortLabel    = "label"
	SortSessions = "sessions"
	SortMinutes  = "minutes"
	SortAvg      = "avg_minutes"
	SortLastUsed = "last_used"
)

// UsageSorts lists the sort columns UsageReport accepts.
var UsageSorts = []string{SortKey, SortLabel, SortSessions, SortMinutes, SortAvg, SortLastUsed}

// Labels of groups without a value.
const (
	LabelUnassigned = "(unassigned)" // group user: machines without a user
	LabelNoRegion   = "(unknown)"    // group region: no region known
	SeriesOtherKey  = "(other)"      // UsageSeries: every group outside the top N
	SeriesOtherName = "Other"
	SeriesTotalKey  = "(total)" // UsageSeries: all sessions, one series
	SeriesTotalName = "All machines"
)

// maxReportDays bounds the days a report spans (a day row each).
const maxReportDays = 3660

// UsageQuery selects sessions by start time in [From, To) and groups them.
// A session counts for the user (email, lowercased) and region its machine
// had when the session started (recorded with the session, from the sync's
// snapshots); machines are labelled by their latest name.
type UsageQuery struct {
	From, To time.Time
	Group    string // GroupMachine (default), GroupUser, GroupDay or GroupRegion
	Sort     string // one of UsageSorts; empty: group_key for days, else minutes (descending)
	Desc     bool
	// Loc is the report time zone: days (GroupDay, UsageSeries) are
	// calendar days there, whatever the connection's time zone. Nil means
	// UTC.
	Loc *time.Location
}

// UsageRow is one group of a usage report. For GroupUser, GroupKey is the
// email ("" when unassigned, labelled LabelUnassigned); for GroupMachine the
// machine id, labelled by its name; for GroupDay "YYYY-MM-DD" (days without
// sessions included, with zeros). LastUsed is the start of the group's newest
// session in the range.
type UsageRow struct {
	GroupKey string `db:"group_key"`
	Label    string `db:"label"`
	// Name is the user's name for GroupUser (from the machines' latest
	// snapshots; "" when unknown or for other groups).
	Name       string     `db:"name"`
	Sessions   int64      `db:"sessions"`
	Minutes    int64      `db:"minutes"`
	AvgMinutes float64    `db:"avg_minutes"`
	LastUsed   *time.Time `db:"last_used"`
}

// checked is a validated query with the values the SQL needs.
type checked struct {
	UsageQuery
	days      []string    // every day of the range, YYYY-MM-DD in Loc
	dayStarts []time.Time // the instant each of days starts, in Loc
	orderBy   string
}

func (q UsageQuery) check() (checked, error) {
	c := checked{UsageQuery: q}
	if c.Group == "" {
		c.Group = GroupMachine
	}
	if !slices.Contains(UsageGroups, c.Group) {
		return c, fmt.Errorf("%w: unknown group %q", ErrInvalidQuery, c.Group)
	}
	if c.Loc == nil {
		c.Loc = time.UTC
	}
	if c.From.IsZero() || c.To.IsZero() || !c.From.Before(c.To) {
		return c, fmt.Errorf("%w: range [%s, %s) is empty", ErrInvalidQuery,
			c.From.Format(time.RFC3339), c.To.Format(time.RFC3339))
	}
	if c.To.Sub(c.From) > maxReportDays*24*time.Hour {
		return c, fmt.Errorf("%w: range longer than %d days", ErrInvalidQuery, maxReportDays)
	}
	// Day boundaries are computed here, in Go, from Loc: Postgres then
	// only compares instants (width_bucket over dayStarts), which is both
	// independent of the connection's time zone and cheaper than
	// converting a million timestamps with AT TIME ZONE.
	fy, fm, fd := c.From.In(c.Loc).Date()
	ly, lm, ld := c.To.Add(-time.Nanosecond).In(c.Loc).Date()
	last := time.Date(ly, lm, ld, 0, 0, 0, 0, time.UTC)
	for d := time.Date(fy, fm, fd, 0, 0, 0, 0, time.UTC); !d.After(last); d = d.AddDate(0, 0, 1) {
		c.days = append(c.days, d.Format(time.DateOnly))
		c.dayStarts = append(c.dayStarts, time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, c.Loc))
	}

	sort := c.Sort
	desc := c.Desc
	if sort == "" {
		sort, desc = SortMinutes, true
		if c.Group == GroupDay {
			sort, desc = SortKey, false
		}
	}
	if !slices.Contains(UsageSorts, sort) {
		return c, fmt.Errorf("%w: unknown sort column %q", ErrInvalidQuery, sort)
	}
	// sort is one of the fixed names above: safe to put in the SQL text.
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	c.orderBy = sort + dir + " NULLS LAST"
	if sort != SortKey {
		c.orderBy += ", group_key"
	}
	return c, nil
}

// groupExprs are the group key and label of a machine's sessions, over
// machineUsageSQL's rows pm left-joined to machines_latest ml (and, for
// GroupUser, to un: the users' names).
func groupExprs(group string) (key, label string) {
	switch group {
	case GroupUser:
		return `pm.user_email`, `coalesce(nullif(pm.user_email, ''), '` + LabelUnassigned + `')`
	case GroupRegion:
		return `pm.region`, `coalesce(nullif(pm.region, ''), '` + LabelNoRegion + `')`
	default:
		return `pm.machine_id`, `coalesce(nullif(ml.name, ''), pm.machine_id)`
	}
}

// groupNameExpr is a group's person name: the user's name for GroupUser,
// NULL otherwise.
func groupNameExpr(group string) string {
	if group == GroupUser {
		return `un.name`
	}
	return `NULL::text`
}

// usageSQL builds the report query and its arguments. Sessions grouped by
// machine come from the rollups (whole weeks and days) and the raw sessions
// at the range's edges (planFor), a few thousand rows for any range, then
// are joined to machines_latest and regrouped. Days come from the quarter
// hour rollup when the days of the report's zone start on quarter hours,
// else from the sessions.
func usageSQL(c checked, extraWhere string, limit int) (string, []any) {
	var q string
	var args []any
	if c.Group == GroupDay {
		q = `
		WITH agg AS (` + fleetDaysSQL(c) + `
		)
		SELECT d.day AS group_key, d.day AS label, '' AS name,
			coalesce(agg.sessions, 0) AS sessions, coalesce(agg.minutes, 0) AS minutes,
			coalesce(agg.minutes::float8 / nullif(agg.sessions, 0), 0) AS avg_minutes,
			agg.last_used
		FROM unnest($4::text[]) WITH ORDINALITY AS d(day, bucket)
		LEFT JOIN agg ON agg.bucket = d.bucket`
		args = []any{c.From, c.To, c.dayStarts, c.days}
	} else {
		key, label := groupExprs(c.Group)
		names := ``
		if c.Group == GroupUser {
			names = `
			LEFT JOIN (
				SELECT lower(user_email) AS email, min(nullif(user_name, '')) AS name
				FROM machines_latest WHERE user_email IS NOT NULL GROUP BY 1
			) un ON un.email = pm.user_email`
		}
		q = `
		WITH pm AS (` + machineUsageSQL + `
		), g AS (
			SELECT ` + key + ` AS group_key, min(` + label + `) AS label,
				coalesce(min(` + groupNameExpr(c.Group) + `), '') AS name,
				sum(pm.sessions)::bigint AS sessions, sum(pm.minutes)::bigint AS minutes,
				max(pm.last_used) AS last_used
			FROM pm LEFT JOIN machines_latest ml ON ml.machine_id = pm.machine_id` + names + `
			WHERE true ` + extraWhere + `
			GROUP BY 1
		)
		SELECT group_key, label, name, sessions, minutes,
			coalesce(minutes::float8 / nullif(sessions, 0), 0) AS avg_minutes, last_used
		FROM g`
		args = planFor(c.From, c.To).args()
	}
	q += ` ORDER BY ` + c.orderBy
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return q, args
}

// The fleet's sessions, minutes and newest start per day of a query
// ($1, $2: the range; $3: the days' starts; columns bucket, sessions,
// minutes, last_used): from the quarter-hour rollup, or from the sessions
// when the days do not start on quarter hours.
const (
	fleetDaysFromQuarters = `
			SELECT width_bucket(quarter, $3::timestamptz[]) AS bucket, sum(sessions)::bigint AS sessions,
				sum(minutes)::bigint AS minutes, max(last_used) AS last_used
			FROM usage_region_quarter
			WHERE quarter >= $1 AND quarter < $2
			GROUP BY 1`
	fleetDaysFromSessions = `
			SELECT width_bucket(start_at, $3::timestamptz[]) AS bucket, count(*) AS sessions,
				sum(duration_minutes)::bigint AS minutes, max(start_at) AS last_used
			FROM machine_sessions
			WHERE start_at >= $1 AND start_at < $2
			GROUP BY 1`
)

// fleetDaysSQL is the fleet's days of c from the cheapest source.
func fleetDaysSQL(c checked) string {
	if c.quarterAligned() {
		return fleetDaysFromQuarters
	}
	return fleetDaysFromSessions
}

// totalSeriesSQL is the one series of the whole fleet, from days.
func totalSeriesSQL(days string) string {
	return `
		SELECT '` + SeriesTotalKey + `' AS group_key, '` + SeriesTotalName + `' AS label, false AS other,
			d.bucket, d.sessions, d.minutes
		FROM (` + days + `
		) d`
}

// UsageReport sums sessions and minutes per group over q's range.
func (s *Store) UsageReport(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	c, err := q.check()
	if err != nil {
		return nil, fmt.Errorf("db: usage report: %w", err)
	}
	return s.usage(ctx, c, "", 0)
}

func (s *Store) usage(ctx context.Context, c checked, extraWhere string, limit int) ([]UsageRow, error) {
	sql, args := usageSQL(c, extraWhere, limit)
	rows, _ := s.pool.Query(ctx, sql, args...)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[UsageRow])
	if err != nil {
		return nil, fmt.Errorf("db: usage report: %w", err)
	}
	return out, nil
}

// ExplainUsageReport returns the plan of q's report query as EXPLAIN
// (ANALYZE, BUFFERS) prints it, running the query once. For benchmarks and
// operators, not for pages.
func (s *Store) ExplainUsageReport(ctx context.Context, q UsageQuery) (string, error) {
	c, err := q.check()
	if err != nil {
		return "", fmt.Errorf("db: explain usage report: %w", err)
	}
	sql, args := usageSQL(c, "", 0)
	rows, _ := s.pool.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+sql, args...)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("db: explain usage report: %w", err)
	}
	var out []byte
	for _, l := range lines {
		out = append(out, l...)
		out = append(out, '\n')
	}
	return string(out), nil
}

// TopUsers returns the n users (assigned machines only) with the most
// minutes in sessions started in [from, to), most first.
func (s *Store) TopUsers(ctx context.Context, from, to time.Time, n int) ([]UsageRow, error) {
	if n <= 0 {
		return nil, nil
	}
	c, err := UsageQuery{From: from, To: to, Group: GroupUser, Sort: SortMinutes, Desc: true}.check()
	if err != nil {
		return nil, fmt.Errorf("db: top users: %w", err)
	}
	return s.usage(ctx, c, `AND pm.user_email <> ''`, n)
}

// UsageChart is usage per day for a chart: Days lists every day of the
// range (YYYY-MM-DD in the query's time zone) and each series holds one
// value per day, aligned with Days.
type UsageChart struct {
	Days   []string
	Series []ChartSeries
}

// ChartSeries is one line of a UsageChart.
type ChartSeries struct {
	GroupKey string
	Label    string
	Sessions []int64
	Minutes  []int64
	Total    int64 // minutes over the whole range
}

// UsageSeries returns usage per day over q's range (q.Sort is ignored). For
// GroupDay, or topN <= 0, it is one series of all sessions (SeriesTotalKey);
// otherwise one series per group among the topN groups with the most
// minutes, most first, and one more (SeriesOtherKey) summing all other
// groups when there are any.
func (s *Store) UsageSeries(ctx context.Context, q UsageQuery, topN int) (UsageChart, error) {
	q.Sort = ""
	c, err := q.check()
	if err != nil {
		return UsageChart{}, fmt.Errorf("db: usage series: %w", err)
	}
	var points []seriesPoint
	if c.quarterAligned() {
		points, err = s.seriesFromRollups(ctx, c, topN)
	} else {
		points, err = s.seriesFromSessions(ctx, c, topN)
	}
	if err != nil {
		return UsageChart{}, fmt.Errorf("db: usage series: %w", err)
	}
	return buildChart(c.days, points), nil
}

// seriesPoint is one group's sessions and minutes on one day (Bucket, from
// 1); Other marks the sum of the groups outside the top N.
type seriesPoint struct {
	GroupKey string `db:"group_key"`
	Label    string `db:"label"`
	Other    bool   `db:"other"`
	Bucket   int    `db:"bucket"`
	Sessions int64  `db:"sessions"`
	Minutes  int64  `db:"minutes"`
}

// seriesFromRollups reads the chart from the rollups: the fleet's days and
// the regions from the quarter hours per region, the top N users from their
// quarter hours, the top N machines from their own sessions (a few thousand
// rows through the machine index), and "other" as the fleet's day minus the
// top N's.
func (s *Store) seriesFromRollups(ctx context.Context, c checked, topN int) ([]seriesPoint, error) {
	args := []any{c.From, c.To, c.dayStarts}
	collect := func(sql string, args ...any) ([]seriesPoint, error) {
		rows, _ := s.pool.Query(ctx, sql, args...)
		return pgx.CollectRows(rows, pgx.RowToStructByName[seriesPoint])
	}
	if c.Group == GroupDay || topN <= 0 {
		return collect(totalSeriesSQL(fleetDaysFromQuarters), args...)
	}
	if c.Group == GroupRegion {
		return collect(`
		WITH keyed AS (
			SELECT region AS group_key, width_bucket(quarter, $3::timestamptz[]) AS bucket,
				sum(sessions)::bigint AS sessions, sum(minutes)::bigint AS minutes
			FROM usage_region_quarter
			WHERE quarter >= $1 AND quarter < $2
			GROUP BY 1, 2
		), top AS (
			SELECT group_key, sum(minutes) AS total
			FROM keyed GROUP BY group_key
			ORDER BY total DESC, group_key LIMIT $4
		)
		SELECT coalesce(top.group_key, '`+SeriesOtherKey+`') AS group_key,
			CASE WHEN top.group_key IS NULL THEN '`+SeriesOtherName+`'
				ELSE coalesce(nullif(top.group_key, ''), '`+LabelNoRegion+`') END AS label,
			top.group_key IS NULL AS other, keyed.bucket,
			sum(keyed.sessions)::bigint AS sessions, sum(keyed.minutes)::bigint AS minutes
		FROM keyed LEFT JOIN top ON top.group_key = keyed.group_key
		GROUP BY top.group_key, keyed.bucket`, append(args, topN)...)
	}

	// Machines and users: the top N as the report ranks them, then their
	// days, and the fleet's days (read meanwhile) for the rest.
	var total []seriesPoint
	var totalErr error
	totalDone := make(chan struct{})
	go func() {
		defer close(totalDone)
		total, totalErr = collect(totalSeriesSQL(fleetDaysFromQuarters), args...)
	}()
	rc := c
	rc.Sort, rc.Desc = SortMinutes, true
	rc.orderBy = SortMinutes + " DESC NULLS LAST, group_key"
	top, err := s.usage(ctx, rc, "", topN)
	if err != nil {
		<-totalDone
		return nil, err
	}
	keys := make([]string, len(top))
	labels := make(map[string]string, len(top))
	for i, r := range top {
		keys[i], labels[r.GroupKey] = r.GroupKey, r.Label
	}
	var days []seriesPoint
	if c.Group == GroupUser {
		days, err = collect(`
		SELECT user_email AS group_key, '' AS label, false AS other,
			width_bucket(quarter, $3::timestamptz[]) AS bucket,
			sum(sessions)::bigint AS sessions, sum(minutes)::bigint AS minutes
		FROM usage_user_quarter
		WHERE user_email = ANY($4) AND quarter >= $1 AND quarter < $2
		GROUP BY 1, 4`, append(args, keys)...)
	} else {
		days, err = collect(`
		SELECT machine_id AS group_key, '' AS label, false AS other,
			width_bucket(start_at, $3::timestamptz[]) AS bucket,
			count(*) AS sessions, sum(duration_minutes)::bigint AS minutes
		FROM machine_sessions
		WHERE machine_id = ANY($4) AND start_at >= $1 AND start_at < $2
		GROUP BY 1, 4`, append(args, keys)...)
	}
	<-totalDone
	if err != nil {
		return nil, err
	}
	if totalErr != nil {
		return nil, totalErr
	}
	rest := map[int]*seriesPoint{}
	for _, t := range total {
		rest[t.Bucket] = &seriesPoint{GroupKey: SeriesOtherKey, Label: SeriesOtherName, Other: true,
			Bucket: t.Bucket, Sessions: t.Sessions, Minutes: t.Minutes}
	}
	for i := range days {
		days[i].Label = labels[days[i].GroupKey]
		if r := rest[days[i].Bucket]; r != nil {
			r.Sessions -= days[i].Sessions
			r.Minutes -= days[i].Minutes
		}
	}
	for _, r := range rest {
		if r.Sessions > 0 {
			days = append(days, *r)
		}
	}
	return days, nil
}

// seriesFromSessions computes the chart from the sessions alone, for a
// range or zone whose days do not start on quarter hours.
func (s *Store) seriesFromSessions(ctx context.Context, c checked, topN int) ([]seriesPoint, error) {
	var sql string
	args := []any{c.From, c.To, c.dayStarts}
	if c.Group == GroupDay || topN <= 0 {
		sql = totalSeriesSQL(fleetDaysFromSessions)
	} else {
		key, label := groupExprs(c.Group)
		sql = `
		WITH pm AS (
			SELECT machine_id, coalesce(user_email, '') AS user_email, region,
				width_bucket(start_at, $3::timestamptz[]) AS bucket,
				count(*) AS sessions, sum(duration_minutes)::bigint AS minutes
			FROM machine_sessions
			WHERE start_at >= $1 AND start_at < $2
			GROUP BY 1, 2, 3, 4
		), keyed AS (
			SELECT ` + key + ` AS group_key, ` + label + ` AS label, pm.bucket, pm.sessions, pm.minutes
			FROM pm LEFT JOIN machines_latest ml ON ml.machine_id = pm.machine_id
		), top AS (
			SELECT group_key, sum(minutes) AS total
			FROM keyed GROUP BY group_key
			ORDER BY total DESC, group_key LIMIT $4
		)
		SELECT coalesce(top.group_key, '` + SeriesOtherKey + `') AS group_key,
			CASE WHEN top.group_key IS NULL THEN '` + SeriesOtherName + `' ELSE min(keyed.label) END AS label,
			top.group_key IS NULL AS other, keyed.bucket,
			sum(keyed.sessions)::bigint AS sessions, sum(keyed.minutes)::bigint AS minutes
		FROM keyed LEFT JOIN top ON top.group_key = keyed.group_key
		GROUP BY top.group_key, keyed.bucket`
		args = append(args, topN)
	}
	var points []seriesPoint
	// The per machine and day aggregate has tens of thousands of groups
	// over a large fleet: give it the memory to stay a one-pass hash
	// aggregate, and skip JIT compilation, which costs more than it saves.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '64MB'; SET LOCAL jit = off`); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, sql, args...)
		var err error
		points, err = pgx.CollectRows(rows, pgx.RowToStructByName[seriesPoint])
		return err
	})
	return points, err
}

// buildChart lays points out per day: the series by total minutes, most
// first, then "other".
func buildChart(days []string, points []seriesPoint) UsageChart {
	chart := UsageChart{Days: days}
	n := len(days)
	series := map[string]*ChartSeries{}
	var other *ChartSeries
	for _, p := range points {
		i := p.Bucket - 1 // width_bucket numbers the days from 1
		if i < 0 || i >= n {
			continue // cannot happen: every start in range falls on a listed day
		}
		cs := series[p.GroupKey]
		if p.Other {
			cs = other
		}
		if cs == nil {
			cs = &ChartSeries{GroupKey: p.GroupKey, Label: p.Label,
				Sessions: make([]int64, n), Minutes: make([]int64, n)}
			if p.Other {
				other = cs
			} else {
				series[p.GroupKey] = cs
			}
		}
		cs.Sessions[i] += p.Sessions
		cs.Minutes[i] += p.Minutes
		cs.Total += p.Minutes
	}
	for _, cs := range series {
		chart.Series = append(chart.Series, *cs)
	}
	slices.SortFunc(chart.Series, func(a, b ChartSeries) int {
		if a.Total != b.Total {
			if a.Total > b.Total {
				return -1
			}
			return 1
		}
		if a.GroupKey < b.GroupKey {
			return -1
		}
		if a.GroupKey > b.GroupKey {
			return 1
		}
		return 0
	})
	if other != nil {
		chart.Series = append(chart.Series, *other)
	}
	return chart
}

// MachineInfo is the latest known state of a machine (its newest snapshot).
type MachineInfo struct {
	MachineID             string    `db:"machine_id"`
	Name                  string    `db:"name"`
	UserEmail             string    `db:"user_email"` // "" when unassigned
	UserName              string    `db:"user_name"`
	Region                string    `db:"region"`
	MachineType           string    `db:"machine_type"`
	Status                string    `db:"status"`
	UsageSource           string    `db:"usage_source"`
	RemainingUsageMinutes int64     `db:"remaining_usage_minutes"`
	TakenAt               time.Time `db:"taken_at"`
}

const machineInfoColumns = `ml.machine_id, ml.name, coalesce(ml.user_email, '') AS user_email,
	coalesce(ml.user_name, '') AS user_name, ml.region, ml.machine_type, ml.status,
	ml.usage_source, ml.remaining_usage_minutes, ml.taken_at`

// IdleMachine is a machine nobody used over a report's range.
type IdleMachine struct {
	MachineInfo
	// LastUsed is when its newest session started before the range's end
	// ended; nil when none did.
	LastUsed *time.Time `db:"last_used"`
	// NeverUsed says the machine has no session at all.
	NeverUsed bool `db:"never_used"`
}

// IdleMachines returns the machines (in their latest snapshot, not deleted
// since) with no session in [from, to): none that started before to was
// still running at from or ended after it. They cost money for nothing.
// Spares (no user, UserEmail "") are included. Never-used machines come
// first, then the longest idle.
func (s *Store) IdleMachines(ctx context.Context, from, to time.Time) ([]IdleMachine, error) {
	if !from.Before(to) {
		return nil, fmt.Errorf("db: idle machines: %w: empty range", ErrInvalidQuery)
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT `+machineInfoColumns+`, ls.end_at AS last_used,
			NOT EXISTS (SELECT 1 FROM machine_sessions a WHERE a.machine_id = ml.machine_id) AS never_used
		FROM machines_latest ml
		LEFT JOIN LATERAL (
			SELECT s.start_at, s.end_at FROM machine_sessions s
			WHERE s.machine_id = ml.machine_id AND s.start_at < $2
			ORDER BY s.start_at DESC LIMIT 1
		) ls ON true
		WHERE ml.gone_at IS NULL
			AND (ls.start_at IS NULL OR ls.end_at < $1)
		ORDER BY never_used DESC, ls.end_at ASC NULLS FIRST, ml.machine_id`, from, to)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[IdleMachine])
	if err != nil {
		return nil, fmt.Errorf("db: idle machines: %w", err)
	}
	return out, nil
}

// BurnWindow is the period LowRemaining measures the burn rate over.
const BurnWindow = 14 * 24 * time.Hour

// LowRemainingMachine is a machine about to run out of usage.
type LowRemainingMachine struct {
	MachineInfo
	// MinutesUsed is the minutes of sessions started in the BurnWindow
	// before now; BurnPerDay is that per day.
	MinutesUsed int64   `db:"minutes_used"`
	BurnPerDay  float64 `db:"-"`
	// RunOut is when the remaining usage lasts until at that burn rate,
	// counted from the snapshot; nil when nothing was used (no projection).
	RunOut *time.Time `db:"-"`
}

// LowRemaining returns the machines (not deleted) whose remaining usage in
// their latest snapshot is below belowMinutes, least first, with a projected
// run-out date from the last 14 days' burn rate.
func (s *Store) LowRemaining(ctx context.Context, belowMinutes int64, now time.Time) ([]LowRemainingMachine, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT `+machineInfoColumns+`, coalesce(b.minutes, 0) AS minutes_used
		FROM machines_latest ml
		LEFT JOIN LATERAL (
			SELECT sum(s.duration_minutes)::bigint AS minutes FROM machine_sessions s
			WHERE s.machine_id = ml.machine_id AND s.start_at >= $2 AND s.start_at < $3
		) b ON true
		WHERE ml.gone_at IS NULL AND ml.remaining_usage_minutes < $1
		ORDER BY ml.remaining_usage_minutes, ml.machine_id`,
		belowMinutes, now.Add(-BurnWindow), now)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[LowRemainingMachine])
	if err != nil {
		return nil, fmt.Errorf("db: low remaining: %w", err)
	}
	days := BurnWindow.Hours() / 24
	for i := range out {
		m := &out[i]
		m.BurnPerDay = float64(m.MinutesUsed) / days
		if m.BurnPerDay > 0 {
			left := time.Duration(float64(m.RemainingUsageMinutes) / m.BurnPerDay * float64(24*time.Hour))
			t := m.TakenAt.Add(left)
			m.RunOut = &t
		}
	}
	return out, nil
}

// LatestMachines returns the latest snapshot of every machine not deleted,
// by id.
func (s *Store) LatestMachines(ctx context.Context) ([]MachineInfo, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+machineInfoColumns+`
		FROM machines_latest ml WHERE ml.gone_at IS NULL ORDER BY ml.machine_id`)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[MachineInfo])
	if err != nil {
		return nil, fmt.Errorf("db: latest machines: %w", err)
	}
	return out, nil
}
