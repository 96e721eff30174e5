package fleet

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/csvsafe"
	"github.com/vagon-dashboard/dashboard/internal/db"
)

// Report range presets, as the report form sends them.
const (
	PresetLast7     = "last_7_days"
	PresetLast30    = "last_30_days"
	PresetLast90    = "last_90_days"
	PresetThisMonth = "this_month"
	PresetLastMonth = "last_month"
	PresetCustom    = "custom" // the from and to dates
)

// RangePresets lists the presets in the order a form offers them.
var RangePresets = []string{PresetLast7, PresetLast30, PresetLast90, PresetThisMonth, PresetLastMonth, PresetCustom}

// DefaultPreset is the range of a report opened without one.
const DefaultPreset = PresetLast30

// MaxRangeDays is the longest range a report covers, both ends included.
const MaxRangeDays = 366

// FieldError is an input error about one form field (preset, from, to,
// group, sort), to show next to that field.
type FieldError struct {
	Field string
	Msg   string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Range is a report's period: whole calendar days in Loc. Sessions count
// when they start in [From, To): From is midnight at the start of FirstDay,
// To midnight at the end of LastDay.
type Range struct {
	Preset            string
	FirstDay, LastDay string // YYYY-MM-DD, both included
	From, To          time.Time
	Loc               *time.Location
}

// Days is how many calendar days the range covers.
func (r Range) Days() int {
	a, _ := time.Parse(time.DateOnly, r.FirstDay)
	b, _ := time.Parse(time.DateOnly, r.LastDay)
	return int(b.Sub(a).Hours()/24) + 1
}

// ParseRange turns a report form's preset and dates into a Range, with now
// and the report time zone loc (nil: UTC) deciding what "today" is. An empty
// preset means PresetCustom when a date is given, else DefaultPreset. Custom
// dates are YYYY-MM-DD, from not after to, at most MaxRangeDays days; the
// dates are ignored for the other presets. Errors are *FieldError.
func ParseRange(preset, from, to string, now time.Time, loc *time.Location) (Range, error) {
	if loc == nil {
		loc = time.UTC
	}
	preset = strings.TrimSpace(preset)
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if preset == "" {
		preset = DefaultPreset
		if from != "" || to != "" {
			preset = PresetCustom
		}
	}
	y, m, d := now.In(loc).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, loc)
	var first, last time.Time
	switch preset {
	case PresetLast7, PresetLast30, PresetLast90:
		n := map[string]int{PresetLast7: 7, PresetLast30: 30, PresetLast90: 90}[preset]
		first, last = today.AddDate(0, 0, -(n-1)), today
	case PresetThisMonth:
		first, last = time.Date(y, m, 1, 0, 0, 0, 0, loc), today
	case PresetLastMonth:
		first = time.Date(y, m-1, 1, 0, 0, 0, 0, loc)
		last = time.Date(y, m, 0, 0, 0, 0, 0, loc) // day 0: the last day of the month before
	case PresetCustom:
		var err error
		if first, err = parseDate("from", "start", from, loc); err != nil {
			return Range{}, err
		}
		if last, err = parseDate("to", "end", to, loc); err != nil {
			return Range{}, err
		}
		if last.Before(first) {
			return Range{}, &FieldError{"to", "the end date is before the start date"}
		}
		if days := dayCount(first, last); days > MaxRangeDays {
			return Range{}, &FieldError{"to", fmt.Sprintf("the range spans %d days; at most %d are allowed", days, MaxRangeDays)}
		}
	default:
		return Range{}, &FieldError{"preset", fmt.Sprintf("unknown range %q; choose one of %s", preset, strings.Join(RangePresets, ", "))}
	}
	fy, fm, fd := first.Date()
	ly, lm, ld := last.Date()
	return Range{
		Preset:   preset,
		FirstDay: first.Format(time.DateOnly),
		LastDay:  last.Format(time.DateOnly),
		From:     time.Date(fy, fm, fd, 0, 0, 0, 0, loc),
		To:       time.Date(ly, lm, ld+1, 0, 0, 0, 0, loc),
		Loc:      loc,
	}, nil
}

func parseDate(field, what, v string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, &FieldError{field, "enter a " + what + " date (YYYY-MM-DD)"}
	}
	t, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil {
		return time.Time{}, &FieldError{field, fmt.Sprintf("%q is not a date; use YYYY-MM-DD", v)}
	}
	if t.Year() < 2000 || t.Year() > 2999 {
		return time.Time{}, &FieldError{field, fmt.Sprintf("%q is out of range", v)}
	}
	return t, nil
}

// dayCount counts the calendar days from first to last, both included
// (by date, so a daylight-saving change does not matter).
func dayCount(first, last time.Time) int {
	a := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	b := time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Hours()/24) + 1
}

