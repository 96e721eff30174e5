package web

// Issue 8 (hardening) on the real router and the real Postgres: login
// throttling under concurrency, client addresses behind trusted proxies,
// server-side sessions, a bounded audit log under a sign-in flood, sign-in
// failing closed without the audit log, and the users page's confirmation
// and sessions.

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// TestLogin_parallelThrottle (issue 8, security 3): 40 wrong passwords for
// one email sent at once get at most the limit of password checks, and the
// right password afterwards is refused unchecked.
func TestLogin_parallelThrottle(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)
	const n = 40
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = app.NewClient()
		clients[i].CSRFFrom(t, "/login")
	}
	checksBefore := app.Server.passwordChecks.Load()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		status = map[int]int{}
		start  = make(chan struct{})
	)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, _ := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {"wrong " + strconv.Itoa(i)}})
			mu.Lock()
			status[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	checks := app.Server.passwordChecks.Load() - checksBefore
	if checks > db.EmailAttemptsPerWindow || status[http.StatusUnauthorized] > db.EmailAttemptsPerWindow {
		t.Errorf("%d parallel wrong passwords: %d password checks, statuses %v; want at most %d checked", n, checks, status, db.EmailAttemptsPerWindow)
	}
	if status[http.StatusUnauthorized]+status[http.StatusTooManyRequests] != n {
		t.Errorf("statuses %v, want only 401 and 429", status)
	}
	before := app.Server.passwordChecks.Load()
	c := app.NewClient()
	resp, _ := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {pw}})
	if resp.StatusCode != http.StatusTooManyRequests || c.SignedIn(t) {
		t.Errorf("the right password after the burst: status %d, want 429 and no session", resp.StatusCode)
	}
	if got := app.Server.passwordChecks.Load() - before; got != 0 {
		t.Errorf("a throttled attempt checked the password (%d checks)", got)
	}
}

func TestResolveClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxy trusted: the header is ignored", "10.0.0.1:5000", []string{"203.0.113.7"}, nil, "10.0.0.1"},
		{"untrusted peer: the header is ignored", "198.51.100.2:5000", []string{"203.0.113.7"}, trusted, "198.51.100.2"},
		{"trusted peer, one hop", "10.0.0.1:5000", []string{"203.0.113.7"}, trusted, "203.0.113.7"},
		{"trusted peer, no header", "10.0.0.1:5000", nil, trusted, "10.0.0.1"},
		{"forged left part is skipped", "10.0.0.1:5000", []string{"1.2.3.4, 203.0.113.7"}, trusted, "203.0.113.7"},
		{"chain of trusted proxies", "10.0.0.1:5000", []string{"203.0.113.7, 10.9.9.9", "10.1.1.1"}, trusted, "203.0.113.7"},
		{"all hops trusted: the leftmost", "10.0.0.1:5000", []string{"10.2.2.2, 10.3.3.3"}, trusted, "10.2.2.2"},
		{"garbage stops the walk at the last good hop", "10.0.0.1:5000", []string{"203.0.113.7, bogus, 10.3.3.3"}, trusted, "10.3.3.3"},
		{"garbage rightmost: the peer", "10.0.0.1:5000", []string{"bogus"}, trusted, "10.0.0.1"},
		{"entry with a port", "10.0.0.1:5000", []string{"203.0.113.7:4711"}, trusted, "203.0.113.7"},
		{"ipv6 peer and client", "[fd00::1]:5000", []string{"[2001:db8::5]:80"}, trusted, "2001:db8::5"},
		{"ipv4-mapped peer", "[::ffff:10.0.0.1]:5000", []string{"203.0.113.7"}, trusted, "203.0.113.7"},
		{"spaces around entries", "10.0.0.1:5000", []string{" 203.0.113.7 ,  10.1.1.1 "}, trusted, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolveClientIP(tt.peer, tt.xff, tt.trusted); got != tt.want {
				t.Errorf("resolveClientIP(%q, %q) = %q, want %q", tt.peer, tt.xff, got, tt.want)
			}
		})
	}
}

// forwardedClient is a client behind a proxy that says it is ip.
func forwardedClient(app *testApp, ip string) *client {
	c := app.NewClient()
	c.Header = http.Header{"X-Forwarded-For": {ip}}
	return c
}

