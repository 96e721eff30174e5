package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// Scheduled power actions (issue 10): pages over fleet.Scheduler. Reading
// is for everyone; changing, deleting and run now for operators (the route
// table says so).

// maxPickerMachines bounds the machine picker's checkboxes.
const maxPickerMachines = 500

// scheduleHistory is how many runs the detail page shows.
const scheduleHistory = 20

// scheduleMayAct is the role rule of a schedule's owner at run time: the
// least role of the machine route the action is (POST
// /machines/:id/start or /stop), read from the route table.
func scheduleMayAct(role, action string) bool {
	path := "/machines/:id/start"
	if action == fleet.ScheduleStop {
		path = "/machines/:id/stop"
	}
	need, ok := routeMinRole(http.MethodPost, path)
	return ok && fleet.RoleAtLeast(role, need)
}

// ScheduleMayAct is scheduleMayAct for cmd/dashboard's wiring.
func ScheduleMayAct(role, action string) bool { return scheduleMayAct(role, action) }

func scheduleURL(id int64) string { return "/schedules/" + strconv.FormatInt(id, 10) }

func scheduleActionLabel(sc fleet.Schedule) string {
	if sc.Action == fleet.ScheduleStop {
		if sc.Gracefully {
			return "Stop gracefully"
		}
		return "Stop"
	}
	return "Start"
}

func scheduleTargets(sc fleet.Schedule) string {
	if len(sc.MachineIDs) == 0 {
		return "filter “" + sc.FilterName + "”"
	}
	if len(sc.MachineIDs) == 1 {
		return "machine #" + sc.MachineIDs[0]
	}
	return strconv.Itoa(len(sc.MachineIDs)) + " machines"
}

func scheduleDays(days []string) string {
	if len(days) == 7 {
		return "Every day"
	}
	labels := make([]string, len(days))
	for i, d := range days {
		labels[i] = fleet.DayLabel(d)
	}
	return strings.Join(labels, ", ")
}

func (s *Server) scheduleRow(sc fleet.Schedule) views.ScheduleRow {
	r := views.ScheduleRow{ID: sc.ID, URL: scheduleURL(sc.ID), Name: sc.Name, Action: scheduleActionLabel(sc),
		Targets: scheduleTargets(sc), Days: scheduleDays(sc.Days), At: fleet.FormatAt(sc.AtMinute),
		TimeZone: sc.TimeZone, Enabled: sc.Enabled}
	if next := fleet.NextRuns(sc, s.sched.Now(), 1); len(next) == 1 {
		r.Next = next[0]
	}
	return r
}

// scheduleID reads :sid; a bad one is a 404.
func scheduleID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("sid"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.ErrNotFound
	}
	return id, nil
}

// loadSchedule reads the schedule of the request; missing is a 404.
func (s *Server) loadSchedule(c echo.Context) (fleet.Schedule, error) {
	id, err := scheduleID(c)
	if err != nil {
		return fleet.Schedule{}, err
	}
	sc, err := s.store.Schedule(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return sc, echo.NewHTTPError(http.StatusNotFound, "No such schedule: it may have been deleted.")
	}
	return sc, err
}

// listSchedules is GET /schedules.
func (s *Server) listSchedules(c echo.Context) error {
	list, err := s.store.ListSchedules(c.Request().Context())
	if err != nil {
		return err
	}
	v := views.SchedulesView{CanEdit: s.allowed(c, http.MethodPost, "/schedules")}
	for _, sc := range list {
		v.Rows = append(v.Rows, s.scheduleRow(sc))
	}
	return render(c, http.StatusOK, views.SchedulesPage(s.page(c, "Schedules", views.NavSchedules), v))
}

