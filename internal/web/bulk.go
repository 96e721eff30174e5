package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// bulkEngine returns the bulk engine the server was built with (nil when
// none was wired).
func (s *Server) bulkEngine() *fleet.Bulk { return s.bulkSvc }

// maxBulkFormIDs bounds how many machine_id values a form may carry before
// any work is done on them.
const maxBulkFormIDs = 2 * fleet.MaxBulkMachines

// bulkForm is a parsed POST /bulk.
type bulkForm struct {
	action      string
	ids         []string
	allMatching bool
	confirmed   bool
	params      fleet.BulkParams
	filter      vagon.ListMachinesOptions
	query       views.MachineQuery
	// hidden are the action's fields in canonical form, for the confirm form.
	hidden  []views.HiddenField
	summary []string
}

// parseBulkForm reads and checks POST /bulk. The error's text is for the user.
//
// Fields: action (start|stop|permissions|auto_stop); machine_id, repeated;
// all_matching=true with the fleet filter fields (q, status, assigned,
// time_left, has_session_data); confirmed=true on the second step. Action
// fields: gracefully (true/false, default true); for permissions each of the
// seven API keys as "true"/"false" ("" or absent: leave as is), or the
// checkbox style perm_set_<key>=on with <key>=true/absent; auto_stop_threshold.
func parseBulkForm(form url.Values) (bulkForm, error) {
	f := bulkForm{
		action:      form.Get("action"),
		allMatching: isTrue(form.Get("all_matching")),
		confirmed:   form.Get("confirmed") == "true",
	}
	if !slices.Contains(fleet.BulkActions, f.action) {
		return f, fleet.ErrBulkAction
	}
	if len(form["machine_id"]) > maxBulkFormIDs {
		return f, fleet.ErrBulkTooMany
	}
	f.ids = form["machine_id"]
	var errs map[string]string
	f.filter, f.query, errs = parseMachineQuery(form)
	if f.allMatching && len(errs) > 0 {
		return f, errors.New("the filter is not valid; go back to the list and filter again")
	}
	switch f.action {
	case fleet.BulkStop:
		g := true
		switch v := form.Get("gracefully"); v {
		case "", "true", "on":
		case "false":
			g = false
		default:
			return f, errors.New("gracefully must be true or false")
		}
		f.params.Gracefully = &g
		f.hidden = append(f.hidden, views.HiddenField{Name: "gracefully", Value: strconv.FormatBool(g)})
		if g {
			f.summary = append(f.summary, "Stop gracefully: each machine saves its files, logs and recordings first.")
		} else {
			f.summary = append(f.summary, "Stop immediately: unsaved work on the machines may be lost.")
		}
	case fleet.BulkPermissions:
		f.params.Permissions = map[string]bool{}
		for _, pc := range fleet.Permissions {
			k := pc.Key
			v := form.Get(k)
			var on bool
			switch {
			case form.Has("perm_set_" + k):
				on = isTrue(v)
			case v == "true":
				on = true
			case v == "false":
				on = false
			case v == "":
				continue
			default:
				return f, errors.New(pc.Label + ": choose on, off or leave as is")
			}
			f.params.Permissions[k] = on
			f.hidden = append(f.hidden, views.HiddenField{Name: k, Value: strconv.FormatBool(on)})
			f.summary = append(f.summary, pc.Label+": turn "+onOffText(on)+".")
		}
		if len(f.params.Permissions) == 0 {
			return f, errors.New("choose at least one permission to change")
		}
	case fleet.BulkAutoStop:
		n, err := strconv.Atoi(form.Get("auto_stop_threshold"))
		if err != nil || !slices.Contains(vagon.AutoStopThresholds, n) {
			return f, errors.New("choose an auto-stop value: off, 15 min, 1 h, 3 h or 6 h")
		}
		f.params.AutoStopThreshold = &n
		f.hidden = append(f.hidden, views.HiddenField{Name: "auto_stop_threshold", Value: strconv.Itoa(n)})
		f.summary = append(f.summary, "Auto-stop after idle: "+fleet.AutoStopLabel(n)+".")
	case fleet.BulkStart:
		f.summary = append(f.summary, "Start each machine that is off. Starting uses the machines' remaining usage.")
	}
	return f, nil
}

func isTrue(v string) bool { return v == "true" || v == "on" }

