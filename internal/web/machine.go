package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// Machine page limits.
const (
	maxNameHint      = 200
	tasksPerPage     = 10
	sessionsOnPage   = 10
	chartDays        = 30
	maxTasksPageParm = 10_000
)

// nameHint is the machine name the request came with (?n=), used as the q
// filter to find the machine in one call.
func nameHint(c echo.Context) string {
	n := strings.TrimSpace(c.QueryParam("n"))
	if len(n) > maxNameHint {
		return ""
	}
	return n
}

var errNoSuchMachine = echo.NewHTTPError(http.StatusNotFound, "There is no machine with this id in the fleet. It may have been removed; go back to the list.")

// loadMachine finds the machine of the :id parameter: 404 for an id that
// can't be one or that the fleet does not have.
func (s *Server) loadMachine(c echo.Context) (*vagon.Machine, error) {
	id := c.Param("id")
	if !fleet.ValidMachineID(id) {
		return nil, errNoSuchMachine
	}
	ctx, cancel := withTimeout(c, apiTimeout)
	defer cancel()
	m, err := s.fleet.GetMachine(ctx, id, nameHint(c))
	if errors.Is(err, fleet.ErrMachineNotFound) {
		return nil, errNoSuchMachine
	}
	if err != nil {
		return nil, &apiFailure{err}
	}
	return m, nil
}

// apiFailure is an API error while loading a page; handlers render it with
// its explanation (apiErrorPage).
type apiFailure struct{ err error }

func (e *apiFailure) Error() string { return e.err.Error() }
func (e *apiFailure) Unwrap() error { return e.err }

// pageError answers a load error: an API failure as a 502 page (or
// fragment) that explains it, anything else to the error handler.
func (s *Server) pageError(c echo.Context, err error) error {
	var af *apiFailure
	if !errors.As(err, &af) {
		return err
	}
	s.log.Warn("vagon api", "err", af.err.Error(), "request_id", requestID(c), "route", c.Path())
	ev := views.NewErrorView(http.StatusBadGateway, requestID(c))
	ev.Title = "Vagon did not answer as expected"
	ev.Message = fleet.ExplainAPIError(af.err) + " Reload the page to try again."
	if isHTMX(c) {
		return render(c, http.StatusBadGateway, views.ErrorFragment(ev))
	}
	return render(c, http.StatusBadGateway, views.ErrorPage(s.page(c, ev.Title, views.NavMachines), ev))
}

// machineView maps an API machine to the page's view model; its
// permissions are the fields the API lists (fleet.PermissionFields).
func machineView(m *vagon.Machine, fields []fleet.Permission) views.MachineView {
	a := m.Attributes
	v := views.MachineView{
		ID: string(m.ID), Name: a.Name, Status: string(a.FriendlyStatus), Region: a.Region,
		MachineType: a.MachineType, RemainingMinutes: a.RemainingUsage, DepositedMinutes: a.DepositedUsage,
		DiskGB: a.DiskSize, FileStorageGB: a.FileStorageSize, NetworkCreditBytes: a.NetworkCredit,
		ImageID: a.AssignedImageID, AutoStopSeconds: a.AutoStopThreshold, AutoStop: fleet.AutoStopLabel(a.AutoStopThreshold), UsageSource: a.UsageSource,
		LastSessionAt: a.LastSessionStartAt,
	}
	if a.User != nil {
		v.UserName, v.UserEmail = a.User.Attributes.Name, a.User.Attributes.Email
	}
	if a.AssignedImageName != nil {
		v.ImageName = *a.AssignedImageName
	}
	if a.LatestImageStatus != nil {
		v.ImageStatus = *a.LatestImageStatus
	}
	if a.Task != nil {
		v.Task = &views.ActiveTaskView{ID: string(a.Task.ID), UID: a.Task.UID, CreatedAt: a.Task.CreatedAt}
	}
	v.Permissions = permissionViews(a.Permissions, fields)
	return v
}

