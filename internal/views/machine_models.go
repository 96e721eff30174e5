package views

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/a-h/templ"
)

// LowUsageMinutes is the remaining usage below which the list and the
// machine page warn.
const LowUsageMinutes = 120

// FleetView is the fleet list with every column the list shows.
// MachinesView carries the query, count, paging and error; Machines the rows.
type FleetView struct {
	MachinesView
	Machines []FleetRow
	// CSVURL exports the current filter as CSV.
	CSVURL string
	// CanCreate shows the "Create machines" link (the user's role may
	// POST /machines).
	CanCreate bool
	// Errors are the filter's field errors by parameter name (issue 9).
	Errors map[string]string
	// Views are the user's saved views; ViewForm the save form's state.
	Views    []SavedViewRow
	ViewForm SavedViewForm
	// CanBulk shows the bulk form (the user's role may POST /bulk).
	CanBulk bool
	// Permissions and AutoStopOptions are the bulk form's choices, named
	// by the web layer from fleet's vocabulary.
	BulkActions     []Option
	Permissions     []BulkPermissionChoice
	AutoStopOptions []Option
	// RowHTML, where set, is rendered in place of FleetRowView(Machines[i]):
	// the same row, rendered before (the web layer keeps rows by content).
	RowHTML []templ.Component
	// Results, when set, is rendered in place of FleetResults(p, v): the
	// same fragment, rendered (and compressed) once per machine list by
	// the web layer (issue 13).
	Results templ.Component
}

// FleetRow is one machine of the fleet list.
type FleetRow struct {
	MachineRow
	// Selectable shows the row's bulk-selection checkbox (operator and up).
	Selectable bool
	// AutoStopSeconds is the auto-stop threshold (0 = off); AutoStop
	// names it (fleet.AutoStopLabel, set by the web layer).
	AutoStopSeconds int
	AutoStop        string
	// TaskUID is the active task's uid, "" when none.
	TaskUID string
	// ImageStatus is latest_image_status, "" when null.
	ImageStatus string
	// Poll counts the refreshes of a transitional row so far.
	Poll int
}

// MachineView is one machine in human units.
type MachineView struct {
	ID               string
	Name             string
	Status           string
	UserName         string
	UserEmail        string
	Region           string
	MachineType      string
	RemainingMinutes int64
	DepositedMinutes int64
	DiskGB           int64
	FileStorageGB    int64
	// NetworkCreditBytes is the outbound network credit, in bytes.
	NetworkCreditBytes int64
	ImageID            *int64
	ImageName          string
	ImageStatus        string
	AutoStopSeconds    int
	// AutoStop names the threshold (the web layer's fleet.AutoStopLabel).
	AutoStop      string
	UsageSource   string
	LastSessionAt *time.Time
	Task          *ActiveTaskView
	// Permissions are the seven permissions in documented order.
	Permissions []PermissionView
}

// ActiveTaskView is the task a machine's snapshots follow.
type ActiveTaskView struct {
	ID        string
	UID       string
	CreatedAt *time.Time
}

// PermissionView is one permission toggle.
type PermissionView struct {
	Key   string // the API key, also the form field name
	Label string
	Help  string
	On    bool
	// ReadOnly marks a key Vagon's API lists that the dashboard cannot
	// read or change yet: shown disabled, at its default, never sent.
	ReadOnly bool
}

