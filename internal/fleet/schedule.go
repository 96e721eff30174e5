package fleet

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Schedule is a scheduled power action, as stored.
type Schedule = db.Schedule

// Schedule actions (the form's `action` field).
const (
	ScheduleStart = "start"
	ScheduleStop  = "stop"
)

// DayNames are the `days` values, Monday first, as the form sends them.
var DayNames = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// dayWeekday maps a day name to its time.Weekday.
var dayWeekday = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
	"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday,
}

// DayLabel names a day value in words ("Mon").
func DayLabel(d string) string {
	if d == "" {
		return ""
	}
	return strings.ToUpper(d[:1]) + d[1:]
}

// FormatAt writes minutes after midnight as HH:MM.
func FormatAt(minute int) string { return fmt.Sprintf("%02d:%02d", minute/60, minute%60) }

// maxSearchDays bounds how far NextRuns looks ahead: a schedule whose days
// are all skipped for longer has no next run worth showing.
const maxSearchDays = 800

// NextRuns returns the schedule's next n occurrences strictly after after,
// in order. Days of the week and skip dates are read in the schedule's time
// zone; the time of day is local too, so a 07:30 schedule runs at 07:30 on
// both sides of a daylight-saving change.
//
// Two local times need a rule:
//   - a time that does not exist that day (the spring-forward gap, e.g.
//     02:30 in Europe/Berlin on the last Sunday of March) runs at the first
//     instant after the gap: the moment the clocks jump (03:00 local);
//   - a time that happens twice (the fall-back overlap, 02:30 on the last
//     Sunday of October) runs once, at its first occurrence (summer time).
//
// An unknown time zone, or no days, gives no runs.
func NextRuns(s Schedule, after time.Time, n int) []time.Time {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil || n <= 0 || len(s.Days) == 0 {
		return nil
	}
	days := map[time.Weekday]bool{}
	for _, d := range s.Days {
		if wd, ok := dayWeekday[d]; ok {
			days[wd] = true
		}
	}
	skip := map[string]bool{}
	for _, d := range s.SkipDates {
		skip[d] = true
	}
	a := after.In(loc)
	// Start a day early: the occurrence on after's local date may still be
	// ahead, and a gap rule can move an occurrence later than its date.
	day := time.Date(a.Year(), a.Month(), a.Day()-1, 12, 0, 0, 0, loc)
	var out []time.Time
	for i := 0; i < maxSearchDays && len(out) < n; i++ {
		d := time.Date(day.Year(), day.Month(), day.Day()+i, 12, 0, 0, 0, loc)
		if !days[d.Weekday()] || skip[d.Format(time.DateOnly)] {
			continue
		}
		t := LocalInstant(d.Year(), d.Month(), d.Day(), s.AtMinute/60, s.AtMinute%60, loc)
		if t.After(after) {
			out = append(out, t)
		}
	}
	return out
}

// LocalInstant is the instant the clocks in loc show the given date and
// time, by NextRuns's rules: in a gap, the first instant after it; in an
// overlap, the first occurrence. It does not rely on how time.Date picks.
func LocalInstant(y int, m time.Month, d, hh, mm int, loc *time.Location) time.Time {
	wall := time.Date(y, m, d, hh, mm, 0, 0, time.UTC) // the wall clock read as UTC
	noon := time.Date(y, m, d, 12, 0, 0, 0, loc)
	var best time.Time
	seen := map[int]bool{}
	for _, probe := range []time.Time{noon.AddDate(0, 0, -1), noon, noon.AddDate(0, 0, 1)} {
		_, off := probe.Zone()
		if seen[off] {
			continue
		}
		seen[off] = true
		u := wall.Add(-time.Duration(off) * time.Second)
		l := u.In(loc)
		if l.Year() == y && l.Month() == m && l.Day() == d && l.Hour() == hh && l.Minute() == mm {
			if best.IsZero() || u.Before(best) {
				best = u
			}
		}
	}
	if !best.IsZero() {
		return best.In(loc)
	}
	// A gap: read with the offset before the change, the instant falls
	// after it; the zone that starts then began at the jump.
	_, before := noon.AddDate(0, 0, -1).Zone()
	u := wall.Add(-time.Duration(before) * time.Second).In(loc)
	if start, _ := u.ZoneBounds(); !start.IsZero() && !start.After(u) {
		return start.In(loc)
	}
	return u
}

// ScheduleInput is a schedule form as typed, before it is checked.
type ScheduleInput struct {
	Name               string
	Action             string
	Gracefully         bool
	MachineIDs         []string
	SavedViewID        string
	Days               []string
	At                 string
	TimeZone           string
	SkipDates          string
	SkipActiveSessions bool
	Enabled            bool
	// Version is the version the edit form showed (0 on create).
	Version int
}