// permissionViews are the permission toggles: one per field, at the
// machine's value for a key the dashboard knows, else disabled at the
// field's default (vagon.Permissions carries only the seven known keys).
func permissionViews(p vagon.Permissions, fields []fleet.Permission) []views.PermissionView {
	cur := p.AsMap()
	out := make([]views.PermissionView, 0, len(fields))
	for _, f := range fields {
		pv := views.PermissionView{Key: f.Key, Label: f.Label, Help: f.Help, On: f.Default, ReadOnly: !f.Known()}
		if on, ok := cur[f.Key]; ok && f.Known() {
			pv.On = on
		}
		out = append(out, pv)
	}
	return out
}

// parts says which sections of the machine page to load from the API.
type parts struct {
	sessions    bool
	allSessions bool
	tasks       bool
	tasksPage   int
	types       bool
}

var allParts = parts{sessions: true, tasks: true, types: true, tasksPage: 1}

// partsFor is what an action's htmx answer needs for its section.
func partsFor(section string) parts {
	switch section {
	case "tasks":
		return parts{tasks: true, tasksPage: 1}
	case "performance":
		return parts{types: true}
	}
	return parts{}
}

// machinePage builds the page's view: the machine and, concurrently, the
// sections asked for. A section that fails to load says so in its place.
func (s *Server) machinePage(c echo.Context, m *vagon.Machine, pt parts) views.MachinePageView {
	ctx, cancel := withTimeout(c, apiTimeout)
	defer cancel()
	v := views.MachinePageView{Machine: machineView(m, s.fleet.PermissionFields(ctx)), NameHint: m.Attributes.Name, AutoStopOptions: autoStopOptions()}
	s.machineCan(c, &v)
	id := string(m.ID)
	var wg sync.WaitGroup
	if v.CanAccess {
		role := s.actor(c).Role
		wg.Go(func() {
			if n, err := s.fleet.ActiveAccessLinks(ctx, id); err == nil {
				v.ActiveLinks = &n
			} else {
				s.log.Warn("machine page: active access links", "err", err)
			}
			if caps, err := s.fleet.AccessLinkCaps(ctx); err == nil {
				v.AccessCap = caps[role]
			}
		})
	}
	if pt.sessions {
		wg.Go(func() {
			list, err := s.api.ListSessions(ctx, id)
			if err != nil {
				v.Sessions.Error = "Sessions could not be loaded. " + fleet.ExplainAPIError(err)
				return
			}
			limit := sessionsOnPage
			if pt.allSessions {
				limit = len(list)
			}
			v.Sessions = sessionsView(list, s.now(), limit)
		})
	}
	if pt.tasks {
		wg.Go(func() {
			page := max(pt.tasksPage, 1)
			l, err := s.api.ListTasks(ctx, id, &vagon.ListTasksOptions{Page: page, PerPage: tasksPerPage})
			if err != nil {
				v.Tasks.Error = "Tasks could not be loaded. " + fleet.ExplainAPIError(err)
				return
			}
			v.Tasks = tasksView(l, id, m.Attributes.Name, page)
		})
	}
	if pt.types {
		wg.Go(func() {
			types, err := s.api.ListMachineTypes(ctx, id)
			if err != nil {
				v.Performance.Error = "Machine types could not be loaded. " + fleet.ExplainAPIError(err)
				return
			}
			for _, t := range types {
				a := t.Attributes
				name := a.FriendlyName
				if name == "" {
					name = a.Name
				}
				cur := m.Attributes.MachineType != "" && (a.FriendlyName == m.Attributes.MachineType || a.Name == m.Attributes.MachineType)
				v.Performance.Types = append(v.Performance.Types, views.MachineTypeView{
					ID: string(t.ID), Name: name, CPU: a.CPU, MemoryGB: a.Memory, GPU: a.GPU, GPUMemory: a.GPUMemory, Current: cur,
				})
			}
		})
	}
	wg.Wait()
	return v
}

