package db

import "time"

// The buckets of the report rollups (migration 00020): UTC days, weeks that
// start on Monday 00:00 UTC, and quarter hours. Go's zero time is a Monday
// at 00:00 UTC, so Truncate by these durations gives the same bucket starts
// as Postgres's date_trunc('day'|'week', t, 'UTC') and date_bin('15
// minutes', t, epoch).
const (
	rollupDay     = 24 * time.Hour
	rollupWeek    = 7 * rollupDay
	rollupQuarter = 15 * time.Minute
)

// span is the half-open range of instants [From, To); it holds nothing when
// From is not before To.
type span struct{ From, To time.Time }

// usagePlan cuts a report range into what each source answers: whole weeks
// from usage_machine_week, whole days around them from usage_machine_day,
// and the part of a day at each edge from the raw sessions. The spans are
// disjoint and cover the range exactly.
type usagePlan struct {
	weeks span
	days  [2]span
	raw   [2]span
}

func floorTo(t time.Time, d time.Duration) time.Time { return t.UTC().Truncate(d) }

func ceilTo(t time.Time, d time.Duration) time.Time {
	f := floorTo(t, d)
	if f.Before(t) {
		return f.Add(d)
	}
	return f
}

// planFor plans [from, to).
func planFor(from, to time.Time) usagePlan {
	var p usagePlan
	from, to = from.UTC(), to.UTC()
	d1, d2 := ceilTo(from, rollupDay), floorTo(to, rollupDay)
	if !d1.Before(d2) {
		p.raw[0] = span{from, to}
		return p
	}
	p.raw[0], p.raw[1] = span{from, d1}, span{d2, to}
	w1, w2 := ceilTo(d1, rollupWeek), floorTo(d2, rollupWeek)
	if !w1.Before(w2) {
		p.days[0] = span{d1, d2}
		return p
	}
	p.weeks = span{w1, w2}
	p.days[0], p.days[1] = span{d1, w1}, span{w2, d2}
	return p
}

// args are the plan's bounds in the order machineUsageSQL numbers them
// ($1..$10). An empty span is passed as [t, t), which selects nothing.
func (p usagePlan) args() []any {
	out := make([]any, 0, 10)
	for _, s := range []span{p.weeks, p.days[0], p.days[1], p.raw[0], p.raw[1]} {
		if !s.From.Before(s.To) {
			s.To = s.From
		}
		out = append(out, s.From, s.To)
	}
	return out
}

// machineUsageSQL is the sessions of a plan aggregated per machine, user at
// the time and region, from the rollups and the raw edges (columns
// machine_id, user_email, region, sessions, minutes, last_used).
const machineUsageSQL = `
	SELECT machine_id, user_email, region, sum(sessions)::bigint AS sessions,
		sum(minutes)::bigint AS minutes, max(last_used) AS last_used
	FROM (
		SELECT machine_id, user_email, region, sessions, minutes, last_used
		FROM usage_machine_week WHERE week >= $1 AND week < $2
		UNION ALL
		SELECT machine_id, user_email, region, sessions, minutes, last_used
		FROM usage_machine_day WHERE day >= $3 AND day < $4
		UNION ALL
		SELECT machine_id, user_email, region, sessions, minutes, last_used
		FROM usage_machine_day WHERE day >= $5 AND day < $6
		UNION ALL
		SELECT machine_id, coalesce(user_email, ''), region, 1, duration_minutes, start_at
		FROM machine_sessions WHERE start_at >= $7 AND start_at < $8
		UNION ALL
		SELECT machine_id, coalesce(user_email, ''), region, 1, duration_minutes, start_at
		FROM machine_sessions WHERE start_at >= $9 AND start_at < $10
	) x
	GROUP BY 1, 2, 3`

// quarterAligned says whether the quarter-hour rollups answer c by day: the
// range and every day of it start on a quarter hour (true of every zone in
// use today; a zone with an odd historical offset falls back to the raw
// sessions).
func (c checked) quarterAligned() bool {
	if !floorTo(c.From, rollupQuarter).Equal(c.From) || !floorTo(c.To, rollupQuarter).Equal(c.To) {
		return false
	}
	for _, d := range c.dayStarts {
		if !floorTo(d, rollupQuarter).Equal(d) {
			return false
		}
	}
	return true
}
