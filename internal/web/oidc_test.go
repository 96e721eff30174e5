package web

// Single sign-on against a real OpenID provider (zitadel's certified OP,
// in-process: internal/oidc/oidctest) through the real callback handler
// over HTTP: the whole flow, the dashboard's rules (role map, pinning,
// disabled, domains, linking), and refusals of tampered state, replayed
// callbacks and codes, another browser, expired state and token, an
// unreachable provider; LOCAL_LOGIN=false; logout at the provider.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/oidc"
	"github.com/vagon-dashboard/dashboard/internal/oidc/oidctest"
)

// ssoWorld is a dashboard with single sign-on and its provider.
type ssoWorld struct {
	app *testApp
	idp *oidctest.Provider
}

// ssoOptions change the dashboard's single sign-on settings.
type ssoOptions struct {
	defaultRole   string
	domains       []string
	tokenLifetime time.Duration
	localLoginOff bool
	breakGlass    string
}

const (
	ssoClientID = "dashboard"
	ssoSecret   = "dashboard-secret"
)

func newSSOWorld(t *testing.T, o ssoOptions) ssoWorld {
	t.Helper()
	var w ssoWorld
	opts := []appOption{func(c *appConfig) {
		c.localLoginOff, c.breakGlass = o.localLoginOff, o.breakGlass
		c.sso = func(t testing.TB, app *testApp) *SSO {
			w.idp = oidctest.Start(t, oidctest.Client{
				ID: ssoClientID, Secret: ssoSecret,
				RedirectURIs:           []string{app.URL + "/auth/oidc/callback"},
				PostLogoutRedirectURIs: []string{app.URL + "/login"},
				IDTokenLifetime:        o.tokenLifetime,
			})
			client, err := oidc.New(oidc.Config{IssuerURL: w.idp.Issuer, ClientID: ssoClientID, ClientSecret: ssoSecret,
				RedirectURL: app.URL + "/auth/oidc/callback", Now: app.Clock.Now, RetryEvery: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			rm, err := fleet.ParseRoleMap("it-admins=admin,it-ops=operator,desk=helpdesk,staff=viewer")
			if err != nil {
				t.Fatal(err)
			}
			return &SSO{Client: client, ProviderName: "Test IdP", RoleMap: rm, DefaultRole: o.defaultRole,
				AllowedDomains: o.domains, PostLogoutURL: app.URL + "/login"}
		}
	}}
	w.app = newTestApp(t, opts...)
	w.idp.AddUser(oidctest.User{Subject: "sub-olga", Username: "olga", Password: "olga-pw", Email: "olga@corp.example", EmailVerified: true, Name: "Olga Ops", Groups: []string{"staff", "it-ops"}})
	return w
}

// start begins a sign-in on c (GET /login/oidc) and returns the provider's
// authorization URL it was sent to.
func (w ssoWorld) start(t *testing.T, c *client, next string) string {
	t.Helper()
	path := "/login/oidc"
	if next != "" {
		path += "?next=" + url.QueryEscape(next)
	}
	resp, _ := c.Get(t, path)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, w.idp.Issuer) {
		t.Fatalf("GET %s: status %d, Location %q; want 303 to the provider", path, resp.StatusCode, loc)
	}
	return loc
}

// atProvider signs username in at the provider and returns the callback
// path (with query) the provider sends the browser to.
func (w ssoWorld) atProvider(t *testing.T, authURL, username, password string) string {
	t.Helper()
	cb, err := w.idp.SignIn(authURL, username, password, w.app.URL+"/auth/oidc/callback")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(cb)
	return u.RequestURI()
}

// signIn is the whole flow on c; it returns the callback's answer.
func (w ssoWorld) signIn(t *testing.T, c *client, username, password, next string) (*http.Response, *goquery.Document) {
	t.Helper()
	return c.Get(t, w.atProvider(t, w.start(t, c, next), username, password))
}

// mustSignIn signs in and checks the 303 to next.
func (w ssoWorld) mustSignIn(t *testing.T, c *client, username, password string) {
	t.Helper()
	resp, doc := w.signIn(t, c, username, password, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/machines" {
		t.Fatalf("sign-in of %s: status %d, Location %q, error %q (%s)", username, resp.StatusCode, resp.Header.Get("Location"),
			doc.Find(`[data-testid="login-error"]`).Text(), doc.Find(`[data-testid="login-error"]`).AttrOr("data-reason", ""))
	}
}

// wantRefused checks a refused callback: status, the reason on the page,
// and an auth.login_failed row with that reason.
func (w ssoWorld) wantRefused(t *testing.T, resp *http.Response, doc *goquery.Document, status int, reason string) db.AuditEvent {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d", resp.StatusCode, status)
	}
	if got := doc.Find(`[data-testid="login-error"]`).AttrOr("data-reason", ""); got != reason {
		t.Errorf("page reason %q (%q), want %q", got, doc.Find(`[data-testid="login-error"]`).Text(), reason)
	}
	if doc.Find(`[data-testid="login-sso"]`).Length() != 1 {
		t.Error("the refusal page offers no way to start again")
	}
	rows := w.app.AuditRows(t)
	if len(rows) == 0 {
		t.Fatal("no audit row for the refusal")
	}
	last := rows[len(rows)-1]
	var p map[string]any
	_ = json.Unmarshal(last.Params, &p)
	if last.Action != fleet.ActAuthLoginFailed || p["reason"] != reason || p["method"] != "oidc" {
		t.Fatalf("last audit row %s %s %v, want auth.login_failed reason %s", last.Action, last.Outcome, p, reason)
	}
	return last
}

func auditParams(ev db.AuditEvent) map[string]any {
	var p map[string]any
	_ = json.Unmarshal(ev.Params, &p)
	return p
}