// MachinePageView is the machine page: the machine, its forms and sections.
type MachinePageView struct {
	Machine MachineView
	// NameHint is the name the page was reached by (?n=), kept in links.
	NameHint string
	// Poll counts the refreshes of a transitional overview so far.
	Poll int

	Access AccessForm
	// ActiveLinks is how many access links to the machine work now (the
	// ledger's active rows); nil when it could not be read.
	ActiveLinks *int64
	// AccessCap is the longest link, in minutes, the user's role may issue
	// (0: no cap beyond 30 days); longer choices are disabled.
	AccessCap   int
	Reset       ResetForm
	Perms       PermissionsForm
	Settings    SettingsForm
	Performance PerformanceView
	Tasks       TasksView
	Sessions    SessionsView

	// Outcome is the result of the action just done, shown inside the
	// section it was done in (the toast carries it too).
	Outcome *SectionOutcome
	// StopConfirm asks before stopping a machine someone is using.
	StopConfirm *StopConfirmView
	// Settled marks a poll answer after which the machine is in a state
	// the sections' controls depend on (off/ready): they are refreshed
	// out of band, unless the reader is working in them (app.js).
	Settled bool
	// Schedules are the schedules that touch the machine (issue 10).
	Schedules []MachineScheduleRow

	// The Can flags show a control exactly when its route would allow the
	// user's POST: the web layer sets them from the route table, so the
	// templates hold no role rule of their own.
	CanStart       bool // POST /machines/:id/start
	CanStop        bool // POST /machines/:id/stop
	CanReset       bool // POST /machines/:id/reset
	CanAccess      bool // POST /machines/:id/access
	CanPermissions bool // POST /machines/:id/permissions
	CanPerformance bool // POST /machines/:id/machine-type
	CanSettings    bool // POST /machines/:id/settings
	CanTasks       bool // POST /machines/:id/tasks (activate)
	CanDeleteTasks bool // POST /machines/:id/tasks/:task_id/delete

	// AutoStopOptions are the auto-stop thresholds of the settings form,
	// named by the web layer (fleet.AutoStopLabel).
	AutoStopOptions []Option
}

// readOnly is whether the user may do none of the overview's actions.
func (v MachinePageView) readOnly() bool {
	return !v.CanStart && !v.CanStop && !v.CanAccess && !v.CanReset
}

// SectionOutcome is an action's outcome in its section ("overview",
// "access", "permissions", ...). Kind is a Flash kind.
type SectionOutcome struct {
	Section string
	Kind    string
	Text    string
}

// StopConfirmView is the question asked before stopping a machine in use.
type StopConfirmView struct {
	UserName  string
	UserEmail string
	// Since is the running session's start; zero when only the image
	// status says the machine is in use.
	Since    *time.Time
	Graceful bool
}

// ConflictRow is one field that changed between the moment a form was
// opened and its submission: what the reader saw, what it is now, and what
// they asked for.
type ConflictRow struct {
	Label   string
	Seen    string
	Current string
	Wanted  string
}

// AccessForm is the access-link form and, once, its result.
type AccessForm struct {
	// ExpiresIn is the chosen preset in minutes, or "custom".
	ExpiresIn string
	Custom    string
	Note      string
	Errors    map[string]string
	// Result is set only in the answer to the POST that issued the link.
	Result *AccessResult
}

// AccessResult is an issued link. It is shown once and never stored.
type AccessResult struct {
	Link      string
	ExpiresAt time.Time
	Minutes   int
	Note      string
}

// ResetForm is the reset danger zone's state.
type ResetForm struct {
	Confirm     string
	RemoveFiles bool
	Errors      map[string]string
}

// PermissionsForm holds the permissions form's errors and, after a stale
// submission, the conflict and the values the reader asked for.
type PermissionsForm struct {
	Errors   map[string]string
	Conflict []ConflictRow
	// Wanted, when set, are the checkboxes as submitted (shown instead of
	// the current values).
	Wanted map[string]bool
}

// SettingsForm is the settings form's state (values as submitted).
type SettingsForm struct {
	AutoStop    string
	UsageSource string
	Errors      map[string]string
	// Conflict lists the settings someone else changed since the form was
	// opened; nothing was sent.
	Conflict []ConflictRow
}

// PerformanceView lists the machine types the machine may switch to.
type PerformanceView struct {
	Types []MachineTypeView
	// Error says why the types could not be loaded.
	Error  string
	Errors map[string]string
	// Conflict is set when the type changed since the form was opened;
	// Wanted is the type id the reader chose.
	Conflict []ConflictRow
	Wanted   string
}

// MachineTypeView is one performance type.
type MachineTypeView struct {
	ID        string
	Name      string
	CPU       int
	MemoryGB  string
	GPU       int
	GPUMemory string
	Current   bool
}

// TasksView is the tasks section: one page of tasks and the activate form.
type TasksView struct {
	Rows    []TaskRow
	Count   int
	Page    int
	PrevURL string
	NextURL string
	Error   string
	// UID is the activate form's value; Errors its field errors.
	UID    string
	Errors map[string]string
	// Result is the last activate outcome: created, reactivated, already_active.
	Result    string
	ResultUID string
}

// TaskRow is one task.
type TaskRow struct {
	ID                  string
	UID                 string
	Status              string
	SourcePath          string
	SnapshotDestination string
	// FolderSize is in bytes, nil until recorded.
	FolderSize *int64
	CreatedAt  time.Time
	// Outputs marks the default task, which can't be deleted.
	Outputs bool
}

