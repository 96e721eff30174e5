// Package dbtest gives tests a fresh, migrated Postgres database each, on the
// server named by TEST_DATABASE_URL (default: the local server with trust
// auth). Connections use a non-UTC time zone so time-zone bugs show.
package dbtest

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver pgtestdb uses
	"github.com/peterldowns/pgtestdb"
	"github.com/peterldowns/pgtestdb/migrators/goosemigrator"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/migrations"
)

// DefaultAdminURL is used when TEST_DATABASE_URL is unset.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// TimeZone is the session time zone of every test connection: not UTC, with
// a daylight-saving history, so code that mixes zones fails tests.
const TimeZone = "America/Sao_Paulo"

// AdminURL is the superuser URL of the test server: TEST_DATABASE_URL or
// DefaultAdminURL. Use it to create or drop custom databases.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// URL returns the URL of a new database, migrated with every embedded
// migration and dropped when the test ends (kept when it fails, for a look).
// It connects as an unprivileged role that owns the database, like the
// application in production, in time zone TimeZone.
func URL(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("dbtest: parse TEST_DATABASE_URL: %v", err)
	}
	password, _ := u.User.Password()
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	q.Set("timezone", TimeZone)
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	conf := pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      u.Hostname(),
		Port:                      port,
		User:                      u.User.Username(),
		Password:                  password,
		Database:                  trimSlash(u.Path),
		Options:                   q.Encode(),
		ForceTerminateConnections: true,
	}
	migrator := goosemigrator.New(".", goosemigrator.WithFS(migrations.FS))
	return pgtestdb.Custom(t, conf, migrator).URL()
}

// Store opens a db.Store on a fresh database (see URL), closed when the test
// ends.
func Store(t testing.TB) *db.Store {
	t.Helper()
	return Open(t, URL(t))
}

// Open opens a db.Store on dbURL (a database of URL: another pool on it,
// as a second replica has), closed when the test ends.
func Open(t testing.TB, dbURL string) *db.Store {
	t.Helper()
	s, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// AsAdmin returns dbURL (a database made by URL) with the superuser
// credentials of AdminURL, for tests that must do what the application
// cannot, such as disabling a trigger.
func AsAdmin(t testing.TB, dbURL string) string {
	t.Helper()
	admin, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("dbtest: parse admin url: %v", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("dbtest: parse url: %v", err)
	}
	u.User = admin.User
	return u.String()
}

func trimSlash(p string) string {
	if len(p) > 0 && p[0] == '/' {
		return p[1:]
	}
	return p
}

// RejectOutcomesOnce makes the next audit row that is not a started row fail
// to insert, once (a trigger counting with a sequence, which a rolled-back
// insert does not rewind): the fault of an action whose outcome row is lost.
func RejectOutcomesOnce(t testing.TB, dbURL string) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, AsAdmin(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{
		`CREATE SEQUENCE test_reject_once`,
		`GRANT USAGE ON SEQUENCE test_reject_once TO PUBLIC`,
		`CREATE FUNCTION test_reject_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.outcome <> 'started' AND nextval('test_reject_once') = 1 THEN
				RAISE EXCEPTION 'test: outcome rows refused';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER test_reject_outcome BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_reject_outcome()`,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("dbtest: %s: %v", q, err)
		}
	}
}

// Eventually polls cond until it holds, failing the test after 60 s: for
// what happens asynchronously (a notification on its way, a job's next
// attempt), never as a timing assertion.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// AdminExec runs each SQL statement as the superuser on dbURL's database
// (what the application's role cannot: disabling a trigger, ending a
// backend).
func AdminExec(t testing.TB, dbURL string, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, AsAdmin(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range sqls {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
