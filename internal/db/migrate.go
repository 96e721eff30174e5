package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/vagon-dashboard/dashboard/migrations"
)

// ErrSchemaTooNew is returned when the database was migrated by a newer
// release than this binary: running on it could misread or corrupt data.
var ErrSchemaTooNew = errors.New("db: database schema is newer than this program; run a newer release")

// Migrate applies every embedded migration not yet applied to the database at
// url. Replicas starting together are serialized by a Postgres advisory lock.
// It returns ErrSchemaTooNew, and changes nothing, when the database holds a
// migration newer than the newest one embedded.
func Migrate(ctx context.Context, url string) error {
	return migrate(ctx, url, migrations.FS)
}

// SchemaVersions reports the newest migration applied to the database at url
// and the newest one embedded in this program.
func SchemaVersions(ctx context.Context, url string) (applied, embedded int64, err error) {
	err = withProvider(ctx, url, migrations.FS, func(p *goose.Provider) error {
		applied, embedded, err = p.GetVersions(ctx)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("db: schema versions: %w", err)
	}
	return applied, embedded, nil
}

func migrate(ctx context.Context, url string, fsys fs.FS) error {
	err := withProvider(ctx, url, fsys, func(p *goose.Provider) error {
		current, newest, err := p.GetVersions(ctx)
		if err != nil {
			return err
		}
		if current > newest {
			return fmt.Errorf("%w (database at %d, program knows up to %d)", ErrSchemaTooNew, current, newest)
		}
		if current == newest {
			// Up to date: nothing to take a lock for, and a role that does
			// not own the tables (the recommended deployment) needs nothing
			// more than to read the version.
			return nil
		}
		_, err = p.Up(ctx)
		if err != nil && isInsufficientPrivilege(err) {
			return fmt.Errorf("%w (database at %d, program needs %d): %v", ErrMigrateNotOwner, current, newest, err)
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrSchemaTooNew) || errors.Is(err, ErrMigrateNotOwner) {
			return err
		}
		return fmt.Errorf("db: migrate: %w", err)
	}
	return nil
}

// ErrMigrateNotOwner is returned when migrations are pending and the role
// connected may not apply them: it does not own the tables, as it should
// not in production. Run `dashboard migrate` as the owner, then start again.
var ErrMigrateNotOwner = errors.New("db: migrations are pending and this database role may not apply them; run `dashboard migrate` as the role that owns the tables, then start again")

func isInsufficientPrivilege(err error) bool {
	var pgErr *pgconn.PgError
	// 42501 insufficient_privilege; "must be owner of table" is 42501 too.
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}

func withProvider(ctx context.Context, url string, fsys fs.FS, fn func(*goose.Provider) error) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	sqlDB.SetMaxOpenConns(2)

	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return err
	}
	return fn(p)
}

// extraMigrateLockKey is the advisory lock key that serializes migrations
// applied after the app's own (River's, see internal/jobs) across replicas
// starting together: one bigint key, "vagonmig".
const extraMigrateLockKey int64 = 0x7661_676f_6e6d_6967

// WithMigrateLock runs fn while holding a session advisory lock on one of
// the store's connections, so that replicas starting together apply
// migrations that take no lock of their own one at a time. The lock ends
// with fn (or with the connection, if the process dies).
func (s *Store) WithMigrateLock(ctx context.Context, fn func(ctx context.Context) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("db: migrate lock: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, extraMigrateLockKey); err != nil {
		return fmt.Errorf("db: migrate lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, extraMigrateLockKey); err != nil {
			// Closing the connection is the sure way to drop a session lock.
			_ = conn.Hijack().Close(uctx)
		}
	}()
	return fn(ctx)
}