// SessionsView is a machine's sessions: newest first, a total and a chart.
type SessionsView struct {
	Rows         []SessionRow
	Total        int
	TotalMinutes int64
	// Shown is how many rows are listed (the machine page lists the newest).
	Shown int
	Chart []DayUsage
	Error string
}

// SessionRow is one session.
type SessionRow struct {
	ID       string
	StartAt  time.Time
	EndAt    *time.Time
	Duration int64 // minutes
}

// DayUsage is one bar of the daily usage chart.
type DayUsage struct {
	Day     time.Time
	Minutes int64
}

// MachinePath returns the machine page's URL, keeping the name hint.
func MachinePath(id, nameHint string) string {
	u := "/machines/" + url.PathEscape(id)
	if nameHint != "" {
		u += "?n=" + url.QueryEscape(nameHint)
	}
	return u
}

// machineSubPath is a URL under the machine with the name hint.
func machineSubPath(id, nameHint, suffix string) string {
	u := "/machines/" + url.PathEscape(id) + suffix
	if nameHint != "" {
		u += "?n=" + url.QueryEscape(nameHint)
	}
	return u
}

// AccessPresets are the access-link durations offered, in minutes.
var AccessPresets = []Option{
	{Value: "15", Label: "15 min"}, {Value: "60", Label: "1 h"}, {Value: "480", Label: "8 h"},
	{Value: "1440", Label: "24 h"}, {Value: "10080", Label: "7 days"},
}

// UsageSourceLabel names a usage source.
func UsageSourceLabel(s string) string {
	switch s {
	case "machine":
		return "Machine only"
	case "team_balance":
		return "Team balance"
	case "":
		return "—"
	}
	return s
}

// ImageStatusLabel names a latest_image_status.
func ImageStatusLabel(s string) string {
	switch s {
	case "":
		return "No user data"
	case "in_use":
		return "In use"
	case "processing":
		return "Snapshot in progress"
	case "ready":
		return "Ready"
	}
	return s
}

// FormatNetworkGB renders network credit bytes as GB with one decimal.
func FormatNetworkGB(b int64) string {
	return fmt.Sprintf("%.1f GB", float64(b)/(1<<30))
}

// PollInterval is how long a transitional row or overview waits before its
// next refresh: quick at first, slower the longer it stays in transition.
func PollInterval(poll int) string {
	switch {
	case poll < 5:
		return "2s"
	case poll < 10:
		return "5s"
	case poll < 20:
		return "10s"
	}
	return "30s"
}

// fleetFromMachines widens a basic list view to the fleet view.
func fleetFromMachines(v MachinesView) FleetView {
	f := FleetView{MachinesView: v, Machines: make([]FleetRow, len(v.Rows))}
	for i, r := range v.Rows {
		f.Machines[i] = FleetRow{MachineRow: r}
	}
	return f
}

// fleetCSVURL is the CSV export of the current filter (all pages).
func fleetCSVURL(v FleetView) string {
	if v.CSVURL != "" {
		return v.CSVURL
	}
	q := v.Query.values()
	q.Del("per_page")
	q.Del("sort")
	q.Del("dir")
	if len(q) == 0 {
		return "/machines.csv"
	}
	return "/machines.csv?" + q.Encode()
}

func perPageOr(s string) string {
	if s == "" {
		return "20"
	}
	return s
}

// perPageURL is the list at page 1 with another page size.
func perPageURL(q MachineQuery, n string) string {
	q.PerPage, q.Page = n, 1
	return q.URL()
}

// pollable reports whether a row or overview should refresh itself: any
// status but off and ready (an unknown one too, slowly).
func pollable(status string) bool {
	return status != "" && status != "off" && status != "ready"
}

// rowPollURL is the URL a transitional row refreshes from.
func rowPollURL(m FleetRow) string {
	v := url.Values{}
	v.Set("poll", strconv.Itoa(m.Poll+1))
	if m.Name != "" && len(m.Name) <= 200 {
		v.Set("n", m.Name)
	}
	return "/machines/" + url.PathEscape(m.ID) + "/row?" + v.Encode()
}

