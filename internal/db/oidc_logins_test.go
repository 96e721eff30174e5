package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestOIDCLogins_claimOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t0 := time.Now().Truncate(time.Second)
	in := db.OIDCLogin{Nonce: "n-1", Verifier: "v-1", Next: "/machines?q=a", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	if err := s.CreateOIDCLogin(ctx, "state-1", "browser-1", in); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimOIDCLogin(ctx, "state-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Nonce != "n-1" || got.Verifier != "v-1" || got.Next != "/machines?q=a" || !got.ExpiresAt.Equal(in.ExpiresAt) {
		t.Errorf("claimed %+v", got)
	}
	if !got.BoundTo("browser-1") || got.BoundTo("browser-2") || got.BoundTo("") {
		t.Errorf("BoundTo: want true only for browser-1")
	}
	if _, err := s.ClaimOIDCLogin(ctx, "state-1"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second claim: err %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimOIDCLogin(ctx, "never-issued"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown state: err %v, want ErrNotFound", err)
	}
	if err := s.CreateOIDCLogin(ctx, "", "b", in); err == nil {
		t.Error("empty state accepted")
	}
}

func TestOIDCLogins_expiredPruned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t0 := time.Now().Truncate(time.Second)
	old := db.OIDCLogin{Nonce: "n", Verifier: "v", CreatedAt: t0.Add(-3 * time.Hour), ExpiresAt: t0.Add(-3*time.Hour + 10*time.Minute)}
	if err := s.CreateOIDCLogin(ctx, "old", "b", old); err != nil {
		t.Fatal(err)
	}
	recent := db.OIDCLogin{Nonce: "n", Verifier: "v", CreatedAt: t0.Add(-20 * time.Minute), ExpiresAt: t0.Add(-10 * time.Minute)}
	if err := s.CreateOIDCLogin(ctx, "recent", "b", recent); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOIDCLogin(ctx, "new", "b", db.OIDCLogin{Nonce: "n", Verifier: "v", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimOIDCLogin(ctx, "old"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a row expired for over an hour: err %v, want pruned (ErrNotFound)", err)
	}
	// Expired but recent: still returned, so the callback can say "expired".
	got, err := s.ClaimOIDCLogin(ctx, "recent")
	if err != nil || !got.ExpiresAt.Before(t0) {
		t.Errorf("recently expired: %+v, %v", got, err)
	}
}

func TestUsers_oidcIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	const iss = "https://idp.example.com"
	u, err := s.CreateOIDCUser(ctx, "Dana@Example.com", "operator", iss, "sub-dana")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "dana@example.com" || u.HasPassword() || !u.HasOIDC() || u.OIDCIssuer != iss || u.OIDCSubject != "sub-dana" || u.RolePinned {
		t.Fatalf("created %+v", u)
	}
	got, err := s.UserByOIDC(ctx, iss, "sub-dana")
	if err != nil || got.ID != u.ID {
		t.Fatalf("UserByOIDC = %+v, %v", got, err)
	}
	if _, err := s.UserByOIDC(ctx, "https://other.example.com", "sub-dana"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("same subject at another issuer: err %v, want ErrNotFound", err)
	}
	if _, err := s.CreateOIDCUser(ctx, "dana2@example.com", "viewer", iss, "sub-dana"); !errors.Is(err, db.ErrIdentityTaken) {
		t.Errorf("same identity twice: err %v, want ErrIdentityTaken", err)
	}
	if _, err := s.CreateOIDCUser(ctx, "dana@example.com", "viewer", iss, "sub-other"); !errors.Is(err, db.ErrEmailTaken) {
		t.Errorf("same email: err %v, want ErrEmailTaken", err)
	}

	// Linking a password account: once, and never to a second identity.
	ed, err := s.CreateUser(ctx, "ed@example.com", "viewer", "hash")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LinkUserOIDC(ctx, ed.ID, iss, "sub-ed"); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkUserOIDC(ctx, ed.ID, iss, "sub-ed"); err != nil {
		t.Errorf("linking the same identity again: %v", err)
	}
	if err := s.LinkUserOIDC(ctx, ed.ID, iss, "sub-ed-2"); !errors.Is(err, db.ErrIdentityTaken) {
		t.Errorf("relinking to another identity: err %v, want ErrIdentityTaken", err)
	}
	fay, _ := s.CreateUser(ctx, "fay@example.com", "viewer", "hash")
	if err := s.LinkUserOIDC(ctx, fay.ID, iss, "sub-dana"); !errors.Is(err, db.ErrIdentityTaken) {
		t.Errorf("linking an identity another user has: err %v, want ErrIdentityTaken", err)
	}
	if err := s.LinkUserOIDC(ctx, 999999, iss, "sub-x"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown user: err %v, want ErrNotFound", err)
	}
	ed, _ = s.UserByID(ctx, ed.ID)
	if !ed.HasPassword() || !ed.HasOIDC() {
		t.Errorf("linked password user: %+v", ed)
	}

	if err := s.SetUserRolePinned(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByID(ctx, u.ID); !got.RolePinned {
		t.Error("role_pinned not stored")
	}
}

func TestWebSessions_oidcMethodAndIDToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	u, err := s.CreateOIDCUser(ctx, "gil@example.com", "viewer", "https://idp.example.com", "sub-gil")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	ws, err := s.StartWebSession(ctx, db.NewWebSession{UserID: u.ID, Token: "tok-1", Method: db.LoginOIDC, IDToken: "header.payload.sig", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if ws.Method != db.LoginOIDC {
		t.Errorf("method %q", ws.Method)
	}
	if got, _ := s.UserByID(ctx, u.ID); got.LastLoginMethod != db.LoginOIDC || got.LastLoginAt == nil || !got.LastLoginAt.Equal(t0) {
		t.Errorf("last login %v via %q", got.LastLoginAt, got.LastLoginMethod)
	}
	idt, err := s.EndWebSession(ctx, "tok-1", db.RevokedLogout, t0.Add(time.Minute))
	if err != nil || idt != "header.payload.sig" {
		t.Fatalf("EndWebSession = %q, %v", idt, err)
	}
	// Ended: the token is gone from the row, a second end returns none.
	if idt, err := s.EndWebSession(ctx, "tok-1", db.RevokedLogout, t0.Add(2*time.Minute)); err != nil || idt != "" {
		t.Errorf("second end = %q, %v", idt, err)
	}
	var left int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM web_sessions WHERE id_token IS NOT NULL`).Scan(&left); err != nil || left != 0 {
		t.Errorf("id tokens left after logout: %d (%v)", left, err)
	}
	// Revoked by an admin: erased too.
	if _, err := s.StartWebSession(ctx, db.NewWebSession{UserID: u.ID, Token: "tok-2", Method: db.LoginOIDC, IDToken: "x.y.z", Now: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeUserWebSessions(ctx, u.ID, db.RevokedAdmin, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM web_sessions WHERE id_token IS NOT NULL`).Scan(&left); err != nil || left != 0 {
		t.Errorf("id tokens left after admin revoke: %d (%v)", left, err)
	}
}

// TestSetUserRoleFromProvider_pinWins: the role single sign-on takes from
// the groups is written only while the user is as the sign-in read it: an
// admin's pin or role change made in between is kept.
func TestSetUserRoleFromProvider_pinWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	u, err := s.CreateOIDCUser(ctx, "olga@corp.example", "viewer", "https://idp.example", "sub-olga")
	if err != nil {
		t.Fatal(err)
	}
	role := func() (string, bool) {
		got, err := s.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Role, got.RolePinned
	}
	if err := s.SetUserRoleFromProvider(ctx, u.ID, "viewer", "operator"); err != nil {
		t.Fatal(err)
	}
	if r, _ := role(); r != "operator" {
		t.Fatalf("role %s", r)
	}
	// An admin pins admin after the sign-in read operator.
	if err := s.SetUserRoleAndPin(ctx, u.ID, "admin", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserRoleFromProvider(ctx, u.ID, "operator", "viewer"); !errors.Is(err, db.ErrUserChanged) {
		t.Fatalf("over a pin: %v, want ErrUserChanged", err)
	}
	// Pinned with the same role the sign-in read: still the pin wins.
	if err := s.SetUserRoleFromProvider(ctx, u.ID, "admin", "viewer"); !errors.Is(err, db.ErrUserChanged) {
		t.Fatalf("pinned, same role: %v, want ErrUserChanged", err)
	}
	if r, p := role(); r != "admin" || !p {
		t.Fatalf("after: %s pinned=%v", r, p)
	}
	// Unpinned but changed meanwhile: also kept.
	if err := s.SetUserRoleAndPin(ctx, u.ID, "helpdesk", false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserRoleFromProvider(ctx, u.ID, "admin", "viewer"); !errors.Is(err, db.ErrUserChanged) {
		t.Fatalf("changed meanwhile: %v", err)
	}
	if err := s.SetUserRoleFromProvider(ctx, u.ID+1000, "viewer", "admin"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if err := s.SetUserRoleFromProvider(ctx, u.ID, "helpdesk", "root"); !errors.Is(err, db.ErrInvalidRole) {
		t.Errorf("bad role: %v", err)
	}
}

// TestOIDCLogins_boundedPerAddress: one address may hold at most
// MaxOpenOIDCLoginsPerAddr open sign-ins, so a flood of unauthenticated
// starts cannot grow the table without bound; other addresses, finished
// and expired sign-ins do not count.
func TestOIDCLogins_boundedPerAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	t0 := time.Now().Truncate(time.Second)
	login := func(addr string, at time.Time) db.OIDCLogin {
		return db.OIDCLogin{Nonce: "n", Verifier: "v", RemoteAddr: addr, CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute)}
	}
	for i := 0; i < db.MaxOpenOIDCLoginsPerAddr; i++ {
		if err := s.CreateOIDCLogin(ctx, fmt.Sprintf("s-%d", i), "b", login("198.51.100.7", t0)); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	if err := s.CreateOIDCLogin(ctx, "one-more", "b", login("198.51.100.7", t0)); !errors.Is(err, db.ErrTooManyOIDCLogins) {
		t.Fatalf("past the bound: %v, want ErrTooManyOIDCLogins", err)
	}
	if err := s.CreateOIDCLogin(ctx, "other-addr", "b", login("198.51.100.8", t0)); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if _, err := s.ClaimOIDCLogin(ctx, "s-0"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOIDCLogin(ctx, "after-claim", "b", login("198.51.100.7", t0)); err != nil {
		t.Fatalf("after one finished: %v", err)
	}
	later := t0.Add(11 * time.Minute)
	if err := s.CreateOIDCLogin(ctx, "after-expiry", "b", login("198.51.100.7", later)); err != nil {
		t.Fatalf("after they expired: %v", err)
	}
	if got, err := s.ClaimOIDCLogin(ctx, "after-expiry"); err != nil || got.RemoteAddr != "198.51.100.7" {
		t.Errorf("claimed %+v %v", got, err)
	}
}
