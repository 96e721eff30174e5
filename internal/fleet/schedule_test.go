package fleet_test

import (
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNextRuns(t *testing.T) {
	all := fleet.DayNames
	cases := []struct {
		name  string
		s     fleet.Schedule
		after string // RFC 3339
		n     int
		want  []string // RFC 3339 in the schedule's zone
	}{
		{
			name:  "Berlin 07:30 across spring forward keeps 07:30 local",
			s:     fleet.Schedule{Days: all, AtMinute: 7*60 + 30, TimeZone: "Europe/Berlin"},
			after: "2024-03-30T00:00:00+01:00", n: 3,
			want: []string{"2024-03-30T07:30:00+01:00", "2024-03-31T07:30:00+02:00", "2024-04-01T07:30:00+02:00"},
		},
		{
			name:  "Berlin 07:30 across fall back keeps 07:30 local",
			s:     fleet.Schedule{Days: all, AtMinute: 7*60 + 30, TimeZone: "Europe/Berlin"},
			after: "2024-10-26T00:00:00+02:00", n: 3,
			want: []string{"2024-10-26T07:30:00+02:00", "2024-10-27T07:30:00+01:00", "2024-10-28T07:30:00+01:00"},
		},
		{
			name:  "New York 07:30 across spring forward keeps 07:30 local",
			s:     fleet.Schedule{Days: all, AtMinute: 7*60 + 30, TimeZone: "America/New_York"},
			after: "2024-03-09T00:00:00-05:00", n: 3,
			want: []string{"2024-03-09T07:30:00-05:00", "2024-03-10T07:30:00-04:00", "2024-03-11T07:30:00-04:00"},
		},
		{
			name:  "New York 07:30 across fall back keeps 07:30 local",
			s:     fleet.Schedule{Days: all, AtMinute: 7*60 + 30, TimeZone: "America/New_York"},
			after: "2024-11-02T00:00:00-04:00", n: 3,
			want: []string{"2024-11-02T07:30:00-04:00", "2024-11-03T07:30:00-05:00", "2024-11-04T07:30:00-05:00"},
		},
		{
			name:  "Berlin 02:30 in the spring gap runs when the clocks jump",
			s:     fleet.Schedule{Days: all, AtMinute: 2*60 + 30, TimeZone: "Europe/Berlin"},
			after: "2024-03-30T12:00:00+01:00", n: 2,
			want: []string{"2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"},
		},
		{
			name:  "New York 02:30 in the spring gap runs when the clocks jump",
			s:     fleet.Schedule{Days: all, AtMinute: 2*60 + 30, TimeZone: "America/New_York"},
			after: "2024-03-09T12:00:00-05:00", n: 1,
			want: []string{"2024-03-10T03:00:00-04:00"},
		},
		{
			name:  "Berlin 02:30 in the fall overlap runs once, at the first occurrence",
			s:     fleet.Schedule{Days: all, AtMinute: 2*60 + 30, TimeZone: "Europe/Berlin"},
			after: "2024-10-26T12:00:00+02:00", n: 2,
			want: []string{"2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"},
		},
		{
			name:  "New York 01:30 in the fall overlap runs once, at the first occurrence",
			s:     fleet.Schedule{Days: all, AtMinute: 1*60 + 30, TimeZone: "America/New_York"},
			after: "2024-11-02T12:00:00-04:00", n: 2,
			want: []string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"},
		},
		{
			name:  "after the first occurrence of an overlap there is no second run that day",
			s:     fleet.Schedule{Days: all, AtMinute: 2*60 + 30, TimeZone: "Europe/Berlin"},
			after: "2024-10-27T02:30:00+02:00", n: 1,
			want: []string{"2024-10-28T02:30:00+01:00"},
		},
		{
			name:  "weekdays only, read in the schedule's zone",
			s:     fleet.Schedule{Days: []string{"mon", "tue", "wed", "thu", "fri"}, AtMinute: 8 * 60, TimeZone: "Asia/Tokyo"},
			after: "2024-06-07T09:00:00+09:00", n: 2, // Friday after 08:00
			want: []string{"2024-06-10T08:00:00+09:00", "2024-06-11T08:00:00+09:00"},
		},
		{
			name:  "skip dates are local dates",
			s:     fleet.Schedule{Days: all, AtMinute: 23 * 60, TimeZone: "America/New_York", SkipDates: []string{"2024-12-24", "2024-12-25"}},
			after: "2024-12-23T23:30:00-05:00", n: 2,
			want: []string{"2024-12-26T23:00:00-05:00", "2024-12-27T23:00:00-05:00"},
		},
		{
			name:  "the same minute as after is not next",
			s:     fleet.Schedule{Days: all, AtMinute: 9 * 60, TimeZone: "UTC"},
			after: "2024-01-01T09:00:00Z", n: 1,
			want: []string{"2024-01-02T09:00:00Z"},
		},
		{
			name:  "no days, no runs",
			s:     fleet.Schedule{AtMinute: 9 * 60, TimeZone: "UTC"},
			after: "2024-01-01T00:00:00Z", n: 3,
		},
		{
			name:  "unknown zone, no runs",
			s:     fleet.Schedule{Days: all, AtMinute: 9 * 60, TimeZone: "Mars/Olympus"},
			after: "2024-01-01T00:00:00Z", n: 3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			after, err := time.Parse(time.RFC3339, tc.after)
			if err != nil {
				t.Fatal(err)
			}
			got := fleet.NextRuns(tc.s, after, tc.n)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d runs %v, want %v", len(got), got, tc.want)
			}
			for i, w := range tc.want {
				wt, _ := time.Parse(time.RFC3339, w)
				if !got[i].Equal(wt) {
					t.Errorf("run %d = %s, want %s", i, got[i].Format(time.RFC3339), w)
				}
				if got[i].Location().String() != tc.s.TimeZone {
					t.Errorf("run %d in zone %s, want %s", i, got[i].Location(), tc.s.TimeZone)
				}
			}
		})
	}
}