func TestOIDC_signIn_createsUserWithMappedRole(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	resp, _ := w.signIn(t, c, "olga", "olga-pw", "/reports/usage")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/reports/usage" {
		t.Fatalf("callback: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !c.SignedIn(t) {
		t.Fatal("not signed in after the callback")
	}
	u, err := w.app.Store.UserByEmail(context.Background(), "olga@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	// staff → viewer, it-ops → operator: the highest wins.
	if u.Role != fleet.RoleOperator || u.HasPassword() || u.OIDCSubject != "sub-olga" || u.OIDCIssuer != w.idp.Issuer || u.LastLoginMethod != db.LoginOIDC {
		t.Fatalf("user %+v", u)
	}
	// An operator may stop machines: the role is the one in force.
	if resp, _ := c.Get(t, "/bulk/1"); resp.StatusCode == http.StatusForbidden {
		t.Error("operator route refused")
	}

	var create, login []db.AuditEvent
	for _, ev := range w.app.AuditRows(t) {
		switch ev.Action {
		case fleet.ActUserCreate:
			create = append(create, ev)
		case fleet.ActAuthLogin:
			login = append(login, ev)
		}
	}
	if len(create) != 2 || create[0].ActorEmail != fleet.OIDCActorEmail || create[1].Outcome != db.OutcomeSucceeded {
		t.Fatalf("user.create rows %+v", create)
	}
	if p := auditParams(create[1]); p["role"] != "operator" || p["method"] != "oidc" {
		t.Errorf("user.create params %v", p)
	}
	if len(login) != 1 || login[0].ActorEmail != "olga@corp.example" || login[0].ActorRole != "operator" || auditParams(login[0])["method"] != "oidc" {
		t.Fatalf("auth.login rows %+v", login)
	}

	// Groups change at the provider: the next sign-in takes the new role,
	// audited as user.update by oidc.
	w.idp.SetGroups("sub-olga", "it-admins")
	c2 := w.app.NewClient()
	w.mustSignIn(t, c2, "olga", "olga-pw")
	if u, _ := w.app.Store.UserByID(context.Background(), u.ID); u.Role != fleet.RoleAdmin {
		t.Fatalf("role after the groups changed: %s", u.Role)
	}
	rows := w.app.AuditRows(t)
	var upd *db.AuditEvent
	for i := range rows {
		if rows[i].Action == fleet.ActUserUpdate && rows[i].Outcome == db.OutcomeSucceeded {
			upd = &rows[i]
		}
	}
	if upd == nil || upd.ActorEmail != "oidc" {
		t.Fatalf("no user.update by oidc: %+v", upd)
	}
	p := auditParams(*upd)
	if p["role"] != "admin" || p["before"].(map[string]any)["role"] != "operator" {
		t.Errorf("user.update params %v", p)
	}

	// The users page shows how each user signs in.
	resp, doc := c2.Get(t, "/users")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/users: %d", resp.StatusCode)
	}
	row := doc.Find(`[data-testid="user-row"][data-email="olga@corp.example"]`)
	if m := row.Find(`[data-testid="user-method"]`).AttrOr("data-method", ""); m != "oidc" {
		t.Errorf("sign-in method %q, want oidc", m)
	}
	if m := row.Find(`[data-testid="user-last-login"]`).AttrOr("data-method", ""); m != "oidc" {
		t.Errorf("last sign-in method %q, want oidc", m)
	}
}

