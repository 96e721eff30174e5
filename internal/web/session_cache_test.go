package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// The session cache (issue 13) in the whole app: the harness runs every
// test with it, as cmd/dashboard does; these tests cover what only shows
// with more than one replica or a lost listener.

// sessionToken is the server-side session token c's cookie carries.
func sessionToken(t *testing.T, app *testApp, c *client) string {
	t.Helper()
	vals := map[any]any{}
	if err := securecookie.DecodeMulti(sessionName, c.SessionCookie(t), &vals, app.Server.cookies.Codecs...); err != nil {
		t.Fatal(err)
	}
	tok, _ := vals["sid"].(string)
	if tok == "" {
		t.Fatal("no sid in the cookie")
	}
	return tok
}

func roleShown(t *testing.T, c *client) string {
	t.Helper()
	_, doc := c.Get(t, "/machines")
	return doc.Find(testID("current-role")).Text()
}

// An admin's change on one replica reaches a user signed in on another:
// the role, then ending the session.
func TestSessionCache_otherReplica(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	b := newTestApp(t, withDBURL(a.DBURL), withClock(a.Clock))
	dbtest.Eventually(t, "both replicas listen", func() bool { return a.Store.AuthCacheLive() && b.Store.AuthCacheLive() })
	bossPW := a.CreateUser(t, "boss@example.com", fleet.RoleAdmin)
	annPW := a.CreateUser(t, "ann@example.com", fleet.RoleOperator)
	boss := a.Login(t, "boss@example.com", bossPW)
	ann := b.Login(t, "ann@example.com", annPW)
	if got := roleShown(t, ann); got != fleet.RoleOperator {
		t.Fatalf("role %q", got)
	}
	annID := strconv.FormatInt(a.UserID(t, "ann@example.com"), 10)
	if resp, _ := boss.PostForm(t, "/users/"+annID+"/role", url.Values{"role": {fleet.RoleViewer}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set role: %d", resp.StatusCode)
	}
	dbtest.Eventually(t, "replica b shows the new role", func() bool { return roleShown(t, ann) == fleet.RoleViewer })
	if resp, _ := boss.PostForm(t, "/users/"+annID+"/sessions/revoke", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end sessions: %d", resp.StatusCode)
	}
	dbtest.Eventually(t, "replica b ends the session", func() bool { return !ann.SignedIn(t) })
}

// With the listener's connection gone, nothing is answered from memory: a
// change no notification announced applies on the next request, until the
// listener is back.
func TestSessionCache_listenerDown(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	dbtest.Eventually(t, "the listener is live", app.Store.AuthCacheLive)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleOperator)
	ann := app.Login(t, "ann@example.com", pw)
	if got := roleShown(t, ann); got != fleet.RoleOperator {
		t.Fatalf("role %q", got)
	}
	dbtest.AdminExec(t, app.DBURL, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+db.AuthChannel+`'`)
	dbtest.Eventually(t, "the lost listener is noticed", func() bool { return !app.Store.AuthCacheLive() })
	// Unannounced (triggers off), so only a read of Postgres can see it.
	dbtest.AdminExec(t, app.DBURL, `BEGIN`, `SET LOCAL session_replication_role = replica`,
		`UPDATE users SET role = 'viewer' WHERE email = 'ann@example.com'`, `COMMIT`)
	if got := roleShown(t, ann); got != fleet.RoleViewer {
		t.Errorf("listener down: role %q shown, want viewer from Postgres", got)
	}
	dbtest.AdminExec(t, app.DBURL, `BEGIN`, `SET LOCAL session_replication_role = replica`,
		`UPDATE users SET disabled = true WHERE email = 'ann@example.com'`, `COMMIT`)
	resp, _ := ann.Get(t, "/machines")
	wantRedirectToLogin(t, resp)
	dbtest.Eventually(t, "the listener is back", app.Store.AuthCacheLive)
}

