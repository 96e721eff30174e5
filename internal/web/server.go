// Package web is the dashboard's HTTP layer: the Echo router, middleware and
// handlers. Handlers parse and validate input, authorize, make one call into
// fleet, vagon or db, and render one templ component from internal/views.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
	"github.com/vagon-dashboard/dashboard/static"
)

// Deps are what the web layer needs; cmd/dashboard builds them.
type Deps struct {
	Store        *db.Store
	API          *vagon.Client
	Log          *slog.Logger
	SessionKey   []byte // at least 32 bytes
	CookieSecure bool
	Demo         bool
	Metrics      *Metrics
	// Now is the clock (time.Now when nil); tests move it for timeouts.
	Now func() time.Time
	// Fleet holds the machine-side services (cache, bulk); built from API
	// and Store when nil.
	Fleet *fleet.Service
	// Bulk runs bulk operations; built from Fleet when nil (cmd/dashboard
	// starts it; tests start their own).
	Bulk *fleet.Bulk
	// Scheduler keeps and runs schedules; built from Fleet (with Now) when
	// nil. Something else (the job queue) calls its ClaimDue and Execute.
	Scheduler *fleet.Scheduler
	// Alerts keeps alert destinations (/alerts); built from Fleet when nil
	// (then it has no job queue: events are not delivered, tests are).
	Alerts *fleet.Alerts
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// for the client address (TRUSTED_PROXIES); nil trusts none.
	TrustedProxies []netip.Prefix
	// Jobs is the background job queue the admin page shows (jobs.Admin
	// over River's client); nil: the page says jobs are not available.
	Jobs JobQueue
	// ActivityNow enqueues an import of Vagon's activity log (jobs.Jobs.
	// ActivityNow); nil: the activity page offers no import.
	ActivityNow func(context.Context) error
	// SSO is single sign-on with the organization's OpenID provider; nil:
	// passwords only.
	SSO *SSO
	// LocalLoginDisabled refuses password sign-in to everyone but
	// BreakGlassEmail (LOCAL_LOGIN=false, ADMIN_EMAIL) and hides the
	// password form.
	LocalLoginDisabled bool
	BreakGlassEmail    string
	// APITimeout bounds an action's calls to the Vagon API (apiTimeout when
	// zero); tests shorten it.
	APITimeout time.Duration
}

// Server is the dashboard's HTTP handler.
type Server struct {
	e       *echo.Echo
	store   *db.Store
	api     *vagon.Client
	fleet   *fleet.Service
	audit   *fleet.Auditor
	log     *slog.Logger
	cookies *sessions.CookieStore
	secure  bool
	demo    bool
	metrics *Metrics
	now     func() time.Time
	routes  []Route
	bulkSvc *fleet.Bulk
	jobs    JobQueue
	sched   *fleet.Scheduler
	alerts  *fleet.Alerts
	// trustedProxies: see Deps.TrustedProxies.
	trustedProxies []netip.Prefix
	// activityNow: see Deps.ActivityNow.
	activityNow func(context.Context) error
	// sso, localLoginOff, breakGlass: see Deps.SSO, LocalLoginDisabled,
	// BreakGlassEmail.
	sso           *SSO
	localLoginOff bool
	breakGlass    string
	// prefetch starts a route's upstream read as soon as the session
	// cookie verifies, keyed "METHOD /pattern" (mwLoadUser).
	prefetch map[string]func(echo.Context)
	// cookieVals are decoded session cookies (loadSession).
	cookieVals cookieCache
	// fleetRows are rendered fleet rows by content (renderFleet).
	fleetRows rowCache
	// fleetFrags are the fleet list's rendered results (renderFleet).
	fleetFrags *fragmentCache[fleetFragKey]
	// passwordChecks counts password verifications (real and dummy).
	passwordChecks atomic.Int64
	// idTokens seals the provider's ID token kept with a session.
	idTokens idTokenBox
}