func TestOIDC_pinnedRole(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	uid := w.app.UserID(t, "olga@corp.example")
	bossPW := w.app.CreateUser(t, "boss@corp.example", fleet.RoleAdmin)
	admin := w.app.Login(t, "boss@corp.example", bossPW)
	resp, _ := admin.PostForm(t, "/users/"+strconv.FormatInt(uid, 10)+"/role", url.Values{"role": {"viewer"}, "pinned": {"true"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pin: %d", resp.StatusCode)
	}
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	u, _ := w.app.Store.UserByID(context.Background(), uid)
	if u.Role != fleet.RoleViewer || !u.RolePinned {
		t.Fatalf("pinned role not kept: %s pinned=%v", u.Role, u.RolePinned)
	}
	// Even a user no group maps may sign in with a pinned role.
	w.idp.SetGroups("sub-olga", "sales")
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")

	// Unpinned: the groups decide again.
	w.idp.SetGroups("sub-olga", "desk")
	resp, _ = admin.PostForm(t, "/users/"+strconv.FormatInt(uid, 10)+"/role", url.Values{"role": {"viewer"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("unpin: %d", resp.StatusCode)
	}
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	if u, _ := w.app.Store.UserByID(context.Background(), uid); u.Role != fleet.RoleHelpdesk || u.RolePinned {
		t.Fatalf("after unpinning: %s pinned=%v", u.Role, u.RolePinned)
	}
}

func TestOIDC_disabledStaysOut(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	if err := w.app.Store.SetUserDisabled(context.Background(), w.app.UserID(t, "olga@corp.example"), true); err != nil {
		t.Fatal(err)
	}
	c := w.app.NewClient()
	resp, doc := w.signIn(t, c, "olga", "olga-pw", "")
	ev := w.wantRefused(t, resp, doc, http.StatusForbidden, "disabled")
	if ev.Outcome != db.OutcomeDenied || ev.ActorEmail != "olga@corp.example" {
		t.Errorf("row %s by %s", ev.Outcome, ev.ActorEmail)
	}
	if c.SignedIn(t) {
		t.Error("a disabled user got a session")
	}
}

func TestOIDC_unmappedGroupRefused(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	w.idp.AddUser(oidctest.User{Subject: "sub-sam", Username: "sam", Password: "sam-pw", Email: "sam@corp.example", EmailVerified: true, Groups: []string{"sales"}})
	resp, doc := w.signIn(t, w.app.NewClient(), "sam", "sam-pw", "")
	ev := w.wantRefused(t, resp, doc, http.StatusForbidden, "unmapped_group")
	if g, _ := auditParams(ev)["groups"].([]any); len(g) != 1 || g[0] != "sales" {
		t.Errorf("groups in the audit row: %v", auditParams(ev)["groups"])
	}
	if _, err := w.app.Store.UserByEmail(context.Background(), "sam@corp.example"); err == nil {
		t.Error("an unmapped user was created")
	}
}

func TestOIDC_defaultRole(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{defaultRole: fleet.RoleViewer})
	w.idp.AddUser(oidctest.User{Subject: "sub-sam", Username: "sam", Password: "sam-pw", Email: "sam@corp.example", EmailVerified: true})
	w.mustSignIn(t, w.app.NewClient(), "sam", "sam-pw")
	if u, err := w.app.Store.UserByEmail(context.Background(), "sam@corp.example"); err != nil || u.Role != fleet.RoleViewer {
		t.Fatalf("user %+v, %v", u, err)
	}
}

func TestOIDC_domainNotAllowed(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{domains: []string{"example.org"}})
	resp, doc := w.signIn(t, w.app.NewClient(), "olga", "olga-pw", "")
	w.wantRefused(t, resp, doc, http.StatusForbidden, "domain_not_allowed")
	// An unverified email is refused when domains are restricted.
	w.idp.AddUser(oidctest.User{Subject: "sub-u", Username: "u", Password: "u-pw", Email: "u@example.org", EmailVerified: false, Groups: []string{"staff"}})
	resp, doc = w.signIn(t, w.app.NewClient(), "u", "u-pw", "")
	w.wantRefused(t, resp, doc, http.StatusForbidden, "email_unverified")
	w.idp.AddUser(oidctest.User{Subject: "sub-v", Username: "v", Password: "v-pw", Email: "v@example.org", EmailVerified: true, Groups: []string{"staff"}})
	w.mustSignIn(t, w.app.NewClient(), "v", "v-pw")
}

func TestOIDC_linksVerifiedEmailOnly(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	pw := w.app.CreateUser(t, "olga@corp.example", fleet.RoleViewer)
	w.app.CreateUser(t, "una@corp.example", fleet.RoleViewer)
	w.idp.AddUser(oidctest.User{Subject: "sub-una", Username: "una", Password: "una-pw", Email: "una@corp.example", OmitEmailVerified: true, Groups: []string{"staff"}})

	// Verified: linked, the password still works, the role follows the groups.
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	u, _ := w.app.Store.UserByEmail(context.Background(), "olga@corp.example")
	if !u.HasOIDC() || !u.HasPassword() || u.Role != fleet.RoleOperator {
		t.Fatalf("linked user %+v", u)
	}
	w.app.Login(t, "olga@corp.example", pw)

	// The provider does not say the address is verified: not linked.
	resp, doc := w.signIn(t, w.app.NewClient(), "una", "una-pw", "")
	w.wantRefused(t, resp, doc, http.StatusForbidden, "email_taken")
	if u, _ := w.app.Store.UserByEmail(context.Background(), "una@corp.example"); u.HasOIDC() {
		t.Error("an unverified email was linked")
	}
}

func TestOIDC_ssoAccountHasNoPassword(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	c := w.app.NewClient()
	c.CSRFFrom(t, "/login")
	for _, pw := range []string{"", "x", "olga-pw"} {
		resp, _ := c.PostForm(t, "/login", url.Values{"email": {"olga@corp.example"}, "password": {pw}})
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatalf("password %q signed in a single sign-on account", pw)
		}
	}
}

func TestOIDC_tamperedState(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	cb := w.atProvider(t, w.start(t, c, ""), "olga", "olga-pw")
	u, _ := url.Parse(cb)
	q := u.Query()
	code := q.Get("code")
	for _, state := range []string{q.Get("state") + "x", "", strings.Repeat("a", 600)} {
		q.Set("state", state)
		resp, doc := c.Get(t, u.Path+"?"+q.Encode())
		w.wantRefused(t, resp, doc, http.StatusBadRequest, "bad_state")
	}
	if c.SignedIn(t) {
		t.Fatal("tampered state signed in")
	}
	// No code, token or state reaches the audit log.
	for _, ev := range w.app.AuditRows(t) {
		all := string(ev.Params) + ev.Message
		if strings.Contains(all, code) || strings.Contains(all, q.Get("state")) {
			t.Errorf("audit row %s holds the code or state: %s", ev.Action, all)
		}
	}
}

func TestOIDC_replayedCallbackAndCode(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	cb := w.atProvider(t, w.start(t, c, ""), "olga", "olga-pw")
	if resp, _ := c.Get(t, cb); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first callback: %d", resp.StatusCode)
	}
	// The same callback again: its state was claimed.
	resp, doc := c.Get(t, cb)
	w.wantRefused(t, resp, doc, http.StatusBadRequest, "bad_state")

	// The spent code under a fresh, valid state: the provider refuses it.
	c2 := w.app.NewClient()
	fresh, _ := url.Parse(w.start(t, c2, ""))
	old, _ := url.Parse(cb)
	resp, doc = c2.Get(t, "/auth/oidc/callback?"+url.Values{"state": {fresh.Query().Get("state")}, "code": {old.Query().Get("code")}}.Encode())
	ev := w.wantRefused(t, resp, doc, http.StatusUnauthorized, "exchange_failed")
	if auditParams(ev)["provider_error"] != "invalid_grant" {
		t.Errorf("provider_error %v, want invalid_grant", auditParams(ev)["provider_error"])
	}
	if c2.SignedIn(t) {
		t.Error("a replayed code signed in")
	}
}