// sessionsView lists sessions newest first with totals and a 30-day chart.
func sessionsView(list []vagon.Session, now time.Time, limit int) views.SessionsView {
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b vagon.Session) int { return b.Attributes.StartAt.Compare(a.Attributes.StartAt) })
	v := views.SessionsView{Total: len(list)}
	today := now.UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(chartDays - 1))
	v.Chart = make([]views.DayUsage, chartDays)
	for i := range v.Chart {
		v.Chart[i].Day = first.AddDate(0, 0, i)
	}
	for i, ss := range list {
		a := ss.Attributes
		v.TotalMinutes += a.Duration
		if d := a.StartAt.UTC().Truncate(24 * time.Hour); !d.Before(first) && !d.After(today) {
			v.Chart[int(d.Sub(first)/(24*time.Hour))].Minutes += a.Duration
		}
		if i < limit {
			v.Rows = append(v.Rows, views.SessionRow{ID: string(ss.ID), StartAt: a.StartAt, EndAt: a.EndAt, Duration: a.Duration})
		}
	}
	v.Shown = len(v.Rows)
	return v
}

// tasksView maps one page of tasks, with paging links.
func tasksView(l *vagon.TaskList, id, name string, page int) views.TasksView {
	v := views.TasksView{Count: l.Count, Page: page}
	for _, t := range l.Tasks {
		a := t.Attributes
		v.Rows = append(v.Rows, views.TaskRow{
			ID: string(t.ID), UID: a.UID, Status: a.Status, SourcePath: a.SourcePath,
			SnapshotDestination: a.SnapshotDestination, FolderSize: a.FolderSize, CreatedAt: a.CreatedAt,
			Outputs: a.UID == vagon.OutputsTaskUID,
		})
	}
	pageURL := func(n int) string {
		q := url.Values{}
		q.Set("page", strconv.Itoa(n))
		if name != "" && len(name) <= maxNameHint {
			q.Set("n", name)
		}
		return "/machines/" + url.PathEscape(id) + "/tasks?" + q.Encode()
	}
	if page > 1 {
		v.PrevURL = pageURL(page - 1)
	}
	if l.NextPage != nil && *l.NextPage > page {
		v.NextURL = pageURL(*l.NextPage)
	}
	return v
}

// showMachine is GET /machines/{id}; for htmx, part=overview (the poll of a
// transitional machine) answers its state alone, plus the state-dependent
// controls out of band once it settles, and part=card the overview card.
func (s *Server) showMachine(c echo.Context) error {
	m, err := s.loadMachine(c)
	part := ""
	if isHTMX(c) {
		part = c.QueryParam("part")
	}
	if err != nil {
		if part == "overview" && errors.Is(err, errNoSuchMachine) {
			c.Response().Header().Set("HX-Refresh", "true")
			return c.NoContent(http.StatusOK)
		}
		return s.pageError(c, err)
	}
	p := s.page(c, m.Attributes.Name, views.NavMachines)
	switch part {
	case "overview":
		return s.pollMachineState(c, p, m)
	case "card":
		return render(c, http.StatusOK, views.MachineOverview(p, s.machinePage(c, m, parts{}), false))
	}
	pt := allParts
	if n, err := strconv.Atoi(c.QueryParam("tasks_page")); err == nil && n > 0 && n < maxTasksPageParm {
		pt.tasksPage = n
	}
	v := s.machinePage(c, m, pt)
	v.Schedules = s.machineSchedules(c.Request().Context(), string(m.ID))
	if sec := c.QueryParam("done"); machineSections[sec] && len(p.Flashes) > 0 {
		// Back from a plain POST: its outcome goes where the reader acted.
		f := p.Flashes[len(p.Flashes)-1]
		p.Flashes = p.Flashes[:len(p.Flashes)-1]
		v.Outcome = &views.SectionOutcome{Section: sec, Kind: f.Kind, Text: f.Text}
	}
	return render(c, http.StatusOK, views.MachinePage(p, v))
}

// machineSections are the sections an action's outcome is shown in.
var machineSections = map[string]bool{
	"overview": true, "access": true, "permissions": true, "settings": true,
	"performance": true, "tasks": true, "reset": true,
}