// scheduleFormOptions fills the pickers: the fleet's machines, the user's
// saved views (plus the schedule's own filter), the zones.
func (s *Server) scheduleFormOptions(c echo.Context, f *views.ScheduleFormView, cur *fleet.Schedule) {
	ctx, cancel := withTimeout(c, 15*time.Second)
	defer cancel()
	f.TimeZones = views.CommonTimeZones
	l, err := s.fleet.ListAllMachines(ctx, vagon.ListMachinesOptions{})
	switch {
	case err != nil:
		f.MachinesNote = "The fleet could not be listed just now (" + fleet.ExplainAPIError(err) + "); machines already picked are kept."
		for _, id := range f.MachineIDs {
			f.Machines = append(f.Machines, views.Option{Value: id, Label: "#" + id})
		}
	default:
		for i, m := range l.Machines {
			if i == maxPickerMachines {
				f.MachinesNote = fmt.Sprintf("Showing the first %d machines; for more, use a saved filter.", maxPickerMachines)
				break
			}
			f.Machines = append(f.Machines, views.Option{Value: string(m.ID), Label: m.Attributes.Name + " (#" + string(m.ID) + ", " + string(m.Attributes.FriendlyStatus) + ")"})
		}
	}
	if u := currentUser(c); u != nil {
		vs, _ := s.store.SavedViews(c.Request().Context(), u.ID)
		for _, v := range vs {
			f.SavedViews = append(f.SavedViews, views.Option{Value: strconv.FormatInt(v.ID, 10), Label: v.Name})
		}
	}
	if cur != nil && cur.SavedViewID != nil {
		id := strconv.FormatInt(*cur.SavedViewID, 10)
		found := false
		for _, o := range f.SavedViews {
			found = found || o.Value == id
		}
		if !found {
			f.SavedViews = append(f.SavedViews, views.Option{Value: id, Label: cur.FilterName + " (the schedule's filter)"})
		}
	}
}

// scheduleForm maps a stored schedule to its edit form.
func scheduleForm(sc fleet.Schedule) views.ScheduleFormView {
	f := views.ScheduleFormView{ID: sc.ID, Version: sc.Version, Name: sc.Name, Action: sc.Action, Gracefully: sc.Gracefully,
		MachineIDs: sc.MachineIDs, Days: sc.Days, At: fleet.FormatAt(sc.AtMinute), TimeZone: sc.TimeZone,
		SkipDates: strings.Join(sc.SkipDates, " "), SkipActiveSessions: sc.SkipActiveSessions, Enabled: sc.Enabled}
	if sc.SavedViewID != nil {
		f.SavedViewID = strconv.FormatInt(*sc.SavedViewID, 10)
	}
	return f
}

// newScheduleForm is GET /schedules/new.
func (s *Server) newScheduleForm(c echo.Context) error {
	tz := "UTC"
	if u := currentUser(c); u != nil && u.TimeZone != "" {
		tz = u.TimeZone
	}
	f := views.ScheduleFormView{Action: fleet.ScheduleStart, Gracefully: true, TimeZone: tz, Enabled: true,
		Days: []string{"mon", "tue", "wed", "thu", "fri"}, At: "08:00", MachineIDs: c.QueryParams()["machine_id"]}
	s.scheduleFormOptions(c, &f, nil)
	return render(c, http.StatusOK, views.ScheduleNewPage(s.page(c, "New schedule", views.NavSchedules), f))
}