func onOffText(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// submitBulk is POST /bulk: the first step resolves the selection (or the
// whole filter) to machines and shows them for confirmation; the second
// (confirmed=true, explicit machine_id list) stores the operation and
// redirects to its progress page.
func (s *Server) submitBulk(c echo.Context) error {
	b := s.bulkEngine()
	if b == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Bulk actions are not available on this server.")
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	f, err := parseBulkForm(form)
	v := views.BulkConfirmView{Action: f.action, ActionLabel: fleet.BulkActionLabel(f.action), Summary: f.summary, Hidden: f.hidden, AllMatching: f.allMatching, BackURL: f.query.URL()}
	if err != nil {
		v.Error = bulkSentence(err.Error())
		return s.renderBulkConfirm(c, http.StatusUnprocessableEntity, v)
	}
	ctx, cancel := withTimeout(c, 2*apiTimeout)
	defer cancel()
	if f.confirmed {
		ids, err := fleet.CleanMachineIDs(f.ids)
		if err != nil {
			v.Error = bulkSentence(err.Error())
			return s.renderBulkConfirm(c, http.StatusUnprocessableEntity, v)
		}
		if token := form.Get("token"); validConfirmToken(token) {
			return s.confirmedBulk(ctx, c, v, f, ids, token)
		}
		// No confirmation token (an old page, a hand-made post): show
		// these machines for confirmation again.
		f.allMatching, v.AllMatching = false, false
	}
	v.Token = newConfirmToken()

	var machines []vagon.Machine
	var missing []string
	if f.allMatching {
		machines, _, err = b.Resolve(ctx, f.filter, nil)
	} else {
		ids, cerr := fleet.CleanMachineIDs(f.ids)
		if cerr != nil {
			v.Error = bulkSentence(cerr.Error())
			return s.renderBulkConfirm(c, http.StatusUnprocessableEntity, v)
		}
		machines, missing, err = b.Resolve(ctx, vagon.ListMachinesOptions{}, ids)
	}
	switch {
	case err == nil:
	case errors.Is(err, fleet.ErrBulkTooMany):
		v.Error = bulkSentence(err.Error())
		return s.renderBulkConfirm(c, http.StatusUnprocessableEntity, v)
	default:
		// The API's answer, or no answer: the list could not be read.
		v.Error = fleet.ExplainAPIError(err)
		return s.renderBulkConfirm(c, http.StatusBadGateway, v)
	}
	v.Missing = missing
	var inUse map[vagon.ID]fleet.InUse
	if f.action == fleet.BulkStop {
		inUse, v.InUseSkipped = s.bulkInUse(ctx, c, machines)
		v.InUseMax = fleet.MaxInUseChecks
	}
	for _, m := range machines {
		a := m.Attributes
		t := views.BulkTargetRow{ID: string(m.ID), Name: a.Name, Status: string(a.FriendlyStatus), Skip: fleet.SkipReason(f.action, f.params, m)}
		if a.User != nil {
			t.User = a.User.Attributes.Email
		}
		if u, ok := inUse[m.ID]; ok {
			t.InUse, t.InUseSince, t.InUseUnknown = u.Yes(), u.Since, u.Unchecked
		}
		v.Targets = append(v.Targets, t)
	}
	if len(v.Targets) == 0 {
		v.Error = "No machine to act on: none matches the filter, or the selected ones no longer exist."
		return s.renderBulkConfirm(c, http.StatusUnprocessableEntity, v)
	}
	return s.renderBulkConfirm(c, http.StatusOK, v)
}

// confirmedBulk stores the operation of a confirmation claimed just now
// (single use, in Postgres): a second submit of the same confirmation goes
// to the operation the first one started and stores nothing.
func (s *Server) confirmedBulk(ctx context.Context, c echo.Context, v views.BulkConfirmView, f bulkForm, ids []string, token string) error {
	prev, err := s.claimConfirm(c, fleet.ActBulk, token)
	if errors.Is(err, db.ErrConfirmUsed) {
		if len(prev.Refs) == 1 {
			s.addFlash(c, views.FlashInfo, "This confirmation was already used, so nothing new was started. This is the operation it started.")
			return redirect(c, "/bulk/"+prev.Refs[0])
		}
		v.Error = "This confirmation was already used, so nothing new was started; see the audit log for the operation it started."
		return s.renderBulkConfirm(c, http.StatusConflict, v)
	}
	if err != nil {
		return err
	}
	b := s.bulkEngine()
	id, err := b.Submit(ctx, s.actor(c), f.action, ids, f.params)
	var refs []string
	if err == nil {
		refs = []string{strconv.FormatInt(id, 10)}
	}
	if errors.Is(err, fleet.ErrAuditUnavailable) {
		s.releaseConfirm(ctx, fleet.ActBulk, token) // nothing will run
		return err
	}
	s.finishConfirm(ctx, fleet.ActBulk, token, refs)
	if err != nil {
		v.Error = bulkSentence(err.Error())
		return s.renderBulkConfirm(c, http.StatusUnprocessableEntity, v)
	}
	s.addFlash(c, views.FlashSuccess, fleet.BulkActionLabel(f.action)+" of "+views.Plural(len(ids), "machine", "machines")+" started. It runs on the server; you can leave this page.")
	return redirect(c, "/bulk/"+refs[0])
}

// bulkInUse says which of the machines a bulk stop would stop someone is
// connected to (the single-machine stop's predicate, fleet.MachineInUse),
// reading the sessions of at most fleet.MaxInUseChecks ready machines,
// fleet.InUseCheckWorkers at a time; it returns how many were left unread.
func (s *Server) bulkInUse(ctx context.Context, c echo.Context, machines []vagon.Machine) (map[vagon.ID]fleet.InUse, int) {
	res, skipped, err := fleet.CheckInUse(ctx, s.api, machines, fleet.MaxInUseChecks, fleet.InUseCheckWorkers)
	if err != nil {
		s.log.Warn("vagon api", "err", err.Error(), "request_id", requestID(c), "route", c.Path())
	}
	return res, skipped
}

func (s *Server) renderBulkConfirm(c echo.Context, status int, v views.BulkConfirmView) error {
	p := s.page(c, "Confirm bulk action", views.NavMachines)
	if isHTMX(c) {
		return render(c, status, views.BulkConfirmContent(p, v))
	}
	return render(c, status, views.BulkConfirmPage(p, v))
}

// bulkSentence capitalizes an error text and ends it with a period.
func bulkSentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// showBulk is GET /bulk/:op_id: the operation's progress; the fragment
// alone for htmx polling.
func (s *Server) showBulk(c echo.Context) error {
	b := s.bulkEngine()
	if b == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Bulk actions are not available on this server.")
	}
	id, err := strconv.ParseInt(c.Param("op_id"), 10, 64)
	if err != nil || id < 1 {
		return echo.ErrNotFound
	}
	st, err := b.Get(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	v := bulkOpView(st)
	v.CanCancel = fleet.MayCancelBulk(&st.Op, s.actor(c), isAdminUser(c))
	v.CSRFToken = csrfToken(c)
	if isHTMX(c) {
		return render(c, http.StatusOK, views.BulkProgress(v))
	}
	p := s.page(c, "Bulk "+fleet.BulkActionLabel(v.Action)+" #"+strconv.FormatInt(id, 10), views.NavMachines)
	return render(c, http.StatusOK, views.BulkOpPage(p, v))
}

// cancelBulk is POST /bulk/:op_id/cancel: the operation's pending machines
// are skipped and it closes once the calls in flight end. Its owner or an
// admin may; the answer is the progress page with a flash.
func (s *Server) cancelBulk(c echo.Context) error {
	b := s.bulkEngine()
	if b == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Bulk actions are not available on this server.")
	}
	id, err := strconv.ParseInt(c.Param("op_id"), 10, 64)
	if err != nil || id < 1 {
		return echo.ErrNotFound
	}
	err = b.Cancel(c.Request().Context(), s.actor(c), id, isAdminUser(c))
	switch {
	case errors.Is(err, db.ErrNotFound):
		return echo.ErrNotFound
	case errors.Is(err, fleet.ErrBulkCancelDenied):
		return echo.NewHTTPError(http.StatusForbidden, bulkSentence(err.Error()))
	case errors.Is(err, fleet.ErrBulkFinished):
		s.addFlash(c, views.FlashInfo, bulkSentence(err.Error()))
	case err != nil:
		return err
	default:
		s.addFlash(c, views.FlashSuccess, "Cancelled: machines not begun yet are skipped; calls already sent finish.")
	}
	return redirect(c, "/bulk/"+strconv.FormatInt(id, 10))
}

