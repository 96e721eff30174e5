package views

import (
	"net/url"
	"strconv"
	"time"
)

// AccessLinksView is the access-link ledger page (/access-links).
type AccessLinksView struct {
	Filter AccessLinksFilter
	Rows   []AccessLinkRowView
	Total  int64
	Pager  PaginationView
	CSVURL string
	// CanCaps shows the lifetime caps form (POST /access-links/caps).
	CanCaps bool
	Caps    []AccessCapField
	// CapsError is the caps form's error, next to it.
	CapsError string
}

// AccessLinksFilter is the ledger's filters, as in the URL.
type AccessLinksFilter struct {
	MachineID, IssuedBy, Source, State string
	Errors                             map[string]string
}

// AccessLinkRowView is one ledger row. It never carries a link.
type AccessLinkRowView struct {
	IssuedAt    time.Time
	Source      string // "dashboard" or "vagon"
	IssuedBy    string
	MachineID   string
	MachineName string
	Note        string
	// Minutes is the lifetime the link was issued with; 0 when unknown.
	Minutes     int64
	ExpiresAt   time.Time
	ExpiryKnown bool
	State       string // "active" or "expired"
	Fingerprint string
	// CanStop: the row is active and the user may stop machines; its Stop
	// link goes to the machine page's stop action.
	CanStop bool
}

// AccessCapField is one role's cap on the caps form: minutes, "" for none.
type AccessCapField struct {
	Role  string
	Value string
}

// AccessSources and AccessStates are the filters' choices.
var (
	AccessSources = []Option{{Value: "dashboard", Label: "Dashboard"}, {Value: "vagon", Label: "Vagon (outside the dashboard)"}}
	AccessStates  = []Option{{Value: "active", Label: "Active"}, {Value: "expired", Label: "Expired"}}
)

// presetOverCap says a preset (minutes) is longer than the cap (0: none).
func presetOverCap(value string, capMinutes int) bool {
	m, err := strconv.Atoi(value)
	return capMinutes > 0 && err == nil && m > capMinutes
}

// customMax is the custom minutes box's max: the cap, else 43,200.
func customMax(capMinutes int) string {
	if capMinutes > 0 {
		return strconv.Itoa(capMinutes)
	}
	return "43200"
}

// ledgerActiveURL is the ledger's active links to one machine.
func ledgerActiveURL(machineID string) string {
	return "/access-links?" + url.Values{"machine_id": {machineID}, "state": {"active"}}.Encode()
}