func TestOIDC_otherBrowser(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	victim := w.app.NewClient()
	// The attacker starts and finishes at the provider, then gets a victim's
	// browser to open the callback (login CSRF).
	cb := w.atProvider(t, w.start(t, w.app.NewClient(), ""), "olga", "olga-pw")
	resp, doc := victim.Get(t, cb)
	w.wantRefused(t, resp, doc, http.StatusBadRequest, "browser_mismatch")
	if victim.SignedIn(t) {
		t.Error("login CSRF succeeded")
	}
}

func TestOIDC_expiredState(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	authURL := w.start(t, c, "")
	w.app.Clock.Advance(11 * time.Minute)
	resp, doc := c.Get(t, w.atProvider(t, authURL, "olga", "olga-pw"))
	w.wantRefused(t, resp, doc, http.StatusBadRequest, "state_expired")
}

func TestOIDC_expiredToken(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{tokenLifetime: time.Minute})
	c := w.app.NewClient()
	authURL := w.start(t, c, "")
	cb := w.atProvider(t, authURL, "olga", "olga-pw")
	w.app.Clock.Advance(3 * time.Minute) // state still valid (10 min), token not (1 min)
	resp, doc := c.Get(t, cb)
	w.wantRefused(t, resp, doc, http.StatusUnauthorized, "token_expired")
}

func TestOIDC_providerErrorAndOutage(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	st, _ := url.Parse(w.start(t, c, ""))
	resp, doc := c.Get(t, "/auth/oidc/callback?"+url.Values{"state": {st.Query().Get("state")}, "error": {"access_denied"}, "error_description": {"User said no"}}.Encode())
	ev := w.wantRefused(t, resp, doc, http.StatusUnauthorized, "provider_error")
	if auditParams(ev)["provider_error"] != "access_denied" {
		t.Errorf("params %v", auditParams(ev))
	}

	// Down: the start answers a clear 503 and passwords still work.
	w.idp.SetDown(true)
	w2 := newSSOWorld(t, ssoOptions{})
	w2.idp.SetDown(true)
	c2 := w2.app.NewClient()
	resp, doc = c2.Get(t, "/login/oidc")
	if resp.StatusCode != http.StatusServiceUnavailable || doc.Find(`[data-testid="login-error"]`).AttrOr("data-reason", "") != "provider_unavailable" {
		t.Fatalf("provider down: %d %q", resp.StatusCode, doc.Find(`[data-testid="login-error"]`).Text())
	}
	pw := w2.app.CreateUser(t, "local@corp.example", fleet.RoleViewer)
	w2.app.Login(t, "local@corp.example", pw)
	w2.idp.SetDown(false)
	w2.mustSignIn(t, w2.app.NewClient(), "olga", "olga-pw")
}

