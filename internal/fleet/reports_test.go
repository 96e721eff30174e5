package fleet_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

func TestParseRange(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// 23:30 UTC on 31 March is already 1 April in Berlin (CEST, +2).
	lateMarch := time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC)
	midJan := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	leap := time.Date(2028, 3, 10, 12, 0, 0, 0, time.UTC)

	tests := []struct {
		name             string
		preset, from, to string
		now              time.Time
		loc              *time.Location
		first, last      string
		preset2          string
	}{
		{"default is last 30 days", "", "", "", midJan, nil, "2025-12-17", "2026-01-15", fleet.PresetLast30},
		{"last 7 days", fleet.PresetLast7, "", "", midJan, nil, "2026-01-09", "2026-01-15", fleet.PresetLast7},
		{"last 90 days across a year", fleet.PresetLast90, "", "", midJan, nil, "2025-10-18", "2026-01-15", fleet.PresetLast90},
		{"preset ignores dates", fleet.PresetLast7, "2020-01-01", "bad", midJan, nil, "2026-01-09", "2026-01-15", fleet.PresetLast7},
		{"this month", fleet.PresetThisMonth, "", "", midJan, nil, "2026-01-01", "2026-01-15", fleet.PresetThisMonth},
		{"last month across a year", fleet.PresetLastMonth, "", "", midJan, nil, "2025-12-01", "2025-12-31", fleet.PresetLastMonth},
		{"this month in utc", fleet.PresetThisMonth, "", "", lateMarch, nil, "2026-03-01", "2026-03-31", fleet.PresetThisMonth},
		{"this month in berlin is april", fleet.PresetThisMonth, "", "", lateMarch, berlin, "2026-04-01", "2026-04-01", fleet.PresetThisMonth},
		{"last month in berlin is march", fleet.PresetLastMonth, "", "", lateMarch, berlin, "2026-03-01", "2026-03-31", fleet.PresetLastMonth},
		{"last month before a leap march", fleet.PresetLastMonth, "", "", leap, nil, "2028-02-01", "2028-02-29", fleet.PresetLastMonth},
		{"last month of 31 march", fleet.PresetLastMonth, "", "", lateMarch, nil, "2026-02-01", "2026-02-28", fleet.PresetLastMonth},
		{"custom", fleet.PresetCustom, "2026-02-01", "2026-02-28", midJan, nil, "2026-02-01", "2026-02-28", fleet.PresetCustom},
		{"custom implied by dates", "", " 2026-02-01 ", "2026-02-01", midJan, nil, "2026-02-01", "2026-02-01", fleet.PresetCustom},
		{"custom 366 days", fleet.PresetCustom, "2027-03-01", "2028-02-29", midJan, nil, "2027-03-01", "2028-02-29", fleet.PresetCustom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := fleet.ParseRange(tt.preset, tt.from, tt.to, tt.now, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			loc := tt.loc
			if loc == nil {
				loc = time.UTC
			}
			first, _ := time.ParseInLocation(time.DateOnly, tt.first, loc)
			last, _ := time.ParseInLocation(time.DateOnly, tt.last, loc)
			if r.FirstDay != tt.first || r.LastDay != tt.last || r.Preset != tt.preset2 ||
				!r.From.Equal(first) || !r.To.Equal(last.AddDate(0, 0, 1)) || r.Loc != loc {
				t.Fatalf("got %+v, want %s..%s (%s)", r, tt.first, tt.last, tt.preset2)
			}
			f, _ := time.Parse(time.DateOnly, tt.first)
			l, _ := time.Parse(time.DateOnly, tt.last)
			if want := int(l.Sub(f).Hours()/24) + 1; r.Days() != want {
				t.Fatalf("Days() = %d, want %d", r.Days(), want)
			}
		})
	}

	// Across the spring daylight-saving change the range is still whole days.
	r, err := fleet.ParseRange(fleet.PresetCustom, "2026-03-29", "2026-03-29", midJan, berlin)
	if err != nil {
		t.Fatal(err)
	}
	if r.To.Sub(r.From) != 23*time.Hour {
		t.Fatalf("29 March in Berlin lasts %v, want 23h", r.To.Sub(r.From))
	}

	bad := []struct {
		name, preset, from, to, field string
	}{
		{"unknown preset", "yesterday", "", "", "preset"},
		{"missing from", fleet.PresetCustom, "", "2026-01-01", "from"},
		{"missing to", "", "2026-01-01", "", "to"},
		{"bad from", "", "2026-02-30", "2026-03-01", "from"},
		{"from not a date", "", "01/02/2026", "2026-03-01", "from"},
		{"bad to", "", "2026-01-01", "2026-1-5", "to"},
		{"to with time", "", "2026-01-01", "2026-01-05T00:00:00Z", "to"},
		{"inverted", "", "2026-03-02", "2026-03-01", "to"},
		{"367 days", "", "2026-01-01", "2027-01-02", "to"},
		{"year out of range", "", "0001-01-01", "0001-01-02", "from"},
	}
	for _, tt := range bad {
		t.Run("bad/"+tt.name, func(t *testing.T) {
			_, err := fleet.ParseRange(tt.preset, tt.from, tt.to, midJan, nil)
			var fe *fleet.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Msg == "" || !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Fatalf("err = %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
}

func TestParseGroupAndSort(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": db.GroupMachine, "user": db.GroupUser, " day ": db.GroupDay, "region": db.GroupRegion} {
		if got, err := fleet.ParseGroup(in); err != nil || got != want {
			t.Errorf("ParseGroup(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	var fe *fleet.FieldError
	if _, err := fleet.ParseGroup("team"); !errors.As(err, &fe) || fe.Field != "group" {
		t.Errorf("ParseGroup(team): %v", err)
	}
	if got, err := fleet.ParseSort("minutes"); err != nil || got != db.SortMinutes {
		t.Errorf("ParseSort(minutes) = %q, %v", got, err)
	}
	if _, err := fleet.ParseSort("minutes; DROP TABLE x"); !errors.As(err, &fe) || fe.Field != "sort" {
		t.Errorf("ParseSort(injection): %v", err)
	}
}

func TestUsageCSV(t *testing.T) {
	t.Parallel()
	rows := []db.UsageRow{
		{GroupKey: "100", Label: "Plain, with \"quotes\"\nand a newline", Sessions: 3, Minutes: 120},
		{GroupKey: "=HYPERLINK(\"http://x\")", Label: "+1", Sessions: 1, Minutes: 0},
		{GroupKey: "-2", Label: "@SUM(A1)", Sessions: 0, Minutes: 0},
		{GroupKey: "\tx", Label: "\rY", Sessions: 0, Minutes: 0},
		{GroupKey: "", Label: db.LabelUnassigned, Sessions: 2, Minutes: 7},
	}
	var buf bytes.Buffer
	if err := fleet.UsageCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"group_key", "label", "sessions", "minutes"},
		{"100", "Plain, with \"quotes\"\nand a newline", "3", "120"},
		{"'=HYPERLINK(\"http://x\")", "'+1", "1", "0"},
		{"'-2", "'@SUM(A1)", "0", "0"},
		{"'\tx", "'\rY", "0", "0"},
		{"", "(unassigned)", "2", "7"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("csv\n got %q\nwant %q", got, want)
	}

	buf.Reset()
	if err := fleet.UsageCSV(&buf, nil); err != nil || buf.String() != "group_key,label,sessions,minutes\n" {
		t.Fatalf("empty csv = %q, %v", buf.String(), err)
	}
}
