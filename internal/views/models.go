// Package views holds the dashboard's templ components and the plain view-model
// types they render. Components are pure: data in, HTML out. This package
// imports only templ and the standard library; handlers in internal/web map
// API and database values to these types.
package views

import (
	"time"
)

// Sections of the top navigation; Page.Nav holds one of them.
const (
	NavMachines = "machines"
	NavReports  = "reports"
	NavAudit    = "audit"
	NavActivity = "activity"
	NavUsers    = "users"
)

// Flash kinds.
const (
	FlashSuccess = "success"
	FlashError   = "error"
	FlashInfo    = "info"
)

// Page is what every full page needs: the layout's data.
type Page struct {
	// Title is the page's own title; the layout appends " · Vagon Fleet".
	Title string
	// User is the signed-in user, nil when signed out.
	User *CurrentUser
	// Nav is the active section: NavMachines, NavReports, NavAudit or NavUsers.
	Nav string
	// CSRFToken goes into <meta name="csrf-token"> and every form's _csrf field.
	CSRFToken string
	// Flashes are one-time messages shown above the content.
	Flashes []Flash
	// Demo shows the "Demo: simulated Vagon API" banner.
	Demo bool
	// RequestID is shown on error pages and in the footer for support.
	RequestID string
	// Assets are the versioned URLs of the static files (from static.Path).
	Assets Assets
	// TimeZone is the signed-in user's IANA time zone for shown times;
	// "" means the browser's own.
	TimeZone string
	// CanJobs shows the Jobs link: the web layer sets it from the route
	// table (whether GET /jobs would be allowed), not from a role here.
	CanJobs bool
	// CanAlerts shows the Alerts link (from the route table).
	CanAlerts bool
	// CanUsers shows the Users link (whether GET /users would be allowed).
	CanUsers bool
	// AuditAll says the audit page shows everyone's entries (the link
	// reads "Audit"); otherwise the user's own ("My activity").
	AuditAll bool
}

// Assets holds the URLs of the static files the layout links to. The web
// package fills them with static.Path(static.CSS) and so on.
type Assets struct {
	CSS     string
	JS      string
	HTMX    string
	Favicon string
}

// CurrentUser is the signed-in user.
type CurrentUser struct {
	Email string
	Role  string
}

// Flash is a one-time message.
type Flash struct {
	// Kind is FlashSuccess, FlashError or FlashInfo.
	Kind string
	Text string
}

// NavItem is one link of the top navigation.
type NavItem struct {
	Key    string // the section, compared with Page.Nav
	Label  string
	Href   string
	TestID string
}

// NavLinks are the navigation links the page's user may see, in order.
// The web layer decides them from the route table (CanJobs, CanUsers,
// AuditAll); hiding a link is a courtesy, the server checks every request.
func (p Page) NavLinks() []NavItem {
	if p.User == nil {
		return nil
	}
	items := []NavItem{
		{Key: NavMachines, Label: "Machines", Href: "/machines", TestID: "nav-machines"},
		{Key: NavReports, Label: "Reports", Href: "/reports/usage", TestID: "nav-reports"},
		{Key: NavSchedules, Label: "Schedules", Href: "/schedules", TestID: "nav-schedules"},
	}
	if p.AuditAll {
		items = append(items, NavItem{Key: NavAudit, Label: "Audit", Href: "/audit", TestID: "nav-audit"})
	} else {
		// Everyone may read their own audit entries; the server filters.
		items = append(items, NavItem{Key: NavAudit, Label: "My activity", Href: "/audit", TestID: "nav-audit"})
	}
	// Everyone may read the timeline; the server decides whose entries.
	items = append(items, NavItem{Key: NavActivity, Label: "Activity", Href: "/activity", TestID: "nav-activity"})
	if p.CanUsers {
		items = append(items, NavItem{Key: NavUsers, Label: "Users", Href: "/users", TestID: "nav-users"})
	}
	if p.CanJobs {
		items = append(items, NavItem{Key: NavJobs, Label: "Jobs", Href: "/jobs", TestID: "nav-jobs"})
	}
	if p.CanAlerts {
		items = append(items, NavItem{Key: NavAlerts, Label: "Alerts", Href: "/alerts", TestID: "nav-alerts"})
	}
	return items
}

