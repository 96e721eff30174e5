package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// Reports are in UTC: a day is the same day for every reader, and the
// page says so.
var reportLoc = time.UTC

const (
	syncPassesShown   = 5  // passes listed on the usage page
	chartTopGroups    = 5  // groups stacked in the usage chart, the rest is "other"
	defaultIdleDays   = 14 // /reports/idle without days
	maxIdleDays       = 3650
	defaultBelowHours = 5 // /reports/low-remaining without below_hours
	maxBelowHours     = 100_000
	defaultTopUsers   = 20 // /reports/top-users without limit
	maxTopUsers       = 500
)

// CSV headers of the manager views (the usage CSV's is fleet.UsageCSVHeader,
// a contract in INTERFACES.md).
var (
	idleCSVHeader     = []string{"machine_id", "name", "user_email", "user_name", "region", "machine_type", "status", "last_used", "idle_days"}
	lowCSVHeader      = []string{"machine_id", "name", "user_email", "region", "remaining_minutes", "minutes_used_14d", "burn_minutes_per_day", "run_out_at"}
	topUsersCSVHeader = []string{"rank", "user_email", "sessions", "minutes", "avg_minutes", "last_used"}
)

var presetLabels = map[string]string{
	fleet.PresetLast7: "Last 7 days", fleet.PresetLast30: "Last 30 days", fleet.PresetLast90: "Last 90 days",
	fleet.PresetThisMonth: "This month", fleet.PresetLastMonth: "Last month", fleet.PresetCustom: "Custom dates",
}

var groupLabels = map[string]string{
	db.GroupMachine: "Machine", db.GroupUser: "User", db.GroupDay: "Day", db.GroupRegion: "Region",
}

func presetOptions() []views.Option {
	opts := make([]views.Option, 0, len(fleet.RangePresets))
	for _, p := range fleet.RangePresets {
		opts = append(opts, views.Option{Value: p, Label: presetLabels[p]})
	}
	return opts
}

func groupOptions() []views.Option {
	opts := make([]views.Option, 0, len(db.UsageGroups))
	for _, g := range db.UsageGroups {
		opts = append(opts, views.Option{Value: g, Label: groupLabels[g]})
	}
	return opts
}

func (s *Server) reports() *fleet.Reports { return fleet.NewReports(s.store) }

// fieldError files err under its field in errs (a fleet.FieldError), or
// under "" for the whole form.
func fieldError(errs map[string]string, err error) {
	var fe *fleet.FieldError
	if errors.As(err, &fe) {
		errs[fe.Field] = sentence(fe.Msg)
		return
	}
	errs[""] = sentence(err.Error())
}

