package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestWebSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	ann, err := s.CreateUser(ctx, "ann@example.com", "viewer", "h")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)

	ws, err := s.CreateWebSession(ctx, ann.ID, "token-1", "10.0.0.1", "Firefox", t0)
	if err != nil {
		t.Fatal(err)
	}
	if ws.UserID != ann.ID || !ws.CreatedAt.Equal(t0) || ws.RemoteAddr != "10.0.0.1" || ws.UserAgent != "Firefox" || ws.RevokedAt != nil {
		t.Fatalf("created %+v", ws)
	}
	if u, _ := s.UserByID(ctx, ann.ID); u.LastLoginAt == nil || !u.LastLoginAt.Equal(t0) {
		t.Errorf("last_login_at %v, want %v", u.LastLoginAt, t0)
	}

	t.Run("lookup joins the user", func(t *testing.T) {
		got, u, err := s.SessionUser(ctx, "token-1", t0)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != ws.ID || u.ID != ann.ID || u.Email != "ann@example.com" || u.Disabled {
			t.Errorf("SessionUser = %+v, %+v", got, u)
		}
		if _, _, err := s.SessionUser(ctx, "token-2", t0); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("unknown token: err %v, want ErrNotFound", err)
		}
	})

	t.Run("last seen moves at most once a minute", func(t *testing.T) {
		seen := func(at time.Time) time.Time {
			t.Helper()
			if _, _, err := s.SessionUser(ctx, "token-1", at); err != nil {
				t.Fatal(err)
			}
			got, _, _ := s.SessionUser(ctx, "token-1", at)
			return got.LastSeenAt
		}
		if got := seen(t0.Add(30 * time.Second)); !got.Equal(t0) {
			t.Errorf("after 30 s last_seen_at %v, want unchanged %v", got, t0)
		}
		if got := seen(t0.Add(90 * time.Second)); !got.Equal(t0.Add(90 * time.Second)) {
			t.Errorf("after 90 s last_seen_at %v, want %v", got, t0.Add(90*time.Second))
		}
	})

	t.Run("open sessions and revoking", func(t *testing.T) {
		ws2, err := s.CreateWebSession(ctx, ann.ID, "token-2", "10.0.0.2", "Chrome", t0.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		open, err := s.OpenWebSessions(ctx, 0, t0.Add(-time.Hour), t0.Add(-time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 2 || open[0].ID != ws2.ID {
			t.Fatalf("open sessions %+v, want 2, newest first", open)
		}
		if mine, _ := s.OpenWebSessions(ctx, ann.ID+1, t0.Add(-time.Hour), t0.Add(-time.Hour), 10); len(mine) != 0 {
			t.Errorf("another user's open sessions: %+v, want none", mine)
		}
		if err := s.RevokeWebSessionByToken(ctx, "token-1", db.RevokedLogout, t0); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.SessionUser(ctx, "token-1", t0)
		if err != nil || got.RevokedAt == nil || got.RevokedReason != db.RevokedLogout {
			t.Errorf("after logout: %+v, %v", got, err)
		}
		if err := s.RevokeWebSession(ctx, ann.ID, ws.ID, db.RevokedAdmin, t0); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("revoking an ended session: %v, want ErrNotFound", err)
		}
		if err := s.RevokeWebSession(ctx, ann.ID+1, ws2.ID, db.RevokedAdmin, t0); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("revoking another user's session: %v, want ErrNotFound", err)
		}
		if open, _ := s.OpenWebSessions(ctx, 0, t0.Add(-time.Hour), t0.Add(-time.Hour), 10); len(open) != 1 {
			t.Errorf("open sessions after logout: %d, want 1", len(open))
		}
	})

	t.Run("disabling revokes every session", func(t *testing.T) {
		if err := s.SetUserDisabled(ctx, ann.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUserDisabled(ctx, ann.ID, false); err != nil {
			t.Fatal(err)
		}
		got, u, err := s.SessionUser(ctx, "token-2", t0)
		if err != nil || got.RevokedAt == nil || got.RevokedReason != db.RevokedDisabled || u.Disabled {
			t.Errorf("after disable and enable: %+v %+v %v, want revoked (disabled), user enabled", got, u, err)
		}
		if n, err := s.RevokeUserWebSessions(ctx, ann.ID, db.RevokedAdmin, t0); err != nil || n != 0 {
			t.Errorf("RevokeUserWebSessions = %d, %v; want 0 (all ended already)", n, err)
		}
	})
}