// pollMachineState answers one poll of a transitional machine. The page is
// never reloaded: only the state is swapped, and once the machine has
// settled, the actions and the sections whose controls depend on its state
// come along out of band (app.js keeps a section the reader is working in).
func (s *Server) pollMachineState(c echo.Context, p views.Page, m *vagon.Machine) error {
	poll, _ := strconv.Atoi(c.QueryParam("poll"))
	pt := parts{}
	from, st := c.QueryParam("from"), m.Attributes.FriendlyStatus
	settled := from != "" && from != string(st) && !st.Transitional()
	if settled {
		pt = parts{tasks: true, tasksPage: 1, types: true}
	}
	v := s.machinePage(c, m, pt)
	v.Poll = min(max(poll, 0), 1000)
	v.Settled = settled
	return render(c, http.StatusOK, views.MachineStatePoll(p, v))
}

// showMachineSessions is GET /machines/{id}/sessions: every session, as a
// page or (htmx) the sessions section.
func (s *Server) showMachineSessions(c echo.Context) error {
	m, err := s.loadMachine(c)
	if err != nil {
		return s.pageError(c, err)
	}
	v := s.machinePage(c, m, parts{sessions: true, allSessions: true})
	p := s.page(c, "Sessions · "+m.Attributes.Name, views.NavMachines)
	if isHTMX(c) {
		return render(c, http.StatusOK, views.SessionsSection(p, v, true))
	}
	return render(c, http.StatusOK, views.MachineSessionsPage(p, v))
}

// showMachineTasks is GET /machines/{id}/tasks?page=N: the tasks section
// (htmx) or the machine page at that tasks page.
func (s *Server) showMachineTasks(c echo.Context) error {
	m, err := s.loadMachine(c)
	if err != nil {
		return s.pageError(c, err)
	}
	page := 1
	if n, err := strconv.Atoi(c.QueryParam("page")); err == nil && n > 0 && n < maxTasksPageParm {
		page = n
	}
	p := s.page(c, m.Attributes.Name, views.NavMachines)
	if isHTMX(c) {
		v := s.machinePage(c, m, parts{tasks: true, tasksPage: page})
		return render(c, http.StatusOK, views.TasksSection(p, v))
	}
	pt := allParts
	pt.tasksPage = page
	return render(c, http.StatusOK, views.MachinePage(p, s.machinePage(c, m, pt)))
}

// machineRowFragment is GET /machines/{id}/row: one fleet row, for rows
// that refresh themselves while in transition.
func (s *Server) machineRowFragment(c echo.Context) error {
	m, err := s.loadMachine(c)
	if errors.Is(err, errNoSuchMachine) {
		// Gone from the fleet: the empty answer removes the row.
		return c.HTML(http.StatusOK, "")
	}
	if err != nil {
		// Keep the row as it is; it tries again on its next tick.
		s.log.Warn("vagon api", "err", err.Error(), "request_id", requestID(c), "route", c.Path())
		return c.NoContent(http.StatusNoContent)
	}
	poll, _ := strconv.Atoi(c.QueryParam("poll"))
	row := fleetRow(*m, min(max(poll, 0), 1000))
	row.Selectable = s.allowed(c, http.MethodPost, "/bulk")
	return render(c, http.StatusOK, views.FleetRowView(row))
}

// contextFor is a short helper for API calls in actions.
func contextFor(c echo.Context) (context.Context, context.CancelFunc) {
	d := apiTimeout
	if v, ok := c.Get(ctxAPITimeout).(time.Duration); ok && v > 0 {
		d = v
	}
	return withTimeout(c, d)
}

// ctxAPITimeout holds Deps.APITimeout in the echo context when it is set.
const ctxAPITimeout = "web.api_timeout"

// machineCan sets the machine page's Can flags from the route table: each
// control shows exactly when its route would allow the user's POST.
func (s *Server) machineCan(c echo.Context, v *views.MachinePageView) {
	post := func(path string) bool { return s.allowed(c, http.MethodPost, path) }
	v.CanStart = post("/machines/:id/start")
	v.CanStop = post("/machines/:id/stop")
	v.CanReset = post("/machines/:id/reset")
	v.CanAccess = post("/machines/:id/access")
	v.CanPermissions = post("/machines/:id/permissions")
	v.CanPerformance = post("/machines/:id/machine-type")
	v.CanSettings = post("/machines/:id/settings")
	v.CanTasks = post("/machines/:id/tasks")
	v.CanDeleteTasks = post("/machines/:id/tasks/:task_id/delete")
}