// readScheduleForm reads the posted form as typed.
func readScheduleForm(c echo.Context) (fleet.ScheduleInput, views.ScheduleFormView, error) {
	form, err := c.FormParams()
	if err != nil {
		return fleet.ScheduleInput{}, views.ScheduleFormView{}, echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	in := fleet.ScheduleInput{
		Name: form.Get("name"), Action: form.Get("action"), Gracefully: form.Get("gracefully") == "true",
		MachineIDs: form["machine_id"], SavedViewID: strings.TrimSpace(form.Get("saved_view_id")), Days: form["days"],
		At: form.Get("at"), TimeZone: form.Get("timezone"), SkipDates: form.Get("skip_dates"),
		SkipActiveSessions: form.Get("skip_active_sessions") == "true", Enabled: form.Get("enabled") == "true",
	}
	in.Version, _ = strconv.Atoi(form.Get("version"))
	f := views.ScheduleFormView{Version: in.Version, Name: truncate(in.Name, 200), Action: in.Action, Gracefully: in.Gracefully,
		MachineIDs: in.MachineIDs, SavedViewID: in.SavedViewID, Days: in.Days, At: truncate(in.At, 20),
		TimeZone: truncate(in.TimeZone, 64), SkipDates: truncate(in.SkipDates, 4000),
		SkipActiveSessions: in.SkipActiveSessions, Enabled: in.Enabled}
	return in, f, nil
}

// chosenView resolves saved_view_id: one of the user's views, or the
// schedule's current filter kept as it is. nil when none was chosen or it
// is not found (CheckSchedule then names the field).
func (s *Server) chosenView(c echo.Context, raw string, cur *fleet.Schedule) *db.SavedView {
	id, err := strconv.ParseInt(raw, 10, 64)
	if raw == "" || err != nil {
		return nil
	}
	if cur != nil && cur.SavedViewID != nil && *cur.SavedViewID == id {
		return &db.SavedView{ID: id, Name: cur.FilterName, Query: cur.FilterQuery}
	}
	u := currentUser(c)
	vs, err := s.store.SavedViews(c.Request().Context(), u.ID)
	if err != nil {
		return nil
	}
	for _, v := range vs {
		if v.ID == id {
			return &v
		}
	}
	return nil
}

// createSchedule is POST /schedules.
func (s *Server) createSchedule(c echo.Context) error {
	in, f, err := readScheduleForm(c)
	if err != nil {
		return err
	}
	u := currentUser(c)
	sc, errs, err := s.sched.Create(c.Request().Context(), s.actor(c), u.ID, in, s.chosenView(c, in.SavedViewID, nil))
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		f.Errors = errs
		s.scheduleFormOptions(c, &f, nil)
		return render(c, http.StatusUnprocessableEntity, views.ScheduleNewPage(s.page(c, "New schedule", views.NavSchedules), f))
	}
	s.addFlash(c, views.FlashSuccess, "Schedule “"+sc.Name+"” created.")
	return redirect(c, scheduleURL(sc.ID))
}

// scheduleDetail builds the detail page's view.
func (s *Server) scheduleDetail(c echo.Context, sc fleet.Schedule) (views.ScheduleDetailView, error) {
	ctx := c.Request().Context()
	v := views.ScheduleDetailView{Row: s.scheduleRow(sc), Owner: sc.OwnerEmail, SkipDates: strings.Join(sc.SkipDates, " "),
		SkipActive: sc.SkipActiveSessions, Version: sc.Version, CanEdit: s.allowed(c, http.MethodPost, "/schedules/:sid"),
		NextRuns: fleet.NextRuns(sc, s.sched.Now(), 5), Form: scheduleForm(sc)}
	runs, err := s.store.ScheduleRuns(ctx, sc.ID, scheduleHistory)
	if err != nil {
		return v, err
	}
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	items, err := s.store.ScheduleRunItems(ctx, ids...)
	if err != nil {
		return v, err
	}
	byRun := map[int64][]views.ScheduleRunItemView{}
	for _, it := range items {
		byRun[it.RunID] = append(byRun[it.RunID], views.ScheduleRunItemView{MachineID: it.MachineID, MachineName: it.MachineName, State: it.State, Message: it.Message})
	}
	for _, r := range runs {
		v.Runs = append(v.Runs, views.ScheduleRunView{ID: r.ID, DueAt: r.DueAt, Trigger: r.Trigger, State: r.State,
			Message: r.Message, Actor: r.ActorEmail, Items: byRun[r.ID], Finished: r.Finished()})
		v.Running = v.Running || !r.Finished()
	}
	// A run due within two minutes, or one due in the last two minutes that
	// the worker has not picked up yet: poll, so it appears without a reload.
	now := s.sched.Now()
	if sc.Enabled && len(v.NextRuns) > 0 && v.NextRuns[0].Sub(now) < 2*time.Minute {
		v.Running = true
	}
	from := now.Add(-2 * time.Minute)
	if sc.RunsFrom.After(from) {
		from = sc.RunsFrom
	}
	if recent := fleet.NextRuns(sc, from, 1); sc.Enabled && len(recent) == 1 && !recent[0].After(now) {
		seen := false
		for _, r := range runs {
			seen = seen || r.DueAt.Equal(recent[0])
		}
		v.Running = v.Running || !seen
	}
	return v, nil
}

