package db

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The sign-in throttling policy. Every attempt is counted, before its
// password is checked, against its email and against its client address, in
// a fixed window of ThrottleWindow per key. An attempt whose email has more
// than EmailAttemptsPerWindow attempts in the window, or whose address has
// more than AddrAttemptsPerWindow, is refused unchecked until that window
// ends. A successful sign-in clears its email's count and takes itself off
// its address's count. The per-address limit is far looser than the
// per-email one: behind a proxy or a NAT many people share an address, and
// a password spray across many made-up emails must not lock all of them out
// after a few tries.
const (
	ThrottleWindow         = 15 * time.Minute
	EmailAttemptsPerWindow = 5
	AddrAttemptsPerWindow  = 100
)

// loginAttemptRetention is how long a counter row is kept after its window
// started; well beyond the window, so an operator can still look at a recent
// attack.
const loginAttemptRetention = 24 * time.Hour

// LoginAttempt is the verdict on one counted sign-in attempt.
type LoginAttempt struct {
	// Allowed means the password may be checked.
	Allowed bool
	// RetryAfter is, when refused, how long until the window that refuses
	// it ends.
	RetryAfter time.Duration
	// FirstRefusal is true for exactly one refused attempt per key and
	// window: the first one over the limit. The caller records that one in
	// the audit log and not the rest, so a flood of refused attempts costs
	// the audit log one row per window.
	FirstRefusal bool
	// EmailAttempts and AddrAttempts are the counts in the current windows,
	// this attempt included.
	EmailAttempts, AddrAttempts int
	// AddrWindow is when the address's current window started (for
	// ClearLoginAttempts).
	AddrWindow time.Time
}

func emailKey(email string) string { return "email:" + NormalizeEmail(email) }
func addrKey(addr string) string   { return "addr:" + addr }

// CountLoginAttempt counts a sign-in attempt for email from addr (the
// client's IP address, without port) at time now, and says whether its
// password may be checked. The count is one INSERT ... ON CONFLICT DO UPDATE
// ... RETURNING, so concurrent attempts each get their own number: at most
// EmailAttemptsPerWindow attempts per email and window are ever allowed,
// however many arrive at once and on however many replicas.
func (s *Store) CountLoginAttempt(ctx context.Context, email, addr string, now time.Time) (LoginAttempt, error) {
	// The two rows are locked in the order of VALUES (email, then address)
	// by every caller, so two attempts never wait on each other in a cycle.
	rows, err := s.pool.Query(ctx, `
		INSERT INTO login_attempts AS t (key, window_start, attempts)
		VALUES ($1, $3, 1), ($2, $3, 1)
		ON CONFLICT (key) DO UPDATE SET
			window_start = CASE WHEN t.window_start <= $4 THEN EXCLUDED.window_start ELSE t.window_start END,
			attempts     = CASE WHEN t.window_start <= $4 THEN 1 ELSE t.attempts + 1 END
		RETURNING key, window_start, attempts`,
		emailKey(email), addrKey(addr), now, now.Add(-ThrottleWindow))
	if err != nil {
		return LoginAttempt{}, fmt.Errorf("db: count login attempt: %w", err)
	}
	defer rows.Close()
	var (
		a         = LoginAttempt{Allowed: true}
		newWindow bool
	)
	for rows.Next() {
		var (
			key   string
			start time.Time
			n     int
		)
		if err := rows.Scan(&key, &start, &n); err != nil {
			return LoginAttempt{}, fmt.Errorf("db: count login attempt: %w", err)
		}
		limit := AddrAttemptsPerWindow
		if strings.HasPrefix(key, "email:") {
			limit = EmailAttemptsPerWindow
			a.EmailAttempts = n
		} else {
			a.AddrAttempts = n
			a.AddrWindow = start
		}
		newWindow = newWindow || n == 1
		if n > limit {
			a.Allowed = false
			a.RetryAfter = max(a.RetryAfter, start.Add(ThrottleWindow).Sub(now))
			a.FirstRefusal = a.FirstRefusal || n == limit+1
		}
	}
	if err := rows.Err(); err != nil {
		return LoginAttempt{}, fmt.Errorf("db: count login attempt: %w", err)
	}
	if !a.Allowed && a.RetryAfter <= 0 {
		a.RetryAfter = time.Second
	}
	if newWindow {
		// Prune at most once per key and window, not on every attempt.
		if _, err := s.pool.Exec(ctx, `DELETE FROM login_attempts WHERE window_start < $1`, now.Add(-loginAttemptRetention)); err != nil {
			return LoginAttempt{}, fmt.Errorf("db: prune login attempts: %w", err)
		}
	}
	return a, nil
}

// ClearLoginAttempts is called after attempt a for email from addr signed
// in: it forgets the attempts against email (the owner has just proved they
// know the password) and gives the address back the one attempt (if its
// window is still the same), so that the address's limit counts failures,
// not everyone who signs in from behind one NAT. The address's failures
// stay counted on purpose, so signing in to one's own account does not
// reset a password-spraying count from that address.
func (s *Store) ClearLoginAttempts(ctx context.Context, email, addr string, a LoginAttempt) error {
	_, err := s.pool.Exec(ctx, `
		WITH e AS (DELETE FROM login_attempts WHERE key = $1)
		UPDATE login_attempts SET attempts = attempts - 1
		WHERE key = $2 AND window_start = $3 AND attempts > 0`,
		emailKey(email), addrKey(addr), a.AddrWindow)
	if err != nil {
		return fmt.Errorf("db: clear login attempts: %w", err)
	}
	return nil
}
