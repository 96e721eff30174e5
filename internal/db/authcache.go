package db

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
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
// (migrations 00019, 00021) announce every change to users, web_sessions
// and saved_views with the user's id. A change through this Store drops
// what it kept for the user at once, right after it commits; one made
// elsewhere (another replica, psql) when its notification arrives,
// milliseconds after the commit.
//
// Listening is proved, not assumed: a connection can die without a word
// (a half-open TCP connection, a NAT or firewall forgetting it), and a
// listener that hears nothing then cannot tell silence from a dead link.
// So the listener sends itself a notification (a heartbeat) every
// authBeatEvery, and answers are served from memory only until
// authBeatEvery+authBeatWithin after the last heartbeat that came back was
// sent: notifications arrive in commit order, so one that came back proves
// every change committed before it was sent has been applied. A heartbeat
// not back within authBeatWithin ends the connection. While not proved
// live every request asks Postgres; the listener connects again (with
// backoff), and a new connection starts with nothing kept, since
// notifications sent while it was away were lost.
//
// Refusals are kept like answers: a token no session has, and a revoked
// session, so that a replayed cookie of an ended session is refused
// without a query. A revoked session is dropped with its user's answers; a
// token unknown is dropped when any session is started (migration 00021
// announces every insert into web_sessions).
//
// A kept open session is answered only while its last_seen_at would not be
// rewritten (SessionTouchEvery), so the once-a-minute touch still happens
// through the query.

// AuthChannel is the channel of the auth-change notifications.
const AuthChannel = "dashboard_auth"

// payloadNewToken is announced when a session is started (a token that
// was unknown may now be known).
const payloadNewToken = "new-token"

// maxAuthEntries bounds each map of the cache; past it the map starts afresh.
const maxAuthEntries = 50_000

// The heartbeat: one every authBeatEvery, each to come back within
// authBeatWithin. A connection that died silently is found out, and
// answers stop being served from memory, at most
// authBeatEvery+authBeatWithin after it died.
const (
	authBeatEvery  = 2 * time.Second
	authBeatWithin = 3 * time.Second
)

// The pause before the listener connects again: authRetry, doubling on
// each failure in a row up to authRetryMax (a replica must not hammer a
// struggling Postgres), from authRetry again once a connection went live.
const (
	authRetry    = time.Second
	authRetryMax = 30 * time.Second
)

// authConnectTimeout bounds connecting and LISTENing.
const authConnectTimeout = 10 * time.Second

type authCache struct {
	mu   sync.Mutex
	live bool // a listener connection is LISTENing
	// until is when answers stop being served: the last heartbeat's proof
	// runs out (see above). Read with time.Now(), not a request's clock.
	until    time.Time
	gen      uint64 // bumped by every drop: a query begun before one is not kept
	sessions map[[32]byte]sessionEntry
	views    map[int64][]SavedView
	// listens counts connections that went live (tests).
	listens int
	// recent are the last notifications applied, heartbeats aside (tests
	// use a unique one as a barrier).
	recent [16]string
	next   int
}

// sessionEntry is a kept answer of SessionUser: a session with its user,
// or, when unknown, that no session has the token.
type sessionEntry struct {
	ws      WebSession
	u       User
	unknown bool
}

// servable says whether kept answers may be served now (c.mu held).
func (c *authCache) servable() bool {
	return c.live && time.Now().Before(c.until)
}

// begin is called before a query whose answer may be kept: its generation,
// and whether anything may be kept at all.
func (c *authCache) begin() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.servable()
}

// session is the answer kept for key at now, if one may be served.
func (c *authCache) session(key [32]byte, now time.Time) (sessionEntry, bool) {
	c.mu.Lock()
	e, ok := c.sessions[key]
	ok = ok && c.servable()
	c.mu.Unlock()
	// An open session past this point would have last_seen_at touched by
	// the query: let it. Refusals are never touched.
	if !ok || (!e.unknown && e.ws.RevokedAt == nil && now.Sub(e.ws.LastSeenAt) >= SessionTouchEvery) {
		return sessionEntry{}, false
	}
	return e, true
}

func (c *authCache) keepSession(gen uint64, key [32]byte, e sessionEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.servable() || c.gen != gen {
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
	ok = ok && c.servable()
	c.mu.Unlock()
	return slices.Clone(vs), ok
}

func (c *authCache) keepViews(gen uint64, userID int64, vs []SavedView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.servable() || c.gen != gen {
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
		if !e.unknown && (e.u.ID == userID || e.ws.UserID == userID) {
			delete(c.sessions, k)
		}
	}
	delete(c.views, userID)
}

// dropUnknown drops every token kept as unknown.
func (c *authCache) dropUnknown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.sessions {
		if e.unknown {
			delete(c.sessions, k)
		}
	}
}

// dropSession drops one session.
func (c *authCache) dropSession(key [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.sessions, key)
}

// setLive drops everything and says whether the listener is LISTENing;
// live, answers may be served until until (the LISTEN's own proof).
func (c *authCache) setLive(live bool, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live, c.until = live, until
	c.sessions, c.views = nil, nil
	if live {
		c.listens++
	}
}

