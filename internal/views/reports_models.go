package views

import (
	"math"
	"strconv"
	"time"
)

// Report tabs: ReportsView.Tab holds one of them.
const (
	ReportUsage        = "usage"
	ReportIdle         = "idle"
	ReportLowRemaining = "low-remaining"
	ReportTopUsers     = "top-users"
)

// ReportTab is one link of the reports sub-navigation.
type ReportTab struct {
	Key    string
	Label  string
	Href   string
	TestID string
}

// ReportTabs lists the report views in the order the tabs show them.
var ReportTabs = []ReportTab{
	{Key: ReportUsage, Label: "Usage", Href: "/reports/usage", TestID: "report-tab-usage"},
	{Key: ReportIdle, Label: "Idle machines", Href: "/reports/idle", TestID: "report-tab-idle"},
	{Key: ReportLowRemaining, Label: "Low remaining usage", Href: "/reports/low-remaining", TestID: "report-tab-low-remaining"},
	{Key: ReportTopUsers, Label: "Top users", Href: "/reports/top-users", TestID: "report-tab-top-users"},
}

// RangeFilterView is the state of a report's range fields. Errors are keyed
// by field name ("preset", "from", "to", "group", "sort", ...); the key ""
// holds an error for the whole form.
type RangeFilterView struct {
	Preset string
	// From and To are YYYY-MM-DD: what the user typed for a custom range,
	// otherwise the preset's resolved days.
	From, To string
	Errors   map[string]string
	// Presets are the choices of the range select.
	Presets []Option
}

// RangeText describes a resolved report range.
type RangeText struct {
	// FirstDay and LastDay are YYYY-MM-DD, both included.
	FirstDay, LastDay string
	Days              int
	// TimeZone is the zone whose calendar days the range covers ("UTC").
	TimeZone string
}

// SyncPassView is one sessions-sync pass.
type SyncPassView struct {
	ID         int64
	StartedAt  time.Time
	FinishedAt *time.Time
	// Status is running, succeeded or failed.
	Status          string
	MachinesDone    int
	MachinesFailed  int
	FailedIDs       []string
	SessionsNew     int64
	SessionsUpdated int64
	Error           string
	// The progress of a pass (see SyncProgress): machines listed so far,
	// whether the listing is complete, how many machines the pass expects
	// while it is not (nil: unknown) and the sessions read.
	MachinesListed   int
	ListedAll        bool
	MachinesExpected *int
	SessionsSeen     int64
}

// SyncStatusView is what reports say about the sessions sync.
type SyncStatusView struct {
	// Passes are the last passes, newest first; none when no sync has run.
	Passes []SyncPassView
	// ShowDetails shows the operations details (the passes, SYNC_INTERVAL,
	// the sync command): for admins. Others read only how fresh the data
	// is.
	ShowDetails bool
	// Now is the time of the request: how long a running pass has run.
	Now time.Time
	// FinishedSincePoll says the pass the panel was polling has finished
	// since the page was loaded: its reports do not show it yet.
	FinishedSincePoll bool
}

// LastSynced is when the newest finished, successful pass ended (nil when
// none has).
func (s SyncStatusView) LastSynced() *time.Time {
	for _, p := range s.Passes {
		if p.Status == "succeeded" && p.FinishedAt != nil {
			return p.FinishedAt
		}
	}
	return nil
}

// Running says a pass is under way now.
func (s SyncStatusView) Running() bool {
	return len(s.Passes) > 0 && s.Passes[0].FinishedAt == nil
}

// UsageReportView is the /reports/usage page.
type UsageReportView struct {
	Filter RangeFilterView
	Group  string
	// Sort and Dir are the sort as the URL gave them ("" for the default).
	Sort, Dir string
	Groups    []Option
	// Valid is false when a field has an error: no table, chart or CSV.
	Valid bool
	Range RangeText
	// Columns are the table's headers with their sort links.
	Columns []SortColumn
	Rows    []UsageRowView
	// Unassigned is, for the user group, the machines without a user:
	// shown apart from the people, never ranked among them.
	Unassigned *UsageRowView
	// TotalSessions and TotalMinutes sum Rows and Unassigned.
	TotalSessions int64
	TotalMinutes  int64
	Chart         ChartView
	// ChartStacked says the chart shows the top groups stacked rather than
	// one total series.
	ChartStacked bool
	// URL is this view's canonical address; CSVURL the same query as CSV.
	URL    string
	CSVURL string
	Sync   SyncStatusView
	// Org is the organization usage card; nil in the htmx fragment (the
	// card sits outside the part filters replace).
	Org *OrgUsageView
}

// SortColumn is one sortable table header.
type SortColumn struct {
	Label string
	// Href sorts by this column (toggling the direction when it is the
	// current one), keeping the filters.
	Href string
	// AriaSort is "ascending", "descending" or "" (not the sort column).
	AriaSort string
	Num      bool
	TestID   string
}

