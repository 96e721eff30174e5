package web

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/csvsafe"
	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

var auditOutcomes = []string{db.OutcomeStarted, db.OutcomeSucceeded, db.OutcomeFailed, db.OutcomeDenied, db.OutcomeUnknown}

// auditActions are the action filter's choices, in words, sorted by label.
func auditActions() []views.Option {
	var out []views.Option
	for k := range fleet.Specs {
		out = append(out, views.Option{Value: k, Label: fleet.ActionLabel(k)})
	}
	slices.SortFunc(out, func(a, b views.Option) int { return strings.Compare(a.Label, b.Label) })
	return out
}

// auditFilter parses the audit filters from the query string. A non-admin
// is always limited to their own entries, whatever actor they ask for.
func (s *Server) auditFilter(c echo.Context) (db.AuditFilter, views.AuditFilterView) {
	q := c.QueryParams()
	fv := views.AuditFilterView{
		Actor: truncate(strings.TrimSpace(q.Get("actor")), 320), Action: truncate(q.Get("action"), 100),
		MachineID: truncate(strings.TrimSpace(q.Get("machine_id")), 100), Outcome: q.Get("outcome"),
		Machine: truncate(strings.TrimSpace(q.Get("machine")), 200),
		From:    truncate(q.Get("from"), 10), To: truncate(q.Get("to"), 10), Errors: map[string]string{},
	}
	f := db.AuditFilter{Actor: fv.Actor, MachineID: fv.MachineID, Machine: fv.Machine}
	if fv.Action != "" {
		if _, ok := fleet.Specs[fv.Action]; ok {
			f.Action = fv.Action
		} else {
			fv.Errors["action"] = "Unknown action."
		}
	}
	if fv.Outcome != "" {
		if slices.Contains(auditOutcomes, fv.Outcome) {
			f.Outcome = fv.Outcome
		} else {
			fv.Errors["outcome"] = "Choose started, succeeded, failed, denied or unknown."
		}
	}
	f.From, f.To = dateRange(fv.From, fv.To, fv.Errors)
	if b := q.Get("before"); b != "" {
		if n, err := strconv.ParseInt(b, 10, 64); err == nil && n > 0 {
			f.BeforeID = n
		}
	}
	if u := currentUser(c); u != nil && !isAdminUser(c) {
		f.ActorEmail, f.Actor = u.Email, ""
		fv.Actor = u.Email
	}
	return f, fv
}

func auditQuery(fv views.AuditFilterView) url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"actor": fv.Actor, "action": fv.Action, "machine_id": fv.MachineID, "machine": fv.Machine, "outcome": fv.Outcome, "from": fv.From, "to": fv.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

func (s *Server) showAudit(c echo.Context) error {
	f, fv := s.auditFilter(c)
	own := !isAdminUser(c)
	v := views.AuditView{Filter: fv, Actions: auditActions(), Outcomes: auditOutcomes, OwnOnly: own}
	q := auditQuery(fv)
	v.CSVURL = "/audit.csv?" + q.Encode()
	noID := auditQuery(fv)
	noID.Del("machine_id")
	v.ClearMachineIDURL = withQuery("/audit", noID)
	status := http.StatusOK
	if len(fv.Errors) == 0 {
		f.Limit = 50
		actions, next, err := s.store.ListAuditActions(c.Request().Context(), f)
		if err != nil {
			return fmt.Errorf("%w: %v", errDBUnavailable, err)
		}
		names, err := s.store.MachineNames(c.Request().Context(), auditMachineIDs(actions))
		if err != nil {
			return fmt.Errorf("%w: %v", errDBUnavailable, err)
		}
		for _, a := range actions {
			v.Rows = append(v.Rows, auditActionRow(a, names))
		}
		if next > 0 {
			nq := auditQuery(fv)
			nq.Set("before", strconv.FormatInt(next, 10))
			v.NextURL = "/audit?" + nq.Encode()
		}
	} else {
		status = http.StatusUnprocessableEntity
		v.CSVURL = ""
	}
	p := s.page(c, "Audit log", views.NavAudit)
	if isHTMX(c) {
		// The address bar follows the filters, without the empty ones.
		c.Response().Header().Set("HX-Push-Url", withQuery("/audit", auditQuery(fv)))
		return render(c, status, views.AuditResults(p, v))
	}
	return render(c, status, views.AuditPage(p, v))
}