// TestLogin_trustedProxies (issue 8, security 4): behind a trusted proxy
// each client is throttled by its own address, so failures from many
// clients with made-up emails do not lock a real user out; without
// TRUSTED_PROXIES the header is ignored.
func TestLogin_trustedProxies(t *testing.T) {
	t.Parallel()
	// The test server's peer address is loopback: it plays the TLS proxy.
	app := newTestApp(t, withTrustedProxies(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")))
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)

	for i := 1; i <= 10; i++ {
		ip := fmt.Sprintf("203.0.113.%d", i)
		resp, _ := forwardedClient(app, ip).PostForm(t, "/login", url.Values{"email": {fmt.Sprintf("made-up-%d@example.com", i)}, "password": {"guess"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure from %s: status %d, want 401", ip, resp.StatusCode)
		}
		if ev := lastAudit(t, app); ev.RemoteAddr != ip {
			t.Errorf("audit remote_addr %q, want the forwarded client %s", ev.RemoteAddr, ip)
		}
	}
	t.Run("a real user signs in", func(t *testing.T) {
		c := forwardedClient(app, "198.51.100.20")
		c.CSRFFrom(t, "/login")
		resp, doc := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {pw}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d (%s), want 303", resp.StatusCode, doc.Find(testID("login-error")).Text())
		}
		if ev := lastAudit(t, app); ev.Action != fleet.ActAuthLogin || ev.RemoteAddr != "198.51.100.20" {
			t.Errorf("audit %s from %q, want auth.login from 198.51.100.20", ev.Action, ev.RemoteAddr)
		}
	})
	t.Run("an address over its limit is refused, its neighbour is not", func(t *testing.T) {
		ctx := context.Background()
		for i := range db.AddrAttemptsPerWindow {
			if _, err := app.Store.CountLoginAttempt(ctx, fmt.Sprintf("spray-%d@example.com", i), "198.51.100.66", app.Clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, _ := forwardedClient(app, "198.51.100.66").PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {pw}})
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("from the spraying address: status %d, want 429", resp.StatusCode)
		}
		resp, _ = forwardedClient(app, "198.51.100.67").PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {pw}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("from the next address: status %d, want 303", resp.StatusCode)
		}
	})
	t.Run("a forged left part does not move the client", func(t *testing.T) {
		c := forwardedClient(app, "198.51.100.66")
		c.Header.Set("X-Forwarded-For", "192.0.2.1, 198.51.100.66")
		resp, _ := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {pw}})
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("status %d, want 429 (the client is still 198.51.100.66)", resp.StatusCode)
		}
	})

	t.Run("without TRUSTED_PROXIES the header is ignored", func(t *testing.T) {
		plain := newTestApp(t)
		plain.CreateUser(t, "bob@example.com", fleet.RoleViewer)
		resp, _ := forwardedClient(plain, "203.0.113.99").PostForm(t, "/login", url.Values{"email": {"bob@example.com"}, "password": {"guess"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
		if ev := lastAudit(t, plain); ev.RemoteAddr == "203.0.113.99" || !strings.HasPrefix(ev.RemoteAddr, "127.") && ev.RemoteAddr != "::1" {
			t.Errorf("audit remote_addr %q, want the peer (loopback), not the header", ev.RemoteAddr)
		}
	})
}

// replay is a new client carrying only the given session cookie value.
func replay(app *testApp, cookie string) *client {
	c := app.NewClient()
	u, _ := url.Parse(app.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: sessionName, Value: cookie, Path: "/"}})
	return c
}

