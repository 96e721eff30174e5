package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// Session limits (issue 3): idle 8 h, absolute 24 h.
const (
	IdleTimeout     = 8 * time.Hour
	AbsoluteTimeout = 24 * time.Hour
	sessionName     = "vd_session"
	// touchEvery bounds how often the idle clock is rewritten into the cookie.
	touchEvery = time.Minute
)

// flashMsg is a queued message; the queue is kept in the cookie as JSON
// text, so gob needs no type registration.
type flashMsg struct{ Kind, Text string }

func flashList(sd sessionData) []flashMsg {
	var list []flashMsg
	if v, ok := sd.raw.Values["flash"].(string); ok {
		_ = json.Unmarshal([]byte(v), &list)
	}
	return list
}

// ctx keys
const (
	keyRequestID = "rid"
	keySession   = "sess"
	keyUser      = "user"
	keyClientIP  = "client_ip"
)

var errDBUnavailable = errors.New("web: database unavailable")

// newCookieStore derives separate signing and encryption keys from the
// session key, so the cookie is authenticated and its content unreadable.
func newCookieStore(key []byte, secure bool) *sessions.CookieStore {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	cs := sessions.NewCookieStore(derive("vagon-dashboard session auth"), derive("vagon-dashboard session enc"))
	cs.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(AbsoluteTimeout / time.Second),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
	cs.MaxAge(int(AbsoluteTimeout / time.Second))
	return cs
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID(c echo.Context) string {
	if v, ok := c.Get(keyRequestID).(string); ok {
		return v
	}
	return ""
}

// mwRequestID gives every request an id, in the context and the X-Request-ID header.
func (s *Server) mwRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := randomHex(8)
		c.Set(keyRequestID, id)
		c.Response().Header().Set("X-Request-ID", id)
		return next(c)
	}
}

// mwRecover turns a panic into a 500 error (logged once with its stack, never shown).
func (s *Server) mwRecover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("web: panic: %v", r)
			}
		}()
		return next(c)
	}
}

// mwAccessLog writes one slog line per request and records HTTP metrics. It
// logs the route pattern, never the query string (which may hold emails) or
// any cookie, password or access link.
func (s *Server) mwAccessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		s.metrics.observeHTTP(c.Request().Method, route, status, d)
		user := ""
		if u := currentUser(c); u != nil {
			user = u.Email
		}
		lvl := slog.LevelInfo
		if route == "/healthz" || route == "/readyz" || route == "/metrics" || strings.HasPrefix(route, "/static") {
			lvl = slog.LevelDebug
		}
		s.log.Log(c.Request().Context(), lvl, "http",
			"request_id", requestID(c), "user", user, "method", c.Request().Method,
			"route", route, "status", status, "duration_ms", float64(d.Microseconds())/1000)
		return nil
	}
}

// mwSecurityHeaders sets the CSP and friends on every answer.
func (s *Server) mwSecurityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		// form-action also governs where a form's answer may redirect:
		// POST /logout goes on to the provider's end_session endpoint.
		formAction := "'self'"
		for _, o := range s.ssoOrigins() {
			formAction += " " + o
		}
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action "+formAction+"; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

// sessionData is what the cookie carries.
type sessionData struct {
	raw *sessions.Session
}

func (sd sessionData) str(k string) string  { v, _ := sd.raw.Values[k].(string); return v }
func (sd sessionData) i64(k string) int64   { v, _ := sd.raw.Values[k].(int64); return v }
func (sd sessionData) set(k string, v any)  { sd.raw.Values[k] = v }
func (sd sessionData) userID() int64        { return sd.i64("uid") }
func (sd sessionData) csrf() string         { return sd.str("csrf") }
func getSession(c echo.Context) sessionData { v, _ := c.Get(keySession).(sessionData); return v }

