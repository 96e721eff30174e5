package web

import (
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/static"
)

// Route is one row of the route table: the single source of both the router
// and the role checks (tests walk the same table).
type Route struct {
	Method string
	Path   string
	// MinRole is the least role allowed; "" means public (no sign-in).
	MinRole string
	// Action is the audit action a refused attempt is recorded as
	// ("" records page.view).
	Action  string
	Handler echo.HandlerFunc
}

// Public marks routes that need no sign-in.
const Public = ""

const (
	viewer   = fleet.RoleViewer
	helpdesk = fleet.RoleHelpdesk
	operator = fleet.RoleOperator
	admin    = fleet.RoleAdmin
)

// buildRoutes is every route of the dashboard, top to bottom.
func (s *Server) buildRoutes() []Route {
	return []Route{
		// Operations and assets: public, no session.
		{http.MethodGet, "/healthz", Public, "", s.healthz},
		{http.MethodGet, "/readyz", Public, "", s.readyz},
		{http.MethodGet, "/metrics", Public, "", s.metricsHandler},

		// Sign in and out.
		{http.MethodGet, "/login", Public, "", s.showLogin},
		{http.MethodPost, "/login", Public, "", s.login},
		// Single sign-on (issue 12): start at the provider, come back.
		{http.MethodGet, "/login/oidc", Public, "", s.startOIDC},
		{http.MethodGet, "/auth/oidc/callback", Public, "", s.oidcCallback},
		{http.MethodPost, "/logout", viewer, fleet.ActAuthLogout, s.logout},

		// Machines.
		{http.MethodGet, "/", viewer, "", s.home},
		{http.MethodGet, "/machines", viewer, "", s.listMachines},
		// (machine page and single-machine actions: issue 4)
		{http.MethodGet, "/machines.csv", viewer, "", s.exportMachines},
		// Saved views of the fleet list: each user's own (issue 9).
		{http.MethodPost, "/machines/views", viewer, "", s.saveView},
		{http.MethodPost, "/machines/views/:vid/delete", viewer, "", s.deleteView},
		{http.MethodGet, "/machines/:id", viewer, "", s.showMachine},
		{http.MethodGet, "/machines/:id/row", viewer, "", s.machineRowFragment},
		{http.MethodGet, "/machines/:id/sessions", viewer, "", s.showMachineSessions},
		{http.MethodGet, "/machines/:id/tasks", viewer, "", s.showMachineTasks},
		{http.MethodGet, "/machines/:id/activity", viewer, "", s.showMachineActivity},
		{http.MethodPost, "/machines/:id/start", helpdesk, fleet.ActMachineStart, s.startMachine},
		{http.MethodPost, "/machines/:id/stop", operator, fleet.ActMachineStop, s.stopMachine},
		{http.MethodPost, "/machines/:id/reset", admin, fleet.ActMachineReset, s.resetMachine},
		{http.MethodPost, "/machines/:id/access", helpdesk, fleet.ActMachineAccessLink, s.createAccessLink},
		{http.MethodPost, "/machines/:id/permissions", operator, fleet.ActMachinePermissions, s.setPermissions},
		{http.MethodPost, "/machines/:id/machine-type", operator, fleet.ActMachinePerformance, s.setMachineType},
		{http.MethodPost, "/machines/:id/settings", operator, fleet.ActMachineUpdate, s.updateMachineSettings},
		{http.MethodPost, "/machines/:id/tasks", operator, fleet.ActTaskActivate, s.activateTask},
		{http.MethodPost, "/machines/:id/tasks/:task_id/delete", operator, fleet.ActTaskDelete, s.deleteTask},

		// The access-link ledger (issue 11): helpdesk and up, who issue
		// links; the lifetime caps by role are admins'.
		{http.MethodGet, "/access-links", helpdesk, "", s.listAccessLinks},
		{http.MethodGet, "/access-links.csv", helpdesk, "", s.exportAccessLinks},
		{http.MethodPost, "/access-links/caps", admin, fleet.ActAccessLinkCaps, s.setAccessLinkCaps},

		// Bulk actions (issue 4).
		{http.MethodPost, "/bulk", operator, fleet.ActBulk, s.submitBulk},
		{http.MethodGet, "/bulk/:op_id", operator, "", s.showBulk},
		{http.MethodPost, "/bulk/:op_id/cancel", operator, fleet.ActBulkCancel, s.cancelBulk},
		{http.MethodGet, "/machines/new", admin, "", s.newMachinesForm},
		{http.MethodPost, "/machines", admin, fleet.ActMachineCreate, s.createMachines},

		// Scheduled power actions (issue 10): everyone reads, operators change.
		{http.MethodGet, "/schedules", viewer, "", s.listSchedules},
		{http.MethodGet, "/schedules.csv", viewer, "", s.exportSchedules},
		{http.MethodGet, "/schedules/new", operator, "", s.newScheduleForm},
		{http.MethodPost, "/schedules", operator, fleet.ActScheduleCreate, s.createSchedule},
		{http.MethodGet, "/schedules/:sid", viewer, "", s.showSchedule},
		{http.MethodGet, "/schedules/:sid/runs.csv", viewer, "", s.exportScheduleRuns},
		{http.MethodPost, "/schedules/:sid", operator, fleet.ActScheduleUpdate, s.updateSchedule},
		{http.MethodPost, "/schedules/:sid/delete", operator, fleet.ActScheduleDelete, s.deleteSchedule},
		{http.MethodPost, "/schedules/:sid/run", operator, fleet.ActScheduleRun, s.runSchedule},

		// Reports (issue 5).
		{http.MethodGet, "/reports/usage", viewer, "", s.showUsageReport},
		{http.MethodGet, "/reports/usage.csv", viewer, "", s.exportUsageReport},
		{http.MethodGet, orgUsageCSVPath, viewer, "", s.exportOrgUsage},
		{http.MethodGet, "/reports/idle", viewer, "", s.showIdleReport},
		{http.MethodGet, "/reports/idle.csv", viewer, "", s.exportIdleReport},
		{http.MethodGet, "/reports/low-remaining", viewer, "", s.showLowRemainingReport},
		{http.MethodGet, "/reports/low-remaining.csv", viewer, "", s.exportLowRemainingReport},
		{http.MethodGet, "/reports/top-users", viewer, "", s.showTopUsersReport},
		{http.MethodGet, "/reports/top-users.csv", viewer, "", s.exportTopUsersReport},
		{http.MethodGet, "/reports/sync", viewer, "", s.showSyncPanel},

		// The signed-in user's own preferences (issue 9 §12).
		{http.MethodGet, "/account", viewer, "", s.showAccount},
		{http.MethodPost, "/account", viewer, "", s.saveAccount},

		// Audit log: admins see all, everyone else their own entries.
		{http.MethodGet, "/audit", viewer, "", s.showAudit},
		{http.MethodGet, "/audit.csv", viewer, "", s.exportAudit},
		{http.MethodGet, "/activity", viewer, "", s.showActivity},
		{http.MethodGet, "/activity.csv", viewer, "", s.exportActivity},
		{http.MethodPost, "/activity/import", operator, "", s.importActivity},

		// Background jobs (admin, issue 10): the queue, one job, retry and
		// cancel (cancel asks first).
		{http.MethodGet, "/jobs", admin, "", s.listJobs},
		{http.MethodGet, "/jobs.csv", admin, "", s.exportJobs},
		{http.MethodGet, "/jobs/:job_id", admin, "", s.showJob},
		{http.MethodPost, "/jobs/:job_id/retry", admin, fleet.ActJobRetry, s.retryJob},
		{http.MethodPost, "/jobs/:job_id/cancel", admin, fleet.ActJobCancel, s.cancelJob},

		// Alert destinations (admin, issue 11): webhooks, their delivery
		// log, a test send; delete asks first.
		{http.MethodGet, "/alerts", admin, "", s.showAlerts},
		{http.MethodPost, "/alerts/webhooks", admin, fleet.ActAlertCreate, s.createWebhook},
		{http.MethodPost, "/alerts/webhooks/:wid", admin, fleet.ActAlertUpdate, s.updateWebhook},
		{http.MethodPost, "/alerts/webhooks/:wid/delete", admin, fleet.ActAlertDelete, s.deleteWebhook},
		{http.MethodPost, "/alerts/webhooks/:wid/test", admin, fleet.ActAlertTest, s.testWebhook},

		// Users (admin).
		{http.MethodGet, "/users", admin, "", s.listUsers},
		{http.MethodPost, "/users", admin, fleet.ActUserCreate, s.createUser},
		{http.MethodPost, "/users/:uid/role", admin, fleet.ActUserUpdate, s.setUserRole},
		{http.MethodPost, "/users/:uid/disable", admin, fleet.ActUserUpdate, s.disableUser},
		{http.MethodPost, "/users/:uid/enable", admin, fleet.ActUserUpdate, s.enableUser},
		{http.MethodPost, "/users/:uid/sessions/revoke", admin, fleet.ActUserUpdate, s.revokeUserSessions},
		{http.MethodPost, "/users/:uid/sessions/:sid/revoke", admin, fleet.ActUserUpdate, s.revokeUserSession},
	}
}

