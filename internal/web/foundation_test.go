package web

// Issue 3 §9 on the real Postgres: sign-in, throttling, sessions, disabled
// users and role changes. The route-walking tests (CSRF, role matrix) are in
// foundation_routes_test.go; operations (readyz, fail-closed, headers, log)
// in foundation_ops_test.go.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

func testID(id string) string { return `[data-testid="` + id + `"]` }

// lastAudit returns the newest audit row, failing when there is none.
func lastAudit(t *testing.T, app *testApp) db.AuditEvent {
	t.Helper()
	rows := app.AuditRows(t)
	if len(rows) == 0 {
		t.Fatal("audit log is empty")
	}
	return rows[len(rows)-1]
}

func wantRedirectToLogin(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("status %d Location %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleOperator)

	failTests := []struct {
		name, email, password string
	}{
		{"wrong password", "ann@example.com", pw + "x"},
		{"unknown email", "nobody@example.com", pw},
	}
	for _, tt := range failTests {
		t.Run(tt.name, func(t *testing.T) {
			c := app.NewClient()
			resp, doc := c.PostForm(t, "/login", url.Values{"email": {tt.email}, "password": {tt.password}})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			if got := strings.TrimSpace(doc.Find(testID("login-error")).Text()); got != "Email or password is incorrect." {
				t.Errorf("login-error %q", got)
			}
			if doc.Find(testID("login-form")).Length() != 1 {
				t.Error("the form is not shown again")
			}
			if c.SignedIn(t) {
				t.Error("signed in after a failed attempt")
			}
			ev := lastAudit(t, app)
			if ev.Action != fleet.ActAuthLoginFailed || ev.Outcome != db.OutcomeFailed || ev.ActorEmail != tt.email {
				t.Errorf("audit %s %s %s, want auth.login_failed failed %s", ev.Action, ev.Outcome, ev.ActorEmail, tt.email)
			}
			if strings.Contains(string(ev.Params), tt.password) {
				t.Errorf("audit params %s contain the password", ev.Params)
			}
		})
	}

	t.Run("success", func(t *testing.T) {
		c := app.NewClient()
		c.CSRFFrom(t, "/login")
		resp, _ := c.PostForm(t, "/login", url.Values{"email": {"  ANN@example.com "}, "password": {pw}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/machines" {
			t.Fatalf("status %d Location %q, want 303 /machines", resp.StatusCode, resp.Header.Get("Location"))
		}
		_, doc := c.Get(t, "/audit")
		if got := doc.Find(testID("current-user")).Text(); got != "ann@example.com" {
			t.Errorf("current-user %q", got)
		}
		if got := doc.Find(testID("current-role")).Text(); got != fleet.RoleOperator {
			t.Errorf("current-role %q", got)
		}
		ev := lastAudit(t, app)
		if ev.Action != fleet.ActAuthLogin || ev.Outcome != db.OutcomeSucceeded || ev.ActorRole != fleet.RoleOperator {
			t.Errorf("audit %+v, want auth.login succeeded by operator", ev)
		}
	})

	t.Run("next is kept and must be local", func(t *testing.T) {
		c := app.NewClient()
		resp, _ := c.Get(t, "/audit?outcome=denied")
		if loc := resp.Header.Get("Location"); loc != "/login?next="+url.QueryEscape("/audit?outcome=denied") {
			t.Fatalf("Location %q", loc)
		}
		for next, want := range map[string]string{"/audit?outcome=denied": "/audit?outcome=denied", "//evil.example/": "/machines", "https://evil.example/": "/machines"} {
			c := app.NewClient()
			resp, _ := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {pw}, "next": {next}})
			if got := resp.Header.Get("Location"); got != want {
				t.Errorf("next %q: Location %q, want %q", next, got, want)
			}
		}
	})

	t.Run("logout", func(t *testing.T) {
		c := app.Login(t, "ann@example.com", pw)
		resp, _ := c.PostForm(t, "/logout", nil)
		wantRedirectToLogin(t, resp)
		_, doc := c.Get(t, "/login")
		if !strings.Contains(doc.Find(testID("flashes")).Text(), "You are signed out.") {
			t.Errorf("no signed-out flash on the login page: %q", doc.Find(testID("flashes")).Text())
		}
		if c.SignedIn(t) {
			t.Error("still signed in after logout")
		}
		if ev := lastAudit(t, app); ev.Action != fleet.ActAuthLogout || ev.ActorEmail != "ann@example.com" {
			t.Errorf("audit %s by %s, want auth.logout by ann", ev.Action, ev.ActorEmail)
		}
	})
}