// TestSession_revocation (issue 8, security 6): a session is recorded
// server-side and dies at logout, at disable (even after re-enable) and
// when an admin ends it.
func TestSession_revocation(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	bossPW := app.CreateUser(t, "boss@example.com", fleet.RoleAdmin)
	annPW := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)
	boss := app.Login(t, "boss@example.com", bossPW)
	annID := strconv.FormatInt(app.UserID(t, "ann@example.com"), 10)

	t.Run("replay after logout", func(t *testing.T) {
		ann := app.Login(t, "ann@example.com", annPW)
		cookie := ann.SessionCookie(t)
		if !replay(app, cookie).SignedIn(t) {
			t.Fatal("the cookie does not work before logout")
		}
		resp, _ := ann.PostForm(t, "/logout", nil)
		wantRedirectToLogin(t, resp)
		resp, _ = replay(app, cookie).Get(t, "/machines")
		wantRedirectToLogin(t, resp)
	})

	t.Run("disable then enable", func(t *testing.T) {
		ann := app.Login(t, "ann@example.com", annPW)
		cookie := ann.SessionCookie(t)
		for _, step := range []string{"/disable", "/enable"} {
			resp, _ := boss.PostForm(t, "/users/"+annID+step, url.Values{"confirmed": {"true"}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s: status %d", step, resp.StatusCode)
			}
		}
		resp, _ := replay(app, cookie).Get(t, "/machines")
		wantRedirectToLogin(t, resp)
		app.Login(t, "ann@example.com", annPW) // a new sign-in works
	})

	t.Run("an admin ends one session", func(t *testing.T) {
		ann1 := app.Login(t, "ann@example.com", annPW)
		ann2 := app.Login(t, "ann@example.com", annPW)
		_, doc := boss.Get(t, "/users")
		row := doc.Find(`[data-testid="user-row"][data-email="ann@example.com"]`)
		sessions := row.Find(testID("user-session"))
		if sessions.Length() < 2 {
			t.Fatalf("ann's row lists %d sessions, want at least 2", sessions.Length())
		}
		// The newest is listed first: ann2's.
		sid, _ := sessions.First().Attr("data-session-id")
		resp, _ := boss.PostHTMX(t, "/users/"+annID+"/sessions/"+sid+"/revoke", nil)
		// A bare <tr> fragment: read it as text (an HTML parser drops a
		// row outside a table).
		body := bodyText(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="user-row"`) {
			t.Fatalf("revoke: status %d, want 200 with the row", resp.StatusCode)
		}
		if strings.Contains(body, `data-session-id="`+sid+`"`) {
			t.Error("the ended session is still listed")
		}
		if ann2.SignedIn(t) {
			t.Error("the ended session still works")
		}
		if !ann1.SignedIn(t) {
			t.Error("the other session was ended too")
		}
		ev := lastAudit(t, app)
		if ev.Action != fleet.ActUserUpdate || ev.Outcome != db.OutcomeSucceeded || !strings.Contains(string(ev.Params), `"end_sessions": "one"`) || !strings.Contains(string(ev.Params), `"session_id": `+sid) {
			t.Errorf("audit %s %s %s, want user.update succeeded naming the session", ev.Action, ev.Outcome, ev.Params)
		}

		t.Run("and then all", func(t *testing.T) {
			resp, _ := boss.PostForm(t, "/users/"+annID+"/sessions/revoke", nil)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("end all: status %d", resp.StatusCode)
			}
			if ann1.SignedIn(t) {
				t.Error("a session survived end all")
			}
			if !boss.SignedIn(t) {
				t.Error("ending ann's sessions ended the admin's")
			}
			// ann1 and the sign-in after re-enabling were open.
			ev := lastAudit(t, app)
			if ev.Action != fleet.ActUserUpdate || !strings.Contains(string(ev.Params), `"end_sessions": "all"`) || !strings.Contains(string(ev.Params), `"sessions_ended": 2`) {
				t.Errorf("audit %s %s, want user.update with end_sessions all and sessions_ended 2", ev.Action, ev.Params)
			}
		})
	})
}

// TestLogin_throttledAuditBounded (issue 8, security 11): a flood of
// throttled sign-ins writes a fixed number of audit rows, not one each.
func TestLogin_throttledAuditBounded(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	app.CreateUser(t, "ann@example.com", fleet.RoleViewer)
	c := app.NewClient()
	post := func() int {
		resp, _ := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {"guess"}})
		return resp.StatusCode
	}
	for range db.EmailAttemptsPerWindow {
		if got := post(); got != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", got)
		}
	}
	before := len(app.AuditRows(t))
	for i := range 200 {
		if got := post(); got != http.StatusTooManyRequests {
			t.Fatalf("throttled attempt %d: status %d, want 429", i, got)
		}
	}
	rows := app.AuditRows(t)[before:]
	// One for the email's window; one more when the address's window fills.
	if len(rows) > 2 || len(rows) == 0 {
		t.Fatalf("200 throttled attempts wrote %d audit rows, want 1 or 2", len(rows))
	}
	if ev := rows[0]; ev.Action != fleet.ActAuthLoginFailed || ev.Outcome != db.OutcomeDenied || !strings.Contains(string(ev.Params), `"reason": "throttled"`) {
		t.Errorf("audit %s %s %s, want auth.login_failed denied throttled", ev.Action, ev.Outcome, ev.Params)
	}
}

// breakAudit makes every insert into audit_events fail (a trigger that
// raises, added as the superuser).
func breakAudit(t *testing.T, app *testApp) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbtest.AsAdmin(t, app.DBURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `
		CREATE FUNCTION test_audit_down() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit log down (test)'; END $$;
		CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_events
		FOR EACH ROW EXECUTE FUNCTION test_audit_down();`); err != nil {
		t.Fatal(err)
	}
}

// TestLogin_auditUnwritable (issue 8, security 15): sign-in fails closed
// when the audit log cannot be written; sign-out still ends the session.
func TestLogin_auditUnwritable(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)
	signedIn := app.Login(t, "ann@example.com", pw)
	cookie := signedIn.SessionCookie(t)
	breakAudit(t, app)

	for _, tt := range []struct{ name, password string }{{"right password", pw}, {"wrong password", "guess"}} {
		t.Run(tt.name, func(t *testing.T) {
			c := app.NewClient()
			resp, doc := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {tt.password}})
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", resp.StatusCode)
			}
			want := "Sign-in is unavailable: the audit log cannot be written. Nothing was changed."
			if got := strings.TrimSpace(doc.Find(testID("login-unavailable")).Text()); got != want {
				t.Errorf("login-unavailable %q, want %q", got, want)
			}
			if c.SignedIn(t) {
				t.Error("signed in without an audit row")
			}
		})
	}
	if u, _ := app.Store.UserByEmail(context.Background(), "ann@example.com"); u.LastLoginAt == nil {
		t.Fatal("no last sign-in from the first, audited sign-in")
	}

	t.Run("sign-out still ends the session", func(t *testing.T) {
		resp, _ := signedIn.PostForm(t, "/logout", nil)
		wantRedirectToLogin(t, resp)
		_, doc := signedIn.Get(t, "/login")
		if !strings.Contains(doc.Find(testID("flashes")).Text(), "audit log could not record it") {
			t.Errorf("the login page does not say the sign-out was not recorded: %q", doc.Find(testID("flashes")).Text())
		}
		resp, _ = replay(app, cookie).Get(t, "/machines")
		wantRedirectToLogin(t, resp)
	})
}

// TestUsers_disableConfirmAndLastSignIn (issue 9, point 17): disabling asks
// first on the server (nothing changes until confirmed=true), and the users
// page shows each user's last sign-in.
func TestUsers_disableConfirmAndLastSignIn(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	bossPW := app.CreateUser(t, "boss@example.com", fleet.RoleAdmin)
	annPW := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)
	app.CreateUser(t, "never@example.com", fleet.RoleViewer)
	boss := app.Login(t, "boss@example.com", bossPW)
	ann := app.Login(t, "ann@example.com", annPW)
	annID := strconv.FormatInt(app.UserID(t, "ann@example.com"), 10)
	disabled := func() bool {
		u, err := app.Store.UserByEmail(context.Background(), "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		return u.Disabled
	}

	t.Run("last sign-in", func(t *testing.T) {
		_, doc := boss.Get(t, "/users")
		annRow := doc.Find(`[data-testid="user-row"][data-email="ann@example.com"]`)
		if annRow.Find(testID("user-last-login")+" time").Length() != 1 {
			t.Errorf("ann's last sign-in is not shown: %q", annRow.Find(testID("user-last-login")).Text())
		}
		if got := strings.TrimSpace(doc.Find(`[data-testid="user-row"][data-email="never@example.com"] ` + testID("user-last-login")).Text()); got != "never" {
			t.Errorf("never-signed-in user's last sign-in %q, want never", got)
		}
		if got, _ := annRow.Find(testID("user-sessions")).Attr("data-count"); got != "1" {
			t.Errorf("ann's open sessions %q, want 1", got)
		}
	})

	t.Run("htmx: the row asks first", func(t *testing.T) {
		resp, _ := boss.PostHTMX(t, "/users/"+annID+"/disable", nil)
		body := bodyText(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="user-disable-confirmation"`) {
			t.Fatalf("status %d, want 200 with the confirmation", resp.StatusCode)
		}
		if disabled() || !ann.SignedIn(t) {
			t.Fatal("disabled before confirmation")
		}
		if !strings.Contains(body, `name="confirmed" value="true"`) {
			t.Error("the confirmation does not send confirmed=true")
		}
	})

	t.Run("without htmx: the page asks first", func(t *testing.T) {
		resp, doc := boss.PostForm(t, "/users/"+annID+"/disable", nil)
		if resp.StatusCode != http.StatusOK || doc.Find(`[data-email="ann@example.com"] `+testID("user-disable-confirmation")).Length() != 1 {
			t.Fatalf("status %d, want 200 with ann's row asking", resp.StatusCode)
		}
		if disabled() {
			t.Fatal("disabled before confirmation")
		}
		resp, _ = boss.PostForm(t, "/users/"+annID+"/disable", url.Values{"confirmed": {"true"}})
		if resp.StatusCode != http.StatusSeeOther || !disabled() {
			t.Fatalf("confirmed: status %d disabled %v, want 303 and disabled", resp.StatusCode, disabled())
		}
		if ann.SignedIn(t) {
			t.Error("the disabled user is still signed in")
		}
	})
}
