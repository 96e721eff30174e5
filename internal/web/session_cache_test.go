package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// The session cache (issue 13) in the whole app: the harness runs every
// test with it, as cmd/dashboard does; these tests cover what only shows
// with more than one replica or a lost listener.

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func superExec(t *testing.T, dbURL string, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.AsAdmin(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range sqls {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
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
	waitUntil(t, "both replicas listen", func() bool { return a.Store.AuthCacheLive() && b.Store.AuthCacheLive() })
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
	waitUntil(t, "replica b shows the new role", func() bool { return roleShown(t, ann) == fleet.RoleViewer })
	if resp, _ := boss.PostForm(t, "/users/"+annID+"/sessions/revoke", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end sessions: %d", resp.StatusCode)
	}
	waitUntil(t, "replica b ends the session", func() bool { return !ann.SignedIn(t) })
}

// With the listener's connection gone, nothing is answered from memory: a
// change no notification announced applies on the next request, until the
// listener is back.
func TestSessionCache_listenerDown(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	waitUntil(t, "the listener is live", app.Store.AuthCacheLive)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleOperator)
	ann := app.Login(t, "ann@example.com", pw)
	if got := roleShown(t, ann); got != fleet.RoleOperator {
		t.Fatalf("role %q", got)
	}
	superExec(t, app.DBURL, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+db.AuthChannel+`'`)
	waitUntil(t, "the lost listener is noticed", func() bool { return !app.Store.AuthCacheLive() })
	// Unannounced (triggers off), so only a read of Postgres can see it.
	superExec(t, app.DBURL, `BEGIN`, `SET LOCAL session_replication_role = replica`,
		`UPDATE users SET role = 'viewer' WHERE email = 'ann@example.com'`, `COMMIT`)
	if got := roleShown(t, ann); got != fleet.RoleViewer {
		t.Errorf("listener down: role %q shown, want viewer from Postgres", got)
	}
	superExec(t, app.DBURL, `BEGIN`, `SET LOCAL session_replication_role = replica`,
		`UPDATE users SET disabled = true WHERE email = 'ann@example.com'`, `COMMIT`)
	resp, _ := ann.Get(t, "/machines")
	wantRedirectToLogin(t, resp)
	waitUntil(t, "the listener is back", app.Store.AuthCacheLive)
}