func TestOIDC_loginPage(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	_, doc := w.app.NewClient().Get(t, "/login?next=/reports/usage")
	btn := doc.Find(`[data-testid="login-sso"]`)
	if strings.TrimSpace(btn.Text()) != "Sign in with Test IdP" || btn.AttrOr("href", "") != "/login/oidc?next=%2Freports%2Fusage" {
		t.Errorf("button %q → %q", btn.Text(), btn.AttrOr("href", ""))
	}
	if doc.Find(`[data-testid="login-form"]`).Length() != 1 {
		t.Error("the password form is gone with LOCAL_LOGIN on")
	}
	// Without single sign-on: no button, and its routes answer 404.
	app := newTestApp(t)
	c := app.NewClient()
	if _, doc := c.Get(t, "/login"); doc.Find(`[data-testid="login-sso"]`).Length() != 0 {
		t.Error("a single sign-on button without single sign-on")
	}
	for _, p := range []string{"/login/oidc", "/auth/oidc/callback?state=x&code=y"} {
		if resp, _ := c.Get(t, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s without single sign-on: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := c.Get(t, "/login"); strings.Join(cspDirectives(resp.Header.Get("Content-Security-Policy"))["form-action"], " ") != "'self'" {
		t.Errorf("form-action without single sign-on: %q", resp.Header.Get("Content-Security-Policy"))
	}
	// The CSP lets POST /logout go on to the provider.
	resp, _ := w.app.NewClient().Get(t, "/login")
	if fa := cspDirectives(resp.Header.Get("Content-Security-Policy"))["form-action"]; strings.Join(fa, " ") != "'self' "+w.idp.Issuer {
		t.Errorf("form-action %v", fa)
	}
}

func TestOIDC_localLoginOff(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{localLoginOff: true, breakGlass: "root@corp.example"})
	rootPW := w.app.CreateUser(t, "root@corp.example", fleet.RoleAdmin)
	otherPW := w.app.CreateUser(t, "ann@corp.example", fleet.RoleAdmin)
	c := w.app.NewClient()
	_, doc := c.Get(t, "/login")
	if doc.Find(`[data-testid="login-form"]`).Length() != 0 || doc.Find(`[data-testid="login-sso"]`).Length() != 1 || doc.Find(`[data-testid="login-local-link"]`).Length() != 1 {
		t.Fatal("LOCAL_LOGIN=false: want the button and the break-glass link, no password form")
	}
	if _, doc := c.Get(t, "/login?local=1"); doc.Find(`[data-testid="login-form"]`).Length() != 1 || doc.Find(`[data-testid="login-break-glass"]`).Length() != 1 {
		t.Fatal("/login?local=1 shows no password form")
	}
	// The right password of another account, an unknown email and a wrong
	// password of the break-glass admin get one and the same answer (and
	// cost one check each), so the refusal tells neither whether an email
	// exists nor which one is the break-glass account.
	type answer struct {
		status int
		text   string
	}
	var answers []answer
	for _, try := range []url.Values{
		{"email": {"ann@corp.example"}, "password": {otherPW}},
		{"email": {"nobody@corp.example"}, "password": {"some password here"}},
		{"email": {"root@corp.example"}, "password": {"not the password"}},
	} {
		before := w.app.Server.passwordChecks.Load()
		resp, doc := w.app.NewClient().PostForm(t, "/login", try)
		answers = append(answers, answer{resp.StatusCode, strings.TrimSpace(doc.Find(`[data-testid="login-error"]`).Text())})
		if n := w.app.Server.passwordChecks.Load() - before; n != 1 {
			t.Errorf("%s: %d password checks, want 1 (the same work for every email)", try.Get("email"), n)
		}
		if try.Get("email") == "ann@corp.example" {
			rows := w.app.AuditRows(t)
			if last := rows[len(rows)-1]; last.Action != fleet.ActAuthLoginFailed || auditParams(last)["reason"] != "local_login_disabled" {
				t.Errorf("last row %s %v", last.Action, auditParams(last))
			}
		}
	}
	if answers[0].status != http.StatusUnauthorized || !strings.Contains(answers[0].text, "Test IdP") || answers[1] != answers[0] || answers[2] != answers[0] {
		t.Errorf("answers differ or are not 401 naming the provider: %+v", answers)
	}
	w.app.Login(t, "root@corp.example", rootPW)
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")

	// The break-glass admin's attempts are throttled like any: past the
	// window's limit even the right password gets 429, unchecked.
	for i := 0; i < db.EmailAttemptsPerWindow; i++ {
		w.app.NewClient().PostForm(t, "/login", url.Values{"email": {"root@corp.example"}, "password": {"guess " + strconv.Itoa(i) + " of many"}})
	}
	before := w.app.Server.passwordChecks.Load()
	if resp, _ := w.app.NewClient().PostForm(t, "/login", url.Values{"email": {"root@corp.example"}, "password": {rootPW}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("break-glass admin past the limit: %d, want 429", resp.StatusCode)
	}
	if w.app.Server.passwordChecks.Load() != before {
		t.Error("a throttled attempt was checked")
	}
}

func TestOIDC_logoutAtProvider(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	w.mustSignIn(t, c, "olga", "olga-pw")
	c.CSRFFrom(t, "/audit")
	resp, _ := c.PostForm(t, "/logout", nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), w.idp.Issuer) {
		t.Fatalf("logout: %d → %s; want the provider's end_session", resp.StatusCode, loc)
	}
	q := loc.Query()
	if q.Get("id_token_hint") == "" || q.Get("client_id") != ssoClientID || q.Get("post_logout_redirect_uri") != w.app.URL+"/login" {
		t.Errorf("end_session query %v", q)
	}
	if c.SignedIn(t) {
		t.Fatal("still signed in at the dashboard")
	}
	// The provider accepts it and sends the browser back to /login.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r2, err := hc.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if back := r2.Header.Get("Location"); !strings.HasPrefix(back, w.app.URL+"/login") {
		t.Errorf("provider's logout answered %d → %q", r2.StatusCode, back)
	}
	if got := w.idp.Logouts(); len(got) != 1 || got[0] != "sub-olga" {
		t.Errorf("provider sessions ended: %v", got)
	}
	// The ID token left the database with the session.
	var n int
	if err := w.app.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM web_sessions WHERE id_token IS NOT NULL`).Scan(&n); err != nil || n != 0 {
		t.Errorf("id tokens kept after logout: %d %v", n, err)
	}
	rows := w.app.AuditRows(t)
	if last := rows[len(rows)-1]; last.Action != fleet.ActAuthLogout || auditParams(last)["method"] != "oidc" {
		t.Errorf("last row %s %v", last.Action, auditParams(last))
	}
}

// TestOIDC_badStateFloodThrottled: made-up callbacks from one address cost
// the audit log a bounded number of rows.
func TestOIDC_badStateFloodThrottled(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	before := len(w.app.AuditRows(t))
	var last int
	for i := 0; i < db.EmailAttemptsPerWindow+5; i++ {
		resp, _ := c.Get(t, "/auth/oidc/callback?state=made-up-"+strconv.Itoa(i)+"&code=x")
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("after a flood: status %d, want 429", last)
	}
	if n := len(w.app.AuditRows(t)) - before; n != db.EmailAttemptsPerWindow+1 {
		t.Errorf("%d audit rows for the flood, want %d (each allowed attempt and the first refusal)", n, db.EmailAttemptsPerWindow+1)
	}
	// A real sign-in from the same address still works: only refusals are
	// counted.
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
}

// TestOIDC_keyRotation: the provider replaces its signing key (the old one
// leaves its JWKS) while the dashboard runs; the next sign-in works.
func TestOIDC_keyRotation(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	if err := w.idp.RotateKey(true); err != nil {
		t.Fatal(err)
	}
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
}

// TestOIDC_emailFollowsProvider: an account renamed at the provider (a
// verified address) is renamed in the dashboard, audited; the new address
// of another account is not taken.
func TestOIDC_emailFollowsProvider(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	uid := w.app.UserID(t, "olga@corp.example")
	w.idp.AddUser(oidctest.User{Subject: "sub-olga", Username: "olga", Password: "olga-pw", Email: "olga.ops@corp.example", EmailVerified: true, Groups: []string{"it-ops"}})
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	if u, _ := w.app.Store.UserByID(context.Background(), uid); u.Email != "olga.ops@corp.example" {
		t.Fatalf("email %q after the rename", u.Email)
	}
	w.app.CreateUser(t, "taken@corp.example", fleet.RoleViewer)
	w.idp.AddUser(oidctest.User{Subject: "sub-olga", Username: "olga", Password: "olga-pw", Email: "taken@corp.example", EmailVerified: true, Groups: []string{"it-ops"}})
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
	if u, _ := w.app.Store.UserByID(context.Background(), uid); u.Email != "olga.ops@corp.example" {
		t.Fatalf("email %q: took another account's address", u.Email)
	}
}

// TestOIDC_idTokenSealedAtRest: the ID token kept for the logout's
// id_token_hint is never in web_sessions in plain text (nor any part of
// it); the logout still sends the real token, and a kept value that does
// not open only costs the hint.
func TestOIDC_idTokenSealedAtRest(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	w.mustSignIn(t, c, "olga", "olga-pw")
	var kept string
	if err := w.app.Store.Pool().QueryRow(context.Background(), `SELECT id_token FROM web_sessions WHERE id_token IS NOT NULL`).Scan(&kept); err != nil {
		t.Fatalf("kept id token: %v", err)
	}
	c.CSRFFrom(t, "/audit")
	resp, _ := c.PostForm(t, "/logout", nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	hint := loc.Query().Get("id_token_hint")
	parts := strings.Split(hint, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token_hint %q is not a JWT", hint)
	}
	var claims struct {
		Sub string `json:"sub"`
		Iss string `json:"iss"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(b, &claims) != nil || claims.Sub != "sub-olga" || claims.Iss != w.idp.Issuer {
		t.Fatalf("the hint is not the provider's ID token of olga: %+v %v", claims, err)
	}
	for i, p := range parts {
		if len(p) >= 16 && strings.Contains(kept, p) {
			t.Errorf("web_sessions.id_token holds part %d of the ID token in plain text: %q", i, kept)
		}
	}
	if !strings.HasPrefix(kept, sealedIDTokenPrefix) {
		t.Errorf("kept value %q is not sealed", kept)
	}

	// A value that does not open (another SESSION_KEY, copied from another
	// row): the provider's logout still runs, without the hint.
	c2 := w.app.NewClient()
	w.mustSignIn(t, c2, "olga", "olga-pw")
	if _, err := w.app.Store.Pool().Exec(context.Background(), `UPDATE web_sessions SET id_token = $1 WHERE id_token IS NOT NULL`, kept); err != nil {
		t.Fatal(err)
	}
	c2.CSRFFrom(t, "/audit")
	resp, _ = c2.PostForm(t, "/logout", nil)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), w.idp.Issuer) || loc.Query().Has("id_token_hint") || loc.Query().Get("client_id") != ssoClientID {
		t.Fatalf("logout with a sealed value of another session: %d → %s", resp.StatusCode, loc)
	}
	if c2.SignedIn(t) {
		t.Fatal("still signed in")
	}
}

