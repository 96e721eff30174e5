package web

// The shared test harness of package web. Every handler test builds the real
// application with it: a fresh migrated Postgres database (dbtest), the Vagon
// simulator behind a real HTTP listener with the real signing client pointed
// at it, and the real router (Server) on an httptest.Server. Tests then act
// like a browser: a client with a cookie jar signs in, reads pages with
// goquery and posts forms carrying the CSRF token the last page gave it.
//
// Typical use:
//
//	app := newTestApp(t)
//	pw := app.CreateUser(t, "op@example.com", fleet.RoleOperator)
//	c := app.Login(t, "op@example.com", pw)
//	resp, doc := c.Get(t, "/machines")
//	resp, _ = c.PostForm(t, "/machines/"+app.MachineID(t)+"/start", nil)
//	rows := app.AuditRows(t)
//
// The client never follows redirects, so tests see the 303s and HX-Redirects
// the contract promises; Location is in resp.Header.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/crypto/argon2"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/passwd"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// testApp is one running dashboard over a fresh database and a simulator.
type testApp struct {
	// Server is the application under test; Routes() and Echo() are the
	// tables the role and CSRF tests walk.
	Server *Server
	// URL is the base URL of the real router on a loopback listener.
	URL string
	// Store is the application's pool; DBURL the database it points at
	// (as the unprivileged application role; dbtest.AsAdmin gives a
	// superuser URL for the same database).
	Store *db.Store
	DBURL string
	// Sim is the simulated Vagon API; its Count/Counts/Total say what
	// reached it. SimURL is its base URL including the API's base path.
	Sim    *vagonsim.Sim
	SimURL string
	API    *vagon.Client
	// Clock is the server's clock (Deps.Now). It starts at the real time
	// and moves only when a test moves it.
	Clock *vagonsim.ManualClock
	// Log receives the server's slog output (the access log included).
	Log *syncBuffer
	// ProxyArrivals counts the API calls that reached the delay proxy
	// (withAPIDelay), before their delay: a call in flight shows here
	// first.
	ProxyArrivals atomic.Int64
}

// appConfig is what options change; the zero value is the default app.
type appConfig struct {
	dbURL        string
	clock        *vagonsim.ManualClock
	cookieSecure bool
	demo         bool
	sim          vagonsim.Options
	// trustedProxies is Deps.TrustedProxies.
	trustedProxies []netip.Prefix
	apiTimeout     time.Duration
	// jobs is Deps.Jobs, built over the app's database when set.
	jobs func(t testing.TB, dbURL string) JobQueue
	// sso builds Deps.SSO once the app's URL is known (single sign-on
	// tests); localLoginOff and breakGlass are Deps.LocalLoginDisabled and
	// BreakGlassEmail.
	sso           func(t testing.TB, app *testApp) *SSO
	localLoginOff bool
	breakGlass    string
	// apiDelay, when set, puts a proxy between the API client and the
	// simulator that holds every request this long (the round trip to
	// Vagon); the benchmarks use it.
	apiDelay time.Duration
	// listTTL is fleet.ServiceOptions.ListTTL (negative: no machine cache).
	listTTL time.Duration
	// logTo, when set, receives the server's log at Info as JSON, the way
	// cmd/dashboard writes it, instead of the test buffer at Debug.
	logTo io.Writer
}

// appOption configures newTestApp.
type appOption func(*appConfig)

// withDBURL builds the app on an existing database (for instance a second
// server on the same database, to check what survives a restart) instead
// of a fresh one.
func withDBURL(u string) appOption { return func(c *appConfig) { c.dbURL = u } }

// withClock gives the server an existing clock (for instance the first
// server's, when two share a database).
func withClock(c *vagonsim.ManualClock) appOption { return func(cfg *appConfig) { cfg.clock = c } }

// withCookieSecure sets Deps.CookieSecure (the Go cookie jar then keeps
// cookies from the plain-HTTP test server out of requests, so use it only for
// header checks).
func withCookieSecure() appOption { return func(c *appConfig) { c.cookieSecure = true } }

// withDemo sets Deps.Demo (the demo banner).
func withDemo() appOption { return func(c *appConfig) { c.demo = true } }

// withTrustedProxies sets Deps.TrustedProxies (TRUSTED_PROXIES).
func withTrustedProxies(p ...netip.Prefix) appOption {
	return func(c *appConfig) { c.trustedProxies = p }
}