// mwSession loads the cookie session; every visitor gets one with a CSRF
// token. A session past its idle or absolute limit is replaced by a fresh
// anonymous one.
func (s *Server) mwSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, err := s.loadSession(c.Request())
		if err != nil {
			// A cookie from another key or a tampered one: start afresh.
			raw = s.newSession()
		}
		sd := sessionData{raw}
		now := s.now()
		dirty := false
		if sd.userID() != 0 {
			created, seen := time.Unix(sd.i64("created"), 0), time.Unix(sd.i64("seen"), 0)
			if now.Sub(created) > AbsoluteTimeout || now.Sub(seen) > IdleTimeout {
				raw.Values = map[any]any{"expired": true}
				dirty = true
			} else if now.Sub(seen) > touchEvery {
				sd.set("seen", now.Unix())
				dirty = true
			}
		}
		if sd.csrf() == "" {
			sd.set("csrf", randomHex(32))
			dirty = true
		}
		c.Set(keySession, sd)
		if dirty {
			if err := s.saveSession(c); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// newSession is an empty session with the store's options.
func (s *Server) newSession() *sessions.Session {
	raw := sessions.NewSession(s.cookies, sessionName)
	opts := *s.cookies.Options
	raw.Options = &opts
	raw.IsNew = true
	return raw
}

// loadSession reads the request's session cookie as the cookie store's New
// does (verify, decrypt, decode), remembering what a cookie decoded to for
// cookieTTL: the same cookie comes back on every request of a browser, and
// decoding it (HMAC, AES, gob) was a tenth of a cached page's CPU. Each
// request gets its own copy of the values.
func (s *Server) loadSession(r *http.Request) (*sessions.Session, error) {
	raw := s.newSession()
	ck, err := r.Cookie(sessionName)
	if err != nil {
		return raw, nil // no cookie: a new session
	}
	if vals, ok := s.cookieVals.get(ck.Value); ok {
		raw.Values, raw.IsNew = vals, false
		return raw, nil
	}
	if err := securecookie.DecodeMulti(sessionName, ck.Value, &raw.Values, s.cookies.Codecs...); err != nil {
		return nil, err
	}
	raw.IsNew = false
	s.cookieVals.put(ck.Value, raw.Values)
	return raw, nil
}

// cookieTTL bounds how long a decoded cookie is remembered. The cookie's
// own signed timestamp (24 h, AbsoluteTimeout) is checked when it is
// decoded, so it may be accepted up to this much later; the session's
// created and seen times are checked on every request regardless.
const cookieTTL = time.Minute

// maxCookies bounds the decoded-cookie cache; past it, it starts afresh.
const maxCookies = 10_000

// cookieCache maps a cookie's value to what it decoded to. It is keyed by
// the value's SHA-256, never the value itself: a cookie is a credential
// (whoever holds it is signed in), and a key outlives its request by up to
// cookieTTL, in a memory dump or a core file.
type cookieCache struct {
	mu sync.Mutex
	m  map[[32]byte]cookieEntry
}

type cookieEntry struct {
	vals map[any]any
	at   time.Time
}

func cookieKey(v string) [32]byte { return sha256.Sum256([]byte(v)) }

func (cc *cookieCache) get(v string) (map[any]any, bool) {
	k := cookieKey(v)
	cc.mu.Lock()
	e, ok := cc.m[k]
	cc.mu.Unlock()
	if !ok || time.Since(e.at) > cookieTTL {
		return nil, false
	}
	return maps.Clone(e.vals), true
}

func (cc *cookieCache) put(v string, vals map[any]any) {
	k := cookieKey(v)
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil || len(cc.m) >= maxCookies {
		cc.m = make(map[[32]byte]cookieEntry)
	}
	cc.m[k] = cookieEntry{vals: maps.Clone(vals), at: time.Now()}
}

func (s *Server) saveSession(c echo.Context) error {
	sd := getSession(c)
	if sd.raw == nil {
		return nil
	}
	return sd.raw.Save(c.Request(), c.Response())
}

// startSession replaces the session with a new one for the user: a new
// CSRF token and timers, nothing kept from before (no fixation). The
// session is recorded server-side (db.CreateWebSession) under a new random
// token the cookie carries, so logout, disabling and admins can end it.
func (s *Server) startSession(c echo.Context, uid int64) error {
	return s.startSessionWith(c, uid, db.LoginPassword, "")
}

// startSessionWith is startSession for a sign-in by method, keeping the
// provider's ID token (single sign-on) server-side for the logout, sealed
// (idTokenBox): the column never holds the token itself.
func (s *Server) startSessionWith(c echo.Context, uid int64, method, idToken string) error {
	sd := getSession(c)
	now := s.now()
	token := randomHex(32)
	n := db.NewWebSession{UserID: uid, Token: token, RemoteAddr: clientIP(c), UserAgent: truncate(c.Request().UserAgent(), 300), Method: method, IDToken: s.idTokens.seal(idToken, token), Now: now}
	if _, err := s.store.StartWebSession(c.Request().Context(), n); err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	sd.raw.Values = map[any]any{"uid": uid, "csrf": randomHex(32), "created": now.Unix(), "seen": now.Unix(), "sid": token}
	return s.saveSession(c)
}

// endSession clears the user from the session, keeping a fresh CSRF token
// and any flash for the login page.
func (s *Server) endSession(c echo.Context) error {
	sd := getSession(c)
	flashes := sd.raw.Values["flash"]
	sd.raw.Values = map[any]any{"csrf": randomHex(32)}
	if flashes != nil {
		sd.raw.Values["flash"] = flashes
	}
	return s.saveSession(c)
}

// csrfToken is the session's token; "" before the session middleware ran
// (an error page for a request the edge checks refused).
func csrfToken(c echo.Context) string {
	if getSession(c).raw == nil {
		return ""
	}
	return getSession(c).csrf()
}

// mwCSRF refuses every state-changing request without the session's token,
// as form field _csrf or header X-CSRF-Token. Unlike Echo's CSRF middleware,
// it grants no exception for Sec-Fetch-Site: the token is always required.
func (s *Server) mwCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		want := csrfToken(c)
		got := c.Request().Header.Get("X-CSRF-Token")
		if got == "" {
			// The body only: c.FormValue would read the query string too,
			// where a token leaks into logs, history and Referer.
			got = c.Request().PostFormValue("_csrf")
		}
		if want == "" || got == "" || !hmac.Equal([]byte(got), []byte(want)) {
			return echo.NewHTTPError(http.StatusForbidden, "The form expired or did not come from this dashboard. Reload the page and try again.")
		}
		return next(c)
	}
}