func TestIDTokenBox(t *testing.T) {
	t.Parallel()
	key := []byte(strings.Repeat("k", 32))
	b, err := newIDTokenBox(key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newIDTokenBox([]byte(strings.Repeat("j", 32)))
	const tok = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvbGdhIn0.c2lnbmF0dXJl"
	sealed := b.seal(tok, "session-a")
	if strings.Contains(sealed, "eyJzdWIiOiJvbGdhIn0") || sealed == b.seal(tok, "session-a") {
		t.Fatalf("sealed %q: holds the payload or is not randomized", sealed)
	}
	if got, err := b.open(sealed, "session-a"); err != nil || got != tok {
		t.Fatalf("open: %q %v", got, err)
	}
	if b.seal("", "session-a") != "" {
		t.Error("an empty token sealed to something")
	}
	for name, f := range map[string]func() (string, error){
		"another session": func() (string, error) { return b.open(sealed, "session-b") },
		"another key":     func() (string, error) { return other.open(sealed, "session-a") },
		"plain text":      func() (string, error) { return b.open(tok, "session-a") },
		"truncated":       func() (string, error) { return b.open(sealed[:10], "session-a") },
		"damaged":         func() (string, error) { return b.open(sealed[:len(sealed)-2]+"AA", "session-a") },
		"not base64":      func() (string, error) { return b.open(sealedIDTokenPrefix+"!!!", "session-a") },
	} {
		if got, err := f(); err == nil || got != "" {
			t.Errorf("%s: opened to %q", name, got)
		}
	}
}

// TestOIDC_providerErrorWithEntraDescription: Entra ID sends an
// error_description with "\r\n" in it (Trace ID, Correlation ID) on every
// error callback. It gets the clear refusal page, not the edge's 400; a
// control character anywhere else in the callback's query still gets 400,
// and odd but harmless values (a huge state, extra parameters such as iss
// and session_state) are refused or ignored by the handler.
func TestOIDC_providerErrorWithEntraDescription(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	st, _ := url.Parse(w.start(t, c, "/reports/usage"))
	state := st.Query().Get("state")
	desc := "AADSTS65004: User declined to consent to access the app.\r\nTrace ID: 0000aaaa-11bb\r\nCorrelation ID: aaaa0000-bb11\r\nTimestamp: 2026-01-09 02:02:12Z"
	resp, doc := c.Get(t, "/auth/oidc/callback?"+url.Values{"state": {state}, "error": {"access_denied"}, "error_description": {desc},
		"iss": {w.idp.Issuer}, "session_state": {"abc.def"}}.Encode())
	ev := w.wantRefused(t, resp, doc, http.StatusUnauthorized, "provider_error")
	if p := auditParams(ev); p["provider_error"] != "access_denied" || strings.Contains(string(ev.Params), "AADSTS") {
		t.Errorf("params %s", ev.Params)
	}
	if strings.Contains(doc.Text(), "Trace ID") {
		t.Error("the provider's description is shown")
	}

	// Control characters elsewhere in the callback: still 400.
	for _, q := range []url.Values{
		{"state": {"x\r\ny"}, "code": {"c"}},
		{"state": {"x"}, "code": {"c\x00"}},
		{"state": {"x"}, "error": {"access_denied\n"}},
		{"state": {"x"}, "error_description": {"nul\x00"}},
	} {
		if resp, _ := w.app.NewClient().Get(t, "/auth/oidc/callback?"+q.Encode()); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("callback %v: %d, want 400", q, resp.StatusCode)
		}
	}
	// A huge state is an unknown one.
	resp, doc = w.app.NewClient().Get(t, "/auth/oidc/callback?"+url.Values{"state": {strings.Repeat("s", 20000)}, "code": {"c"}}.Encode())
	w.wantRefused(t, resp, doc, http.StatusBadRequest, "bad_state")
	// A newline in error_description of another route is refused as before.
	if resp, _ := w.app.NewClient().Get(t, "/login?"+url.Values{"error_description": {"a\r\nb"}}.Encode()); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/login with a newline in the query: %d", resp.StatusCode)
	}
}