func auditMachineIDs(actions []db.AuditAction) []string {
	var ids []string
	for _, a := range actions {
		if a.MachineID != "" && !slices.Contains(ids, a.MachineID) {
			ids = append(ids, a.MachineID)
		}
	}
	return ids
}

// auditActionRow is one line of the audit page: the action's outcome row
// with its started row, the machine's name (from the sessions sync, else
// the name the row recorded) and the note an access link was issued with.
func auditActionRow(a db.AuditAction, names map[string]string) views.AuditRow {
	r := auditRow(a.AuditEvent)
	if a.Started != nil {
		st := auditRow(*a.Started)
		r.Started = &st
	}
	var p struct {
		MachineName string `json:"machine_name"`
		Note        string `json:"note"`
	}
	_ = json.Unmarshal(a.Params, &p)
	if p.Note == "" && a.Started != nil {
		_ = json.Unmarshal(a.Started.Params, &p)
	}
	r.MachineName = names[a.MachineID]
	if r.MachineName == "" {
		r.MachineName = p.MachineName
	}
	r.Note = p.Note
	return r
}

func auditRow(e db.AuditEvent) views.AuditRow {
	params := string(e.Params)
	var pretty any
	if json.Unmarshal(e.Params, &pretty) == nil {
		if b, err := json.MarshalIndent(pretty, "", "  "); err == nil {
			params = string(b)
		}
	}
	r := views.AuditRow{ID: e.ID, At: e.At, ActorEmail: e.ActorEmail, ActorRole: e.ActorRole, Action: e.Action,
		ActionLabel: fleet.ActionLabel(e.Action),
		MachineID:   e.MachineID, Outcome: e.Outcome, ErrorCode: e.ErrorCode, Message: e.Message, Params: params, RequestID: e.RequestID}
	if e.Outcome == db.OutcomeUnknown {
		r.OutcomeHint = fleet.UnknownOutcomeHint
	}
	return r
}

// exportAudit streams exactly the filtered rows as CSV, row by row.
func (s *Server) exportAudit(c echo.Context) error {
	f, fv := s.auditFilter(c)
	if len(fv.Errors) > 0 {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "The filter is not valid; fix it on the audit page first.")
	}
	f.BeforeID = 0
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%s.csv"`, s.now().UTC().Format("20060102-150405")))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"id", "at", "actor_email", "actor_role", "action", "machine_id", "outcome", "error_code", "message", "params"})
	n := 0
	err := s.store.StreamAudit(c.Request().Context(), f, func(e db.AuditEvent) error {
		code := ""
		if e.ErrorCode != nil {
			code = strconv.Itoa(*e.ErrorCode)
		}
		rec := []string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), e.ActorEmail, e.ActorRole, e.Action, e.MachineID, e.Outcome, code, e.Message, string(e.Params)}
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
		// Headers are gone: the truncated file ends with a marker line.
		s.log.Error("audit csv", "err", err.Error(), "request_id", requestID(c))
		_, _ = c.Response().Write([]byte("# export interrupted: the file is incomplete\n"))
	}
	return nil
}

// csvSafe defuses spreadsheet formulas in a cell: every CSV export of the
// web layer passes its cells through it (csvsafe.Cell, the one rule).
func csvSafe(v string) string { return csvsafe.Cell(v) }

// dateRange reads a filter's from and to dates (YYYY-MM-DD, UTC days; to is
// inclusive, so the returned end is the day after it), putting any problem
// next to its field in errs. Zero times mean no bound.
func dateRange(fromText, toText string, errs map[string]string) (from, to time.Time) {
	if fromText != "" {
		t, err := time.ParseInLocation(time.DateOnly, fromText, time.UTC)
		if err != nil {
			errs["from"] = "Use a date like 2026-01-31."
		}
		from = t
	}
	if toText != "" {
		t, err := time.ParseInLocation(time.DateOnly, toText, time.UTC)
		if err != nil {
			errs["to"] = "Use a date like 2026-01-31."
		} else {
			to = t.AddDate(0, 0, 1) // inclusive end date
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		errs["to"] = "The end date is before the start date."
	}
	return from, to
}
