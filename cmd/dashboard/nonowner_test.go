package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
)

// appGrants are README's statements ("Using it with your Vagon account")
// that let a role which does not own the tables run the dashboard; OWNER and
// APP are replaced by the role names. Keep them in step with README.
var appGrants = []string{
	`GRANT CONNECT, TEMPORARY ON DATABASE DBNAME TO APP`,
	`GRANT USAGE ON SCHEMA public TO APP`,
	`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO APP`,
	`REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM APP`,
	`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO APP`,
	`ALTER DEFAULT PRIVILEGES FOR ROLE OWNER IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO APP`,
	`ALTER DEFAULT PRIVILEGES FOR ROLE OWNER IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO APP`,
}

// nonOwnerURL creates a login role that does not own anything in the
// database at dbURL (made by dbtest.URL, whose role owns the tables), grants
// it README's privileges, and returns the database's URL as that role.
func nonOwnerURL(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	// River's tables, as `dashboard migrate` run by the owner makes them.
	ownerStore, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	err = jobs.Migrate(ctx, ownerStore)
	ownerStore.Close()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, dbtest.AsAdmin(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var owner, dbName string
	if err := admin.QueryRow(ctx, `SELECT tableowner, current_database() FROM pg_tables WHERE tablename = 'audit_events'`).Scan(&owner, &dbName); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	app := "dash_app_" + hex.EncodeToString(b)
	password := hex.EncodeToString(b) + "-pw"
	stmts := append([]string{fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, app, password)}, appGrants...)
	for _, q := range stmts {
		q = strings.NewReplacer("OWNER", pgx.Identifier{owner}.Sanitize(), "APP", app, "DBNAME", pgx.Identifier{dbName}.Sanitize()).Replace(q)
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dbtest.AsAdmin(t, dbURL))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), fmt.Sprintf(`DROP OWNED BY %s`, app))
		_, _ = c.Exec(context.Background(), fmt.Sprintf(`DROP ROLE %s`, app))
	})
	u, _ := url.Parse(dbURL)
	u.User = url.UserPassword(app, password)
	return u.String()
}

// TestRun_serveAsNonOwner: with README's grants, serve runs as a role that
// does not own audit_events: it needs no migration, signs a user in
// (writing audit rows), and that role can neither change a row nor turn
// the insert-only trigger off. With a migration pending it refuses to
// start and says to run `dashboard migrate` as the owner.
func TestRun_serveAsNonOwner(t *testing.T) {
	t.Parallel()
	ownerURL := dbtest.URL(t)
	appURL := nonOwnerURL(t, ownerURL)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`UPDATE audit_events SET message = 'x'`,
		`DELETE FROM audit_events`,
		`ALTER TABLE audit_events DISABLE TRIGGER USER`,
	} {
		var pgErr *pgconn.PgError
		if _, err := conn.Exec(ctx, q); !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s as the app role: %v, want permission denied", q, err)
		}
	}

	env := map[string]string{
		"DATABASE_URL": appURL, "ADDR": "127.0.0.1:0", "SYNC_INTERVAL": "0", "DEMO_MACHINES": "2",
		"ADMIN_EMAIL": "boss@example.com", "ADMIN_PASSWORD": "a long enough password",
		"AUDIT_KEY": strings.Repeat("ab", 32),
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var logs strings.Builder
	go func() {
		err := run(sctx, []string{"serve"}, envOf(env), strings.NewReader(""), pw, &logs)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	var base string
	sc := bufio.NewScanner(pr)
	for base == "" && sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "dashboard: serving on "); ok {
			base = u
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if base == "" {
		t.Fatalf("serve as a non-owner did not start: %v", <-done)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatal("no csrf token on /login")
	}
	resp, err = hc.PostForm(base+"/login", url.Values{"_csrf": {string(m[1])}, "email": {"boss@example.com"}, "password": {"a long enough password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in as the non-owner app: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	s, err := db.Open(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var logins int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'auth.login' AND hash_alg = 'hmac-sha256'`).Scan(&logins); err != nil || logins != 1 {
		t.Fatalf("keyed auth.login rows written by the app role: %d, %v", logins, err)
	}
	if out, _, err := runCmd(t, map[string]string{"DATABASE_URL": appURL, "AUDIT_KEY": env["AUDIT_KEY"]}, "", "audit", "verify"); err != nil || !strings.Contains(out, "audit log intact") {
		t.Fatalf("verify as the app role: %v %s", err, out)
	}

	// A migration pending: the app role may not apply it, and says so.
	admin, err := pgx.Connect(ctx, dbtest.AsAdmin(t, ownerURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(t, env, "", "serve")
	if !errors.Is(err, db.ErrMigrateNotOwner) || !strings.Contains(err.Error(), "dashboard migrate") {
		t.Fatalf("serve with a pending migration as a non-owner: %v", err)
	}
}
