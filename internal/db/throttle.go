package db

import (
	"context"
	"fmt"
	"time"
)

// The sign-in throttling policy. Failures are counted separately per email and
// per client address over a sliding window; once either count reaches
// ThrottleFreeFailures, the next attempt for that email or from that address
// must wait ThrottleBaseDelay after the latest failure, doubling with every
// further failure, at most ThrottleMaxDelay.
//
// With the values below: failures 1-4 cost nothing; after the 5th the wait is
// 30 s, after the 6th 1 min, 7th 2 min, 8th 4 min, 9th 8 min, from the 10th
// on 15 min.
const (
	ThrottleWindow       = 15 * time.Minute
	ThrottleFreeFailures = 5
	ThrottleBaseDelay    = 30 * time.Second
	ThrottleMaxDelay     = 15 * time.Minute
)

// loginFailureRetention is how long failure rows are kept; well beyond the
// window, so an operator can still look at a recent attack.
const loginFailureRetention = 24 * time.Hour

// ThrottleDelay is the wait imposed after the latest of failures failed
// attempts within ThrottleWindow: zero below ThrottleFreeFailures, then
// ThrottleBaseDelay doubling per extra failure, capped at ThrottleMaxDelay.
func ThrottleDelay(failures int) time.Duration {
	if failures < ThrottleFreeFailures {
		return 0
	}
	d := ThrottleBaseDelay
	for i := ThrottleFreeFailures; i < failures; i++ {
		d *= 2
		if d >= ThrottleMaxDelay {
			return ThrottleMaxDelay
		}
	}
	return d
}

// RecordLoginFailure notes a failed sign-in for email from addr (the client's
// IP address, without port) at time at. Call it only for attempts that were
// actually checked, not for ones refused by LoginThrottle, so that an attacker
// cannot keep a victim locked out forever at no cost.
func (s *Store) RecordLoginFailure(ctx context.Context, email, addr string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		WITH pruned AS (DELETE FROM login_failures WHERE at < $4)
		INSERT INTO login_failures (email, addr, at) VALUES ($1, $2, $3)`,
		NormalizeEmail(email), addr, at, at.Add(-loginFailureRetention))
	if err != nil {
		return fmt.Errorf("db: record login failure: %w", err)
	}
	return nil
}

// ClearLoginFailures forgets failures after a successful sign-in for email
// from addr: every failure against email, whatever address it came from
// (the owner has just proved they know the password). Failures from addr
// against other emails stay counted on purpose, so signing in to one's own
// account does not reset a password-spraying count from that address.
func (s *Store) ClearLoginFailures(ctx context.Context, email, addr string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE email = $1`, NormalizeEmail(email))
	if err != nil {
		return fmt.Errorf("db: clear login failures: %w", err)
	}
	return nil
}

// LoginThrottle tells how long a sign-in for email from addr must wait at
// time now; zero means it may proceed. It applies the stricter of the
// per-email and per-address counts.
func (s *Store) LoginThrottle(ctx context.Context, email, addr string, now time.Time) (retryAfter time.Duration, err error) {
	var (
		emailN, addrN       int
		emailLast, addrLast *time.Time
	)
	err = s.pool.QueryRow(ctx, `
		SELECT
			(SELECT count(*) FROM login_failures WHERE email = $1 AND at > $3 AND at <= $4),
			(SELECT max(at)  FROM login_failures WHERE email = $1 AND at > $3 AND at <= $4),
			(SELECT count(*) FROM login_failures WHERE addr = $2 AND at > $3 AND at <= $4),
			(SELECT max(at)  FROM login_failures WHERE addr = $2 AND at > $3 AND at <= $4)`,
		NormalizeEmail(email), addr, now.Add(-ThrottleWindow), now,
	).Scan(&emailN, &emailLast, &addrN, &addrLast)
	if err != nil {
		return 0, fmt.Errorf("db: login throttle: %w", err)
	}
	wait := func(n int, last *time.Time) time.Duration {
		if last == nil {
			return 0
		}
		return max(0, last.Add(ThrottleDelay(n)).Sub(now))
	}
	return max(wait(emailN, emailLast), wait(addrN, addrLast)), nil
}