// authUser is the signed-in user, read from the database on every request.
type authUser struct {
	ID    int64
	Email string
	Role  string
	// SessionID is the id of the server-side session (db.WebSession).
	SessionID int64
	// TimeZone is the user's chosen IANA zone for shown times, "" for the
	// browser's.
	TimeZone string
}

func currentUser(c echo.Context) *authUser {
	u, _ := c.Get(keyUser).(*authUser)
	return u
}

// mwLoadUser reads the session's server-side record and its user from the
// database in one query (db.SessionUser), so a logout elsewhere, a revoked
// session, a disabled user or a new role takes effect on the very next
// request.
func (s *Server) mwLoadUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sd := getSession(c)
		if uid := sd.userID(); uid != 0 {
			var (
				ws  db.WebSession
				u   db.User
				err = db.ErrNotFound
				now = s.now()
			)
			if token := sd.str("sid"); token != "" {
				// The cookie verified: a page's upstream call can start
				// now, alongside a lookup that asks Postgres (its answer
				// only fills the shared cache; the handler runs only if
				// the user may).
				if pf := s.prefetch[c.Request().Method+" "+c.Path()]; pf != nil && !s.store.SessionKept(token, now) {
					pf(c)
				}
				ws, u, err = s.store.SessionUser(c.Request().Context(), token, now)
			}
			// The record's own timers too, so the server-side session
			// ends when the cookie's would, whatever copy of it comes back.
			live := err == nil && now.Sub(ws.CreatedAt) <= AbsoluteTimeout && now.Sub(ws.LastSeenAt) <= IdleTimeout
			switch {
			case live && u.ID == uid && ws.RevokedAt == nil && !u.Disabled:
				c.Set(keyUser, &authUser{ID: u.ID, Email: u.Email, Role: u.Role, SessionID: ws.ID, TimeZone: u.TimeZone})
			case err == nil || errors.Is(err, db.ErrNotFound):
				if err := s.endSession(c); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%w: %v", errDBUnavailable, err)
			}
		}
		return next(c)
	}
}

