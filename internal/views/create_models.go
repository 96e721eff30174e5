package views

// KnownPlanOption is a plan ID that created machines before.
type KnownPlanOption struct {
	ID string
	// Machines is how many machines it created; LastUsed when, as text.
	Machines int
	LastUsed string
}

// Label is the option's description: "3 machines, last 2026-03-01 12:00 UTC".
func (o KnownPlanOption) Label() string {
	return Plural(o.Machines, "machine", "machines") + ", last " + o.LastUsed
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
