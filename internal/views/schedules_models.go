package views

import "time"

// NavSchedules is the schedules section of the navigation.
const NavSchedules = "schedules"

// ScheduleDays are the `days` form values with their labels, Monday first.
var ScheduleDays = []Option{
	{"mon", "Mon"}, {"tue", "Tue"}, {"wed", "Wed"}, {"thu", "Thu"}, {"fri", "Fri"}, {"sat", "Sat"}, {"sun", "Sun"},
}

// ScheduleRow is one schedule in the list.
type ScheduleRow struct {
	ID       int64
	URL      string
	Name     string
	Action   string // "Start", "Stop gracefully", "Stop"
	Targets  string // "3 machines" or "filter “Off ones”"
	Days     string // "Mon–Fri" style list
	At       string // HH:MM
	TimeZone string
	// Next is the next run (zero: none).
	Next    time.Time
	Enabled bool
}

// SchedulesView is GET /schedules.
type SchedulesView struct {
	Rows    []ScheduleRow
	CanEdit bool
}

// ScheduleFormView is the new/edit form, as the user typed it.
type ScheduleFormView struct {
	// ID is 0 for a new schedule; Version is the version the form shows.
	ID                 int64
	Version            int
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

	// Machines to pick from (value: id; label: name and id).
	Machines []Option
	// MachinesNote says why the list is short or missing (API down).
	MachinesNote string
	SavedViews   []Option
	TimeZones    []string
	Errors       map[string]string
	// Conflict is set when the schedule changed since the form was opened.
	Conflict string
}

// PostURL is where the form posts.
func (f ScheduleFormView) PostURL() string {
	if f.ID == 0 {
		return "/schedules"
	}
	return "/schedules/" + itoa64(f.ID)
}

// ScheduleRunItemView is one machine's outcome in a run.
type ScheduleRunItemView struct {
	MachineID, MachineName, State, Message string
}

// ScheduleRunView is one run in the history.
type ScheduleRunView struct {
	ID       int64
	DueAt    time.Time
	Trigger  string // scheduled or manual
	State    string
	Message  string
	Actor    string
	Items    []ScheduleRunItemView
	Finished bool
}

// ScheduleDetailView is GET /schedules/{id}.
type ScheduleDetailView struct {
	Row        ScheduleRow
	Owner      string
	SkipDates  string
	SkipActive bool
	Version    int
	NextRuns   []time.Time
	Runs       []ScheduleRunView
	// Running is true while a run is unfinished or one is due within two
	// minutes: the history polls.
	Running bool
	CanEdit bool
	Form    ScheduleFormView

	// ConfirmDelete shows the delete question (with DeleteToken, its
	// single-use confirmation) in place of the actions; RunCount is how many
	// runs of history go with the schedule.
	ConfirmDelete bool
	DeleteToken   string
	RunCount      int
}

// ScheduleDeletedView is what replaces a deleted schedule's page: Name is
// the schedule's (empty when it was deleted before), Text says what
// happened, Kind is its flash kind.
type ScheduleDeletedView struct {
	Name, Text, Kind string
}

// MachineScheduleRow is a schedule on the machine page's Schedules card.
type MachineScheduleRow struct {
	URL, Name, Summary string
	// ByFilter names the saved filter when the schedule targets one (it is
	// not evaluated per page view, so it may or may not match).
	ByFilter string
	Enabled  bool
}