// PaginationView describes Prev/Next links. Empty URLs disable the link.
type PaginationView struct {
	PrevURL string
	NextURL string
	// Info is a short text such as "Page 2 · 143 machines".
	Info string
	// Target, when set, makes the links swap this element (a CSS selector
	// such as "#machines-results") with htmx and push the URL.
	Target string
}

// Option is one <option> of a select.
type Option struct {
	Value string
	Label string
}

// InputFieldView is a labelled <input> with its inline error.
type InputFieldView struct {
	Label        string
	Name         string
	Type         string // "text" when empty
	Value        string
	Error        string
	Hint         string
	Placeholder  string
	Autocomplete string
	Required     bool
	// ID is the element id; "field-"+Name when empty.
	ID string
	// TestID defaults to Name.
	TestID string
}

// SelectFieldView is a labelled <select> with its inline error.
type SelectFieldView struct {
	Label string
	Name  string
	Value string
	// Options lists the choices; when AnyLabel is set, an extra first option
	// with an empty value and that label comes before them.
	Options  []Option
	AnyLabel string
	Error    string
	Required bool
	// ID is the element id; "field-"+Name when empty.
	ID string
	// TestID defaults to Name.
	TestID string
}

// HiddenField is a hidden form input.
type HiddenField struct {
	Name  string
	Value string
}

// ConfirmButtonView is a one-button POST form, optionally asking first.
type ConfirmButtonView struct {
	// Action is the URL the form posts to.
	Action string
	Label  string
	// Confirm, when set, is asked in a dialog before submitting.
	Confirm string
	// Variant is "primary", "secondary" or "danger" ("secondary" when empty).
	Variant   string
	CSRFToken string
	TestID    string
	// Fields are extra hidden fields, in order.
	Fields []HiddenField
	// HxTarget and HxSwap, when HxTarget is set, submit with htmx and swap
	// the response into that target ("outerHTML" when HxSwap is empty).
	HxTarget string
	HxSwap   string
	Small    bool
	Disabled bool
}

// LoginForm is the sign-in form's state.
type LoginForm struct {
	// Email is echoed back after a failed attempt; the password never is.
	Email string
	// Error is shown above the form ("Email or password is incorrect.").
	Error string
	// RetryAfter, when set, says sign-in is throttled ("2 minutes").
	RetryAfter string
	// Next is where to go after signing in (a local path), sent as field next.
	Next string
	// Errors holds field errors keyed by field name ("email", "password").
	Errors map[string]string
	// Unavailable says sign-in is refused because the audit log cannot be
	// written (answered with 503).
	Unavailable bool
	// ErrorReason is the machine-readable reason of Error (a refused
	// single sign-on: bad_state, unmapped_group...), for tests.
	ErrorReason string
	// SSOName, when set, shows "Sign in with <SSOName>" linking to SSOURL
	// (GET /login/oidc?next=...).
	SSOName string
	SSOURL  string
	// PasswordHidden hides the password form (LOCAL_LOGIN=false); a link
	// to /login?local=1 shows it for the break-glass administrator.
	PasswordHidden bool
	// BreakGlassOnly says password sign-in is for the break-glass
	// administrator only.
	BreakGlassOnly bool
}

// ErrorView is an error page's content. It never carries internal detail.
type ErrorView struct {
	Status    int
	Title     string
	Message   string
	RequestID string
}

