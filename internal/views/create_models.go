package views

import "time"

// KnownPlanOption is a plan ID that created machines before.
type KnownPlanOption struct {
	ID string
	// Machines is how many machines it created; LastAt when it last did
	// (shown in the reader's zone).
	Machines int
	LastAt   time.Time
}

// Label is the option's description: "3 machines". It is plain text (a
// datalist option's label), so the time it was last used is not in it: the
// page shows that with LocalTime.
func (o KnownPlanOption) Label() string {
	return Plural(o.Machines, "machine", "machines")
}

// CreateReplay is what the first submit of a confirmation did, shown when
// the same confirmation is submitted again.
type CreateReplay struct {
	// Pending: the first submit is still talking to Vagon.
	Pending bool
	// MachineIDs are the machines it created (none when it failed).
	MachineIDs []string
	// AuditURL lists the create actions in the audit log.
	AuditURL string
}
