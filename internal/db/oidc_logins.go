package db

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OIDCLogin is a sign-in started at the OpenID provider and not yet come
// back: what the callback needs to finish it. The state and the browser's
// binding value are stored only as SHA-256 hashes.
type OIDCLogin struct {
	// Nonce goes into the authorization request and must come back in the
	// ID token.
	Nonce string
	// Verifier is the PKCE code verifier the code exchange sends.
	Verifier string
	// Next is where to go after signing in (a local path, checked again
	// by the caller).
	Next string
	// RemoteAddr is the client address that started it (counted against
	// MaxOpenOIDCLoginsPerAddr; "" is not counted).
	RemoteAddr string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// browserHash is the hash of the binding value of the browser that
	// started the sign-in (see BoundTo).
	browserHash []byte
}

// BoundTo reports whether the login was started by the browser whose
// session carries the binding value browser.
func (l OIDCLogin) BoundTo(browser string) bool {
	return browser != "" && subtle.ConstantTimeCompare(l.browserHash, tokenHash(browser)) == 1
}

// oidcLoginRetention is how long a claimed-never row outlives its expiry
// before CreateOIDCLogin prunes it.
const oidcLoginRetention = time.Hour

// MaxOpenOIDCLoginsPerAddr bounds the sign-ins one client address may have
// started and not finished (nor let expire): far above what people behind
// one NAT start within the ten minutes a sign-in lasts, and a bound on what
// an unauthenticated flood of GET /login/oidc can add to the table.
const MaxOpenOIDCLoginsPerAddr = 200

// ErrTooManyOIDCLogins is returned by CreateOIDCLogin when the address has
// MaxOpenOIDCLoginsPerAddr sign-ins open.
var ErrTooManyOIDCLogins = errors.New("too many sign-ins started from this address")

// CreateOIDCLogin records a sign-in started at the provider under state,
// bound to the browser's binding value, valid until expires. Rows expired
// for an hour are pruned on the way. An address with
// MaxOpenOIDCLoginsPerAddr open sign-ins gets ErrTooManyOIDCLogins (the
// count and the insert are serialized per address).
func (s *Store) CreateOIDCLogin(ctx context.Context, state, browser string, l OIDCLogin) error {
	if state == "" || browser == "" {
		return fmt.Errorf("db: create oidc login: empty state or browser binding")
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM oidc_logins WHERE expires_at < $1`, l.CreatedAt.Add(-oidcLoginRetention)); err != nil {
			return err
		}
		if l.RemoteAddr != "" {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('oidc_logins:' || $1, 0))`, l.RemoteAddr); err != nil {
				return err
			}
			var open int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM oidc_logins WHERE remote_addr = $1 AND expires_at > $2`, l.RemoteAddr, l.CreatedAt).Scan(&open); err != nil {
				return err
			}
			if open >= MaxOpenOIDCLoginsPerAddr {
				return ErrTooManyOIDCLogins
			}
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO oidc_logins (state_hash, browser_hash, nonce, verifier, next, remote_addr, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			tokenHash(state), tokenHash(browser), l.Nonce, l.Verifier, l.Next, l.RemoteAddr, l.CreatedAt, l.ExpiresAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("db: create oidc login: %w", err)
	}
	return nil
}

// ClaimOIDCLogin takes the sign-in recorded under state: it deletes the row
// as it reads it, so a state is good for one callback across every
// replica. It returns ErrNotFound for an unknown (or already used) state;
// an expired one is returned, for the caller to refuse with that reason.
func (s *Store) ClaimOIDCLogin(ctx context.Context, state string) (OIDCLogin, error) {
	var l OIDCLogin
	err := s.pool.QueryRow(ctx, `
		DELETE FROM oidc_logins WHERE state_hash = $1
		RETURNING browser_hash, nonce, verifier, next, remote_addr, created_at, expires_at`, tokenHash(state),
	).Scan(&l.browserHash, &l.Nonce, &l.Verifier, &l.Next, &l.RemoteAddr, &l.CreatedAt, &l.ExpiresAt)
	if err != nil {
		return OIDCLogin{}, fmt.Errorf("db: claim oidc login: %w", notFound(err))
	}
	return l, nil
}
