package db

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WebSession is one signed-in browser session, kept server-side so that
// logout, disabling a user and an admin can end it. The browser's cookie
// carries a random token; only the token's SHA-256 is stored.
type WebSession struct {
	ID            int64      `db:"id"`
	UserID        int64      `db:"user_id"`
	CreatedAt     time.Time  `db:"created_at"`
	LastSeenAt    time.Time  `db:"last_seen_at"`
	RevokedAt     *time.Time `db:"revoked_at"`
	RevokedReason string     `db:"revoked_reason"` // logout, disabled, admin
	RemoteAddr    string     `db:"remote_addr"`
	UserAgent     string     `db:"user_agent"`
	// Method is how the session was started: LoginPassword or LoginOIDC.
	Method string `db:"method"`
}

// NewWebSession is what StartWebSession records.
type NewWebSession struct {
	UserID     int64
	Token      string // the cookie's random token; only its hash is stored
	RemoteAddr string
	UserAgent  string
	// Method is LoginPassword or LoginOIDC; it becomes the user's
	// last_login_method too.
	Method string
	// IDToken is the provider's ID token of a single sign-on, kept until
	// the session ends for the logout's id_token_hint ("" for none). The
	// web layer passes it sealed (encrypted with a key the database never
	// sees); this package stores and returns it as opaque text.
	IDToken string
	Now     time.Time
}

// Reasons a session was revoked.
const (
	RevokedLogout   = "logout"
	RevokedDisabled = "disabled"
	RevokedAdmin    = "admin"
)

// SessionTouchEvery bounds how often a session's last_seen_at is rewritten.
const SessionTouchEvery = time.Minute

// webSessionRetention is how long a session row is kept after it was
// created: past any session's absolute lifetime (a day), so the admin page
// can still show recent ones.
const webSessionRetention = 7 * 24 * time.Hour

const webSessionColumns = `id, user_id, created_at, last_seen_at, revoked_at, revoked_reason, remote_addr, user_agent, method`

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateWebSession records a new password session for user at now, with
// the token its cookie carries (StartWebSession with LoginPassword).
func (s *Store) CreateWebSession(ctx context.Context, userID int64, token, remoteAddr, userAgent string, now time.Time) (WebSession, error) {
	return s.StartWebSession(ctx, NewWebSession{UserID: userID, Token: token, RemoteAddr: remoteAddr, UserAgent: userAgent, Method: LoginPassword, Now: now})
}

// StartWebSession records a new session and notes the sign-in (time and
// method) as the user's last. Rows older than a week are pruned on the way.
func (s *Store) StartWebSession(ctx context.Context, n NewWebSession) (WebSession, error) {
	var ws WebSession
	var idToken *string
	if n.IDToken != "" {
		idToken = &n.IDToken
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM web_sessions WHERE created_at < $1`, n.Now.Add(-webSessionRetention)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET last_login_at = $2, last_login_method = $3 WHERE id = $1`, n.UserID, n.Now, n.Method)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		rows, _ := tx.Query(ctx, `
			INSERT INTO web_sessions (token_hash, user_id, created_at, last_seen_at, remote_addr, user_agent, method, id_token)
			VALUES ($1, $2, $3, $3, $4, $5, $6, $7)
			RETURNING `+webSessionColumns,
			tokenHash(n.Token), n.UserID, n.Now, n.RemoteAddr, n.UserAgent, n.Method, idToken)
		ws, err = pgx.CollectOneRow(rows, pgx.RowToStructByName[WebSession])
		return err
	})
	s.auth.dropUser(n.UserID)             // its last_login_at changed
	s.auth.dropSession(tokenKey(n.Token)) // the token may have been kept as unknown
	if err != nil {
		return WebSession{}, fmt.Errorf("db: create web session: %w", err)
	}
	return ws, nil
}