// TestLogin_throttle: five attempts are checked, the sixth waits (429
// with Retry-After) even with the right password, the wait is kept in
// Postgres (a new server on the same database still refuses), and it ends.
func TestLogin_throttle(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)
	c := app.NewClient()
	for i := 1; i <= db.EmailAttemptsPerWindow; i++ {
		resp, _ := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {"wrong password " + strconv.Itoa(i)}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i, resp.StatusCode)
		}
	}
	check429 := func(t *testing.T, c *client, password string) {
		t.Helper()
		resp, doc := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {password}})
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", resp.StatusCode)
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > int(db.ThrottleWindow/time.Second) {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
		if doc.Find(testID("login-throttled")).Length() != 1 {
			t.Error("no login-throttled message")
		}
		if c.SignedIn(t) {
			t.Error("signed in while throttled")
		}
	}
	t.Run("sixth attempt", func(t *testing.T) { check429(t, c, "wrong again") })
	t.Run("right password while throttled", func(t *testing.T) { check429(t, c, pw) })
	t.Run("another server on the same database", func(t *testing.T) {
		app2 := newTestApp(t, withDBURL(app.DBURL), withClock(app.Clock))
		check429(t, app2.NewClient(), pw)
	})
	if ev := lastAudit(t, app); ev.Action != fleet.ActAuthLoginFailed || ev.Outcome != db.OutcomeDenied {
		t.Errorf("throttled attempt audited as %s %s, want auth.login_failed denied", ev.Action, ev.Outcome)
	}
	t.Run("wait over", func(t *testing.T) {
		app.Clock.Advance(db.ThrottleWindow + time.Minute)
		app.Login(t, "ann@example.com", pw)
	})
}

// TestSession_rotation: sign-in issues a new cookie and a new CSRF token; the
// cookie from before sign-in does not carry the user.
func TestSession_rotation(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleAdmin)
	c := app.NewClient()
	tokenBefore := c.CSRFFrom(t, "/login")
	cookieBefore := c.SessionCookie(t)
	if cookieBefore == "" {
		t.Fatal("no session cookie before sign-in")
	}
	resp, _ := c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login status %d", resp.StatusCode)
	}
	var set *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionName {
			set = ck
		}
	}
	if set == nil {
		t.Fatal("sign-in set no session cookie")
	}
	if set.Value == cookieBefore {
		t.Error("the session cookie did not change at sign-in")
	}
	if !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Secure {
		t.Errorf("cookie HttpOnly=%v SameSite=%v Secure=%v, want true Lax false (loopback)", set.HttpOnly, set.SameSite, set.Secure)
	}
	if tokenAfter := c.CSRFFrom(t, "/audit"); tokenAfter == tokenBefore {
		t.Error("the CSRF token did not change at sign-in")
	}

	old := app.NewClient()
	u, _ := url.Parse(app.URL)
	old.http.Jar.SetCookies(u, []*http.Cookie{{Name: sessionName, Value: cookieBefore, Path: "/"}})
	resp, _ = old.Get(t, "/users")
	wantRedirectToLogin(t, resp)
}