// showSchedule is GET /schedules/{id}; ?part=runs (htmx) is the history
// alone, which polls while a run is unfinished.
func (s *Server) showSchedule(c echo.Context) error {
	sc, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	v, err := s.scheduleDetail(c, sc)
	if err != nil {
		return err
	}
	if isHTMX(c) && c.QueryParam("part") == "runs" {
		return render(c, http.StatusOK, views.ScheduleRuns(v))
	}
	if isHTMX(c) && c.QueryParam("part") == "actions" {
		return s.scheduleActionsPart(c, v)
	}
	if v.CanEdit {
		s.scheduleFormOptions(c, &v.Form, &sc)
	}
	return render(c, http.StatusOK, views.ScheduleDetailPage(s.page(c, sc.Name, views.NavSchedules), v))
}

// updateSchedule is POST /schedules/{id}: the edit form, or set_enabled
// (true/false) alone from the enable/disable button. Both carry the
// version the page showed; a stale one gets a conflict, not an overwrite.
func (s *Server) updateSchedule(c echo.Context) error {
	cur, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if se := c.FormValue("set_enabled"); se == "true" || se == "false" {
		version, _ := strconv.Atoi(c.FormValue("version"))
		_, err := s.sched.SetEnabled(ctx, s.actor(c), cur.ID, version, se == "true")
		switch {
		case errors.Is(err, fleet.ErrScheduleStale):
			s.addFlash(c, views.FlashError, "Someone changed this schedule after you opened it; nothing was changed. Check it and try again.")
		case err != nil:
			return err
		case se == "true":
			s.addFlash(c, views.FlashSuccess, "Schedule enabled: it runs from its next time on.")
		default:
			s.addFlash(c, views.FlashSuccess, "Schedule disabled.")
		}
		return redirect(c, scheduleURL(cur.ID))
	}
	in, f, err := readScheduleForm(c)
	if err != nil {
		return err
	}
	f.ID = cur.ID
	sc, errs, err := s.sched.Update(ctx, s.actor(c), cur.ID, in, s.chosenView(c, in.SavedViewID, &cur))
	if err == nil && len(errs) == 0 {
		s.addFlash(c, views.FlashSuccess, "Schedule “"+sc.Name+"” saved.")
		return redirect(c, scheduleURL(sc.ID))
	}
	status := http.StatusUnprocessableEntity
	switch {
	case errors.Is(err, fleet.ErrScheduleStale):
		status = http.StatusConflict
		f.Conflict = fleet.ErrScheduleStale.Error()
		f.Version = cur.Version // saving again applies over what is there now
	case errors.Is(err, db.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "No such schedule: it may have been deleted.")
	case err != nil:
		return err
	}
	f.Errors = errs
	v, derr := s.scheduleDetail(c, cur)
	if derr != nil {
		return derr
	}
	v.Form = f
	s.scheduleFormOptions(c, &v.Form, &cur)
	return render(c, status, views.ScheduleDetailPage(s.page(c, cur.Name, views.NavSchedules), v))
}