// ParseGroup validates a report's group field; empty means db.GroupMachine.
func ParseGroup(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return db.GroupMachine, nil
	}
	if !slices.Contains(db.UsageGroups, v) {
		return "", &FieldError{"group", fmt.Sprintf("unknown grouping %q; choose one of %s", v, strings.Join(db.UsageGroups, ", "))}
	}
	return v, nil
}

// ParseSort validates a report's sort field; empty means the group's
// default order.
func ParseSort(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v != "" && !slices.Contains(db.UsageSorts, v) {
		return "", &FieldError{"sort", fmt.Sprintf("unknown column %q; choose one of %s", v, strings.Join(db.UsageSorts, ", "))}
	}
	return v, nil
}

// Reports answers the report pages from the synced sessions.
type Reports struct {
	store *db.Store
}

// NewReports builds a Reports over store.
func NewReports(store *db.Store) *Reports { return &Reports{store: store} }

// UsageReport is a usage table with its totals.
type UsageReport struct {
	Range    Range
	Group    string
	Rows     []db.UsageRow
	Sessions int64 // sum over Rows
	Minutes  int64 // sum over Rows
}

// Query is the db query for the range with a group and an order.
func (r Range) Query(group, sort string, desc bool) db.UsageQuery {
	return db.UsageQuery{From: r.From, To: r.To, Group: group, Sort: sort, Desc: desc, Loc: r.Loc}
}

// Usage sums sessions and minutes per group (see db.UsageQuery) over rg.
// Minutes stay minutes: formatting as hours is the view's job.
func (r *Reports) Usage(ctx context.Context, rg Range, group, sort string, desc bool) (UsageReport, error) {
	rows, err := r.store.UsageReport(ctx, rg.Query(group, sort, desc))
	if err != nil {
		return UsageReport{}, fmt.Errorf("fleet: usage report: %w", err)
	}
	rep := UsageReport{Range: rg, Group: group, Rows: rows}
	for _, row := range rows {
		rep.Sessions += row.Sessions
		rep.Minutes += row.Minutes
	}
	return rep, nil
}

// Chart returns minutes per day over rg: one series for all machines when
// group is db.GroupDay or topN <= 0, else the topN groups and "other".
func (r *Reports) Chart(ctx context.Context, rg Range, group string, topN int) (db.UsageChart, error) {
	c, err := r.store.UsageSeries(ctx, rg.Query(group, "", false), topN)
	if err != nil {
		return db.UsageChart{}, fmt.Errorf("fleet: usage chart: %w", err)
	}
	return c, nil
}

// TopUsers returns the n users with the most minutes over rg.
func (r *Reports) TopUsers(ctx context.Context, rg Range, n int) ([]db.UsageRow, error) {
	rows, err := r.store.TopUsers(ctx, rg.From, rg.To, n)
	if err != nil {
		return nil, fmt.Errorf("fleet: top users: %w", err)
	}
	return rows, nil
}

// IdleMachines returns the machines, spares included, that had no session
// in [from, to).
func (r *Reports) IdleMachines(ctx context.Context, from, to time.Time) ([]db.IdleMachine, error) {
	m, err := r.store.IdleMachines(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("fleet: idle machines: %w", err)
	}
	return m, nil
}

// LowRemaining returns the machines with less than belowMinutes of usage
// left, with their projected run-out.
func (r *Reports) LowRemaining(ctx context.Context, belowMinutes int64, now time.Time) ([]db.LowRemainingMachine, error) {
	m, err := r.store.LowRemaining(ctx, belowMinutes, now)
	if err != nil {
		return nil, fmt.Errorf("fleet: low remaining: %w", err)
	}
	return m, nil
}

// UsageCSVHeader is the header row of the usage CSV (INTERFACES.md).
var UsageCSVHeader = []string{"group_key", "label", "sessions", "minutes"}

// UsageCSV writes rows as CSV: the UsageCSVHeader row, then one row per
// group. Text cells that a spreadsheet would read as a formula get a
// leading single quote (csvsafe.Cell).
func UsageCSV(w io.Writer, rows []db.UsageRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(UsageCSVHeader); err != nil {
		return fmt.Errorf("fleet: usage csv: %w", err)
	}
	for _, r := range rows {
		rec := []string{csvText(r.GroupKey), csvText(r.Label),
			strconv.FormatInt(r.Sessions, 10), strconv.FormatInt(r.Minutes, 10)}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("fleet: usage csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("fleet: usage csv: %w", err)
	}
	return nil
}

// csvText defuses CSV formula injection (OWASP) with the dashboard's one
// rule, csvsafe.Cell.
func csvText(s string) string { return csvsafe.Cell(s) }
