package db

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrConfirmUsed is returned (wrapped, test with errors.Is) by
// ClaimConfirmToken when the token was claimed before: the confirmation has
// already been acted on, or is being acted on right now.
var ErrConfirmUsed = errors.New("confirmation already used")

// ConfirmTokenRetention is how long a claimed token is remembered. A
// confirmation page older than this is not expected to be submitted again;
// if it is, it is acted on as new.
const ConfirmTokenRetention = 30 * 24 * time.Hour

// ConfirmToken is a claimed confirmation.
type ConfirmToken struct {
	Purpose    string     `db:"purpose"`
	ActorEmail string     `db:"actor_email"`
	ClaimedAt  time.Time  `db:"claimed_at"`
	FinishedAt *time.Time `db:"finished_at"`
	// Refs are what the action made (machine ids, an operation id), as
	// FinishConfirmToken recorded them.
	Refs []string `db:"refs"`
}

// confirmTokenHash is the stored key of a token: SHA-256 over purpose, NUL
// and token, so the same token under two purposes are two claims.
func confirmTokenHash(purpose, token string) []byte {
	h := sha256.New()
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(token))
	return h.Sum(nil)
}

// ClaimConfirmToken marks token as used for purpose, atomically: of any
// number of concurrent claims of the same token (on any replica) exactly one
// returns nil. The others return ErrConfirmUsed with the existing claim, so
// the caller can say what the first submit did. Claim before the action,
// never after: a claim that is not made cannot stop a second submit.
func (s *Store) ClaimConfirmToken(ctx context.Context, purpose, token, actorEmail string) (*ConfirmToken, error) {
	if token == "" {
		return nil, errors.New("db: claim confirmation: empty token")
	}
	key := confirmTokenHash(purpose, token)
	tag, err := s.pool.Exec(ctx, `
		WITH pruned AS (DELETE FROM confirm_tokens WHERE claimed_at < now() - $4::interval)
		INSERT INTO confirm_tokens (token_hash, purpose, actor_email) VALUES ($1, $2, $3)
		ON CONFLICT (token_hash) DO NOTHING`,
		key, purpose, actorEmail, fmt.Sprintf("%d seconds", int64(ConfirmTokenRetention/time.Second)))
	if err != nil {
		return nil, fmt.Errorf("db: claim confirmation: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT purpose, actor_email, claimed_at, finished_at, refs
		FROM confirm_tokens WHERE token_hash = $1`, key)
	if err != nil {
		return nil, fmt.Errorf("db: read confirmation: %w", err)
	}
	prev, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[ConfirmToken])
	if err != nil {
		// Pruned between the two statements: still refuse, the claim
		// existed a moment ago.
		if errors.Is(err, pgx.ErrNoRows) {
			return &ConfirmToken{Purpose: purpose}, ErrConfirmUsed
		}
		return nil, fmt.Errorf("db: read confirmation: %w", err)
	}
	return prev, ErrConfirmUsed
}

// FinishConfirmToken records that the action behind a claimed token has
// ended and what it made (refs may be empty, e.g. when it failed).
func (s *Store) FinishConfirmToken(ctx context.Context, purpose, token string, refs []string) error {
	if refs == nil {
		refs = []string{}
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE confirm_tokens SET finished_at = now(), refs = $2
		WHERE token_hash = $1 AND finished_at IS NULL`,
		confirmTokenHash(purpose, token), refs)
	if err != nil {
		return fmt.Errorf("db: finish confirmation: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: finish confirmation: %w", ErrNotFound)
	}
	return nil
}

// ReleaseConfirmToken forgets an unfinished claim, for an action that
// provably did not start (its audit row could not be written): the same
// confirmation may then be submitted again. A finished claim stays.
func (s *Store) ReleaseConfirmToken(ctx context.Context, purpose, token string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM confirm_tokens WHERE token_hash = $1 AND finished_at IS NULL`,
		confirmTokenHash(purpose, token))
	if err != nil {
		return fmt.Errorf("db: release confirmation: %w", err)
	}
	return nil
}