var atPattern = regexp.MustCompile(`^([01]\d|2[0-3]):([0-5]\d)$`)

// MaxScheduleSkipDates bounds the skip dates of one schedule.
const MaxScheduleSkipDates = 200

// CheckSchedule checks a form's fields and fills sc with them; every bad
// field gets a message in errs under its form name. The saved view (when
// chosen) is looked up by the caller and given as view.
func CheckSchedule(in ScheduleInput, view *db.SavedView, sc *Schedule) (errs map[string]string) {
	errs = map[string]string{}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		errs["name"] = "Give the schedule a name."
	case len([]rune(name)) > 80:
		errs["name"] = "Use at most 80 characters."
	}
	sc.Name = name
	switch in.Action {
	case ScheduleStart, ScheduleStop:
	default:
		errs["action"] = "Choose start or stop."
	}
	sc.Action = in.Action
	sc.Gracefully = in.Action == ScheduleStop && in.Gracefully
	sc.SkipActiveSessions = in.Action == ScheduleStop && in.SkipActiveSessions
	sc.MachineIDs, sc.SavedViewID, sc.FilterName, sc.FilterQuery = nil, nil, "", ""
	if view != nil {
		sc.SavedViewID, sc.FilterName, sc.FilterQuery = &view.ID, view.Name, view.Query
		if len(in.MachineIDs) > 0 {
			errs["machine_id"] = "Pick machines or a saved filter, not both."
		}
	} else if strings.TrimSpace(in.SavedViewID) != "" {
		errs["saved_view_id"] = "That saved filter no longer exists; choose another."
	} else {
		ids, err := CleanMachineIDs(in.MachineIDs)
		if err != nil {
			errs["machine_id"] = "Pick machines or a saved filter: " + err.Error() + "."
		}
		sc.MachineIDs = ids
	}
	sc.Days = nil
	for _, d := range DayNames {
		if slices.Contains(in.Days, d) {
			sc.Days = append(sc.Days, d)
		}
	}
	if len(sc.Days) == 0 {
		errs["days"] = "Choose at least one day."
	}
	for _, d := range in.Days {
		if _, ok := dayWeekday[d]; !ok {
			errs["days"] = "Choose days from Monday to Sunday."
		}
	}
	if m := atPattern.FindStringSubmatch(strings.TrimSpace(in.At)); m == nil {
		errs["at"] = "Write the time as HH:MM, for example 07:30."
	} else {
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		sc.AtMinute = h*60 + mi
	}
	tz := strings.TrimSpace(in.TimeZone)
	if _, err := time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
		errs["timezone"] = "Choose a time zone from the list (such as Europe/Berlin)."
	}
	sc.TimeZone = tz
	sc.SkipDates = nil
	for _, f := range strings.FieldsFunc(in.SkipDates, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		t, err := time.Parse(time.DateOnly, f)
		if err != nil {
			errs["skip_dates"] = fmt.Sprintf("%q is not a date; write dates as YYYY-MM-DD.", truncateRunes(f, 24))
			break
		}
		if d := t.Format(time.DateOnly); !slices.Contains(sc.SkipDates, d) {
			sc.SkipDates = append(sc.SkipDates, d)
		}
	}
	slices.Sort(sc.SkipDates)
	if len(sc.SkipDates) > MaxScheduleSkipDates {
		errs["skip_dates"] = fmt.Sprintf("Use at most %d skip dates.", MaxScheduleSkipDates)
	}
	sc.Enabled = in.Enabled
	return errs
}

// FilterOptions reads a saved view's canonical query (the fleet list's
// filters: q, status, assigned, time_left in minutes, has_session_data)
// into list options; sort and paging are ignored.
func FilterOptions(query string) (vagon.ListMachinesOptions, error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return vagon.ListMachinesOptions{}, fmt.Errorf("fleet: saved filter: %w", err)
	}
	o := vagon.ListMachinesOptions{Q: q.Get("q"), Status: q.Get("status"), Page: 1, PerPage: 100}
	boolOf := func(name string) (*bool, error) {
		switch v := q.Get(name); v {
		case "":
			return nil, nil
		case "true", "false":
			b := v == "true"
			return &b, nil
		}
		return nil, fmt.Errorf("fleet: saved filter: %s must be true or false", name)
	}
	if o.Assigned, err = boolOf("assigned"); err != nil {
		return o, err
	}
	if o.HasSessionData, err = boolOf("has_session_data"); err != nil {
		return o, err
	}
	if v := q.Get("time_left"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, fmt.Errorf("fleet: saved filter: time_left must be minutes")
		}
		o.TimeLeft = &n
	}
	return o, nil
}
