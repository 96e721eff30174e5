// Package db is the dashboard's only door to Postgres: the connection pool,
// every SQL query, the embedded migrations and the embedded Postgres used when
// DATABASE_URL is unset. It knows nothing of HTTP.
package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned (wrapped, test with errors.Is) when a query that
// must find one row finds none.
var ErrNotFound = errors.New("not found")

// ErrEmailTaken is returned when a user with the same email (compared without
// regard to letter case) already exists.
var ErrEmailTaken = errors.New("email already in use")

// ErrIdentityTaken is returned when an OpenID identity (issuer + subject)
// is linked to another user, or the user to another identity.
var ErrIdentityTaken = errors.New("identity already linked")

// ErrUserChanged is returned when a conditional change finds the user no
// longer as the caller read it (another admin pinned or changed the role).
var ErrUserChanged = errors.New("the user changed meanwhile")

// ErrInvalidRole is returned when a role is not one of viewer, helpdesk,
// operator or admin.
var ErrInvalidRole = errors.New("invalid role")

// DefaultMaxConns is the pool size used unless the URL sets pool_max_conns.
// The dashboard's queries are short; a handful of connections per replica
// serves many users, and several replicas stay well under Postgres's default
// max_connections of 100.
const DefaultMaxConns = 10

// Store holds the connection pool. Its methods are safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// auditKey keys the audit hash chain (HMAC-SHA256) when set; see
	// SetAuditKey. nil: plain SHA-256.
	auditKey []byte
	// auth keeps sessions and saved views between requests while
	// ListenAuthChanges runs (authcache.go).
	auth authCache
	// authBeatEvery and authBeatWithin, when set (tests), replace the
	// heartbeat's period and bound (authcache.go).
	authBeatEvery, authBeatWithin time.Duration
}

// Open connects to the Postgres server at url and checks that it answers.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "vagon-dashboard"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: open pool: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close waits for queries in flight and closes every connection.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that Postgres answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("db: ping: %w", err)
	}
	return nil
}

// Pool gives the underlying pool to other files of this package and to
// packages that need pgx directly (for instance a job queue driver).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// notFound maps pgx.ErrNoRows to ErrNotFound and leaves other errors alone.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// pgCode returns the SQLSTATE of a Postgres error and the constraint it names.
func pgCode(err error) (code, constraint string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code, pgErr.ConstraintName
	}
	return "", ""
}