// SessionUser finds the session whose cookie carries token, together with
// its user, in one query: the per-request check of every signed-in page. It
// also moves the session's last_seen_at to now when it is older than
// SessionTouchEvery (so a busy session writes at most once a minute); the
// returned session shows last_seen_at as it was before. It returns
// ErrNotFound when no session has that token. The caller refuses a revoked
// session or a disabled user.
func (s *Store) SessionUser(ctx context.Context, token string, now time.Time) (WebSession, User, error) {
	key := tokenKey(token)
	if e, ok := s.auth.session(key, now); ok {
		if e.unknown {
			return WebSession{}, User{}, fmt.Errorf("db: session user: %w", ErrNotFound)
		}
		return e.ws, e.u, nil
	}
	gen, keep := s.auth.begin()
	var (
		ws WebSession
		u  User
	)
	err := s.pool.QueryRow(ctx, `
		WITH touched AS (
			UPDATE web_sessions SET last_seen_at = $2
			WHERE token_hash = $1 AND revoked_at IS NULL AND last_seen_at < $3
		)
		SELECT s.id, s.user_id, s.created_at, s.last_seen_at, s.revoked_at, s.revoked_reason, s.remote_addr, s.user_agent, s.method,
		       u.id, u.email, u.password_hash, u.role, u.disabled, u.created_at, u.updated_at, u.last_login_at, u.time_zone,
		       coalesce(u.oidc_issuer, ''), coalesce(u.oidc_subject, ''), coalesce(u.last_login_method, ''), u.role_pinned
		FROM web_sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1`,
		key[:], now, now.Add(-SessionTouchEvery),
	).Scan(&ws.ID, &ws.UserID, &ws.CreatedAt, &ws.LastSeenAt, &ws.RevokedAt, &ws.RevokedReason, &ws.RemoteAddr, &ws.UserAgent, &ws.Method,
		&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &u.LastLoginAt, &u.TimeZone,
		&u.OIDCIssuer, &u.OIDCSubject, &u.LastLoginMethod, &u.RolePinned)
	if err != nil {
		err = notFound(err)
		if keep && errors.Is(err, ErrNotFound) {
			// Refused from memory next time: a replayed cookie of a
			// session gone costs no query.
			s.auth.keepSession(gen, key, sessionEntry{unknown: true})
		}
		return WebSession{}, User{}, fmt.Errorf("db: session user: %w", err)
	}
	if keep {
		// What the same query would answer next: last_seen_at as the
		// touch above left it.
		kept := ws
		if ws.RevokedAt == nil && ws.LastSeenAt.Before(now.Add(-SessionTouchEvery)) {
			kept.LastSeenAt = now
		}
		s.auth.keepSession(gen, key, sessionEntry{ws: kept, u: u})
	}
	return ws, u, nil
}

// RevokeWebSessionByToken ends the session whose cookie carries token
// (logout). Ending one that is already ended or unknown is not an error.
func (s *Store) RevokeWebSessionByToken(ctx context.Context, token, reason string, now time.Time) error {
	_, err := s.EndWebSession(ctx, token, reason, now)
	return err
}

// EndWebSession ends the session whose cookie carries token, like
// RevokeWebSessionByToken, and returns the ID token it kept (for the
// provider's logout; "" when none or the session had already ended). The
// token is erased from the row in the same statement.
func (s *Store) EndWebSession(ctx context.Context, token, reason string, now time.Time) (idToken string, err error) {
	var kept *string
	err = s.pool.QueryRow(ctx, `
		WITH old AS (
			SELECT id, id_token FROM web_sessions WHERE token_hash = $1 AND revoked_at IS NULL FOR UPDATE
		)
		UPDATE web_sessions s SET revoked_at = $2, revoked_reason = $3, id_token = NULL
		FROM old WHERE s.id = old.id
		RETURNING old.id_token`, tokenHash(token), now, reason).Scan(&kept)
	s.auth.dropSession(tokenKey(token))
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("db: revoke web session: %w", err)
	}
	if kept == nil {
		return "", nil
	}
	return *kept, nil
}

// RevokeWebSession ends one session of user (an admin's "end session"). It
// returns ErrNotFound when the user has no such session still open.
func (s *Store) RevokeWebSession(ctx context.Context, userID, sessionID int64, reason string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE web_sessions SET revoked_at = $3, revoked_reason = $4, id_token = NULL
		WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, sessionID, userID, now, reason)
	s.auth.dropUser(userID)
	if err != nil {
		return fmt.Errorf("db: revoke web session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: revoke web session: %w", ErrNotFound)
	}
	return nil
}

// RevokeUserWebSessions ends every open session of user and says how many
// it ended.
func (s *Store) RevokeUserWebSessions(ctx context.Context, userID int64, reason string, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, revokeUserSessionsSQL, userID, now, reason)
	s.auth.dropUser(userID)
	if err != nil {
		return 0, fmt.Errorf("db: revoke user web sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

const revokeUserSessionsSQL = `
	UPDATE web_sessions SET revoked_at = $2, revoked_reason = $3, id_token = NULL
	WHERE user_id = $1 AND revoked_at IS NULL`

// OpenWebSessions lists the sessions not revoked whose last activity is
// after idleSince and which were created after createdSince (the web
// layer's idle and absolute limits), by user, newest first, at most perUser
// for each user. userID 0 lists every user's; another only that user's.
func (s *Store) OpenWebSessions(ctx context.Context, userID int64, idleSince, createdSince time.Time, perUser int) ([]WebSession, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT `+webSessionColumns+` FROM (
			SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY created_at DESC, id DESC) AS n
			FROM web_sessions
			WHERE revoked_at IS NULL AND last_seen_at > $1 AND created_at > $2 AND ($4 = 0 OR user_id = $4)
		) s WHERE n <= $3
		ORDER BY user_id, created_at DESC, id DESC`, idleSince, createdSince, perUser, userID)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[WebSession])
	if err != nil {
		return nil, fmt.Errorf("db: open web sessions: %w", err)
	}
	return list, nil
}