// proved extends serving to until: a heartbeat came back. Nothing kept is
// dropped even after a lapse: every change committed before the heartbeat
// was sent has been applied by now.
func (c *authCache) proved(until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live && until.After(c.until) {
		c.until = until
	}
}

// notified applies one notification's payload: a user id; payloadNewToken;
// a negative number (a heartbeat, another replica's or a test's: no user
// has one), nothing; "*" or anything unreadable, everyone.
func (c *authCache) notified(payload string) {
	defer func() {
		c.mu.Lock()
		c.recent[c.next%len(c.recent)] = payload
		c.next++
		c.mu.Unlock()
	}()
	if payload == payloadNewToken {
		c.dropUnknown()
		return
	}
	id, err := strconv.ParseInt(payload, 10, 64)
	switch {
	case err != nil:
		c.mu.Lock()
		c.gen++
		c.sessions, c.views = nil, nil
		c.mu.Unlock()
	case id >= 0:
		c.dropUser(id)
	}
}

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// AuthCacheLive reports whether answers are being served from memory: the
// listener is connected, LISTENing, and its last heartbeat came back in
// time.
func (s *Store) AuthCacheLive() bool {
	_, live := s.auth.begin()
	return live
}

// SessionKept reports whether SessionUser would answer token from memory
// at now, without a query (a caller with work to start alongside a slow
// lookup skips it for a fast one, or for a refusal kept).
func (s *Store) SessionKept(token string, now time.Time) bool {
	_, ok := s.auth.session(tokenKey(token), now)
	return ok
}

// ListenAuthChanges keeps the auth cache: it holds one connection of its
// own LISTENing on AuthChannel, applies every notification and proves the
// connection alive with a heartbeat; when the connection fails, or goes
// silent, it drops everything and stops keeping until a new one is
// LISTENing (retrying with backoff, authRetry to authRetryMax). onErr,
// when set, hears each failure. It returns when ctx ends, leaving the
// cache off.
func (s *Store) ListenAuthChanges(ctx context.Context, onErr func(error)) {
	defer s.auth.setLive(false, time.Time{})
	every, within := s.authBeat()
	wait := authRetry
	for ctx.Err() == nil {
		wentLive, err := s.listenAuth(ctx, every, within)
		s.auth.setLive(false, time.Time{})
		if ctx.Err() != nil {
			return
		}
		if onErr != nil && err != nil {
			onErr(err)
		}
		if wentLive {
			wait = authRetry
		}
		// Half to all of wait: replicas that lost Postgres together do
		// not come back in step.
		pause := wait/2 + rand.N(wait/2+1)
		wait = min(2*wait, authRetryMax)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// authBeat is the heartbeat's period and bound (SetAuthHeartbeat in tests).
func (s *Store) authBeat() (every, within time.Duration) {
	every, within = authBeatEvery, authBeatWithin
	if s.authBeatEvery > 0 {
		every, within = s.authBeatEvery, s.authBeatWithin
	}
	return every, within
}

// listenAuth is one listening connection, until it fails or ctx ends; it
// says whether it went live.
func (s *Store) listenAuth(ctx context.Context, every, within time.Duration) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, authConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer func() {
		// A dead link must not hold up the goodbye.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	start := time.Now()
	if _, err := conn.Exec(cctx, "LISTEN "+AuthChannel); err != nil {
		return false, err
	}
	cancel()
	// Proved by the LISTEN's own answer as a heartbeat sent at start would be.
	s.auth.setLive(true, start.Add(beatLasts(every, within)))
	beat := start.Add(every) // the next heartbeat
	for {
		wctx, cancel := context.WithDeadline(ctx, beat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n.Channel == AuthChannel {
				s.auth.notified(n.Payload)
			}
			continue
		case ctx.Err() != nil:
			return true, nil
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return true, err
		}
		sent := time.Now()
		if err := s.heartbeat(ctx, conn, within); err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, err
		}
		s.auth.proved(sent.Add(beatLasts(every, within)))
		beat = sent.Add(every)
	}
}

// beatLasts is how long a heartbeat's proof serves: until the next one,
// sent every after it (or when it came back, if later), is due back.
func beatLasts(every, within time.Duration) time.Duration {
	return max(every, within) + within
}

// heartbeat notifies AuthChannel from the listener's own connection with a
// payload no one else sends and waits, applying the notifications that come
// first, until it comes back: within, or the connection is taken for dead.
func (s *Store) heartbeat(ctx context.Context, conn *pgx.Conn, within time.Duration) error {
	hctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	payload := "-" + strconv.FormatInt(rand.Int64N(1<<62)+1, 10)
	if _, err := conn.Exec(hctx, `SELECT pg_notify($1, $2)`, AuthChannel, payload); err != nil {
		return fmt.Errorf("auth listener heartbeat: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(hctx)
		if err != nil {
			return fmt.Errorf("auth listener heartbeat not back within %v: %w", within, err)
		}
		if n.Channel != AuthChannel {
			continue
		}
		if n.Payload == payload {
			return nil
		}
		s.auth.notified(n.Payload)
	}
}