// roleFormOf reads the role form of uid's row on /users as the browser
// would post it (hidden fields, the selected role, the pin if ticked).
func roleFormOf(t *testing.T, c *client, uid int64) url.Values {
	t.Helper()
	_, doc := c.Get(t, "/users")
	form := doc.Find(`#user-` + strconv.FormatInt(uid, 10) + ` [data-testid="user-role-form"]`)
	if form.Length() != 1 {
		t.Fatalf("no role form for user %d", uid)
	}
	v := url.Values{}
	form.Find(`input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
		if n := s.AttrOr("name", ""); n != "_csrf" {
			v.Set(n, s.AttrOr("value", ""))
		}
	})
	v.Set("role", form.Find(`select[name="role"] option[selected]`).AttrOr("value", ""))
	if cb := form.Find(`input[name="pinned"]`); cb.Length() == 1 && cb.Is("[checked]") {
		v.Set("pinned", "true")
	}
	return v
}

// TestOIDC_staleRoleFormKeepsOtherAdminsChange: the users page's role form
// carries what its admin saw; a page opened before another admin pinned
// (or changed) the role does not undo that, and choosing another role
// over a role changed meanwhile is a conflict that changes nothing.
func TestOIDC_staleRoleFormKeepsOtherAdminsChange(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw") // operator, from it-ops
	uid := w.app.UserID(t, "olga@corp.example")
	path := "/users/" + strconv.FormatInt(uid, 10) + "/role"
	a := w.app.Login(t, "a@corp.example", w.app.CreateUser(t, "a@corp.example", fleet.RoleAdmin))
	b := w.app.Login(t, "b@corp.example", w.app.CreateUser(t, "b@corp.example", fleet.RoleAdmin))
	get := func() db.User {
		u, err := w.app.Store.UserByID(context.Background(), uid)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	stale := roleFormOf(t, a, uid)
	if stale.Get("seen_role") != "operator" || stale.Get("seen_pinned") != "false" || stale.Has("pinned") {
		t.Fatalf("form as rendered: %v", stale)
	}
	// B pins olga as viewer.
	fresh := roleFormOf(t, b, uid)
	fresh.Set("role", "viewer")
	fresh.Set("pinned", "true")
	if resp, _ := b.PostForm(t, path, fresh); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("B's pin: %d", resp.StatusCode)
	}
	// A saves the stale form unchanged: B's pin and role stay.
	if resp, _ := a.PostForm(t, path, stale); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("A's save: %d", resp.StatusCode)
	}
	if u := get(); u.Role != "viewer" || !u.RolePinned {
		t.Fatalf("a stale form undid the pin: %s pinned=%v", u.Role, u.RolePinned)
	}
	// A chooses helpdesk over the operator they saw, but it is viewer now:
	// a conflict, nothing changed, the row shows the current role.
	stale.Set("role", "helpdesk")
	resp, doc := a.PostHTMX(t, path, stale)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(doc.Find(`[data-testid="section-message"]`).Text(), "it is now viewer") {
		t.Fatalf("conflicting role: %d %q", resp.StatusCode, doc.Find(`[data-testid="section-message"]`).Text())
	}
	if u := get(); u.Role != "viewer" || !u.RolePinned {
		t.Fatalf("after the conflict: %s pinned=%v", u.Role, u.RolePinned)
	}
	// A fresh form: changing only the role keeps the pin; unticking unpins.
	f := roleFormOf(t, a, uid)
	f.Set("role", "admin")
	if resp, _ := a.PostForm(t, path, f); resp.StatusCode != http.StatusSeeOther {
		t.Fatal(resp.StatusCode)
	}
	if u := get(); u.Role != "admin" || !u.RolePinned {
		t.Fatalf("role change: %s pinned=%v", u.Role, u.RolePinned)
	}
	f = roleFormOf(t, a, uid)
	f.Del("pinned")
	a.PostForm(t, path, f)
	if u := get(); u.Role != "admin" || u.RolePinned {
		t.Fatalf("unpin: %s pinned=%v", u.Role, u.RolePinned)
	}
	// Only admins reach the form or its route.
	op := w.app.Login(t, "op@corp.example", w.app.CreateUser(t, "op@corp.example", fleet.RoleOperator))
	if resp, _ := op.Get(t, "/users"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator GET /users: %d", resp.StatusCode)
	}
	if resp, _ := op.PostForm(t, path, url.Values{"role": {"admin"}, "pinned": {"true"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator pin: %d", resp.StatusCode)
	}
	if u := get(); u.Role != "admin" || u.RolePinned {
		t.Fatalf("after the operator's try: %s pinned=%v", u.Role, u.RolePinned)
	}
}

// TestOIDC_groupsOverageRefused: Entra ID leaves the groups out of the ID
// token past 200 of them (_claim_names points elsewhere). That is not "no
// groups": with OIDC_DEFAULT_ROLE set, an admin would be quietly demoted
// to it. The sign-in is refused with a clear reason and the role is left
// alone; a pinned role still lets the user in.
func TestOIDC_groupsOverageRefused(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{defaultRole: fleet.RoleViewer})
	w.idp.AddUser(oidctest.User{Subject: "sub-ada", Username: "ada", Password: "ada-pw", Email: "ada@corp.example", EmailVerified: true, Groups: []string{"it-admins"}})
	w.mustSignIn(t, w.app.NewClient(), "ada", "ada-pw")
	uid := w.app.UserID(t, "ada@corp.example")
	overage := map[string]any{
		"_claim_names":   map[string]any{"groups": "src1"},
		"_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/v1.0/users/sub-ada/getMemberObjects"}},
	}
	w.idp.AddUser(oidctest.User{Subject: "sub-ada", Username: "ada", Password: "ada-pw", Email: "ada@corp.example", EmailVerified: true, Claims: overage})
	resp, doc := w.signIn(t, w.app.NewClient(), "ada", "ada-pw", "")
	w.wantRefused(t, resp, doc, http.StatusForbidden, "groups_overage")
	if u, _ := w.app.Store.UserByID(context.Background(), uid); u.Role != fleet.RoleAdmin {
		t.Fatalf("role after an overage sign-in: %s, want admin kept", u.Role)
	}
	if err := w.app.Store.SetUserRoleAndPin(context.Background(), uid, fleet.RoleOperator, true); err != nil {
		t.Fatal(err)
	}
	w.mustSignIn(t, w.app.NewClient(), "ada", "ada-pw")
}

// TestOIDC_nextStaysOnSite: the next kept through the provider obeys the
// password sign-in's rule (safeNext): anything not a plain local path
// lands on /machines, both as asked for at /login/oidc and as stored (a
// row changed in the database is checked again at the callback).
func TestOIDC_nextStaysOnSite(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	for _, next := range []string{"//evil.example", "/\\evil.example", "https://evil.example/", "/%2F%2Fevil.example", "/./%2fevil", "/login/oidc?next=//evil.example", "/logout", "javascript:alert(1)"} {
		c := w.app.NewClient()
		resp, _ := w.signIn(t, c, "olga", "olga-pw", next)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/machines" {
			t.Errorf("next %q: %d → %q, want /machines", next, resp.StatusCode, loc)
		}
	}
	c := w.app.NewClient()
	authURL := w.start(t, c, "/reports/usage")
	if _, err := w.app.Store.Pool().Exec(context.Background(), `UPDATE oidc_logins SET next = '//evil.example'`); err != nil {
		t.Fatal(err)
	}
	resp, _ := c.Get(t, w.atProvider(t, authURL, "olga", "olga-pw"))
	if loc := resp.Header.Get("Location"); loc != "/machines" {
		t.Errorf("stored next changed to another site: → %q", loc)
	}
}

// TestOIDC_startFloodBounded: GET /login/oidc needs no sign-in and writes a
// row; past db.MaxOpenOIDCLoginsPerAddr open ones from one address it
// answers 429 with a clear page and writes nothing (no row, no audit row).
func TestOIDC_startFloodBounded(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{})
	c := w.app.NewClient()
	for i := 0; i < db.MaxOpenOIDCLoginsPerAddr; i++ {
		w.start(t, c, "")
	}
	audits := len(w.app.AuditRows(t))
	resp, doc := c.Get(t, "/login/oidc")
	if resp.StatusCode != http.StatusTooManyRequests || doc.Find(`[data-testid="login-error"]`).AttrOr("data-reason", "") != "too_many_starts" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("start past the bound: %d %q", resp.StatusCode, doc.Find(`[data-testid="login-error"]`).Text())
	}
	var n int
	if err := w.app.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM oidc_logins`).Scan(&n); err != nil || n != db.MaxOpenOIDCLoginsPerAddr {
		t.Errorf("rows %d %v, want %d", n, err, db.MaxOpenOIDCLoginsPerAddr)
	}
	if len(w.app.AuditRows(t)) != audits {
		t.Error("the refused start wrote to the audit log")
	}
	// They expire after 10 minutes: the address may start again.
	w.app.Clock.Advance(11 * time.Minute)
	w.mustSignIn(t, w.app.NewClient(), "olga", "olga-pw")
}

