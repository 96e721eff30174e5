package db_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

// reportFixture stores a small fleet whose sessions sit on day boundaries of
// UTC, New York and the connection's own zone (dbtest.TimeZone), so that any
// zone mix-up changes a total.
func reportFixture(t *testing.T) *db.Store {
	t.Helper()
	ctx := context.Background()
	s := dbtest.Store(t)
	at := func(v string) time.Time {
		tm, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	taken := at("2026-03-09T12:00:00Z")
	p1, err := s.BeginSyncPass(ctx, taken.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSnapshots(ctx, p1, []db.Snapshot{snap("104", "Old", "old@example.com", "dublin", 0, taken.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	p2, err := s.BeginSyncPass(ctx, taken)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertSnapshots(ctx, p2, []db.Snapshot{
		snap("100", "Alpha", "ann@example.com", "dublin", 600, taken),
		snap("101", "Beta", "Ann@Example.com", "frankfurt", 30, taken),
		snap("102", "Gamma", "", "", 5000, taken),
		snap("103", "Delta", "bob@example.com", "dublin", 10, taken),
		snap("105", "Eps", "carol@example.com", "dublin", 900, taken),
		snap("106", "Zeta", "dave@example.com", "dublin", 1000, taken),
		snap("107", "Eta", "", "dublin", 50, taken),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkMachinesGone(ctx, p2, taken); err != nil {
		t.Fatal(err)
	}
	sess := func(id, machine, start string, minutes int64) db.Session {
		st := at(start)
		return db.Session{ID: id, MachineID: machine, StartAt: st, EndAt: ptr(st.Add(time.Duration(minutes) * time.Minute)), DurationMinutes: minutes}
	}
	running := sess("8", "106", "2026-02-01T00:00:00Z", 50000)
	running.EndAt = nil
	if _, err := s.UpsertSessions(ctx, []db.Session{
		sess("1", "100", "2026-03-01T01:00:00Z", 60),
		sess("2", "100", "2026-03-02T12:00:00Z", 30),
		sess("3", "101", "2026-03-03T23:30:00Z", 90),
		sess("4", "102", "2026-03-02T05:00:00Z", 15),
		sess("5", "100", "2026-02-28T23:59:59Z", 1000),
		sess("6", "103", "2026-03-04T00:00:00Z", 7),
		sess("7", "999", "2026-03-01T10:00:00Z", 5),
		sess("9", "102", "2026-03-09T04:30:00Z", 11), // 00:30 on 9 March in New York (EDT since the 8th)
		running,
	}, taken); err != nil {
		t.Fatal(err)
	}
	return s
}

type rowSum struct {
	key, label        string
	sessions, minutes int64
}

func sums(rows []db.UsageRow) []rowSum {
	out := make([]rowSum, len(rows))
	for i, r := range rows {
		out[i] = rowSum{r.GroupKey, r.Label, r.Sessions, r.Minutes}
	}
	return out
}

func TestUsageReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := reportFixture(t)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	utcFrom := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	utcTo := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	nyFrom := time.Date(2026, 3, 1, 0, 0, 0, 0, ny)
	nyTo := time.Date(2026, 3, 4, 0, 0, 0, 0, ny)

	tests := []struct {
		name string
		q    db.UsageQuery
		want []rowSum
	}{
		{"machine", db.UsageQuery{From: utcFrom, To: utcTo}, []rowSum{
			{"100", "Alpha", 2, 90}, {"101", "Beta", 1, 90}, {"102", "Gamma", 1, 15}, {"999", "999", 1, 5}}},
		{"machine by label", db.UsageQuery{From: utcFrom, To: utcTo, Group: db.GroupMachine, Sort: db.SortLabel}, []rowSum{
			{"999", "999", 1, 5}, {"100", "Alpha", 2, 90}, {"101", "Beta", 1, 90}, {"102", "Gamma", 1, 15}}},
		{"machine by sessions desc", db.UsageQuery{From: utcFrom, To: utcTo, Sort: db.SortSessions, Desc: true}, []rowSum{
			{"100", "Alpha", 2, 90}, {"101", "Beta", 1, 90}, {"102", "Gamma", 1, 15}, {"999", "999", 1, 5}}},
		{"user", db.UsageQuery{From: utcFrom, To: utcTo, Group: db.GroupUser}, []rowSum{
			{"ann@example.com", "ann@example.com", 3, 180}, {"", db.LabelUnassigned, 2, 20}}},
		{"region", db.UsageQuery{From: utcFrom, To: utcTo, Group: db.GroupRegion, Sort: db.SortKey}, []rowSum{
			{"", db.LabelNoRegion, 2, 20}, {"dublin", "dublin", 2, 90}, {"frankfurt", "frankfurt", 1, 90}}},
		{"day utc", db.UsageQuery{From: utcFrom, To: utcTo, Group: db.GroupDay}, []rowSum{
			{"2026-03-01", "2026-03-01", 2, 65}, {"2026-03-02", "2026-03-02", 2, 45}, {"2026-03-03", "2026-03-03", 1, 90}}},
		{"day new york", db.UsageQuery{From: nyFrom, To: nyTo, Group: db.GroupDay, Loc: ny}, []rowSum{
			{"2026-03-01", "2026-03-01", 1, 5}, {"2026-03-02", "2026-03-02", 2, 45}, {"2026-03-03", "2026-03-03", 2, 97}}},
		{"day fixed zone", db.UsageQuery{From: nyFrom, To: nyTo, Group: db.GroupDay, Loc: time.FixedZone("EST", -5*3600)}, []rowSum{
			{"2026-03-01", "2026-03-01", 1, 5}, {"2026-03-02", "2026-03-02", 2, 45}, {"2026-03-03", "2026-03-03", 2, 97}}},
		{"day new york across dst", db.UsageQuery{From: time.Date(2026, 3, 8, 0, 0, 0, 0, ny), To: time.Date(2026, 3, 10, 0, 0, 0, 0, ny), Group: db.GroupDay, Loc: ny}, []rowSum{
			{"2026-03-08", "2026-03-08", 0, 0}, {"2026-03-09", "2026-03-09", 1, 11}}},
		{"day desc with empty days", db.UsageQuery{From: utcFrom.AddDate(0, 0, -2), To: utcFrom, Group: db.GroupDay, Desc: true, Sort: db.SortKey}, []rowSum{
			{"2026-02-28", "2026-02-28", 1, 1000}, {"2026-02-27", "2026-02-27", 0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.UsageReport(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := sums(rows); !slices.Equal(got, tt.want) {
				t.Fatalf("rows\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}

	t.Run("avg and last used", func(t *testing.T) {
		rows, err := s.UsageReport(ctx, db.UsageQuery{From: utcFrom, To: utcTo, Group: db.GroupUser})
		if err != nil {
			t.Fatal(err)
		}
		ann := rows[0]
		if ann.AvgMinutes != 60 || ann.LastUsed == nil || !ann.LastUsed.Equal(time.Date(2026, 3, 3, 23, 30, 0, 0, time.UTC)) {
			t.Fatalf("ann = %+v", ann)
		}
		days, _ := s.UsageReport(ctx, db.UsageQuery{From: utcFrom.AddDate(0, 0, -2), To: utcFrom, Group: db.GroupDay})
		if days[0].LastUsed != nil || days[0].AvgMinutes != 0 {
			t.Fatalf("empty day = %+v", days[0])
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, q := range []db.UsageQuery{
			{From: utcFrom, To: utcTo, Group: "team"},
			{From: utcFrom, To: utcTo, Sort: "cost"},
			{From: utcFrom, To: utcFrom.AddDate(20, 0, 0)},
			{From: utcTo, To: utcFrom},
			{},
		} {
			if _, err := s.UsageReport(ctx, q); !errors.Is(err, db.ErrInvalidQuery) {
				t.Errorf("%+v: err = %v, want ErrInvalidQuery", q, err)
			}
		}
	})
}

func TestUsageSeries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := reportFixture(t)
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	days := []string{"2026-03-01", "2026-03-02", "2026-03-03"}

	chart, err := s.UsageSeries(ctx, db.UsageQuery{From: from, To: to, Group: db.GroupDay}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(chart.Days, days) || len(chart.Series) != 1 ||
		chart.Series[0].GroupKey != db.SeriesTotalKey || !slices.Equal(chart.Series[0].Minutes, []int64{65, 45, 90}) ||
		!slices.Equal(chart.Series[0].Sessions, []int64{2, 2, 1}) || chart.Series[0].Total != 200 {
		t.Fatalf("total chart = %+v", chart)
	}

	chart, err = s.UsageSeries(ctx, db.UsageQuery{From: from, To: to, Group: db.GroupMachine}, 2)
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		key     string
		minutes [3]int64
	}
	var got []line
	for _, cs := range chart.Series {
		got = append(got, line{cs.GroupKey, [3]int64(cs.Minutes)})
	}
	want := []line{{"100", [3]int64{60, 30, 0}}, {"101", [3]int64{0, 0, 90}}, {db.SeriesOtherKey, [3]int64{5, 15, 0}}}
	if !slices.Equal(got, want) || chart.Series[0].Label != "Alpha" || chart.Series[2].Label != db.SeriesOtherName {
		t.Fatalf("top-2 chart\n got %+v\nwant %+v", got, want)
	}

	// Everything fits in the top N: no "other".
	chart, err = s.UsageSeries(ctx, db.UsageQuery{From: from, To: to, Group: db.GroupUser}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(chart.Series) != 2 || chart.Series[0].GroupKey != "ann@example.com" || chart.Series[1].Label != db.LabelUnassigned {
		t.Fatalf("user chart = %+v", chart)
	}
}

func TestTopUsers(t *testing.T) {
	t.Parallel()
	s := reportFixture(t)
	rows, err := s.TopUsers(context.Background(), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []rowSum{{"ann@example.com", "ann@example.com", 3, 180}, {"bob@example.com", "bob@example.com", 1, 7}}
	if got := sums(rows); !slices.Equal(got, want) {
		t.Fatalf("top users = %+v, want %+v", got, want)
	}
	// Names come with the emails (issue 9.18).
	if !strings.EqualFold(rows[0].Name, "ann") || rows[1].Name != "bob" {
		t.Fatalf("names %q %q", rows[0].Name, rows[1].Name)
	}
}

func TestIdleMachines(t *testing.T) {
	t.Parallel()
	s := reportFixture(t)
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	ids := func(ms []db.IdleMachine) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.MachineID)
		}
		return out
	}

	// The last 7 days before 10 March.
	idle, err := s.IdleMachines(context.Background(), day(3), day(10))
	if err != nil {
		t.Fatal(err)
	}
	// 105 and the spare 107 never ran; 100 last ended on 2 March. 101,
	// 102 and 103 ran since the cutoff, 106 is running, 104 was deleted.
	if got := ids(idle); !slices.Equal(got, []string{"105", "107", "100"}) {
		t.Fatalf("idle = %v", got)
	}
	if !idle[0].NeverUsed || idle[0].LastUsed != nil || idle[0].UserEmail != "carol@example.com" {
		t.Fatalf("105 = %+v", idle[0])
	}
	if !idle[1].NeverUsed || idle[1].UserEmail != "" || idle[1].Name != "Eta" {
		t.Fatalf("107 (a spare, never used) = %+v", idle[1])
	}
	if idle[2].NeverUsed || idle[2].LastUsed == nil || !idle[2].LastUsed.Equal(time.Date(2026, 3, 2, 12, 30, 0, 0, time.UTC)) ||
		idle[2].UserEmail != "ann@example.com" || idle[2].Name != "Alpha" {
		t.Fatalf("100 = %+v", idle[2])
	}

	// A past range, 1 March: machines used only later are idle in it, and
	// are not "never used".
	idle, err = s.IdleMachines(context.Background(), day(1), day(2))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(idle); !slices.Equal(got, []string{"105", "107", "101", "102", "103"}) {
		t.Fatalf("idle on 1 March = %v", got)
	}
	for _, m := range idle[2:] {
		if m.NeverUsed || m.LastUsed != nil {
			t.Errorf("%s: never used %v, last used %v", m.MachineID, m.NeverUsed, m.LastUsed)
		}
	}

	if _, err := s.IdleMachines(context.Background(), day(2), day(2)); err == nil {
		t.Error("an empty range is accepted")
	}
}

func TestLowRemaining(t *testing.T) {
	t.Parallel()
	s := reportFixture(t)
	now := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	low, err := s.LowRemaining(context.Background(), 100, now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range low {
		ids = append(ids, m.MachineID)
	}
	if !slices.Equal(ids, []string{"103", "101", "107"}) {
		t.Fatalf("low = %v", ids)
	}
	taken := time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)
	// 103: 10 minutes left, 7 used in 14 days (0.5 a day): 20 days.
	if m := low[0]; m.MinutesUsed != 7 || m.BurnPerDay != 0.5 || m.RunOut == nil || !m.RunOut.Equal(taken.Add(20*24*time.Hour)) {
		t.Fatalf("103 = %+v", m)
	}
	// 101: 30 left, 90 used in 14 days: 4.67 days.
	if m := low[1]; m.MinutesUsed != 90 || m.RunOut == nil || math.Abs(m.RunOut.Sub(taken).Hours()-30.0/90*14*24) > 0.01 {
		t.Fatalf("101 = %+v", m)
	}
	if m := low[2]; m.MinutesUsed != 0 || m.RunOut != nil {
		t.Fatalf("107 (unused) = %+v", m)
	}
}