// isAdminUser reports whether the signed-in user is an admin: admins read
// everyone's audit entries, bulk operations and sync details; the others
// their own (or less).
func isAdminUser(c echo.Context) bool {
	u := currentUser(c)
	return u != nil && fleet.RoleAtLeast(u.Role, fleet.RoleAdmin)
}

func bulkOpView(st *fleet.BulkStatus) views.BulkOpView {
	op, n := st.Op, st.Counts
	v := views.BulkOpView{
		ID: op.ID, Action: op.Action, ActionLabel: fleet.BulkActionLabel(op.Action), Status: op.Status, ActorEmail: op.ActorEmail,
		CreatedAt: op.CreatedAt, StartedAt: op.StartedAt, FinishedAt: op.FinishedAt,
		Total: n.Total, Done: n.Done, Skipped: n.Skipped, Failed: n.Failed + n.Interrupted,
		Pending: n.Pending, Running: n.Running,
	}
	if op.CancelledBy != nil {
		v.CancelledBy = *op.CancelledBy
	}
	p := st.Params
	switch op.Action {
	case fleet.BulkStop:
		if p.Gracefully == nil || *p.Gracefully {
			v.Summary = append(v.Summary, "gracefully")
		} else {
			v.Summary = append(v.Summary, "immediately")
		}
	case fleet.BulkPermissions:
		for _, pc := range fleet.Permissions {
			if on, ok := p.Permissions[pc.Key]; ok {
				v.Summary = append(v.Summary, pc.Label+" "+onOffText(on))
			}
		}
	case fleet.BulkAutoStop:
		if p.AutoStopThreshold != nil {
			v.Summary = append(v.Summary, "auto-stop "+fleet.AutoStopLabel(*p.AutoStopThreshold))
		}
	}
	for _, it := range st.Items {
		v.Items = append(v.Items, views.BulkItemRow{MachineID: it.MachineID, MachineName: it.MachineName,
			State: it.State, Message: it.Message, ClientCode: it.ClientCode})
	}
	return v
}
