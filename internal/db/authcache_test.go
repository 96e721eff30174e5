package db_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

// listening starts the store's auth listener for the test and waits until
// it is LISTENing.
func listening(t *testing.T, s *db.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.ListenAuthChanges(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	dbtest.Eventually(t, "the listener is live", s.AuthCacheLive)
}

// listen is listening, then settled: the fixture's own notifications are
// behind.
func (f authFixture) listen(t *testing.T) {
	t.Helper()
	listening(t, f.s)
	settled(t, f.s, f.url)
}

// settled waits until every notification committed so far has reached the
// store's listener (they arrive in commit order: a unique last one is a
// barrier).
func settled(t *testing.T, s *db.Store, url string) {
	t.Helper()
	mark := fmt.Sprintf("-%d", rand.Int64N(1<<62)+1)
	dbtest.AdminExec(t, url, `SELECT pg_notify('`+db.AuthChannel+`', '`+mark+`')`)
	dbtest.Eventually(t, "the notifications so far arrived", func() bool { return s.AuthNotified(mark) })
}

// quietly runs sql with the notify triggers off: a change the cache cannot
// hear of, to show what it answers from memory.
func quietly(t *testing.T, url, sql string) {
	t.Helper()
	dbtest.AdminExec(t, url, `BEGIN`, `SET LOCAL session_replication_role = replica`, sql, `COMMIT`)
}

type authFixture struct {
	s     *db.Store
	url   string
	user  db.User
	token string
	t0    time.Time
}

func newAuthFixture(t *testing.T) authFixture {
	t.Helper()
	ctx := context.Background()
	url := dbtest.URL(t)
	s, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	u, err := s.CreateUser(ctx, "cache@example.com", "operator", "h")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	if _, err := s.CreateWebSession(ctx, u.ID, "tok-cache", "10.0.0.1", "Firefox", t0); err != nil {
		t.Fatal(err)
	}
	return authFixture{s: s, url: url, user: u, token: "tok-cache", t0: t0}
}

func (f authFixture) role(t *testing.T, at time.Time) string {
	t.Helper()
	_, u, err := f.s.SessionUser(context.Background(), f.token, at)
	if err != nil {
		t.Fatal(err)
	}
	return u.Role
}

// Without the listener nothing is kept: a change no one announced is seen
// on the next lookup.
func TestAuthCache_offWithoutListener(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	if f.s.AuthCacheLive() {
		t.Fatal("live before ListenAuthChanges")
	}
	if got := f.role(t, f.t0); got != "operator" {
		t.Fatalf("role %q", got)
	}
	quietly(t, f.url, `UPDATE users SET role = 'viewer'`)
	if got := f.role(t, f.t0); got != "viewer" {
		t.Errorf("after an unannounced change: role %q, want viewer (nothing kept)", got)
	}
}

// With the listener, lookups are answered from memory, and every change
// through the store is seen on the very next lookup.
func TestAuthCache_changesSeenNext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAuthFixture(t)
	f.listen(t)
	at := f.t0.Add(time.Second)

	// Kept: an unannounced change is not seen (this is what the cache saves).
	f.role(t, at)
	quietly(t, f.url, `UPDATE users SET time_zone = 'Europe/Dublin'`)
	if _, u, _ := f.s.SessionUser(ctx, f.token, at); u.TimeZone != "" {
		t.Fatalf("answered from Postgres, not memory: time zone %q", u.TimeZone)
	}

	if err := f.s.SetUserRole(ctx, f.user.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	if got := f.role(t, at); got != "admin" {
		t.Errorf("after SetUserRole: role %q, want admin", got)
	}
	if err := f.s.SetUserTimeZone(ctx, f.user.ID, "Asia/Tokyo"); err != nil {
		t.Fatal(err)
	}
	if _, u, _ := f.s.SessionUser(ctx, f.token, at); u.TimeZone != "Asia/Tokyo" {
		t.Errorf("after SetUserTimeZone: %q", u.TimeZone)
	}

	if err := f.s.SetUserDisabled(ctx, f.user.ID, true); err != nil {
		t.Fatal(err)
	}
	ws, u, err := f.s.SessionUser(ctx, f.token, at)
	if err != nil || !u.Disabled || ws.RevokedAt == nil {
		t.Errorf("after disabling: disabled %v, revoked %v, err %v", u.Disabled, ws.RevokedAt, err)
	}
}

func TestAuthCache_revocationsSeenNext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAuthFixture(t)
	f.listen(t)
	at := f.t0.Add(time.Second)
	revoked := func() bool {
		ws, _, err := f.s.SessionUser(ctx, f.token, at)
		if err != nil {
			t.Fatal(err)
		}
		return ws.RevokedAt != nil
	}
	for name, revoke := range map[string]func() error{
		"logout": func() error { return f.s.RevokeWebSessionByToken(ctx, f.token, db.RevokedLogout, at) },
		"admin ends the session": func() error {
			ws, _, _ := f.s.SessionUser(ctx, f.token, at)
			return f.s.RevokeWebSession(ctx, f.user.ID, ws.ID, db.RevokedAdmin, at)
		},
		"admin ends every session": func() error {
			_, err := f.s.RevokeUserWebSessions(ctx, f.user.ID, db.RevokedAdmin, at)
			return err
		},
	} {
		quietly(t, f.url, `UPDATE web_sessions SET revoked_at = NULL, revoked_reason = ''`)
		// Announced: forget the revoked state kept.
		if err := f.s.SetUserTimeZone(ctx, f.user.ID, ""); err != nil {
			t.Fatal(err)
		}
		if revoked() {
			t.Fatalf("%s: revoked before", name)
		}
		if err := revoke(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !revoked() {
			t.Errorf("%s: the next lookup still finds the session open", name)
		}
	}
}

// A change made elsewhere (another replica, psql) reaches the cache by
// notification.
func TestAuthCache_changeElsewhereNotified(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAuthFixture(t)
	f.listen(t)
	at := f.t0.Add(time.Second)
	f.role(t, at)
	other, err := db.Open(ctx, f.url) // another replica
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.SetUserRole(ctx, f.user.ID, "viewer"); err != nil {
		t.Fatal(err)
	}
	dbtest.Eventually(t, "the other replica's role change is seen", func() bool { return f.role(t, at) == "viewer" })
	if _, err := other.RevokeUserWebSessions(ctx, f.user.ID, db.RevokedAdmin, at); err != nil {
		t.Fatal(err)
	}
	dbtest.Eventually(t, "the other replica's revocation is seen", func() bool {
		ws, _, _ := f.s.SessionUser(ctx, f.token, at)
		return ws.RevokedAt != nil
	})
}

// When the listening connection is lost (its backend ended), nothing is
// answered from memory until a new one is LISTENing, and that one starts
// with nothing kept: a change made meanwhile is seen on the next lookup.
func TestAuthCache_listenerDown(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	f.listen(t)
	at := f.t0.Add(time.Second)
	f.role(t, at)
	// The cache lives: an unannounced change is not seen.
	quietly(t, f.url, `UPDATE users SET role = 'helpdesk'`)
	if got := f.role(t, at); got != "operator" {
		t.Fatalf("role %q, want the kept operator", got)
	}
	listens := db.AuthListens(f.s)
	dbtest.AdminExec(t, f.url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+db.AuthChannel+`'`)
	quietly(t, f.url, `UPDATE users SET role = 'viewer'`)
	dbtest.Eventually(t, "the cache notices the lost listener", func() bool {
		return !f.s.AuthCacheLive() || db.AuthListens(f.s) > listens
	})
	if got := f.role(t, at); got != "viewer" {
		t.Errorf("listener lost: role %q, want viewer from Postgres", got)
	}
	// It reconnects, and keeps again.
	dbtest.Eventually(t, "the listener is back", func() bool { return db.AuthListens(f.s) > listens && f.s.AuthCacheLive() })
	f.role(t, at)
	quietly(t, f.url, `UPDATE users SET role = 'admin'`)
	if got := f.role(t, at); got != "viewer" {
		t.Errorf("back: role %q, want the kept viewer", got)
	}
}

// A kept session is not answered past the minute after which the lookup
// rewrites last_seen_at: the touch still happens.
func TestAuthCache_touchStillWritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAuthFixture(t)
	f.listen(t)
	f.role(t, f.t0.Add(10*time.Second))
	later := f.t0.Add(2 * time.Minute)
	f.role(t, later)
	list, err := f.s.OpenWebSessions(ctx, f.user.ID, f.t0.Add(-time.Hour), f.t0.Add(-time.Hour), 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("open sessions %v, %v", list, err)
	}
	if !list[0].LastSeenAt.Equal(later) {
		t.Errorf("last_seen_at %v, want %v", list[0].LastSeenAt, later)
	}
	if ws, _, _ := f.s.SessionUser(ctx, f.token, later.Add(time.Second)); !ws.LastSeenAt.Equal(later) {
		t.Errorf("kept last_seen_at %v, want %v", ws.LastSeenAt, later)
	}
	if _, _, err := f.s.SessionUser(ctx, "no-such-token", later); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
}

