package db

import (
	"context"
	"crypto/sha256"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The answers every signed-in request needs (issue 13): its session with its
// user (SessionUser) and, on the fleet page, the user's saved views. They
// are kept in memory between requests while, and only while, this
// process listens to Postgres channel AuthChannel, on which triggers
// (migration 00019) announce every change to users, web_sessions and
// saved_views with the user's id. A change through this Store drops what it
// kept for the user at once, right after it commits; one made elsewhere
// (another replica, psql) when its notification arrives, milliseconds
// after the commit. When the listening
// connection is lost everything kept is dropped and nothing is kept until
// it is back, LISTENing again: every request then asks Postgres.
//
// A kept session is answered only while its last_seen_at would not be
// rewritten (SessionTouchEvery), so the once-a-minute touch still happens
// through the query.

// AuthChannel is the channel of the auth-change notifications.
const AuthChannel = "dashboard_auth"

// maxAuthEntries bounds each map of the cache; past it the map starts afresh.
const maxAuthEntries = 50_000

type authCache struct {
	mu       sync.Mutex
	live     bool
	gen      uint64 // bumped by every drop: a query begun before one is not kept
	sessions map[[32]byte]sessionEntry
	views    map[int64][]SavedView
	// lastPayload is the last notification applied (tests).
	lastPayload string
}

type sessionEntry struct {
	ws WebSession
	u  User
}

// begin is called before a query whose answer may be kept: its generation,
// and whether anything may be kept at all.
func (c *authCache) begin() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.live
}

func (c *authCache) session(key [32]byte, now time.Time) (WebSession, User, bool) {
	c.mu.Lock()
	e, ok := c.sessions[key]
	c.mu.Unlock()
	// Past this point the query would touch last_seen_at: let it.
	if !ok || now.Sub(e.ws.LastSeenAt) >= SessionTouchEvery {
		return WebSession{}, User{}, false
	}
	return e.ws, e.u, true
}

func (c *authCache) keepSession(gen uint64, key [32]byte, e sessionEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if c.sessions == nil || len(c.sessions) >= maxAuthEntries {
		c.sessions = make(map[[32]byte]sessionEntry)
	}
	c.sessions[key] = e
}

func (c *authCache) savedViews(userID int64) ([]SavedView, bool) {
	c.mu.Lock()
	vs, ok := c.views[userID]
	c.mu.Unlock()
	return slices.Clone(vs), ok
}

func (c *authCache) keepViews(gen uint64, userID int64, vs []SavedView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if c.views == nil || len(c.views) >= maxAuthEntries {
		c.views = make(map[int64][]SavedView)
	}
	c.views[userID] = slices.Clone(vs)
}

// dropUser drops everything kept for the user.
func (c *authCache) dropUser(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.sessions {
		if e.u.ID == userID || e.ws.UserID == userID {
			delete(c.sessions, k)
		}
	}
	delete(c.views, userID)
}

// dropSession drops one session.
func (c *authCache) dropSession(key [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.sessions, key)
}

// setLive drops everything and says whether anything may be kept from now.
func (c *authCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	c.sessions, c.views = nil, nil
}

// notified applies one notification's payload: a user id, or "*" (or
// anything unreadable) for everyone.
func (c *authCache) notified(payload string) {
	defer func() {
		c.mu.Lock()
		c.lastPayload = payload
		c.mu.Unlock()
	}()
	id, err := strconv.ParseInt(payload, 10, 64)
	if err != nil {
		c.mu.Lock()
		c.gen++
		c.sessions, c.views = nil, nil
		c.mu.Unlock()
		return
	}
	c.dropUser(id)
}

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// AuthCacheLive reports whether answers are being kept in memory: the
// listener is connected and LISTENing.
func (s *Store) AuthCacheLive() bool {
	_, live := s.auth.begin()
	return live
}

// SessionKept reports whether SessionUser would answer token from memory
// at now, without a query (a caller with work to start alongside a slow
// lookup skips it for a fast one).
func (s *Store) SessionKept(token string, now time.Time) bool {
	_, _, ok := s.auth.session(tokenKey(token), now)
	return ok
}

// authRetry is the pause before the listener connects again.
const authRetry = time.Second

// ListenAuthChanges keeps the auth cache: it holds one connection of its
// own LISTENing on AuthChannel, applies every notification, and when the
// connection fails drops everything and stops keeping until it is back
// (retrying every second). onErr, when set, hears each failure. It returns
// when ctx ends, leaving the cache off.
func (s *Store) ListenAuthChanges(ctx context.Context, onErr func(error)) {
	defer s.auth.setLive(false)
	for ctx.Err() == nil {
		err := s.listenAuth(ctx)
		s.auth.setLive(false)
		if ctx.Err() != nil {
			return
		}
		if onErr != nil && err != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(authRetry):
		}
	}
}

func (s *Store) listenAuth(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+AuthChannel); err != nil {
		return err
	}
	s.auth.setLive(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if n.Channel == AuthChannel {
			s.auth.notified(n.Payload)
		}
	}
}