// requireRole guards one route: not signed in → login (303, or HX-Redirect);
// signed in without the role → 403, audited as denied; nothing else runs.
func (s *Server) requireRole(r Route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u := currentUser(c)
			if u == nil {
				to := "/login"
				if c.Request().Method == http.MethodGet && !isHTMX(c) {
					to += "?next=" + urlQueryEscape(c.Request().URL.RequestURI())
				}
				if c.Request().Header.Get("HX-Request") == "true" {
					c.Response().Header().Set("HX-Redirect", to)
					return c.NoContent(http.StatusUnauthorized)
				}
				return c.Redirect(http.StatusSeeOther, to)
			}
			if !fleet.RoleAtLeast(u.Role, r.MinRole) {
				action := r.Action
				if action == "" {
					action = fleet.ActPageView
				}
				p := fleet.Params{"method": r.Method, "route": r.Path, "required_role": r.MinRole}
				msg := fmt.Sprintf("role %s may not %s %s (needs %s)", u.Role, r.Method, r.Path, r.MinRole)
				if err := s.audit.Record(c.Request().Context(), s.actor(c), action, c.Param("id"), db.OutcomeDenied, p, nil, msg); err != nil {
					s.log.Error("audit denied", "err", err.Error(), "request_id", requestID(c))
				}
				return echo.NewHTTPError(http.StatusForbidden, "Your role ("+u.Role+") does not allow this. It needs "+r.MinRole+" or higher.")
			}
			return next(c)
		}
	}
}

// actor describes the current user for the audit log.
func (s *Server) actor(c echo.Context) fleet.Actor {
	a := fleet.Actor{RemoteAddr: clientIP(c), UserAgent: truncate(c.Request().UserAgent(), 300), RequestID: requestID(c)}
	if u := currentUser(c); u != nil {
		a.Email, a.Role = u.Email, u.Role
	}
	return a
}

// clientIP is the client's address: the one mwClientIP found, or the peer
// address when that middleware did not run.
func clientIP(c echo.Context) string {
	if v, ok := c.Get(keyClientIP).(string); ok && v != "" {
		return v
	}
	return resolveClientIP(c.Request().RemoteAddr, nil, nil)
}

// mwClientIP finds the client's address once per request (see
// resolveClientIP), for login throttling and the audit log's remote_addr.
func (s *Server) mwClientIP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.Set(keyClientIP, resolveClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.trustedProxies))
		return next(c)
	}
}

// resolveClientIP is the client's address for a request from peer
// remoteAddr ("ip:port") carrying the X-Forwarded-For values xff. The
// header is believed only when the peer is in trusted (TRUSTED_PROXIES), and
// then only as far as it was written by trusted hops: walking it right to
// left, each trusted address is skipped and the first untrusted one is the
// client. A client can therefore put anything at the left of the header
// without changing the result. When every hop is trusted the leftmost is
// the client; an entry that is not an address ends the walk at the last
// good hop.
func resolveClientIP(remoteAddr string, xff []string, trusted []netip.Prefix) string {
	peer, ok := parseIP(remoteAddr)
	if !ok {
		return remoteAddr
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(peer) {
		return peer.String()
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseIP(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		client = a
		if !isTrusted(a) {
			break
		}
	}
	return client.String()
}

// parseIP reads "ip", "ip:port", "[ipv6]:port" or "[ipv6]", unmapping
// IPv4-in-IPv6 and dropping any zone.
func parseIP(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// addFlash queues a one-time message for the next page.
func (s *Server) addFlash(c echo.Context, kind, text string) {
	sd := getSession(c)
	if sd.raw == nil {
		return
	}
	list := flashList(sd)
	if len(list) >= 5 {
		list = list[1:]
	}
	b, _ := json.Marshal(append(list, flashMsg{kind, text}))
	sd.raw.Values["flash"] = string(b)
	_ = s.saveSession(c)
}

// takeFlashes returns and clears the queued messages.
func (s *Server) takeFlashes(c echo.Context) []views.Flash {
	sd := getSession(c)
	if sd.raw == nil {
		return nil
	}
	list := flashList(sd)
	if len(list) == 0 {
		return nil
	}
	delete(sd.raw.Values, "flash")
	_ = s.saveSession(c)
	out := make([]views.Flash, len(list))
	for i, f := range list {
		out[i] = views.Flash{Kind: f.Kind, Text: f.Text}
	}
	return out
}

// withTimeout bounds a handler's upstream work.
func withTimeout(c echo.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request().Context(), d)
}