// GET /machines starts its list call alongside the user lookup only for a
// cookie that verifies: no cookie or a forged one calls nothing, and a
// signed-out cookie's call only fills the cache (the answer is the login
// redirect).
func TestFleetPrefetch_onlyVerifiedCookies(t *testing.T) {
	t.Parallel()
	// Slow enough upstream that the prefetched call is still in flight
	// when the handler asks (no cache: only coalescing can make it one).
	app := newTestApp(t, withListTTL(-1), withAPIDelay(500*time.Millisecond))
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)
	calls := func() int { return app.Sim.Count("GET /machines") }

	before := calls()
	resp, _ := app.NewClient().Get(t, "/machines")
	wantRedirectToLogin(t, resp)
	forged := replay(app, "MTcwMDAwMDAwMHxmb3JnZWR8")
	resp, _ = forged.Get(t, "/machines")
	wantRedirectToLogin(t, resp)
	if n := calls() - before; n != 0 {
		t.Errorf("%d list calls for requests without a verified cookie, want 0", n)
	}

	ann := app.Login(t, "ann@example.com", pw)
	// A minute on, the session is no longer answered from memory: the
	// lookup asks Postgres, and the list call starts alongside it.
	app.Clock.Advance(2 * time.Minute)
	if app.Store.SessionKept(sessionToken(t, app, ann), app.Clock.Now()) {
		t.Fatal("the session is still kept: the prefetch would not run")
	}
	// The lookup (its once-a-minute touch) waits on a row lock held
	// here: the list call must reach the proxy meanwhile.
	ctx := context.Background()
	lock, err := pgx.Connect(ctx, dbtest.AsAdmin(t, app.DBURL))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(ctx)
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM web_sessions FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	before, arrived := calls(), app.ProxyArrivals.Load()
	type answer struct {
		status, rows int
	}
	done := make(chan answer, 1)
	go func() {
		resp, doc := ann.Get(t, "/machines")
		done <- answer{resp.StatusCode, doc.Find(testID("machine-row")).Length()}
	}()
	dbtest.Eventually(t, "the list call leaves while the lookup waits", func() bool { return app.ProxyArrivals.Load() > arrived })
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if a := <-done; a.status != http.StatusOK || a.rows == 0 {
		t.Fatalf("signed in: status %d, %d rows", a.status, a.rows)
	}
	if n := calls() - before; n != 1 {
		t.Errorf("%d list calls for one page, want 1 (the handler joins the prefetched call)", n)
	}

	cookie := ann.SessionCookie(t)
	if resp, _ := ann.PostForm(t, "/logout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp, doc := replay(app, cookie).Get(t, "/machines")
	wantRedirectToLogin(t, resp)
	if doc.Find(testID("machine-row")).Length() != 0 {
		t.Error("a signed-out cookie was shown machines")
	}
}

// A signed-out cookie played again is refused from memory: no query, and
// no list call started for a page it will not see; the logout itself
// applies on the very next request.
func TestSessionCache_revokedCookieRefusedFromMemory(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	var prefetches atomic.Int64
	pf := app.Server.prefetch["GET /machines"]
	app.Server.prefetch["GET /machines"] = func(c echo.Context) { prefetches.Add(1); pf(c) }
	dbtest.Eventually(t, "the listener is live", app.Store.AuthCacheLive)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)
	ann := app.Login(t, "ann@example.com", pw)
	token := sessionToken(t, app, ann)
	cookie := ann.SessionCookie(t)
	if resp, _ := ann.PostForm(t, "/logout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp, _ := replay(app, cookie).Get(t, "/machines")
	wantRedirectToLogin(t, resp)

	// Past the minute after which an open session is asked again. The
	// logout's own notification drops the refusal kept once more when it
	// arrives (asynchronously): ask until it is kept and stays kept.
	app.Clock.Advance(2 * time.Minute)
	dbtest.Eventually(t, "the signed-out cookie is refused from memory, starting nothing", func() bool {
		resp, _ := replay(app, cookie).Get(t, "/machines")
		wantRedirectToLogin(t, resp)
		if !app.Store.SessionKept(token, app.Clock.Now()) {
			return false
		}
		before := prefetches.Load()
		for range 3 {
			resp, _ := replay(app, cookie).Get(t, "/machines")
			wantRedirectToLogin(t, resp)
		}
		return prefetches.Load() == before
	})
}
