package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
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
		_, err = p.Up(ctx)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrSchemaTooNew) {
			return err
		}
		return fmt.Errorf("db: migrate: %w", err)
	}
	return nil
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
