package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

// rollupModel is the test's own account of the stored sessions and the
// snapshots, summed in Go without the rollups.
type rollupModel struct {
	snaps    []db.Snapshot // every snapshot stored
	sessions map[string]modelSession
}

type modelSession struct {
	machine string
	start   time.Time
	minutes int64
	user    string // at the time, lowercased; "" unassigned
	region  string
}

// ownerAt is who had machine at t: the newest snapshot at or before t, else
// the oldest after it.
func (m *rollupModel) ownerAt(machine string, t time.Time) (user, region string) {
	var before, after *db.Snapshot
	for i := range m.snaps {
		s := &m.snaps[i]
		if s.MachineID != machine {
			continue
		}
		if !s.TakenAt.After(t) {
			if before == nil || s.TakenAt.After(before.TakenAt) {
				before = s
			}
		} else if after == nil || s.TakenAt.Before(after.TakenAt) {
			after = s
		}
	}
	pick := before
	if pick == nil {
		pick = after
	}
	if pick == nil {
		return "", ""
	}
	return strings.ToLower(pick.UserEmail), pick.Region
}

type modelSum struct {
	sessions, minutes int64
	last              time.Time
}

// sums groups the model's sessions started in [from, to) by key.
func (m *rollupModel) sums(from, to time.Time, key func(modelSession) string) map[string]modelSum {
	out := map[string]modelSum{}
	for _, s := range m.sessions {
		if s.start.Before(from) || !s.start.Before(to) {
			continue
		}
		k := key(s)
		v := out[k]
		v.sessions++
		v.minutes += s.minutes
		if s.start.After(v.last) {
			v.last = s.start
		}
		out[k] = v
	}
	return out
}

func groupKeyOf(group string, loc *time.Location) func(modelSession) string {
	switch group {
	case db.GroupUser:
		return func(s modelSession) string { return s.user }
	case db.GroupRegion:
		return func(s modelSession) string { return s.region }
	case db.GroupDay:
		return func(s modelSession) string { return s.start.In(loc).Format(time.DateOnly) }
	default:
		return func(s modelSession) string { return s.machine }
	}
}