// TestOIDC_breakGlassKeepsRole: the ADMIN_EMAIL account may be linked to
// the provider (a verified email), but its role is never taken from the
// groups: a single sign-on as a mere viewer must not demote the one
// account that gets in with a password when single sign-on goes wrong.
func TestOIDC_breakGlassKeepsRole(t *testing.T) {
	t.Parallel()
	w := newSSOWorld(t, ssoOptions{localLoginOff: true, breakGlass: "root@corp.example"})
	rootPW := w.app.CreateUser(t, "root@corp.example", fleet.RoleAdmin)
	w.idp.AddUser(oidctest.User{Subject: "sub-root", Username: "root", Password: "root-pw", Email: "root@corp.example", EmailVerified: true, Groups: []string{"staff"}})
	w.mustSignIn(t, w.app.NewClient(), "root", "root-pw")
	u, err := w.app.Store.UserByEmail(context.Background(), "root@corp.example")
	if err != nil || !u.HasOIDC() || u.Role != fleet.RoleAdmin {
		t.Fatalf("break-glass account after a single sign-on as staff: role %s linked %v, %v", u.Role, u.HasOIDC(), err)
	}
	for _, ev := range w.app.AuditRows(t) {
		if ev.Action == fleet.ActUserUpdate && auditParams(ev)["role"] != nil {
			t.Errorf("a role change was attempted: %s", ev.Params)
		}
	}
	c := w.app.Login(t, "root@corp.example", rootPW)
	if resp, _ := c.Get(t, "/users"); resp.StatusCode != http.StatusOK {
		t.Errorf("break-glass admin on /users: %d", resp.StatusCode)
	}
}