func TestNextRuns_sevenThirtyIsLocalAllYear(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "America/New_York"} {
		s := fleet.Schedule{Days: fleet.DayNames, AtMinute: 7*60 + 30, TimeZone: zone}
		loc := mustLoc(t, zone)
		runs := fleet.NextRuns(s, time.Date(2024, 1, 1, 0, 0, 0, 0, loc), 366)
		if len(runs) != 366 {
			t.Fatalf("%s: %d runs in 2024, want 366", zone, len(runs))
		}
		for _, r := range runs {
			if r.Hour() != 7 || r.Minute() != 30 {
				t.Fatalf("%s: run at %s, want 07:30 local", zone, r)
			}
		}
	}
}

func TestCheckSchedule(t *testing.T) {
	ok := fleet.ScheduleInput{Name: "Mornings", Action: "start", MachineIDs: []string{"101"}, Days: []string{"mon"}, At: "07:30", TimeZone: "Europe/Berlin", SkipDates: "2024-12-25, 2024-12-24 2024-12-25", Enabled: true}
	cases := []struct {
		name  string
		edit  func(*fleet.ScheduleInput)
		field string
	}{
		{"valid", func(*fleet.ScheduleInput) {}, ""},
		{"no name", func(in *fleet.ScheduleInput) { in.Name = "  " }, "name"},
		{"bad action", func(in *fleet.ScheduleInput) { in.Action = "reset" }, "action"},
		{"no target", func(in *fleet.ScheduleInput) { in.MachineIDs = nil }, "machine_id"},
		{"bad machine id", func(in *fleet.ScheduleInput) { in.MachineIDs = []string{"x"} }, "machine_id"},
		{"no days", func(in *fleet.ScheduleInput) { in.Days = nil }, "days"},
		{"bad day", func(in *fleet.ScheduleInput) { in.Days = []string{"mon", "xyz"} }, "days"},
		{"bad time", func(in *fleet.ScheduleInput) { in.At = "24:00" }, "at"},
		{"bad zone", func(in *fleet.ScheduleInput) { in.TimeZone = "Nowhere/City" }, "timezone"},
		{"empty zone", func(in *fleet.ScheduleInput) { in.TimeZone = "" }, "timezone"},
		{"bad skip date", func(in *fleet.ScheduleInput) { in.SkipDates = "2024-13-01" }, "skip_dates"},
		{"vanished view", func(in *fleet.ScheduleInput) { in.SavedViewID = "9" }, "saved_view_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.edit(&in)
			var sc fleet.Schedule
			errs := fleet.CheckSchedule(in, nil, &sc)
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("errors %v", errs)
				}
				if sc.AtMinute != 450 || len(sc.SkipDates) != 2 || sc.SkipDates[0] != "2024-12-24" {
					t.Fatalf("parsed %+v", sc)
				}
				return
			}
			if _, bad := errs[tc.field]; !bad || len(errs) != 1 {
				t.Fatalf("errors %v, want one on %s", errs, tc.field)
			}
		})
	}
}