// TestUsageRollup_matchesRawSums (issue 13): over random sessions, many
// starting on or near midnight in UTC and in zones with half- and
// quarter-hour offsets, written as the sync writes them, then ended, moved
// and deleted, every report (each grouping, random ranges in several zones,
// aligned to their days or not) and every top-N chart equals an independent
// sum over the sessions, and the trigger-kept rollups equal a rebuild from
// scratch.
func TestUsageRollup_matchesRawSums(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))

	zones := []string{"UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", dbtest.TimeZone}
	locs := make([]*time.Location, len(zones))
	for i, z := range zones {
		l, err := time.LoadLocation(z)
		if err != nil {
			t.Fatal(err)
		}
		locs[i] = l
	}
	w0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday; DST starts in New York on the 8th
	const windowDays = 24
	machines := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6"}
	users := []string{"ann@example.com", "Bob@Example.com", "", "carol@example.com"}
	regions := []string{"dublin", "tokyo", ""}

	// Three passes, each assigning every machine a user and region.
	m := &rollupModel{sessions: map[string]modelSession{}}
	for p := range 3 {
		at := w0.Add(time.Duration(p*8)*24*time.Hour + time.Duration(rng.IntN(86400))*time.Second)
		pass, err := s.BeginSyncPass(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		var snaps []db.Snapshot
		for _, id := range machines {
			snaps = append(snaps, snap(id, "Name "+id, users[rng.IntN(len(users))], regions[rng.IntN(len(regions))], 100, at))
		}
		if err := s.InsertSnapshots(ctx, pass, snaps); err != nil {
			t.Fatal(err)
		}
		m.snaps = append(m.snaps, snaps...)
	}

	// A start: anywhere in the window, or on (or a second off) a midnight
	// of one of the zones.
	randStart := func() time.Time {
		t0 := w0.Add(time.Duration(rng.Int64N(windowDays*86400)) * time.Second)
		if rng.IntN(2) == 0 {
			l := locs[rng.IntN(len(locs))]
			y, mo, d := t0.In(l).Date()
			t0 = time.Date(y, mo, d, 0, 0, 0, 0, l).Add(time.Duration(rng.IntN(3)-1) * time.Second)
		}
		return t0.UTC()
	}
	newSession := func(id string) db.Session {
		st := randStart()
		return db.Session{ID: id, MachineID: machines[rng.IntN(len(machines))], StartAt: st, DurationMinutes: rng.Int64N(700)}
	}
	store := func(batch []db.Session) {
		t.Helper()
		if _, err := s.UpsertSessions(ctx, batch, w0.Add(30*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, x := range batch {
			old, known := m.sessions[x.ID]
			ms := modelSession{machine: x.MachineID, start: x.StartAt, minutes: x.DurationMinutes, user: old.user, region: old.region}
			if !known || old.machine != x.MachineID || !old.start.Equal(x.StartAt) {
				ms.user, ms.region = m.ownerAt(x.MachineID, x.StartAt)
			}
			m.sessions[x.ID] = ms
		}
	}

	// Batches as the sync writes them.
	next := 0
	for range 6 {
		var batch []db.Session
		for range 40 + rng.IntN(40) {
			batch = append(batch, newSession(fmt.Sprint(next)))
			next++
		}
		store(batch)
	}
	// Later passes: sessions that grew or ended, some moved to another
	// start or machine, some new.
	for range 3 {
		var batch []db.Session
		for id, x := range m.sessions {
			switch rng.IntN(6) {
			case 0:
				batch = append(batch, db.Session{ID: id, MachineID: x.machine, StartAt: x.start, DurationMinutes: x.minutes + rng.Int64N(60)})
			case 1:
				batch = append(batch, db.Session{ID: id, MachineID: machines[rng.IntN(len(machines))], StartAt: randStart(), DurationMinutes: x.minutes})
			}
		}
		for range 10 {
			batch = append(batch, newSession(fmt.Sprint(next)))
			next++
		}
		store(batch)
	}
	// A few deleted (nothing deletes sessions today; the rollups must not
	// care).
	var gone []string
	for id := range m.sessions {
		if rng.IntN(15) == 0 {
			gone = append(gone, id)
		}
	}
	if _, err := s.Pool().Exec(ctx, `DELETE FROM machine_sessions WHERE id = ANY($1)`, gone); err != nil {
		t.Fatal(err)
	}
	for _, id := range gone {
		delete(m.sessions, id)
	}
	t.Logf("%d sessions stored, %d deleted", len(m.sessions), len(gone))

	// Ranges: whole local days of a zone, and arbitrary instants.
	type rng2 struct {
		from, to time.Time
		loc      *time.Location
	}
	var ranges []rng2
	for i := range 24 {
		l := locs[i%len(locs)]
		if i%3 == 2 {
			from := w0.Add(time.Duration(rng.Int64N((windowDays+4)*86400)-2*86400) * time.Second)
			ranges = append(ranges, rng2{from, from.Add(time.Duration(1+rng.Int64N(20*86400)) * time.Second), l})
			continue
		}
		y, mo, d := w0.AddDate(0, 0, rng.IntN(windowDays)-1).In(l).Date()
		from := time.Date(y, mo, d, 0, 0, 0, 0, l)
		ranges = append(ranges, rng2{from, from.AddDate(0, 0, 1+rng.IntN(20)), l})
	}
	ranges = append(ranges, rng2{w0.AddDate(0, 0, -3), w0.AddDate(0, 0, windowDays+3), time.UTC})

	for _, r := range ranges {
		for _, group := range db.UsageGroups {
			name := fmt.Sprintf("%s %s..%s %s", group, r.from.Format(time.RFC3339), r.to.Format(time.RFC3339), r.loc)
			rows, err := s.UsageReport(ctx, db.UsageQuery{From: r.from, To: r.to, Group: group, Loc: r.loc})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want := m.sums(r.from, r.to, groupKeyOf(group, r.loc))
			got := map[string]modelSum{}
			for _, row := range rows {
				if row.Sessions == 0 {
					continue // a day without sessions
				}
				v := modelSum{sessions: row.Sessions, minutes: row.Minutes}
				if row.LastUsed != nil {
					v.last = row.LastUsed.UTC()
				}
				got[row.GroupKey] = v
			}
			for k, w := range want {
				w.last = w.last.UTC()
				if g := got[k]; g != w {
					t.Errorf("%s: group %q: got %d sessions %d min last %v, want %d, %d, %v",
						name, k, g.sessions, g.minutes, g.last, w.sessions, w.minutes, w.last)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s: group %q reported, no session of it in range", name, k)
				}
			}

			// The chart: the top 2 groups per day, and the others.
			chart, err := s.UsageSeries(ctx, db.UsageQuery{From: r.from, To: r.to, Group: group, Loc: r.loc}, 2)
			if err != nil {
				t.Fatalf("%s chart: %v", name, err)
			}
			checkChart(t, name, chart, m, r.from, r.to, r.loc, group)
		}
	}

	// The rollups as the triggers kept them equal a rebuild from scratch.
	tables := []string{"usage_machine_day", "usage_machine_week", "usage_region_quarter", "usage_user_quarter"}
	for _, tb := range tables {
		if _, err := s.Pool().Exec(ctx, `CREATE TABLE kept_`+tb+` AS SELECT * FROM `+tb); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, `SELECT usage_rollups_rebuild()`); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		var n int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM (
			(TABLE kept_`+tb+` EXCEPT ALL TABLE `+tb+`) UNION ALL (TABLE `+tb+` EXCEPT ALL TABLE kept_`+tb+`)) d`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows differ between the triggers' rollup and a rebuild", tb, n)
		}
	}
}

// checkChart compares a top-2 chart with the model's.
func checkChart(t *testing.T, name string, chart db.UsageChart, m *rollupModel, from, to time.Time, loc *time.Location, group string) {
	t.Helper()
	dayOf := func(s modelSession) string { return s.start.In(loc).Format(time.DateOnly) }
	want := map[string]map[string]modelSum{} // series key → day → sums
	add := func(series string, s modelSession) {
		if want[series] == nil {
			want[series] = map[string]modelSum{}
		}
		v := want[series][dayOf(s)]
		v.sessions++
		v.minutes += s.minutes
		want[series][dayOf(s)] = v
	}
	if group == db.GroupDay {
		for _, s := range m.sessions {
			if !s.start.Before(from) && s.start.Before(to) {
				add(db.SeriesTotalKey, s)
			}
		}
	} else {
		totals := m.sums(from, to, groupKeyOf(group, loc))
		keys := make([]string, 0, len(totals))
		for k := range totals {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if totals[a].minutes != totals[b].minutes {
				if totals[a].minutes > totals[b].minutes {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		top := keys[:min(2, len(keys))]
		key := groupKeyOf(group, loc)
		for _, s := range m.sessions {
			if s.start.Before(from) || !s.start.Before(to) {
				continue
			}
			if k := key(s); slices.Contains(top, k) {
				add(k, s)
			} else {
				add(db.SeriesOtherKey, s)
			}
		}
	}
	got := map[string]map[string]modelSum{}
	for _, cs := range chart.Series {
		for i, d := range chart.Days {
			if cs.Sessions[i] == 0 && cs.Minutes[i] == 0 {
				continue
			}
			if got[cs.GroupKey] == nil {
				got[cs.GroupKey] = map[string]modelSum{}
			}
			got[cs.GroupKey][d] = modelSum{sessions: cs.Sessions[i], minutes: cs.Minutes[i]}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s chart:\n got  %v\n want %v", name, got, want)
	}
}

// TestUsageReport_userAtTheTime (issue 13): a machine handed from Ann to
// Bob counts its earlier sessions for Ann and its later ones for Bob, also
// after Ann's snapshots are gone (old passes pruned), and the top-users
// report and the chart say the same.
func TestUsageReport_userAtTheTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	d0 := time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)
	p1, err := s.BeginSyncPass(ctx, d0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSnapshots(ctx, p1, []db.Snapshot{snap("m1", "Studio", "Ann@Example.com", "dublin", 100, d0)}); err != nil {
		t.Fatal(err)
	}
	// Seen while Ann had it: one from before the dashboard knew the
	// machine (its first snapshot says Ann), one after.
	early := db.Session{ID: "a1", MachineID: "m1", StartAt: d0.Add(-48 * time.Hour), DurationMinutes: 60}
	mid := db.Session{ID: "a2", MachineID: "m1", StartAt: d0.Add(2 * time.Hour), DurationMinutes: 30}
	if _, err := s.UpsertSessions(ctx, []db.Session{early, mid}, d0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	d1 := d0.Add(5 * 24 * time.Hour)
	p2, err := s.BeginSyncPass(ctx, d1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSnapshots(ctx, p2, []db.Snapshot{snap("m1", "Studio", "bob@example.com", "dublin", 100, d1)}); err != nil {
		t.Fatal(err)
	}
	// Seen once Bob had it: a session Ann ran (started before the handover
	// was seen, after her snapshot) still is hers; Bob's is his. Ann's
	// session a2 grows; it stays hers.
	late := db.Session{ID: "b1", MachineID: "m1", StartAt: d1.Add(time.Hour), DurationMinutes: 45}
	annLate := db.Session{ID: "a3", MachineID: "m1", StartAt: d1.Add(-time.Hour), DurationMinutes: 15}
	mid.DurationMinutes = 40
	if _, err := s.UpsertSessions(ctx, []db.Session{late, annLate, mid}, d1.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Ann's pass pruned: what the sessions recorded stays.
	if _, err := s.Pool().Exec(ctx, `DELETE FROM sync_passes WHERE id = $1`, p1); err != nil {
		t.Fatal(err)
	}

	from, to := d0.AddDate(0, 0, -7), d1.AddDate(0, 0, 7)
	rows, err := s.UsageReport(ctx, db.UsageQuery{From: from, To: to, Group: db.GroupUser})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int64{}
	for _, r := range rows {
		got[r.GroupKey] = [2]int64{r.Sessions, r.Minutes}
	}
	want := map[string][2]int64{"ann@example.com": {3, 60 + 40 + 15}, "bob@example.com": {1, 45}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("by user: got %v, want %v", got, want)
	}
	top, err := s.TopUsers(ctx, from, to, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 1 || top[0].GroupKey != "ann@example.com" || top[0].Minutes != 115 {
		t.Errorf("top user: %+v, want Ann with 115 minutes", top)
	}
	chart, err := s.UsageSeries(ctx, db.UsageQuery{From: from, To: to, Group: db.GroupUser}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(chart.Series) != 2 || chart.Series[0].GroupKey != "ann@example.com" || chart.Series[0].Total != 115 ||
		chart.Series[1].GroupKey != db.SeriesOtherKey || chart.Series[1].Total != 45 {
		t.Errorf("chart: %+v, want Ann (115 min) then the others (Bob's 45)", chart.Series)
	}
}
