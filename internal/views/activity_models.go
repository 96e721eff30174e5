package views

import (
	"net/url"
	"time"
)

// ActivityView is the activity timeline (GET /activity): the dashboard's
// audit log and Vagon's activity log in one list.
type ActivityView struct {
	Filter ActivityFilterView
	Rows   []ActivityRow
	// NextURL links to older entries (keyset); empty at the end.
	NextURL string
	// CSVURL exports the current filter; empty while the filter is invalid.
	CSVURL string
	// Actions are the action filter's choices (dashboard and Vagon
	// actions), Sources the source filter's.
	Actions, Sources []Option
	// OwnOnly says the user sees only their own entries.
	OwnOnly bool
	// CanImport offers "Import from Vagon now" (operators and admins, when
	// the job queue runs).
	CanImport bool
}

// ActivityFilterView is the filter form's state; Errors are keyed by field
// name ("source", "action", "from", "to").
type ActivityFilterView struct {
	Source, Actor, Machine, MachineID, Action string
	// From and To are dates, YYYY-MM-DD (To inclusive).
	From, To string
	Errors   map[string]string
}

// ActivityRow is one line of the timeline.
type ActivityRow struct {
	At          time.Time
	Source      string // "dashboard" or "vagon"
	ActorEmail  string
	ActorRole   string
	Action      string
	ActionLabel string
	MachineID   string
	MachineName string
	Outcome     string // dashboard lines only
	Details     string // a short summary, never a secret
	// Outside: a Vagon entry no dashboard action accounts for.
	Outside bool
}

// MachineActivityView is a machine's Activity tab
// (GET /machines/{id}/activity).
type MachineActivityView struct {
	MachineID, MachineName, NameHint string
	Timeline                         ActivityView
	// AllURL is the whole timeline filtered to this machine.
	AllURL string
}

// ActorURL is the timeline of one person's entries.
func ActorURL(email string) string {
	return "/activity?" + url.Values{"actor": {email}}.Encode()
}