// sentence capitalizes msg and ends it with a full stop.
func sentence(msg string) string {
	r, n := utf8.DecodeRuneInString(msg)
	if n == 0 {
		return msg
	}
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// parseRangeFilter reads preset, from and to. The view shows the resolved
// days of a preset in the date fields.
func parseRangeFilter(q url.Values, now time.Time) (fleet.Range, views.RangeFilterView, bool) {
	f := views.RangeFilterView{
		Preset: truncate(strings.TrimSpace(q.Get("preset")), 40),
		From:   truncate(strings.TrimSpace(q.Get("from")), 20), To: truncate(strings.TrimSpace(q.Get("to")), 20),
		Errors: map[string]string{}, Presets: presetOptions(),
	}
	rg, err := fleet.ParseRange(f.Preset, f.From, f.To, now, reportLoc)
	if err != nil {
		fieldError(f.Errors, err)
		if f.Preset == "" {
			f.Preset = fleet.PresetCustom
		}
		return rg, f, false
	}
	f.Preset, f.From, f.To = rg.Preset, rg.FirstDay, rg.LastDay
	return rg, f, true
}

// rangeValues are the query parameters of a range: the dates only for a
// custom one (a preset's days move with the clock).
func rangeValues(f views.RangeFilterView) url.Values {
	v := url.Values{}
	if f.Preset != "" {
		v.Set("preset", f.Preset)
	}
	if f.Preset == fleet.PresetCustom || f.Preset == "" || f.Errors["preset"] != "" {
		if f.From != "" {
			v.Set("from", f.From)
		}
		if f.To != "" {
			v.Set("to", f.To)
		}
	}
	return v
}

func rangeText(rg fleet.Range) views.RangeText {
	return views.RangeText{FirstDay: rg.FirstDay, LastDay: rg.LastDay, Days: rg.Days(), TimeZone: rg.Loc.String()}
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// usageParams is a valid usage query.
type usageParams struct {
	rg    fleet.Range
	group string
	sort  string // the effective column, never empty
	desc  bool
}

// sortDescByDefault: numbers and times sort largest first, names A to Z.
func sortDescByDefault(col string) bool { return col != db.SortKey && col != db.SortLabel }

// parseUsage reads the usage report's query: range, group, sort and dir.
func parseUsage(q url.Values, now time.Time) (usageParams, views.UsageReportView) {
	rg, f, _ := parseRangeFilter(q, now)
	v := views.UsageReportView{Filter: f, Groups: groupOptions()}
	p := usageParams{rg: rg}
	var err error
	v.Group = truncate(strings.TrimSpace(q.Get("group")), 40)
	if p.group, err = fleet.ParseGroup(v.Group); err != nil {
		fieldError(f.Errors, err)
	} else {
		v.Group = p.group
	}
	v.Sort = truncate(strings.TrimSpace(q.Get("sort")), 40)
	if p.sort, err = fleet.ParseSort(v.Sort); err != nil {
		fieldError(f.Errors, err)
	}
	v.Dir = truncate(strings.TrimSpace(q.Get("dir")), 10)
	if v.Dir != "" && v.Dir != "asc" && v.Dir != "desc" {
		f.Errors["dir"] = "The sort direction must be asc or desc."
	}
	if p.sort == "" {
		p.sort = db.SortMinutes
		if p.group == db.GroupDay {
			p.sort = db.SortKey
		}
	}
	p.desc = sortDescByDefault(p.sort)
	if v.Dir != "" {
		p.desc = v.Dir == "desc"
	}
	v.Valid = len(f.Errors) == 0

	vals := rangeValues(f)
	if v.Group != "" {
		vals.Set("group", v.Group)
	}
	withSort := func(sort, dir string) url.Values {
		out := url.Values{}
		for k, vs := range vals {
			out[k] = vs
		}
		if sort != "" {
			out.Set("sort", sort)
		}
		if dir != "" {
			out.Set("dir", dir)
		}
		return out
	}
	v.URL = withQuery("/reports/usage", withSort(v.Sort, v.Dir))
	if v.Valid {
		v.Range = rangeText(rg)
		v.CSVURL = withQuery("/reports/usage.csv", withSort(v.Sort, v.Dir))
		v.Columns = usageColumns(p, withSort)
	}
	return p, v
}

// usageColumns are the table headers: each links to the view sorted by it,
// the current sort column toggling its direction.
func usageColumns(p usageParams, link func(sort, dir string) url.Values) []views.SortColumn {
	groupSort := db.SortLabel
	if p.group == db.GroupDay {
		groupSort = db.SortKey
	}
	cols := []struct {
		label, sort string
		num         bool
	}{
		{groupLabels[p.group], groupSort, false},
		{"Sessions", db.SortSessions, true},
		{"Total time", db.SortMinutes, true},
		{"Average session", db.SortAvg, true},
		{"Last used", db.SortLastUsed, false},
	}
	out := make([]views.SortColumn, 0, len(cols))
	for _, c := range cols {
		current := p.sort == c.sort || (c.sort == groupSort && (p.sort == db.SortKey || p.sort == db.SortLabel))
		desc := sortDescByDefault(c.sort)
		col := views.SortColumn{Label: c.label, Num: c.num, TestID: "sort-" + c.sort}
		if current {
			col.AriaSort = "ascending"
			if p.desc {
				col.AriaSort = "descending"
			}
			desc = !p.desc
		}
		dir := "asc"
		if desc {
			dir = "desc"
		}
		col.Href = withQuery("/reports/usage", link(c.sort, dir))
		out = append(out, col)
	}
	return out
}

// syncStatus is the last n sync passes for the reports' sync panel. Only
// admins, who run the server, get its operations details (passes, settings,
// commands); others read how fresh the data is.
func (s *Server) syncStatus(c echo.Context, n int) (views.SyncStatusView, error) {
	passes, err := s.store.LastSyncPasses(c.Request().Context(), n)
	if err != nil {
		return views.SyncStatusView{}, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	v := views.SyncStatusView{ShowDetails: isAdminUser(c), Now: s.now()}
	for _, p := range passes {
		pv := views.SyncPassView{
			ID: p.ID, StartedAt: p.StartedAt, FinishedAt: p.FinishedAt, Status: p.Status,
			MachinesDone: p.MachinesDone, MachinesFailed: p.MachinesFailed,
			SessionsNew: p.SessionsNew, SessionsUpdated: p.SessionsUpdated, Error: p.Error,
			MachinesListed: p.MachinesListed, ListedAll: p.ListedAll, MachinesExpected: p.MachinesExpected,
			SessionsSeen: p.SessionsSeen,
		}
		for _, f := range p.FailedMachines {
			pv.FailedIDs = append(pv.FailedIDs, f.ID)
		}
		v.Passes = append(v.Passes, pv)
	}
	return v, nil
}

func usageRowView(group string, r db.UsageRow) views.UsageRowView {
	v := views.UsageRowView{Key: r.GroupKey, Label: r.Label, Sessions: r.Sessions, Minutes: r.Minutes,
		AvgMinutes: r.AvgMinutes, LastUsed: r.LastUsed}
	if group == db.GroupUser && r.GroupKey != "" {
		v.Name = r.Name // a person by name, the email under it
	}
	if group == db.GroupMachine && r.GroupKey != "" {
		v.Href = "/machines/" + url.PathEscape(r.GroupKey)
	}
	return v
}

// unassignedLabel names the machines without a user on the usage page.
const unassignedLabel = "Machines without a user"

func chartData(group string, c db.UsageChart) views.ChartData {
	d := views.ChartData{Days: c.Days}
	var apart *views.ChartSeriesData
	for _, s := range c.Series {
		sd := views.ChartSeriesData{Label: s.Label, Minutes: s.Minutes, Other: s.GroupKey == db.SeriesOtherKey}
		if group == db.GroupUser && s.GroupKey == "" {
			// Not a person: after the people, before "Other".
			sd.Label = unassignedLabel
			apart = &sd
			continue
		}
		if sd.Other && apart != nil {
			d.Series = append(d.Series, *apart)
			apart = nil
		}
		d.Series = append(d.Series, sd)
	}
	if apart != nil {
		d.Series = append(d.Series, *apart)
	}
	return d
}

// unassignedLast moves the user group's row of machines without a user
// after the people, as the page shows it apart: it is not ranked.
func unassignedLast(group string, rows []db.UsageRow) []db.UsageRow {
	if group != db.GroupUser {
		return rows
	}
	out := make([]db.UsageRow, 0, len(rows))
	var apart []db.UsageRow
	for _, r := range rows {
		if r.GroupKey == "" {
			apart = append(apart, r)
		} else {
			out = append(out, r)
		}
	}
	return append(out, apart...)
}

// showUsageReport is GET /reports/usage.
func (s *Server) showUsageReport(c echo.Context) error {
	ctx := c.Request().Context()
	p, v := parseUsage(c.QueryParams(), s.now())
	if to := reportRedirect(c, v.Valid, v.URL); to != "" {
		return c.Redirect(http.StatusSeeOther, to)
	}
	status := http.StatusOK
	if !v.Valid {
		status = http.StatusUnprocessableEntity
	}
	// The table, the chart and the organization's usage card (an API call)
	// are independent: asked for at once, the page waits for the slowest,
	// not the sum. Each writes its own fields of v.
	var g errgroup.Group
	if v.Valid {
		goSafe(&g, func() error {
			rep, err := s.reports().Usage(ctx, p.rg, p.group, p.sort, p.desc)
			if err != nil {
				return fmt.Errorf("%w: %v", errDBUnavailable, err)
			}
			for _, r := range rep.Rows {
				rv := usageRowView(p.group, r)
				if p.group == db.GroupUser && r.GroupKey == "" {
					// Machines without a user are not a person: shown
					// apart, never ranked among the users.
					v.Unassigned = &rv
					continue
				}
				v.Rows = append(v.Rows, rv)
			}
			v.TotalSessions, v.TotalMinutes = rep.Sessions, rep.Minutes
			return nil
		})
		goSafe(&g, func() error {
			top := chartTopGroups
			if p.group == db.GroupDay {
				top = 0
			}
			ch, err := s.reports().Chart(ctx, p.rg, p.group, top)
			if err != nil {
				return fmt.Errorf("%w: %v", errDBUnavailable, err)
			}
			v.Chart = views.BuildChart(chartData(p.group, ch))
			v.ChartStacked = top > 0
			return nil
		})
	}
	if !isHTMX(c) { // the card is outside the fragment filters replace
		goSafe(&g, func() error {
			var err error
			v.Org, err = s.orgUsageView(ctx)
			return err
		})
	}
	sync, err := s.syncStatus(c, syncPassesShown)
	if werr := g.Wait(); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	v.Sync = sync
	return s.renderReport(c, status, v.URL, views.UsageReportBody(v), func(p views.Page) templ.Component { return views.UsageReportPage(p, v) }, "Usage report")
}

// renderReport answers a report view: the body fragment for htmx (pushing
// the view's URL, so the address bar follows the filters), the whole page
// otherwise.
func (s *Server) renderReport(c echo.Context, status int, pushURL string, body templ.Component, page func(views.Page) templ.Component, title string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Push-Url", pushURL)
		return render(c, status, body)
	}
	return render(c, status, page(s.page(c, title, views.NavReports)))
}

// reportRedirect is the canonical URL a plain GET of a report moves to when
// its valid query holds parameters the view's URL does not (the filter form
// sends every field: empty dates, a preset's days), as the fleet page does;
// "" to render the page. A query the canonical URL only adds defaults to
// stays, and so does an invalid one (its page says what to fix).
func reportRedirect(c echo.Context, valid bool, canonical string) string {
	q := c.QueryParams()
	if !valid || len(q) == 0 || isHTMX(c) {
		return ""
	}
	want := url.Values{}
	if _, raw, ok := strings.Cut(canonical, "?"); ok {
		want, _ = url.ParseQuery(raw)
	}
	for k, vs := range q {
		if !slices.Equal(vs, want[k]) {
			return canonical
		}
	}
	return ""
}

// errBadReportFilter answers a CSV export whose filter does not parse: no
// file, a page saying where to fix it.
var errBadReportFilter = echo.NewHTTPError(http.StatusUnprocessableEntity,
	"The report filter is not valid, so there is nothing to export. Open the report page to see which field to fix.")

// exportUsageReport is GET /reports/usage.csv: exactly the rows of the
// same query's table.
func (s *Server) exportUsageReport(c echo.Context) error {
	p, v := parseUsage(c.QueryParams(), s.now())
	if !v.Valid {
		return errBadReportFilter
	}
	rep, err := s.reports().Usage(c.Request().Context(), p.rg, p.group, p.sort, p.desc)
	if err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	var buf bytes.Buffer
	if err := fleet.UsageCSV(&buf, unassignedLast(p.group, rep.Rows)); err != nil {
		return err
	}
	return sendCSV(c, fmt.Sprintf("usage-by-%s-%s-to-%s.csv", p.group, p.rg.FirstDay, p.rg.LastDay), buf.Bytes())
}

// sendCSV answers a finished CSV file as a download.
func sendCSV(c echo.Context, filename string, body []byte) error {
	h := c.Response().Header()
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, filename))
	h.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", body)
}