// deleteSchedule is POST /schedules/{id}/delete. Without a token it asks,
// in place of the page's actions: the question names the schedule, its
// action, its targets and how many runs of history go with it, and carries
// a single-use token. The token's submit deletes once: a second submit of
// it (a double click, a reload, another tab) finds the claim and says the
// schedule was already deleted (409), doing nothing else. The history goes
// with the schedule; the audit log keeps every run's record.
func (s *Server) deleteSchedule(c echo.Context) error {
	id, err := scheduleID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	token := c.FormValue("token")
	if !validConfirmToken(token) {
		sc, err := s.loadSchedule(c)
		if err != nil {
			return err
		}
		v, err := s.scheduleDetail(c, sc)
		if err != nil {
			return err
		}
		if v.RunCount, err = s.store.CountScheduleRuns(ctx, sc.ID); err != nil {
			return err
		}
		v.ConfirmDelete, v.DeleteToken = true, newConfirmToken()
		p := s.page(c, sc.Name, views.NavSchedules)
		if isHTMX(c) {
			return render(c, http.StatusOK, views.ScheduleActions(p, v))
		}
		s.scheduleFormOptions(c, &v.Form, &sc)
		return render(c, http.StatusOK, views.ScheduleDetailPage(p, v))
	}
	gone := func(status int, kind, text, name string) error {
		if !isHTMX(c) {
			s.addFlash(c, kind, text)
			return c.Redirect(http.StatusSeeOther, "/schedules")
		}
		return render(c, status, views.ScheduleDeleted(views.ScheduleDeletedView{Name: name, Text: text, Kind: kind},
			[]views.Flash{{Kind: kind, Text: text}}))
	}
	if _, err := s.claimConfirm(c, fleet.ActScheduleDelete, token); errors.Is(err, db.ErrConfirmUsed) {
		return gone(http.StatusConflict, views.FlashInfo, "This schedule was already deleted with this confirmation; nothing more was done.", "")
	} else if err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	sc, err := s.sched.Delete(ctx, s.actor(c), id)
	switch {
	case errors.Is(err, db.ErrNotFound):
		s.finishConfirm(ctx, fleet.ActScheduleDelete, token, nil)
		return gone(http.StatusConflict, views.FlashInfo, "That schedule was already deleted (by someone else); nothing more was done.", "")
	case errors.Is(err, fleet.ErrAuditUnavailable):
		s.releaseConfirm(ctx, fleet.ActScheduleDelete, token) // nothing was done
		return err
	case err != nil:
		s.finishConfirm(ctx, fleet.ActScheduleDelete, token, nil)
		return err
	}
	s.finishConfirm(ctx, fleet.ActScheduleDelete, token, []string{strconv.FormatInt(sc.ID, 10)})
	return gone(http.StatusOK, views.FlashSuccess, "Schedule “"+sc.Name+"” deleted, with its history. Machines were not touched.", sc.Name)
}

// scheduleActions is GET /schedules/{id}?part=actions (htmx): the page's
// action buttons, as "Keep it" restores them after the delete question.
func (s *Server) scheduleActionsPart(c echo.Context, v views.ScheduleDetailView) error {
	return render(c, http.StatusOK, views.ScheduleActions(s.page(c, v.Row.Name, views.NavSchedules), v))
}

// runSchedule is POST /schedules/{id}/run: claims a manual run (a double
// click finds the first). The worker executes it; the history shows it.
func (s *Server) runSchedule(c echo.Context) error {
	sc, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	_, err = s.sched.RunNow(c.Request().Context(), s.actor(c), sc.ID)
	flash := views.Flash{Kind: views.FlashSuccess, Text: "Run started: its progress shows in the history."}
	switch {
	case errors.Is(err, fleet.ErrRunInProgress):
		flash = views.Flash{Kind: views.FlashInfo, Text: "This schedule is already running; its progress shows in the history."}
	case err != nil:
		return err
	}
	if !isHTMX(c) {
		s.addFlash(c, flash.Kind, flash.Text)
		return redirect(c, scheduleURL(sc.ID))
	}
	v, err := s.scheduleDetail(c, sc)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ScheduleRunsResult(v, []views.Flash{flash}))
}

// machineSchedules lists the schedules that pick the machine, and those
// that target a saved filter (not evaluated here: that would list the
// fleet once per filter on every page view).
func (s *Server) machineSchedules(ctx context.Context, machineID string) []views.MachineScheduleRow {
	list, err := s.store.SchedulesForMachine(ctx, machineID)
	if err != nil {
		s.log.Warn("machine schedules", "err", err.Error())
		return nil
	}
	var rows []views.MachineScheduleRow
	for _, sc := range list {
		r := views.MachineScheduleRow{URL: scheduleURL(sc.ID), Name: sc.Name, Enabled: sc.Enabled,
			Summary: scheduleActionLabel(sc) + " · " + scheduleDays(sc.Days) + " " + fleet.FormatAt(sc.AtMinute) + " " + sc.TimeZone}
		if len(sc.MachineIDs) == 0 {
			r.ByFilter = sc.FilterName
		}
		rows = append(rows, r)
	}
	return rows
}