// overviewPollURL is the URL a transitional machine overview refreshes from.
func overviewPollURL(v MachinePageView) string {
	q := url.Values{}
	q.Set("part", "overview")
	q.Set("poll", strconv.Itoa(v.Poll+1))
	q.Set("from", v.Machine.Status)
	if v.NameHint != "" {
		q.Set("n", v.NameHint)
	}
	return "/machines/" + url.PathEscape(v.Machine.ID) + "?" + q.Encode()
}

// machineCardURL answers the whole overview card (state and actions), e.g.
// to cancel a stop confirmation.
func machineCardURL(v MachinePageView) string {
	q := url.Values{}
	q.Set("part", "card")
	if v.NameHint != "" {
		q.Set("n", v.NameHint)
	}
	return "/machines/" + url.PathEscape(v.Machine.ID) + "?" + q.Encode()
}

// TaskUIDPattern is the HTML pattern of a task uid: none of \ / : * ? " < > |
// (escaped so it also compiles with the v flag browsers use).
const TaskUIDPattern = `[^\\\/:*?"<>\|]+`

func roleOf(p Page) string {
	if p.User == nil {
		return ""
	}
	return p.User.Role
}

func startReason(status string) string {
	if status == "ready" {
		return "The machine is already running."
	}
	return "Only an off machine starts; it is " + StatusLabel(status) + " now."
}

func stopReason(status string) string {
	if status == "off" {
		return "The machine is already off."
	}
	return "Only a running (ready) machine stops; it is " + StatusLabel(status) + " now."
}

// offReason explains an action that needs the machine off.
func offReason(status, what string) string {
	if status == "ready" {
		return "Stop the machine to " + what + "."
	}
	return "The machine must be off to " + what + "; it is " + StatusLabel(status) + " now."
}

// permChecked is a permission checkbox's state: the reader's choice after
// a conflict, else the machine's.
func permChecked(v MachinePageView, perm PermissionView) bool {
	if v.Perms.Wanted != nil && !perm.ReadOnly {
		return v.Perms.Wanted[perm.Key]
	}
	return perm.On
}

// typeChecked is whether a machine-type radio is chosen.
func typeChecked(v MachinePageView, t MachineTypeView) bool {
	if v.Performance.Wanted != "" {
		return v.Performance.Wanted == t.ID
	}
	return t.Current
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func accessChoice(a AccessForm) string {
	if a.ExpiresIn == "" {
		return "60"
	}
	return a.ExpiresIn
}

func settingsAutoStop(v MachinePageView) string {
	if v.Settings.AutoStop != "" {
		return v.Settings.AutoStop
	}
	return strconv.Itoa(v.Machine.AutoStopSeconds)
}

func settingsSource(v MachinePageView) string {
	if v.Settings.UsageSource != "" {
		return v.Settings.UsageSource
	}
	return v.Machine.UsageSource
}

func canChangeType(v MachinePageView) bool {
	return v.CanPerformance && v.Machine.Status == "off"
}

func mgbText(s string) string {
	if s == "" {
		return "—"
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'f', -1, 64) + " GB"
	}
	return s
}

func taskResultText(result, uid string) string {
	switch result {
	case "created":
		return "Created the task " + uid + " and made it active."
	case "reactivated":
		return "Reactivated the task " + uid + "."
	case "already_active":
		return "The task " + uid + " was already active; nothing changed."
	case "deleted":
		return "Deleted the task " + uid + "."
	}
	return result
}

func taskDeleteURL(v MachinePageView, taskID string) string {
	return machineSubPath(v.Machine.ID, v.NameHint, "/tasks/"+url.PathEscape(taskID)+"/delete")
}

func mrfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func mitoa(n int) string { return strconv.Itoa(n) }

// Chart geometry, in SVG user units.
const (
	mchartHeight = 80
	mchartStep   = 12
)

func mchartWidth(n int) int { return n * mchartStep }

func mchartViewBox(n int) string {
	return "0 0 " + strconv.Itoa(mchartWidth(n)) + " " + strconv.Itoa(mchartHeight+20)
}

func mchartMax(days []DayUsage) int64 {
	var m int64
	for _, d := range days {
		m = max(m, d.Minutes)
	}
	return m
}

// barHeight scales a day's minutes to the chart, at least 1 unit when > 0.
func mchartBarHeight(min int64, days []DayUsage) int {
	top := mchartMax(days)
	if top <= 0 || min <= 0 {
		return 0
	}
	return max(1, int(min*mchartHeight/top))
}