// UsageRowView is one group of the usage table.
type UsageRowView struct {
	Key   string
	Label string
	// Name is shown instead of Label when set (a user's name, the email
	// under it).
	Name string
	// Href links the group to its page (machines), empty otherwise.
	Href       string
	Sessions   int64
	Minutes    int64
	AvgMinutes float64
	LastUsed   *time.Time
}

// IdleReportView is the /reports/idle page.
type IdleReportView struct {
	// Filter is the range fields' state.
	Filter RangeFilterView
	// Days is days=N as typed ("" for a range); DaysN the parsed one.
	Days  string
	DaysN int
	// Range is the resolved range for a range query (zero for days=N).
	Range  RangeText
	Errors map[string]string
	Valid  bool
	Rows   []IdleRowView
	URL    string
	CSVURL string
	Sync   SyncStatusView
}

// IdleRowView is one idle machine.
type IdleRowView struct {
	MachineID   string
	Name        string
	UserEmail   string
	UserName    string
	Region      string
	MachineType string
	Status      string
	// LastUsed is when its last session ended; nil when it never ran.
	LastUsed *time.Time
	// IdleDays is the whole days since LastUsed (-1 when never used).
	IdleDays int
	// Unassigned flags a spare (no user); NeverUsed a machine with no
	// session at all.
	Unassigned bool
	NeverUsed  bool
}

// LowRemainingReportView is the /reports/low-remaining page.
type LowRemainingReportView struct {
	// BelowHours is the form's value as typed; BelowMinutes the threshold.
	BelowHours   string
	BelowMinutes int64
	Errors       map[string]string
	Valid        bool
	Rows         []LowRemainingRowView
	URL          string
	CSVURL       string
	Sync         SyncStatusView
}

// LowRemainingRowView is one machine running out of usage.
type LowRemainingRowView struct {
	MachineID        string
	Name             string
	UserEmail        string
	Region           string
	RemainingMinutes int64
	// MinutesUsed is the usage over the last 14 days; BurnPerDay that per
	// day, in minutes.
	MinutesUsed int64
	BurnPerDay  float64
	// RunOut is the projected day the usage runs out; nil without recent
	// use.
	RunOut  *time.Time
	TakenAt time.Time
}

// TopUsersReportView is the /reports/top-users page.
type TopUsersReportView struct {
	Filter RangeFilterView
	// Limit is the form's value as typed.
	Limit  string
	Valid  bool
	Range  RangeText
	Rows   []TopUserRowView
	URL    string
	CSVURL string
	Sync   SyncStatusView
}

// TopUserRowView is one user in the top-users table.
type TopUserRowView struct {
	Rank  int
	Email string
	// Name is the user's name, when the machines' snapshots have it.
	Name       string
	Sessions   int64
	Minutes    int64
	AvgMinutes float64
	LastUsed   *time.Time
}

// roundMinutes rounds an average to whole minutes.
func roundMinutes(m float64) int64 { return int64(math.Round(m)) }

// avgOf is minutes per session, rounded; 0 without sessions.
func avgOf(minutes, sessions int64) int64 {
	if sessions <= 0 {
		return 0
	}
	return roundMinutes(float64(minutes) / float64(sessions))
}

// sortMark is the arrow of a sorted column header.
func sortMark(ariaSort string) string {
	switch ariaSort {
	case "ascending":
		return "▲"
	case "descending":
		return "▼"
	}
	return ""
}

func keySuffix(k string) string {
	if k == "" {
		return ""
	}
	return "-" + k
}

// groupNoun names the groups of a usage report in the plural.
func groupNoun(group string) string {
	switch group {
	case "user":
		return "users"
	case "day":
		return "days"
	case "region":
		return "regions"
	}
	return "machines"
}

func groupNounOne(group string) string {
	n := groupNoun(group)
	return n[:len(n)-1]
}

func emptyUsageHint(s SyncStatusView) string {
	if len(s.Passes) == 0 {
		return "No sessions have been synced yet; see the sync status below."
	}
	return "No session started in this range. Pick a longer range."
}

// passDuration is how long a finished pass took: "3.2 s", "2 min 5 s".
func passDuration(p SyncPassView) string {
	if p.FinishedAt == nil {
		return ""
	}
	d := p.FinishedAt.Sub(p.StartedAt)
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// usageTotalLabel heads the usage table's total row.
func usageTotalLabel(v UsageReportView) string {
	l := "Total (" + plural(len(v.Rows), groupNounOne(v.Group), groupNoun(v.Group))
	if v.Unassigned != nil {
		l += " and machines without a user"
	}
	return l + ")"
}

// boolAttr is "true" or "false", for data attributes.
func boolAttr(b bool) string { return strconv.FormatBool(b) }