// NewErrorView returns the standard wording for an HTTP status (403, 404,
// 500, 503; others get a generic text).
func NewErrorView(status int, requestID string) ErrorView {
	e := ErrorView{Status: status, RequestID: requestID}
	switch status {
	case 400:
		e.Title, e.Message = "Bad request", "The request could not be understood. Check the form and try again."
	case 403:
		e.Title, e.Message = "Not allowed", "Your role does not allow this. Ask an admin if you need access."
	case 404:
		e.Title, e.Message = "Not found", "This page or machine does not exist, or it was removed."
	case 503:
		e.Title, e.Message = "Temporarily unavailable", "A service the dashboard depends on is not answering. Try again in a minute."
	default:
		e.Title, e.Message = "Something went wrong", "The dashboard hit an unexpected error. Try again; if it keeps happening, tell support the request ID below."
	}
	return e
}

// UsersView is the user-management page.
type UsersView struct {
	Users []UserRow
	// Form is the create-user form's state.
	Form UserForm
	// Roles lists the roles for the selects, lowest first (the web layer
	// passes fleet.Roles).
	Roles []string
}

// UserRow is one user in the table.
type UserRow struct {
	ID        int64
	Email     string
	Role      string
	Disabled  bool
	CreatedAt time.Time
	// Self marks the signed-in admin's own row: no role change or disable.
	Self bool
	// LastSignIn is the latest successful sign-in (zero: never), made with
	// LastSignInMethod ("password", "oidc", or "" when not recorded).
	LastSignIn       time.Time
	LastSignInMethod string
	// HasPassword and HasSSO say how the user can sign in: with a
	// password, with single sign-on (linked to an identity at the
	// provider), or both.
	HasPassword bool
	HasSSO      bool
	// RolePinned: single sign-on keeps Role whatever the provider's
	// groups say.
	RolePinned bool
	// Sessions are the user's open sessions, newest first.
	Sessions []SignInSession
	// ConfirmDisable shows the row's confirmation step for disabling.
	ConfirmDisable bool
	// Outcome is the result of the action just done on this user, shown in
	// the row (where the admin acted) as well as in a toast; nil for none.
	Outcome *Flash
}

// SignInSession is one open sign-in session of a user, on the users page.
type SignInSession struct {
	ID         int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	RemoteAddr string
	UserAgent  string
	// Current marks the session of the admin looking at the page.
	Current bool
}

// UserForm is the create-user form's state. Errors are keyed by field name
// ("email", "role", "password", "password_confirm"); the key "" holds an
// error for the whole form.
type UserForm struct {
	Email  string
	Role   string
	Errors map[string]string
}

// AuditView is the audit log page.
type AuditView struct {
	Filter AuditFilterView
	Rows   []AuditRow
	// NextURL links to older entries (keyset); empty at the end.
	NextURL string
	// CSVURL exports the current filter as CSV.
	CSVURL string
	// Actions are the action filter's choices: each action name with its
	// label in words.
	Actions  []Option
	Outcomes []string
	// OwnOnly says the user sees only their own entries (not an admin).
	OwnOnly bool
	// ClearMachineIDURL is this view without its machine_id filter.
	ClearMachineIDURL string
}

// AuditFilterView is the audit filter form's state. Errors are keyed by
// field name ("actor", "action", "machine_id", "outcome", "from", "to").
type AuditFilterView struct {
	Actor     string
	Action    string
	MachineID string
	// Machine is part of a machine's name or id.
	Machine string
	Outcome string
	// From and To are dates, YYYY-MM-DD.
	From   string
	To     string
	Errors map[string]string
}

// AuditRow is one audit event.
type AuditRow struct {
	ID         int64
	At         time.Time
	ActorEmail string
	ActorRole  string
	Action     string
	MachineID  string
	Outcome    string
	// OutcomeHint explains the outcome to the reader (set for unknown).
	OutcomeHint string
	ErrorCode   *int
	Message     string
	// Params is pretty-printed JSON.
	Params    string
	RequestID string
	// ActionLabel is Action in words.
	ActionLabel string
	// MachineName is the machine's name when known ("" otherwise).
	MachineName string
	// Note is the note recorded with the action (an access link's), if any.
	Note string
	// Started is the started row written before this outcome row; nil for a
	// row that stands alone (denied, sign-in, or no outcome yet).
	Started *AuditRow
}