// register wires the middleware chain and the route table into Echo.
//
// Order: request id → recover → access log + metrics → security headers →
// body limit → input check (edge.go: nothing before them reads the body or
// a parameter) → client address (TRUSTED_PROXIES) → (static and health stop
// here) → session → CSRF → user from the database → per-route role check →
// handler.
func (s *Server) register() {
	e := s.e
	e.Use(s.mwRequestID, s.mwRecover, s.mwAccessLog, s.mwSecurityHeaders, s.mwBodyLimit, s.mwCheckInput, s.mwClientIP)
	e.GET(static.Prefix+"*", echo.WrapHandler(static.Handler()), s.mwGzipStatic)
	e.GET("/favicon.ico", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, static.Path(static.Favicon))
	})
	bare := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}
	app := e.Group("", s.mwGzip, s.mwSession, s.mwCSRF, s.mwLoadUser)
	for _, r := range s.routes {
		if bare[r.Path] {
			e.Add(r.Method, r.Path, r.Handler)
			continue
		}
		var mw []echo.MiddlewareFunc
		if r.MinRole != Public {
			mw = append(mw, s.requireRole(r))
		}
		app.Add(r.Method, r.Path, r.Handler, mw...)
	}
	// Unknown paths get the app's 404 page with the session (for the nav).
	app.Any("/*", func(c echo.Context) error { return echo.ErrNotFound })
}

// allowed reports whether the signed-in user's role may use the route
// method path, by the route table's MinRole (so a page offers a link or a
// button exactly when following it would not be refused).
func (s *Server) allowed(c echo.Context, method, path string) bool {
	u := currentUser(c)
	for _, r := range s.routes {
		if r.Method == method && r.Path == path {
			if r.MinRole == Public {
				return true
			}
			return u != nil && fleet.RoleAtLeast(u.Role, r.MinRole)
		}
	}
	return false
}

// routeTable is the route table without a server, for rules applied
// outside a request (a schedule's owner at run time); its handlers are
// never called.
var routeTable = sync.OnceValue(func() []Route { return (&Server{}).buildRoutes() })

// routeMinRole is the least role of the route method path (as the table
// spells it); false when there is no such route.
func routeMinRole(method, path string) (string, bool) {
	for _, r := range routeTable() {
		if r.Method == method && r.Path == path {
			return r.MinRole, true
		}
	}
	return "", false
}