// withAPITimeout shortens the actions' deadline for calls to Vagon
// (Deps.APITimeout), for tests of what a timeout leaves behind.
func withAPITimeout(d time.Duration) appOption { return func(c *appConfig) { c.apiTimeout = d } }

// withJobs gives the server a job queue (Deps.Jobs), built by mk over the
// app's database.
func withJobs(mk func(t testing.TB, dbURL string) JobQueue) appOption {
	return func(c *appConfig) { c.jobs = mk }
}

// withAPIDelay routes the API client through a proxy adding d to every
// call (see appConfig.apiDelay).
func withAPIDelay(d time.Duration) appOption { return func(c *appConfig) { c.apiDelay = d } }

// withListTTL sets the machine list cache's TTL (negative: none).
func withListTTL(d time.Duration) appOption { return func(c *appConfig) { c.listTTL = d } }

// withLogTo writes the server's log as production does (JSON, Info) to w.
func withLogTo(w io.Writer) appOption { return func(c *appConfig) { c.logTo = w } }

// withSim changes the simulator's options (machines, seed, clock, durations).
func withSim(f func(*vagonsim.Options)) appOption { return func(c *appConfig) { f(&c.sim) } }

// newTestApp starts the whole dashboard for one test; everything is closed
// when the test ends.
func newTestApp(t testing.TB, opts ...appOption) *testApp {
	t.Helper()
	cfg := appConfig{sim: vagonsim.Options{Key: "test-key", Secret: "test-secret", Machines: 8, Seed: 7, DefaultRegion: "dublin"}}
	for _, o := range opts {
		o(&cfg)
	}
	app := &testApp{Clock: cfg.clock, Log: &syncBuffer{}}
	if app.Clock == nil {
		app.Clock = vagonsim.NewManualClock(time.Now())
	}

	app.DBURL = cfg.dbURL
	if app.DBURL == "" {
		app.DBURL = dbtest.URL(t)
	}
	store, err := db.Open(context.Background(), app.DBURL)
	if err != nil {
		t.Fatalf("harness: open store: %v", err)
	}
	t.Cleanup(store.Close)
	app.Store = store
	// As cmd/dashboard serve does: sessions kept in memory while the
	// listener hears changes, so every test runs through that cache.
	lctx, stopListen := context.WithCancel(context.Background())
	listenDone := make(chan struct{})
	go func() { defer close(listenDone); store.ListenAuthChanges(lctx, nil) }()
	t.Cleanup(func() { stopListen(); <-listenDone })

	app.Sim = vagonsim.New(cfg.sim)
	simSrv := httptest.NewServer(app.Sim)
	t.Cleanup(simSrv.Close)
	app.SimURL = simSrv.URL + "/organization-management/v1"
	if cfg.apiDelay > 0 {
		app.SimURL = delayProxy(t, simSrv.URL, cfg.apiDelay, &app.ProxyArrivals) + "/organization-management/v1"
	}
	key, secret := app.Sim.Credentials()
	app.API, err = vagon.New(app.SimURL, key, secret)
	if err != nil {
		t.Fatalf("harness: vagon client: %v", err)
	}

	var jobs JobQueue
	if cfg.jobs != nil {
		jobs = cfg.jobs(t, app.DBURL)
	}
	// The listener first: single sign-on needs the app's URL (its redirect
	// URL) before the server is built.
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	app.URL = "http://" + srv.Listener.Addr().String()
	var sso *SSO
	if cfg.sso != nil {
		sso = cfg.sso(t, app)
	}
	logger := slog.New(slog.NewTextHandler(app.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.logTo != nil {
		logger = slog.New(slog.NewJSONHandler(cfg.logTo, nil))
	}
	var svc *fleet.Service
	if cfg.listTTL != 0 {
		svc = fleet.NewService(app.API, store, fleet.ServiceOptions{Log: logger, ListTTL: cfg.listTTL})
	}
	sessionKey := make([]byte, 32)
	_, _ = rand.Read(sessionKey)
	app.Server, err = New(Deps{
		Store: store, API: app.API, Log: logger, SessionKey: sessionKey,
		CookieSecure: cfg.cookieSecure, Demo: cfg.demo, Metrics: NewMetrics(nil), Now: app.Clock.Now,
		TrustedProxies: cfg.trustedProxies,
		APITimeout:     cfg.apiTimeout,
		Jobs:           jobs,
		SSO:            sso, LocalLoginDisabled: cfg.localLoginOff, BreakGlassEmail: cfg.breakGlass,
		Fleet: svc,
	})
	if err != nil {
		t.Fatalf("harness: web.New: %v", err)
	}
	srv.Config.Handler = app.Server
	srv.Start()
	return app
}

// delayProxy is a reverse proxy to target on a loopback listener that holds
// each request for d before passing it on: the distance to Vagon.
func delayProxy(t testing.TB, target string, d time.Duration, arrivals *atomic.Int64) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("harness: proxy target: %v", err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrivals.Add(1)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// CreateUser adds an active user with a random password (returned) straight
// in the database. The stored hash is a real argon2id hash in the format
// passwd.Verify reads, but with tiny cost parameters (see cheapHash), so a
// sign-in takes microseconds instead of ~100 ms (seconds under -race).
func (a *testApp) CreateUser(t testing.TB, email, role string) (password string) {
	t.Helper()
	password = "pw-" + randHex(12)
	if _, err := a.Store.CreateUser(context.Background(), email, role, cheapHash(password)); err != nil {
		t.Fatalf("harness: create user %s: %v", email, err)
	}
	return password
}

// UserID returns the id of the user with email.
func (a *testApp) UserID(t testing.TB, email string) int64 {
	t.Helper()
	u, err := a.Store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("harness: user %s: %v", email, err)
	}
	return u.ID
}

// NewClient returns a signed-out client with an empty cookie jar.
func (a *testApp) NewClient() *client {
	jar, _ := cookiejar.New(nil)
	return &client{
		base: a.URL,
		http: &http.Client{
			Jar:     jar,
			Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// Login signs in through the real form (GET /login for the token, POST
// /login) and fails the test unless the answer is the 303 of a successful
// sign-in. The returned client holds the CSRF token of the new session.
func (a *testApp) Login(t testing.TB, email, password string) *client {
	t.Helper()
	c := a.NewClient()
	c.CSRFFrom(t, "/login")
	resp, doc := c.PostForm(t, "/login", url.Values{"email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("harness: login %s: status %d, error %q", email, resp.StatusCode, doc.Find(`[data-testid="login-error"]`).Text())
	}
	// The session, and with it the CSRF token, is new after sign-in.
	c.CSRFFrom(t, "/audit")
	return c
}

// AuditRows returns the whole audit log in id order (oldest first).
func (a *testApp) AuditRows(t testing.TB) []db.AuditEvent {
	t.Helper()
	var rows []db.AuditEvent
	err := a.Store.StreamAudit(context.Background(), db.AuditFilter{}, func(ev db.AuditEvent) error {
		rows = append(rows, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("harness: audit rows: %v", err)
	}
	slices.Reverse(rows)
	return rows
}

// MachineID returns the id of a machine of the simulated fleet.
func (a *testApp) MachineID(t testing.TB) string {
	t.Helper()
	ids := a.Sim.MachineIDs()
	if len(ids) == 0 {
		t.Fatal("harness: the simulator has no machines")
	}
	return ids[0]
}

// routeParam matches :name parameters and the * wildcard of Echo paths.
var routeParam = regexp.MustCompile(`:[A-Za-z_]+|\*`)

// Path turns a route pattern such as /machines/:id/tasks/:task_id/delete into
// a real path, with ids that exist: values come from params, else from the
// defaults below. An unknown parameter fails the test, so a new route with a
// new parameter gets a value here (in this one place) before the
// route-walking tests can cover it.
func (a *testApp) Path(t testing.TB, pattern string, params map[string]string) string {
	t.Helper()
	return routeParam.ReplaceAllStringFunc(pattern, func(p string) string {
		name := strings.TrimPrefix(p, ":")
		if v, ok := params[name]; ok {
			return url.PathEscape(v)
		}
		switch name {
		case "id":
			return url.PathEscape(a.MachineID(t))
		case "task_id":
			for _, id := range a.Sim.MachineIDs() {
				if tasks := a.Sim.Tasks(id); len(tasks) > 0 {
					return url.PathEscape(tasks[0].ID.String())
				}
			}
			return "1"
		case "op_id", "sid":
			return "1"
		case "vid": // a saved view (issue 9); none may exist
			return "1"
		case "job_id": // a background job (issue 10); none may exist
			return "1"
		case "wid": // an alert destination (issue 11); none may exist
			return "1"
		case "*":
			return "no-such-page"
		}
		t.Fatalf("harness: route %s has parameter %s with no test value: add one to testApp.Path", pattern, p)
		return ""
	})
}

// client is a browser stand-in: a cookie jar, the CSRF token of the last
// page it read, and no redirect following.
type client struct {
	base string
	http *http.Client
	// CSRF is the token of the last page that carried
	// <meta name="csrf-token">; PostForm and PostHTMX send it.
	CSRF string
	// Header is added to every request (for instance X-Forwarded-For, as
	// a proxy in front would send it).
	Header http.Header
}

// Get fetches path and parses the answer as HTML (whatever its type; the
// document is empty for non-HTML bodies). The body stays readable through
// resp.Body.
func (c *client) Get(t testing.TB, path string) (*http.Response, *goquery.Document) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		t.Fatalf("harness: GET %s: %v", path, err)
	}
	return c.Do(t, req)
}

// CSRFFrom GETs path and returns the token of its page (kept in c.CSRF); it
// fails the test when the page carries none.
func (c *client) CSRFFrom(t testing.TB, path string) string {
	t.Helper()
	resp, _ := c.Get(t, path)
	if c.CSRF == "" {
		t.Fatalf("harness: GET %s (status %d) carried no csrf-token meta", path, resp.StatusCode)
	}
	return c.CSRF
}

// PostForm posts form as application/x-www-form-urlencoded. It adds the
// field _csrf with c.CSRF unless form already has a _csrf entry (set it to
// send a wrong one) or c.CSRF is empty, in which case it first reads the
// token from GET /login. Use PostRaw to send no token at all.
func (c *client) PostForm(t testing.TB, path string, form url.Values) (*http.Response, *goquery.Document) {
	t.Helper()
	form = cloneValues(form)
	if !form.Has("_csrf") {
		if c.CSRF == "" {
			c.CSRFFrom(t, "/login")
		}
		form.Set("_csrf", c.CSRF)
	}
	return c.PostRaw(t, path, form, nil)
}

// PostHTMX posts form the way htmx does: headers HX-Request: true and
// X-CSRF-Token (not the form field), answered with a fragment.
func (c *client) PostHTMX(t testing.TB, path string, form url.Values) (*http.Response, *goquery.Document) {
	t.Helper()
	if c.CSRF == "" {
		c.CSRFFrom(t, "/login")
	}
	return c.PostRaw(t, path, form, http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {c.CSRF}})
}

// PostRaw posts form with exactly the given extra headers and no token added.
func (c *client) PostRaw(t testing.TB, path string, form url.Values, header http.Header) (*http.Response, *goquery.Document) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("harness: POST %s: %v", path, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return c.Do(t, req)
}

// Do sends req with the client's cookies, reads the whole body, parses it as
// HTML and remembers the page's CSRF token, if any.
func (c *client) Do(t testing.TB, req *http.Request) (*http.Response, *goquery.Document) {
	t.Helper()
	for k, vs := range c.Header {
		req.Header[k] = append(req.Header[k], vs...)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("harness: %s %s: %v", req.Method, req.URL.Path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("harness: %s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("harness: %s %s: parse html: %v", req.Method, req.URL.Path, err)
	}
	if tok, ok := doc.Find(`meta[name="csrf-token"]`).Attr("content"); ok && tok != "" {
		c.CSRF = tok
	}
	return resp, doc
}

// SessionCookie returns the value of the session cookie the jar holds ("" if
// none).
func (c *client) SessionCookie(t testing.TB) string {
	t.Helper()
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == sessionName {
			return ck.Value
		}
	}
	return ""
}

// SignedIn reports whether the client's session carries a user: a page every
// role may read answers 200 rather than a redirect to /login.
func (c *client) SignedIn(t testing.TB) bool {
	t.Helper()
	resp, _ := c.Get(t, "/audit")
	return resp.StatusCode == http.StatusOK
}

// bodyText returns the (re-readable) body of a harness response.
func bodyText(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("harness: read body: %v", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cheapHash is an argon2id PHC string (the format passwd.Hash writes) with
// the smallest sensible cost: passwd.Verify takes the parameters from the
// string, so tests sign in fast while the production cost stays untouched.
func cheapHash(pw string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	const memory, passes, lanes = 64, 1, 1
	key := argon2.IDKey([]byte(pw), salt, passes, memory, lanes, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memory, passes, lanes, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// TestHarness_cheapHash keeps cheapHash readable by the real verifier.
func TestHarness_cheapHash(t *testing.T) {
	h := cheapHash("right")
	if ok, err := passwd.Verify("right", h); !ok || err != nil {
		t.Fatalf("passwd.Verify(right, %s) = %v, %v", h, ok, err)
	}
	if ok, _ := passwd.Verify("wrong", h); ok {
		t.Fatal("a wrong password verifies")
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