// MachinesView is the machines list page.
type MachinesView struct {
	Query MachineQuery
	Rows  []MachineRow
	// Count is the total number of machines matching the query.
	Count   int
	PrevURL string
	NextURL string
	// Error, when set, replaces the table with an error and a retry button.
	Error string
	// Statuses lists the statuses for the filter (KnownStatuses when nil).
	Statuses []string
}

// MachineQuery is the machines filter, as strings straight from the URL.
type MachineQuery struct {
	Q              string
	Status         string
	Assigned       string
	TimeLeft       string
	HasSessionData string
	PerPage        string
	Page           int
	// Sort is a FleetSortColumns key ("" for the API's order) and Dir
	// "asc" or "desc"; the list is sorted server-side (issue 9).
	Sort string
	Dir  string
}

// MachineRow is one machine in the list.
type MachineRow struct {
	ID          string
	Name        string
	Status      string
	UserName    string
	UserEmail   string
	Region      string
	MachineType string
	// RemainingMinutes is the usage left, in minutes.
	RemainingMinutes int64
	LastSessionAt    *time.Time
}

// KnownStatuses lists the documented machine statuses in a stable order.
var KnownStatuses = []string{
	"off", "creating", "turning_on", "ready", "turning_off", "graceful_stopping",
	"resizing_disk", "installing", "region_migration", "warming_up",
}

type statusInfo struct {
	label, class string
}

var statusInfos = map[string]statusInfo{
	"off":               {"Off", "status-off"},
	"creating":          {"Creating", "status-creating"},
	"turning_on":        {"Turning on", "status-turning-on"},
	"ready":             {"Ready", "status-ready"},
	"turning_off":       {"Turning off", "status-turning-off"},
	"graceful_stopping": {"Graceful stopping", "status-graceful-stopping"},
	"resizing_disk":     {"Resizing disk", "status-resizing-disk"},
	"installing":        {"Installing", "status-installing"},
	"region_migration":  {"Region migration", "status-region-migration"},
	"warming_up":        {"Warming up", "status-warming-up"},
}

// StatusLabel returns the human label of a machine status, or the status
// itself when it is not a documented one.
func StatusLabel(status string) string {
	if s, ok := statusInfos[status]; ok {
		return s.label
	}
	return status
}

// StatusClass returns the CSS class of a machine status: "status-ready",
// "status-graceful-stopping", ..., "status-unknown" for anything else.
func StatusClass(status string) string {
	if s, ok := statusInfos[status]; ok {
		return s.class
	}
	return "status-unknown"
}

// statusTransitional reports whether a known status is on its way to
// another one (its badge dot pulses).
func statusTransitional(status string) bool {
	_, ok := statusInfos[status]
	return ok && status != "off" && status != "ready"
}

var outcomeClasses = map[string]string{
	"started":   "badge-info",
	"succeeded": "badge-success",
	"failed":    "badge-danger",
	"denied":    "badge-warning",
	"unknown":   "badge-warning", // the call's result could not be known
}

// OutcomeClass returns the badge class for an audit outcome.
func OutcomeClass(outcome string) string {
	if c, ok := outcomeClasses[outcome]; ok {
		return c
	}
	return "badge-neutral"
}

// runStatusClass is the badge class of a background run's status (a bulk
// operation or a sync pass): running, succeeded or failed.
func runStatusClass(status string) string {
	switch status {
	case "succeeded":
		return "badge-success"
	case "failed":
		return "badge-danger"
	case "running":
		return "badge-info"
	}
	return "badge-neutral"
}

// RoleClass returns the badge class for a role.
// The role's own class (role-viewer, ...) when the name is a plain
// lowercase word; the role list itself lives in internal/fleet.
func RoleClass(role string) string {
	if role == "" {
		return "badge-neutral"
	}
	for _, r := range role {
		if r < 'a' || r > 'z' {
			return "badge-neutral"
		}
	}
	return "role-" + role
}
