package views

import (
	"net/url"
	"strconv"
)

// Small unexported helpers the components use. They pick CSS classes from
// fixed sets, so data never reaches a class attribute unchecked.

func pageTitle(t string) string {
	if t == "" {
		return "Vagon Fleet"
	}
	return t + " · Vagon Fleet"
}

func flashKind(kind string) string {
	switch kind {
	case FlashSuccess, FlashError:
		return kind
	}
	return FlashInfo
}

func flashClass(kind string) string { return "flash-" + flashKind(kind) }

func fieldID(id, name string) string {
	if id != "" {
		return id
	}
	return "field-" + name
}

func inputType(t string) string {
	if t == "" {
		return "text"
	}
	return t
}

func testID(id, name string) string {
	if id != "" {
		return id
	}
	return name
}

func swapOr(s string) string {
	if s == "" {
		return "outerHTML"
	}
	return s
}

func variant(v string) string {
	switch v {
	case "primary", "danger":
		return v
	}
	return "secondary"
}

func buttonClass(v string, small bool) string {
	c := "btn btn-" + variant(v)
	if small {
		c += " btn-sm"
	}
	return c
}

func statusText(status string) string {
	if status == "" {
		return "unknown"
	}
	return StatusLabel(status)
}

// errorTexts fills an ErrorView's empty title and message with the
// standard wording for its status.
func errorTexts(e ErrorView) ErrorView {
	d := NewErrorView(e.Status, e.RequestID)
	if e.Title == "" {
		e.Title = d.Title
	}
	if e.Message == "" {
		e.Message = d.Message
	}
	return e
}

func machineURL(id string) string { return "/machines/" + url.PathEscape(id) }

func userURL(id int64, action string) string {
	return "/users/" + strconv.FormatInt(id, 10) + "/" + action
}

func statusOptions(statuses []string) []Option {
	if statuses == nil {
		statuses = KnownStatuses
	}
	opts := make([]Option, 0, len(statuses))
	for _, s := range statuses {
		opts = append(opts, Option{Value: s, Label: StatusLabel(s)})
	}
	return opts
}

func plainOptions(values []string) []Option {
	opts := make([]Option, 0, len(values))
	for _, v := range values {
		opts = append(opts, Option{Value: v, Label: v})
	}
	return opts
}

// URL returns the machines list URL for this query, page included when
// above 1.
func (q MachineQuery) URL() string {
	v := q.values()
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if len(v) == 0 {
		return "/machines"
	}
	return "/machines?" + v.Encode()
}

// Filtered reports whether any filter is set (paging aside).
func (q MachineQuery) Filtered() bool {
	return q.Q != "" || q.Status != "" || q.Assigned != "" || q.TimeLeft != "" || q.HasSessionData != ""
}

func (q MachineQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("q", q.Q)
	set("status", q.Status)
	set("assigned", q.Assigned)
	set("time_left", q.TimeLeft)
	set("has_session_data", q.HasSessionData)
	set("per_page", q.PerPage)
	if q.Sort != "" {
		set("sort", q.Sort)
		set("dir", q.Dir)
	}
	return v
}

// userFormRole preselects the lowest role in an empty create form.
func userFormRole(v UsersView) string {
	if v.Form.Role == "" && len(v.Roles) > 0 {
		return v.Roles[0]
	}
	return v.Form.Role
}

// auditOutcomeTitle heads an outcome row in the audit details.
func auditOutcomeTitle(outcome string) string {
	switch outcome {
	case "started":
		return "Started"
	case "succeeded":
		return "Succeeded"
	case "failed":
		return "Failed"
	case "denied":
		return "Denied"
	case "unknown":
		return "Outcome unknown"
	}
	return outcome
}