// writeCSV renders a header and rows, defusing formulas in every cell.
func writeCSV(header []string, rows [][]string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(header)
	for _, r := range rows {
		for i := range r {
			r[i] = csvSafe(r[i])
		}
		_ = w.Write(r)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("web: csv: %w", err)
	}
	return buf.Bytes(), nil
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ---- Idle machines ----

// idleRange is the idle report's period: the range fields like the usage
// report's, or (the older form, still accepted) days=N, the N days before
// now.
type idleRange struct {
	from, to time.Time
	days     int    // > 0 for days=N
	name     string // for the CSV file name
}

// parseIdle reads the idle report's query. With preset, from or to it is a
// range like the usage report's; otherwise days=N (default 14) days back
// from now, shown in the date fields as a custom range.
func parseIdle(q url.Values, now time.Time) (idleRange, views.IdleReportView) {
	v := views.IdleReportView{Days: truncate(strings.TrimSpace(q.Get("days")), 12)}
	var ir idleRange
	if q.Get("preset") != "" || q.Get("from") != "" || q.Get("to") != "" {
		rg, f, ok := parseRangeFilter(q, now)
		v.Filter, v.Errors, v.Days = f, f.Errors, ""
		if ok {
			ir = idleRange{from: rg.From, to: rg.To, name: rg.FirstDay + "-to-" + rg.LastDay}
			v.Range = rangeText(rg)
		}
		vals := rangeValues(f)
		v.URL = withQuery("/reports/idle", vals)
		v.Valid = len(v.Errors) == 0
		if v.Valid {
			v.CSVURL = withQuery("/reports/idle.csv", vals)
		}
		return ir, v
	}
	v.Errors = map[string]string{}
	n := defaultIdleDays
	if v.Days == "" {
		v.Days = strconv.Itoa(n)
	} else if d, err := strconv.Atoi(v.Days); err != nil || d < 1 || d > maxIdleDays {
		v.Errors["days"] = fmt.Sprintf("Enter a whole number of days from 1 to %d.", maxIdleDays)
	} else {
		n = d
	}
	v.DaysN, v.Valid = n, len(v.Errors) == 0
	ir = idleRange{from: now.Add(-time.Duration(n) * 24 * time.Hour), to: now, days: n,
		name: fmt.Sprintf("%dd-%s", n, now.UTC().Format(time.DateOnly))}
	// The date fields show the same days, as a custom range.
	v.Filter = views.RangeFilterView{Preset: fleet.PresetCustom, From: ir.from.In(reportLoc).Format(time.DateOnly),
		To: now.In(reportLoc).Format(time.DateOnly), Errors: v.Errors, Presets: presetOptions()}
	vals := url.Values{"days": {v.Days}}
	v.URL = withQuery("/reports/idle", vals)
	if v.Valid {
		v.CSVURL = withQuery("/reports/idle.csv", vals)
	}
	return ir, v
}

func (s *Server) idleRows(ctx context.Context, ir idleRange) ([]views.IdleRowView, error) {
	end := s.now()
	if ir.to.Before(end) {
		end = ir.to // a past range: idle until its end
	}
	ms, err := s.reports().IdleMachines(ctx, ir.from, ir.to)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	rows := make([]views.IdleRowView, 0, len(ms))
	for _, m := range ms {
		r := views.IdleRowView{MachineID: m.MachineID, Name: m.Name, UserEmail: m.UserEmail, UserName: m.UserName,
			Region: m.Region, MachineType: m.MachineType, Status: m.Status, LastUsed: m.LastUsed, IdleDays: -1,
			Unassigned: m.UserEmail == "", NeverUsed: m.NeverUsed}
		if m.LastUsed != nil {
			r.IdleDays = max(0, int(end.Sub(*m.LastUsed)/(24*time.Hour)))
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// showIdleReport is GET /reports/idle.
func (s *Server) showIdleReport(c echo.Context) error {
	ctx := c.Request().Context()
	ir, v := parseIdle(c.QueryParams(), s.now())
	if to := reportRedirect(c, v.Valid, v.URL); to != "" {
		return c.Redirect(http.StatusSeeOther, to)
	}
	status := http.StatusOK
	var err error
	if v.Valid {
		if v.Rows, err = s.idleRows(ctx, ir); err != nil {
			return err
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	if v.Sync, err = s.syncStatus(c, 1); err != nil {
		return err
	}
	return s.renderReport(c, status, v.URL, views.IdleReportBody(v), func(p views.Page) templ.Component { return views.IdleReportPage(p, v) }, "Idle machines")
}

// exportIdleReport is GET /reports/idle.csv (columns idleCSVHeader).
func (s *Server) exportIdleReport(c echo.Context) error {
	ir, v := parseIdle(c.QueryParams(), s.now())
	if !v.Valid {
		return errBadReportFilter
	}
	rows, err := s.idleRows(c.Request().Context(), ir)
	if err != nil {
		return err
	}
	recs := make([][]string, 0, len(rows))
	for _, r := range rows {
		idle := ""
		if r.IdleDays >= 0 {
			idle = strconv.Itoa(r.IdleDays)
		}
		recs = append(recs, []string{r.MachineID, r.Name, r.UserEmail, r.UserName, r.Region, r.MachineType, r.Status, csvTime(r.LastUsed), idle})
	}
	body, err := writeCSV(idleCSVHeader, recs)
	if err != nil {
		return err
	}
	return sendCSV(c, "idle-machines-"+ir.name+".csv", body)
}

// ---- Low remaining usage ----

func parseLowRemaining(q url.Values) (int64, views.LowRemainingReportView) {
	v := views.LowRemainingReportView{BelowHours: truncate(strings.TrimSpace(q.Get("below_hours")), 12), Errors: map[string]string{}}
	hours := float64(defaultBelowHours)
	if v.BelowHours == "" {
		v.BelowHours = strconv.Itoa(defaultBelowHours)
	} else if h, err := strconv.ParseFloat(v.BelowHours, 64); err != nil || math.IsNaN(h) || h <= 0 || h > maxBelowHours {
		v.Errors["below_hours"] = fmt.Sprintf("Enter a number of hours above 0 and at most %d.", maxBelowHours)
	} else {
		hours = h
	}
	v.BelowMinutes = int64(math.Round(hours * 60))
	v.Valid = len(v.Errors) == 0
	vals := url.Values{"below_hours": {v.BelowHours}}
	v.URL = withQuery("/reports/low-remaining", vals)
	if v.Valid {
		v.CSVURL = withQuery("/reports/low-remaining.csv", vals)
	}
	return v.BelowMinutes, v
}

func (s *Server) lowRows(ctx context.Context, below int64) ([]views.LowRemainingRowView, error) {
	ms, err := s.reports().LowRemaining(ctx, below, s.now())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	rows := make([]views.LowRemainingRowView, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, views.LowRemainingRowView{MachineID: m.MachineID, Name: m.Name, UserEmail: m.UserEmail,
			Region: m.Region, RemainingMinutes: m.RemainingUsageMinutes, MinutesUsed: m.MinutesUsed,
			BurnPerDay: m.BurnPerDay, RunOut: m.RunOut, TakenAt: m.TakenAt})
	}
	return rows, nil
}

// showLowRemainingReport is GET /reports/low-remaining.
func (s *Server) showLowRemainingReport(c echo.Context) error {
	ctx := c.Request().Context()
	below, v := parseLowRemaining(c.QueryParams())
	if to := reportRedirect(c, v.Valid, v.URL); to != "" {
		return c.Redirect(http.StatusSeeOther, to)
	}
	status := http.StatusOK
	var err error
	if v.Valid {
		if v.Rows, err = s.lowRows(ctx, below); err != nil {
			return err
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	if v.Sync, err = s.syncStatus(c, 1); err != nil {
		return err
	}
	return s.renderReport(c, status, v.URL, views.LowRemainingReportBody(v), func(p views.Page) templ.Component { return views.LowRemainingReportPage(p, v) }, "Low remaining usage")
}

// exportLowRemainingReport is GET /reports/low-remaining.csv (columns
// lowCSVHeader).
func (s *Server) exportLowRemainingReport(c echo.Context) error {
	below, v := parseLowRemaining(c.QueryParams())
	if !v.Valid {
		return errBadReportFilter
	}
	rows, err := s.lowRows(c.Request().Context(), below)
	if err != nil {
		return err
	}
	recs := make([][]string, 0, len(rows))
	for _, r := range rows {
		recs = append(recs, []string{r.MachineID, r.Name, r.UserEmail, r.Region,
			strconv.FormatInt(r.RemainingMinutes, 10), strconv.FormatInt(r.MinutesUsed, 10),
			strconv.FormatFloat(r.BurnPerDay, 'f', 1, 64), csvTime(r.RunOut)})
	}
	body, err := writeCSV(lowCSVHeader, recs)
	if err != nil {
		return err
	}
	return sendCSV(c, fmt.Sprintf("low-remaining-%s.csv", s.now().UTC().Format(time.DateOnly)), body)
}

// ---- Top users ----

func parseTopUsers(q url.Values, now time.Time) (fleet.Range, int, views.TopUsersReportView) {
	rg, f, _ := parseRangeFilter(q, now)
	v := views.TopUsersReportView{Filter: f, Limit: truncate(strings.TrimSpace(q.Get("limit")), 12)}
	n := defaultTopUsers
	if v.Limit == "" {
		v.Limit = strconv.Itoa(n)
	} else if l, err := strconv.Atoi(v.Limit); err != nil || l < 1 || l > maxTopUsers {
		f.Errors["limit"] = fmt.Sprintf("Enter a whole number from 1 to %d.", maxTopUsers)
	} else {
		n = l
	}
	v.Valid = len(f.Errors) == 0
	vals := rangeValues(f)
	vals.Set("limit", v.Limit)
	v.URL = withQuery("/reports/top-users", vals)
	if v.Valid {
		v.Range = rangeText(rg)
		v.CSVURL = withQuery("/reports/top-users.csv", vals)
	}
	return rg, n, v
}

func (s *Server) topRows(ctx context.Context, rg fleet.Range, n int) ([]views.TopUserRowView, error) {
	us, err := s.reports().TopUsers(ctx, rg, n)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	rows := make([]views.TopUserRowView, 0, len(us))
	for i, u := range us {
		rows = append(rows, views.TopUserRowView{Rank: i + 1, Email: u.GroupKey, Sessions: u.Sessions,
			Name: u.Name, Minutes: u.Minutes, AvgMinutes: u.AvgMinutes, LastUsed: u.LastUsed})
	}
	return rows, nil
}

// showTopUsersReport is GET /reports/top-users.
func (s *Server) showTopUsersReport(c echo.Context) error {
	ctx := c.Request().Context()
	rg, n, v := parseTopUsers(c.QueryParams(), s.now())
	if to := reportRedirect(c, v.Valid, v.URL); to != "" {
		return c.Redirect(http.StatusSeeOther, to)
	}
	status := http.StatusOK
	var err error
	if v.Valid {
		if v.Rows, err = s.topRows(ctx, rg, n); err != nil {
			return err
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	if v.Sync, err = s.syncStatus(c, 1); err != nil {
		return err
	}
	return s.renderReport(c, status, v.URL, views.TopUsersReportBody(v), func(p views.Page) templ.Component { return views.TopUsersReportPage(p, v) }, "Top users")
}

// exportTopUsersReport is GET /reports/top-users.csv (columns
// topUsersCSVHeader).
func (s *Server) exportTopUsersReport(c echo.Context) error {
	rg, n, v := parseTopUsers(c.QueryParams(), s.now())
	if !v.Valid {
		return errBadReportFilter
	}
	rows, err := s.topRows(c.Request().Context(), rg, n)
	if err != nil {
		return err
	}
	recs := make([][]string, 0, len(rows))
	for _, r := range rows {
		recs = append(recs, []string{strconv.Itoa(r.Rank), r.Email, strconv.FormatInt(r.Sessions, 10),
			strconv.FormatInt(r.Minutes, 10), strconv.FormatFloat(r.AvgMinutes, 'f', 1, 64), csvTime(r.LastUsed)})
	}
	body, err := writeCSV(topUsersCSVHeader, recs)
	if err != nil {
		return err
	}
	return sendCSV(c, fmt.Sprintf("top-users-%s-to-%s.csv", rg.FirstDay, rg.LastDay), body)
}

// goSafe runs f in g, a panic in it returned as an error (the recover
// middleware sees only the request's own goroutine).
func goSafe(g *errgroup.Group, f func() error) {
	g.Go(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return f()
	})
}