// TestSession_userChanges: a disabled user is signed out and a new role
// applies on the very next request.
func TestSession_userChanges(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	adminPW := app.CreateUser(t, "boss@example.com", fleet.RoleAdmin)
	annPW := app.CreateUser(t, "ann@example.com", fleet.RoleAdmin)
	bobPW := app.CreateUser(t, "bob@example.com", fleet.RoleViewer)
	boss := app.Login(t, "boss@example.com", adminPW)

	t.Run("disabled", func(t *testing.T) {
		bob := app.Login(t, "bob@example.com", bobPW)
		resp, _ := boss.PostForm(t, "/users/"+strconv.FormatInt(app.UserID(t, "bob@example.com"), 10)+"/disable", url.Values{"confirmed": {"true"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("disable: status %d", resp.StatusCode)
		}
		resp, _ = bob.Get(t, "/machines")
		wantRedirectToLogin(t, resp)
		resp, _ = app.NewClient().PostForm(t, "/login", url.Values{"email": {"bob@example.com"}, "password": {bobPW}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a disabled user signs in: status %d", resp.StatusCode)
		}
	})

	t.Run("role change", func(t *testing.T) {
		ann := app.Login(t, "ann@example.com", annPW)
		if resp, _ := ann.Get(t, "/users"); resp.StatusCode != http.StatusOK {
			t.Fatalf("admin GET /users: %d", resp.StatusCode)
		}
		resp, _ := boss.PostForm(t, "/users/"+strconv.FormatInt(app.UserID(t, "ann@example.com"), 10)+"/role", url.Values{"role": {fleet.RoleViewer}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("set role: status %d", resp.StatusCode)
		}
		resp, doc := ann.Get(t, "/users")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("viewer GET /users: %d, want 403", resp.StatusCode)
		}
		if got := doc.Find(testID("current-role")).Text(); got != fleet.RoleViewer {
			t.Errorf("current-role %q, want viewer", got)
		}
		if doc.Find(testID("nav-users")).Length() != 0 {
			t.Error("a viewer's navigation shows Users")
		}
		ev := lastAudit(t, app)
		if ev.Outcome != db.OutcomeDenied || ev.ActorEmail != "ann@example.com" || ev.ActorRole != fleet.RoleViewer {
			t.Errorf("audit %s %s %s, want denied by ann as viewer", ev.Outcome, ev.ActorEmail, ev.ActorRole)
		}
	})
}

// TestSession_timeouts moves Deps.Now: idle 8 h ends a session; activity
// keeps it, but never past 24 h from sign-in.
func TestSession_timeouts(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)

	t.Run("idle", func(t *testing.T) {
		c := app.Login(t, "ann@example.com", pw)
		app.Clock.Advance(IdleTimeout - time.Minute)
		if !c.SignedIn(t) {
			t.Fatal("signed out before the idle limit")
		}
		app.Clock.Advance(IdleTimeout + time.Minute)
		resp, _ := c.Get(t, "/machines")
		wantRedirectToLogin(t, resp)
		_, doc := c.Get(t, "/login")
		if !strings.Contains(doc.Text(), "Your session ended") {
			t.Error("the login page does not say the session ended")
		}
	})

	t.Run("absolute", func(t *testing.T) {
		c := app.Login(t, "ann@example.com", pw)
		step := IdleTimeout - time.Hour
		var elapsed time.Duration
		for elapsed+step < AbsoluteTimeout {
			app.Clock.Advance(step)
			elapsed += step
			if !c.SignedIn(t) {
				t.Fatalf("signed out after %v of activity", elapsed)
			}
		}
		app.Clock.Advance(AbsoluteTimeout - elapsed + time.Minute)
		resp, _ := c.Get(t, "/machines")
		wantRedirectToLogin(t, resp)
	})
}

// TestNavigationByRole: the layout's navigation for each role (a courtesy;
// the server-side checks are in TestRoleMatrix).
func TestNavigationByRole(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	for _, role := range fleet.Roles {
		t.Run(role, func(t *testing.T) {
			pw := app.CreateUser(t, role+"@example.com", role)
			c := app.Login(t, role+"@example.com", pw)
			_, doc := c.Get(t, "/audit")
			var got []string
			doc.Find(testID("nav") + " a").Each(func(_ int, s *goquery.Selection) {
				id, _ := s.Attr("data-testid")
				got = append(got, id)
			})
			want := "nav-machines nav-reports nav-schedules nav-audit nav-activity"
			if role == fleet.RoleAdmin {
				want += " nav-users nav-jobs nav-alerts"
			}
			if strings.Join(got, " ") != want {
				t.Errorf("nav %v, want %s", got, want)
			}
		})
	}
}
