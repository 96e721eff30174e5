package db

import (
	"testing"
	"time"
)

// TestPlanFor: the spans of a plan are disjoint, aligned to their rollup's
// buckets, and cover the range exactly, for ranges shorter than a day,
// across a week boundary and over many weeks; and Go's week buckets start
// on Monday 00:00 UTC as Postgres's date_trunc('week') does.
func TestPlanFor(t *testing.T) {
	if wd := floorTo(time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC), rollupWeek); wd.Weekday() != time.Monday || wd.Hour() != 0 {
		t.Fatalf("week bucket starts %v, want a Monday 00:00 UTC", wd)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		from, to          string
		weeks, days, raws int // non-empty spans of each kind
	}{
		{"2026-03-04T10:00:00Z", "2026-03-04T11:00:00Z", 0, 0, 1},
		{"2026-03-04T10:00:00Z", "2026-03-05T11:00:00Z", 0, 0, 1},
		{"2026-03-04T10:00:00Z", "2026-03-06T11:00:00Z", 0, 1, 2},
		{"2026-03-04T00:00:00Z", "2026-03-06T00:00:00Z", 0, 1, 0},
		{"2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z", 1, 0, 0},
		{"2026-03-04T06:30:00+05:30", "2026-05-30T00:00:00+05:30", 1, 2, 2},
		{"2026-03-10T18:00:00-05:00", "2026-03-17T20:00:00-05:00", 0, 1, 2},
	} {
		from, to := at(tc.from), at(tc.to)
		p := planFor(from, to)
		spans := []struct {
			s    span
			kind string
			unit time.Duration
		}{{p.weeks, "week", rollupWeek}, {p.days[0], "day", rollupDay}, {p.days[1], "day", rollupDay}, {p.raw[0], "raw", 0}, {p.raw[1], "raw", 0}}
		var covered time.Duration
		count := map[string]int{}
		for i, a := range spans {
			if !a.s.From.Before(a.s.To) {
				continue
			}
			count[a.kind]++
			covered += a.s.To.Sub(a.s.From)
			if a.s.From.Before(from) || a.s.To.After(to) {
				t.Errorf("%s..%s: %s span %v outside the range", tc.from, tc.to, a.kind, a.s)
			}
			if a.unit > 0 && (!floorTo(a.s.From, a.unit).Equal(a.s.From) || !floorTo(a.s.To, a.unit).Equal(a.s.To)) {
				t.Errorf("%s..%s: %s span %v not on %s boundaries", tc.from, tc.to, a.kind, a.s, a.kind)
			}
			for _, b := range spans[i+1:] {
				if b.s.From.Before(b.s.To) && a.s.From.Before(b.s.To) && b.s.From.Before(a.s.To) {
					t.Errorf("%s..%s: spans %v and %v overlap", tc.from, tc.to, a.s, b.s)
				}
			}
		}
		if covered != to.Sub(from) {
			t.Errorf("%s..%s: spans cover %v of %v", tc.from, tc.to, covered, to.Sub(from))
		}
		if count["week"] != tc.weeks || count["day"] != tc.days || count["raw"] != tc.raws {
			t.Errorf("%s..%s: %v, want %d week, %d day, %d raw spans", tc.from, tc.to, count, tc.weeks, tc.days, tc.raws)
		}
	}
}