// New builds the server and its routes.
func New(d Deps) (*Server, error) {
	if d.Store == nil || d.API == nil {
		return nil, errors.New("web: store and API client are required")
	}
	if len(d.SessionKey) < 32 {
		return nil, errors.New("web: session key must be at least 32 bytes")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if d.Fleet == nil {
		d.Fleet = fleet.NewService(d.API, d.Store, fleet.ServiceOptions{Log: d.Log})
	}
	if d.Bulk == nil {
		d.Bulk = fleet.NewBulk(d.Fleet, fleet.BulkOptions{Log: d.Log})
	}
	if d.Scheduler == nil {
		d.Scheduler = fleet.NewScheduler(d.Fleet, fleet.SchedulerOptions{Now: d.Now, Log: d.Log, MayAct: scheduleMayAct})
	}
	if d.Alerts == nil {
		d.Alerts = fleet.NewAlerts(d.Fleet, fleet.AlertsOptions{Log: d.Log})
	}
	s := &Server{
		alerts: d.Alerts, sched: d.Scheduler, store: d.Store, api: d.API, fleet: d.Fleet, bulkSvc: d.Bulk, audit: d.Fleet.Auditor(),
		log: d.Log, secure: d.CookieSecure, demo: d.Demo, metrics: d.Metrics, now: d.Now,
	}
	if d.SSO != nil && d.SSO.Client == nil {
		return nil, errors.New("web: SSO needs its oidc client")
	}
	if d.LocalLoginDisabled && d.SSO == nil {
		return nil, errors.New("web: password sign-in can be turned off only with single sign-on")
	}
	s.sso, s.localLoginOff, s.breakGlass = d.SSO, d.LocalLoginDisabled, db.NormalizeEmail(d.BreakGlassEmail)
	s.trustedProxies = d.TrustedProxies
	s.jobs = d.Jobs
	s.activityNow = d.ActivityNow
	s.fleetFrags = newFleetFragCache()
	s.cookies = newCookieStore(d.SessionKey, d.CookieSecure)
	box, err := newIDTokenBox(d.SessionKey)
	if err != nil {
		return nil, err
	}
	s.idTokens = box
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Logger.SetOutput(discard{})
	s.e = e
	s.routes = s.buildRoutes()
	s.prefetch = map[string]func(echo.Context){"GET /machines": s.prefetchFleet}
	s.register()
	if d.APITimeout > 0 {
		e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error { c.Set(ctxAPITimeout, d.APITimeout); return next(c) }
		})
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

// Echo returns the router (tests enumerate its routes).
func (s *Server) Echo() *echo.Echo { return s.e }

// Routes returns the route table the server was built from.
func (s *Server) Routes() []Route { return s.routes }

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// page builds the layout data for the current request.
func (s *Server) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{
		Title:     title,
		Nav:       nav,
		CSRFToken: csrfToken(c),
		Demo:      s.demo,
		RequestID: requestID(c),
		Assets: views.Assets{
			CSS:     static.Path(static.CSS),
			JS:      static.Path(static.JS),
			HTMX:    static.Path(static.HTMX),
			Favicon: static.Path(static.Favicon),
		},
	}
	if u := currentUser(c); u != nil {
		p.User = &views.CurrentUser{Email: u.Email, Role: u.Role}
		p.TimeZone = u.TimeZone
		p.CanJobs = s.allowed(c, http.MethodGet, "/jobs")
		p.CanAlerts = s.allowed(c, http.MethodGet, "/alerts")
		p.CanUsers = s.allowed(c, http.MethodGet, "/users")
		p.AuditAll = isAdminUser(c)
	}
	p.Flashes = s.takeFlashes(c)
	return p
}

// isHTMX reports whether the request wants a fragment: an htmx request that
// is neither boosted nor a history restore.
func isHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true" && h.Get("HX-History-Restore-Request") != "true"
}

// redirect answers a POST: HX-Redirect for htmx, 303 otherwise.
func redirect(c echo.Context, to string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// handleError is Echo's single error handler: logs once (5xx as error, 4xx
// as warning) and renders a page or a fragment without internal detail.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status = he.Code
	case errors.Is(err, fleet.ErrAuditUnavailable), errors.Is(err, errDBUnavailable):
		status = http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		status = 499
	}
	attrs := []any{"err", err.Error(), "status", status, "request_id", requestID(c), "route", c.Path()}
	switch {
	case status >= 500:
		s.log.Error("request failed", attrs...)
	case status != 499 && status != http.StatusNotFound:
		s.log.Warn("request refused", attrs...)
	}
	if status == 499 {
		return
	}
	ev := views.NewErrorView(status, requestID(c))
	if status == http.StatusMethodNotAllowed {
		ev.Title, ev.Message = "Not allowed here", "This address does not take that kind of request."
	}
	if errors.Is(err, fleet.ErrAuditUnavailable) {
		ev.Title = "Audit log unavailable"
		ev.Message = fleet.AuditUnavailableText + " Try again in a minute."
	} else if errors.Is(err, errDBUnavailable) {
		ev.Title = "Database unavailable"
		ev.Message = "The dashboard's database is not answering. Try again in a minute."
	}
	if he != nil && he.Code < 500 {
		if m, ok := he.Message.(string); ok && m != "" && m != http.StatusText(he.Code) {
			ev.Message = m
		}
	}
	var rerr error
	if c.Request().Method == http.MethodHead {
		rerr = c.NoContent(status)
	} else if isHTMX(c) {
		rerr = render(c, status, views.ErrorFragment(ev))
	} else {
		p := s.page(c, ev.Title, "")
		rerr = render(c, status, views.ErrorPage(p, ev))
	}
	if rerr != nil {
		s.log.Error("render error page", "err", rerr.Error())
		_ = c.String(status, http.StatusText(status))
	}
}

// Shutdown stops the server gracefully (used by tests with a live listener).
func (s *Server) Shutdown(ctx context.Context) error { return s.e.Shutdown(ctx) }
