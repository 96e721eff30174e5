package web

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// activitySources are the source filter's choices.
var activitySources = []views.Option{{Value: db.SourceDashboard, Label: "Dashboard"}, {Value: db.SourceVagon, Label: "Vagon"}}

// activityActions are the action filter's choices: the dashboard's actions,
// then Vagon's action types, each sorted by label.
func activityActions() []views.Option {
	out := auditActions()
	var vg []views.Option
	for _, a := range fleet.VagonActivityActions {
		vg = append(vg, views.Option{Value: a, Label: "Vagon: " + fleet.VagonActivityLabel(a)})
	}
	slices.SortFunc(vg, func(a, b views.Option) int { return strings.Compare(a.Label, b.Label) })
	return append(out, vg...)
}

// seesAllActivity: operators and admins read everyone's entries; others
// only their own.
func seesAllActivity(c echo.Context) bool {
	u := currentUser(c)
	return u != nil && fleet.SeesAllActivity(u.Role)
}

// activityFilter parses the timeline filters; badCursor reports an after
// parameter that is no cursor (a 400, not a field's error).
func (s *Server) activityFilter(c echo.Context) (db.TimelineFilter, views.ActivityFilterView) {
	q := c.QueryParams()
	fv := views.ActivityFilterView{
		Source: truncate(q.Get("source"), 20), Actor: truncate(strings.TrimSpace(q.Get("actor")), 320),
		Machine: truncate(strings.TrimSpace(q.Get("machine")), 200), MachineID: truncate(strings.TrimSpace(q.Get("machine_id")), 100),
		Action: truncate(q.Get("action"), 100), From: truncate(q.Get("from"), 10), To: truncate(q.Get("to"), 10),
		Errors: map[string]string{},
	}
	f := db.TimelineFilter{Actor: fv.Actor, Machine: fv.Machine, MachineID: fv.MachineID, Matches: fleet.ActivityAuditActions, MatchWindow: fleet.OutsideMatchWindow,
		After: truncate(q.Get("after"), 200)}
	switch fv.Source {
	case "", db.SourceDashboard, db.SourceVagon:
		f.Source = fv.Source
	default:
		fv.Errors["source"] = "Choose dashboard or vagon."
	}
	if fv.Action != "" {
		if slices.ContainsFunc(activityActions(), func(o views.Option) bool { return o.Value == fv.Action }) {
			f.Action = fv.Action
		} else {
			fv.Errors["action"] = "Unknown action."
		}
	}
	f.From, f.To = dateRange(fv.From, fv.To, fv.Errors)
	if u := currentUser(c); u != nil && !seesAllActivity(c) {
		f.ActorEmail, f.Actor = u.Email, ""
		fv.Actor = ""
	}
	return f, fv
}

func activityQuery(fv views.ActivityFilterView) url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"source": fv.Source, "actor": fv.Actor, "machine": fv.Machine, "machine_id": fv.MachineID, "action": fv.Action, "from": fv.From, "to": fv.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

func (s *Server) showActivity(c echo.Context) error {
	f, fv := s.activityFilter(c)
	v := views.ActivityView{Filter: fv, Actions: activityActions(), Sources: activitySources, OwnOnly: !seesAllActivity(c),
		CanImport: s.activityNow != nil && s.allowed(c, http.MethodPost, "/activity/import")}
	status := http.StatusOK
	if len(fv.Errors) == 0 {
		v.CSVURL = withQuery("/activity.csv", activityQuery(fv))
		rows, next, err := s.timelineRows(c, f, 50)
		if err != nil {
			return err
		}
		v.Rows = rows
		if next != "" {
			nq := activityQuery(fv)
			nq.Set("after", next)
			v.NextURL = "/activity?" + nq.Encode()
		}
	} else {
		status = http.StatusUnprocessableEntity
	}
	p := s.page(c, "Activity", views.NavActivity)
	if isHTMX(c) {
		c.Response().Header().Set("HX-Push-Url", withQuery("/activity", activityQuery(fv)))
		return render(c, status, views.ActivityResults(p, v))
	}
	return render(c, status, views.ActivityPage(p, v))
}

