package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

// emptyDatabase creates an empty database on the test server, dropped at the
// end of the test, and returns its URL (superuser, non-UTC time zone).
func emptyDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var name string
	if err := admin.QueryRow(ctx, `SELECT 'dbtest_empty_' || substr(md5(random()::text), 1, 10)`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, dbtest.AdminURL())
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Error(err)
		}
	})
	u := admin.Config().ConnString()
	cfg, _ := pgx.ParseConfig(u)
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable&timezone=%s",
		cfg.User, cfg.Host, cfg.Port, name, dbtest.TimeZone)
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	url := emptyDatabase(t)

	// From zero, then again: the second run must change nothing.
	for i := range 2 {
		if err := db.Migrate(ctx, url); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		applied, embedded, err := db.SchemaVersions(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if applied != embedded || applied < 1 {
			t.Fatalf("run %d: applied %d, embedded %d", i+1, applied, embedded)
		}
	}

	s, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, table := range []string{"users", "settings", "login_attempts", "web_sessions", "audit_events", "oidc_logins"} {
		var n int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}

	// A database migrated by a newer release is refused, untouched.
	if _, err := s.Pool().Exec(ctx,
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)`); err != nil {
		t.Fatal(err)
	}
	err = db.Migrate(ctx, url)
	if !errors.Is(err, db.ErrSchemaTooNew) {
		t.Fatalf("Migrate on newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpen_badURL(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		url  string
	}{
		{"unparseable", "postgres://%zz"},
		{"nobody listening", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := db.Open(ctx, tt.url)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}