// Saved views are kept too, and a new or deleted view is seen next.
func TestAuthCache_savedViews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAuthFixture(t)
	f.listen(t)
	names := func() []string {
		vs, err := f.s.SavedViews(ctx, f.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return out
	}
	if got := names(); len(got) != 0 {
		t.Fatalf("views %v", got)
	}
	v, err := f.s.CreateSavedView(ctx, f.user.ID, "Dublin", "region=dublin")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 1 || got[0] != "Dublin" {
		t.Fatalf("after create: %v", got)
	}
	settled(t, f.s, f.url)
	names()
	quietly(t, f.url, `UPDATE saved_views SET name = 'Renamed'`)
	if got := names(); len(got) != 1 || got[0] != "Dublin" {
		t.Fatalf("not kept: %v", got)
	}
	vs, _ := f.s.SavedViews(ctx, f.user.ID)
	vs[0].Name = "scribbled" // a caller's copy
	if got := names(); got[0] != "Dublin" {
		t.Errorf("the kept list was changed through a caller's copy: %v", got)
	}
	if err := f.s.DeleteSavedView(ctx, f.user.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
}

// A refusal is kept like an answer: a token no session has, and a revoked
// session, are answered from memory (a replayed cookie costs no query),
// while a session started with that token, here or elsewhere, is found on
// the next lookup.
func TestAuthCache_refusalsKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAuthFixture(t)
	f.listen(t)
	at := f.t0.Add(time.Second)
	unknown := func(token string) bool {
		t.Helper()
		_, _, err := f.s.SessionUser(ctx, token, at)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			t.Fatal(err)
		}
		return err != nil
	}

	// Unknown: kept, so a row no notification announced stays unseen.
	if !unknown("tok-quiet") {
		t.Fatal("tok-quiet found before it exists")
	}
	if !f.s.SessionKept("tok-quiet", at) {
		t.Error("an unknown token is not answered from memory")
	}
	quietly(t, f.url, fmt.Sprintf(`INSERT INTO web_sessions (token_hash, user_id, created_at, last_seen_at)
		VALUES (sha256('tok-quiet'::bytea), %d, now(), now())`, f.user.ID))
	if !unknown("tok-quiet") {
		t.Error("an unknown token was asked of Postgres again")
	}

	// A session started through this store is found next.
	if !unknown("tok-here") {
		t.Fatal("tok-here found before it exists")
	}
	if _, err := f.s.CreateWebSession(ctx, f.user.ID, "tok-here", "", "", at); err != nil {
		t.Fatal(err)
	}
	if unknown("tok-here") {
		t.Error("a session started here is still unknown on the next lookup")
	}

	// One started elsewhere (another replica), once its notification is in.
	if !unknown("tok-there") {
		t.Fatal("tok-there found before it exists")
	}
	other, err := db.Open(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.CreateWebSession(ctx, f.user.ID, "tok-there", "", "", at); err != nil {
		t.Fatal(err)
	}
	dbtest.Eventually(t, "the session started elsewhere is found", func() bool { return !unknown("tok-there") })

	// Revoked: kept past the minute after which an open session is asked
	// again (a revoked one is never touched).
	if err := f.s.RevokeWebSessionByToken(ctx, f.token, db.RevokedLogout, at); err != nil {
		t.Fatal(err)
	}
	// Its own notification drops the user's answers once more when it
	// arrives: let it, before keeping the refusal.
	settled(t, f.s, f.url)
	later := at.Add(2 * db.SessionTouchEvery)
	if ws, _, err := f.s.SessionUser(ctx, f.token, later); err != nil || ws.RevokedAt == nil {
		t.Fatalf("after logout: revoked %v, %v", ws.RevokedAt, err)
	}
	if !f.s.SessionKept(f.token, later.Add(time.Hour)) {
		t.Error("a revoked session is not answered from memory")
	}
	quietly(t, f.url, `UPDATE web_sessions SET revoked_at = NULL, revoked_reason = ''`)
	if ws, _, _ := f.s.SessionUser(ctx, f.token, later.Add(time.Hour)); ws.RevokedAt == nil {
		t.Error("a revoked session was asked of Postgres again")
	}
	// An announced change of the user drops it like any kept answer.
	if err := f.s.SetUserTimeZone(ctx, f.user.ID, "Asia/Tokyo"); err != nil {
		t.Fatal(err)
	}
	if ws, _, _ := f.s.SessionUser(ctx, f.token, later.Add(time.Hour)); ws.RevokedAt != nil {
		t.Error("after an announced change: still the kept revoked session")
	}
}