// timelineRows reads one page and turns it into lines, with machine names
// from the sessions sync where the row recorded none.
func (s *Server) timelineRows(c echo.Context, f db.TimelineFilter, limit int) ([]views.ActivityRow, string, error) {
	f.Limit = limit
	entries, next, err := s.store.ListTimeline(c.Request().Context(), f)
	if errors.Is(err, db.ErrBadCursor) {
		return nil, "", echo.NewHTTPError(http.StatusBadRequest, "The page link is not valid; start again from the first page.")
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	var ids []string
	for _, e := range entries {
		if e.MachineID != "" && !slices.Contains(ids, e.MachineID) {
			ids = append(ids, e.MachineID)
		}
	}
	names, err := s.store.MachineNames(c.Request().Context(), ids)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	rows := make([]views.ActivityRow, 0, len(entries))
	for _, e := range entries {
		r := views.ActivityRow{At: e.At, Source: e.Source, ActorEmail: e.ActorEmail, ActorRole: e.ActorRole, Action: e.Action,
			MachineID: e.MachineID, MachineName: e.MachineName, Outcome: e.Outcome, Details: timelineDetails(e), Outside: e.Outside}
		if n := names[e.MachineID]; n != "" {
			r.MachineName = n
		}
		if e.Source == db.SourceVagon {
			r.ActionLabel = fleet.VagonActivityLabel(e.Action)
		} else {
			r.ActionLabel = fleet.ActionLabel(e.Action)
		}
		rows = append(rows, r)
	}
	return rows, next, nil
}

// showMachineActivity is a machine's Activity tab: its newest 50 entries
// and a link to the whole timeline filtered to it.
func (s *Server) showMachineActivity(c echo.Context) error {
	m, err := s.loadMachine(c)
	if err != nil {
		return s.pageError(c, err)
	}
	id := string(m.ID)
	f := db.TimelineFilter{MachineID: id, Matches: fleet.ActivityAuditActions, MatchWindow: fleet.OutsideMatchWindow}
	own := !seesAllActivity(c)
	if u := currentUser(c); u != nil && own {
		f.ActorEmail = u.Email
	}
	rows, next, err := s.timelineRows(c, f, 50)
	if err != nil {
		return err
	}
	v := views.MachineActivityView{MachineID: id, MachineName: m.Attributes.Name, NameHint: m.Attributes.Name,
		Timeline: views.ActivityView{Rows: rows, OwnOnly: own, NextURL: next},
		AllURL:   withQuery("/activity", url.Values{"machine_id": {id}})}
	return render(c, http.StatusOK, views.MachineActivityPage(s.page(c, "Activity · "+m.Attributes.Name, views.NavMachines), v))
}

// importActivity is POST /activity/import: one import of Vagon's activity
// log, queued (the page says so where the button is; a reload shows it).
func (s *Server) importActivity(c echo.Context) error {
	msg := "Import queued: reload in a moment to see Vagon's newest entries."
	if s.activityNow == nil {
		msg = "Imports are not available here: no job queue runs."
	} else if err := s.activityNow(c.Request().Context()); err != nil {
		s.log.Error("activity import", "err", err.Error(), "request_id", requestID(c))
		msg = "The import could not be queued; try again."
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/activity")
	}
	return c.HTML(http.StatusOK, html.EscapeString(msg))
}

// exportActivity streams every matching entry as CSV.
func (s *Server) exportActivity(c echo.Context) error {
	f, fv := s.activityFilter(c)
	if len(fv.Errors) > 0 {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "The filter is not valid; fix it on the activity page first.")
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="activity-%s.csv"`, s.now().UTC().Format("20060102-150405")))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"at", "source", "actor_email", "action", "machine_id", "machine_name", "outcome", "details"})
	n := 0
	err := s.store.StreamTimeline(c.Request().Context(), f, func(e db.TimelineEntry) error {
		details := timelineDetails(e)
		if e.Outside {
			details = strings.TrimSpace("outside the dashboard; " + details)
		}
		rec := []string{e.At.UTC().Format(time.RFC3339Nano), e.Source, e.ActorEmail, e.Action, e.MachineID, e.MachineName, e.Outcome, details}
		for i := range rec {
			rec[i] = csvSafe(rec[i])
		}
		if err := w.Write(rec); err != nil {
			return err
		}
		if n++; n%500 == 0 {
			w.Flush()
			c.Response().Flush()
		}
		return nil
	})
	w.Flush()
	if err != nil {
		s.log.Error("activity csv", "err", err.Error(), "request_id", requestID(c))
		_, _ = c.Response().Write([]byte("# export interrupted: the file is incomplete\n"))
	}
	return nil
}

// detailsSkip are keys a line already shows in its own columns.
var detailsSkip = map[string]bool{
	"id": true, "action_type": true, "user_email": true, "user_id": true, "machine_id": true,
	"organization_machine_id": true, "machine_name": true, "created_at": true,
}

// secretish reports a key that may hold a credential or a link: never shown.
func secretish(key string) bool {
	k := strings.ToLower(key)
	for _, w := range []string{"link", "url", "uri", "href", "token", "secret", "password", "key", "credential", "signature"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// maxDetails bounds the details summary.
const maxDetails = 200

// timelineDetails is a short summary of a line's details: key=value pairs
// of its JSON (nested objects with dotted keys), sorted, without the keys
// its columns show or any that looks like a link or a token; an audit
// line's message first.
func timelineDetails(e db.TimelineEntry) string {
	var parts []string
	if e.Message != "" && e.Message != "OK" {
		parts = append(parts, e.Message)
	}
	var m map[string]any
	if json.Unmarshal(e.Details, &m) == nil {
		var kv []string
		var walk func(prefix string, m map[string]any, depth int)
		walk = func(prefix string, m map[string]any, depth int) {
			for k, val := range m {
				if (prefix == "" && detailsSkip[k]) || secretish(k) {
					continue
				}
				switch x := val.(type) {
				case map[string]any:
					if prefix == "" && k == "metadata" {
						// Vagon's entry keeps its facts here: no prefix.
						walk("", x, depth+1)
					} else if depth < 2 {
						walk(prefix+k+".", x, depth+1)
					}
				case []any, nil:
				case string:
					if x != "" && !strings.Contains(x, "://") {
						kv = append(kv, prefix+k+"="+x)
					}
				default:
					b, _ := json.Marshal(x)
					kv = append(kv, prefix+k+"="+string(b))
				}
			}
		}
		walk("", m, 0)
		sort.Strings(kv)
		parts = append(parts, kv...)
	}
	out := strings.Join(parts, "; ")
	if r := []rune(out); len(r) > maxDetails {
		out = string(r[:maxDetails-1]) + "…"
	}
	return out
}
