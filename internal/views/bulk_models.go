package views

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BulkPermissionChoice is one permission of the bulk form: its key (the
// form field name) and label, both from fleet.Permissions (the web layer
// passes them in FleetView.Permissions). The form offers "leave as is",
// "on", "off".
type BulkPermissionChoice struct {
	Key   string
	Label string
}

func joinComma(xs []string) string { return strings.Join(xs, ", ") }

// BulkTargetRow is one machine on the confirmation page.
type BulkTargetRow struct {
	ID     string
	Name   string
	Status string
	User   string
	// Skip, when set, says the runner will leave it as it is and why.
	Skip string
	// InUse (bulk stop): someone is connected (a running session, or the
	// image in use); InUseSince is the running session's start, nil when
	// only the image status tells.
	InUse      bool
	InUseSince *time.Time
	// InUseUnknown (bulk stop): the sessions were not read (API error or
	// beyond the check's cap), so the machine may be in use.
	InUseUnknown bool
}

// BulkConfirmView is the confirmation step of a bulk action: the exact
// machines, what will be done, and the form that submits it.
type BulkConfirmView struct {
	Action string
	// ActionLabel names the action (fleet.BulkActionLabel).
	ActionLabel string
	// Summary lists the action's fields in words ("Gracefully: yes").
	Summary []string
	Targets []BulkTargetRow
	// Missing are requested ids the API does not know.
	Missing []string
	// Hidden are the fields the confirm form posts again (action fields).
	Hidden []HiddenField
	// BackURL returns to the fleet with the filter.
	BackURL string
	// AllMatching says the machines came from the filter, not a selection.
	AllMatching bool
	// Error replaces the form when the action can't go on.
	Error string
	// Token makes the confirmation single-use (see web's claimConfirm).
	Token string
	// InUseSkipped (bulk stop) counts machines whose sessions were not read
	// because the check is capped.
	InUseSkipped int
	// InUseMax is that cap, for the sentence saying so.
	InUseMax int
}

// InUseCount counts the targets someone is connected to.
func (v BulkConfirmView) InUseCount() int {
	n := 0
	for _, t := range v.Targets {
		if t.InUse {
			n++
		}
	}
	return n
}

// InUseUnknownCount counts the targets whose sessions could not be read
// (not those beyond the cap: InUseSkipped says those).
func (v BulkConfirmView) InUseUnknownCount() int {
	n := 0
	for _, t := range v.Targets {
		if t.InUseUnknown {
			n++
		}
	}
	return n - v.InUseSkipped
}

// WillChange counts the targets not expected to be skipped.
func (v BulkConfirmView) WillChange() int {
	n := 0
	for _, t := range v.Targets {
		if t.Skip == "" {
			n++
		}
	}
	return n
}

// BulkItemRow is one machine of a bulk operation's progress.
type BulkItemRow struct {
	MachineID   string
	MachineName string
	State       string
	Message     string
	ClientCode  *int
}

// BulkOpView is a bulk operation and its progress.
type BulkOpView struct {
	ID     int64
	Action string
	// ActionLabel names the action (fleet.BulkActionLabel).
	ActionLabel string
	Status      string
	Summary     []string
	ActorEmail  string
	CreatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
	Total       int
	Done        int
	Skipped     int
	Failed      int
	Pending     int
	Running     int
	Items       []BulkItemRow
	// CancelledBy is who cancelled the operation ("" when nobody did).
	CancelledBy string
	// CanCancel shows the Cancel button: the viewer started the operation
	// or is an admin, and it is still running.
	CanCancel bool
	// CSRFToken is the session's token, for the Cancel form.
	CSRFToken string
}

// Finished reports whether the operation has ended (polling stops).
func (v BulkOpView) Finished() bool { return v.Status == "succeeded" || v.Status == "failed" }

// Completed is how many machines reached a final state.
func (v BulkOpView) Completed() int { return v.Done + v.Skipped + v.Failed }

// URL is the operation's page.
func (v BulkOpView) URL() string { return "/bulk/" + strconv.FormatInt(v.ID, 10) }

// CancelURL is where the Cancel form posts.
func (v BulkOpView) CancelURL() string { return v.URL() + "/cancel" }

func bulkStatusLabel(status string) string {
	switch status {
	case "queued":
		return "Queued"
	case "running":
		return "Running"
	case "succeeded":
		return "Finished"
	case "failed":
		return "Finished with failures"
	}
	return status
}

func bulkItemClass(state string) string {
	switch state {
	case "done":
		return "badge-success"
	case "skipped":
		return "badge-neutral"
	case "failed", "interrupted":
		return "badge-danger"
	case "running":
		return "badge-info"
	}
	return "badge-warning"
}

func progressClass(v BulkOpView) string {
	switch {
	case v.Status == "failed":
		return "progress progress-danger"
	case v.Status == "succeeded":
		return "progress progress-success"
	}
	return "progress"
}

// filterHidden returns the fleet filter as hidden fields (only the set ones).
func filterHidden(q MachineQuery) []HiddenField {
	var out []HiddenField
	for _, f := range []HiddenField{
		{"q", q.Q}, {"status", q.Status}, {"assigned", q.Assigned},
		{"time_left", q.TimeLeft}, {"has_session_data", q.HasSessionData},
	} {
		if f.Value != "" {
			out = append(out, f)
		}
	}
	return out
}

// CreateForm is the create-machines form's values, as typed.
type CreateForm struct {
	PlanID   string
	Quantity string
	// Region is the select's value: a known region, "" (the account's
	// default) or RegionOther with RegionText.
	Region      string
	RegionText  string
	SoftwareIDs []string
	BaseImageID string
	// Perms holds the seven permissions by API key.
	Perms map[string]bool
}

// RegionOther is the region select's value for a region typed by hand.
const RegionOther = "other"

// CreateView is the create-machines page in its three steps: the form
// (with errors), the confirmation, and the result.
type CreateView struct {
	Form CreateForm
	// Errors by field name ("plan_id", "quantity", "region",
	// "software_ids", "base_image_id"); "" is about the whole form.
	Errors map[string]string
	// Regions are the region select's options (RegionOther last).
	Regions []Option
	// Software are the catalog's packages with sizes; BaseImages its images.
	Software   []Option
	BaseImages []Option
	// CatalogError says GET /software failed.
	CatalogError string
	// Permissions are the seven toggles with labels (On from Form.Perms).
	Permissions []PermissionView

	// Confirm shows the confirmation step; Summary describes what will be
	// created; Token guards against a second submission of the same step.
	Confirm bool
	Summary []string
	Token   string

	// Created lists the new machines (the result step).
	Created []CreatedMachine
	// Replayed says this confirmation was already submitted: nothing new was created.
	Replayed bool
	// Replay says what the first submit of a reused confirmation did.
	Replay CreateReplay

	// KnownPlans are plan IDs that created machines before, offered next
	// to the plan field. PlanUnverified (confirmation step) says the chosen
	// plan is not among them: the API can't check a plan before creating.
	KnownPlans     []KnownPlanOption
	PlanUnverified bool
}

// CreatedMachine is one machine the API created.
type CreatedMachine struct {
	ID   string
	Name string
}

func createHidden(f CreateForm) []HiddenField {
	out := []HiddenField{{"plan_id", f.PlanID}, {"quantity", f.Quantity}, {"region", f.Region}, {"region_other", f.RegionText}, {"base_image_id", f.BaseImageID}}
	for _, id := range f.SoftwareIDs {
		out = append(out, HiddenField{"software_ids", id})
	}
	keys := make([]string, 0, len(f.Perms))
	for k := range f.Perms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if f.Perms[k] {
			out = append(out, HiddenField{"perm_" + k, "true"})
		}
	}
	return out
}

func containsStr(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func machineLink(id string) string { return "/machines/" + url.PathEscape(id) }

// userOrSomeone names a machine's user, or "someone" when none is assigned.
func userOrSomeone(email string) string {
	if email == "" {
		return "someone"
	}
	return email
}
