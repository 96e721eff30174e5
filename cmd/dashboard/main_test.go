package main

// run()-level tests of the command line (issue 3 §9): configuration errors,
// migrate, the user commands, audit verify on a tampered log, healthcheck,
// and a demo-mode serve that starts, answers and shuts down.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

// envOf is a getenv over a fixed map (the process environment is never read).
func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// runCmd runs the program with args and env, stdin as given, and returns its
// output and error.
func runCmd(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = run(ctx, args, envOf(env), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// unreachableDB is a valid DATABASE_URL nothing listens on: if a bad
// configuration were accepted, the command would fail on it rather than
// start an embedded Postgres.
const unreachableDB = "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"

func TestRun_configErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
		secret  string // must not appear in the message
	}{
		{"database url scheme", map[string]string{"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL", ""},
		{"api url", map[string]string{"VAGON_API_URL": "ftp://api.example"}, "VAGON_API_URL", ""},
		{"key without secret", map[string]string{"VAGON_API_KEY": "k"}, "VAGON_API_SECRET", ""},
		{"secret without key", map[string]string{"VAGON_API_SECRET": "s3cr3t-value"}, "VAGON_API_KEY", "s3cr3t-value"},
		{"addr without port", map[string]string{"ADDR": "localhost"}, "ADDR", ""},
		{"addr bad port", map[string]string{"ADDR": "127.0.0.1:http8080"}, "ADDR", ""},
		{"session key short", map[string]string{"SESSION_KEY": "deadbeefcafe"}, "SESSION_KEY", "deadbeefcafe"},
		{"session key not encoded", map[string]string{"SESSION_KEY": "not a key!!"}, "SESSION_KEY", "not a key!!"},
		{"admin email without password", map[string]string{"ADMIN_EMAIL": "a@example.com"}, "ADMIN_EMAIL", ""},
		{"admin password short", map[string]string{"ADMIN_EMAIL": "a@example.com", "ADMIN_PASSWORD": "short-pw"}, "ADMIN_PASSWORD", "short-pw"},
		{"cookie secure", map[string]string{"COOKIE_SECURE": "maybe"}, "COOKIE_SECURE", ""},
		{"sync interval", map[string]string{"SYNC_INTERVAL": "soon"}, "SYNC_INTERVAL", ""},
		{"log format", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT", ""},
	}
	for _, tt := range tests {
		for _, cmd := range []string{"serve", "migrate"} {
			t.Run(tt.name+"/"+cmd, func(t *testing.T) {
				env := map[string]string{"DATABASE_URL": unreachableDB}
				for k, v := range tt.env {
					env[k] = v
				}
				_, _, err := runCmd(t, env, "", cmd)
				if err == nil {
					t.Fatal("no error")
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, tt.wantVar+":") {
					t.Errorf("error %q does not start with %s:", msg, tt.wantVar)
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("error is more than one line: %q", msg)
				}
				if tt.secret != "" && strings.Contains(msg, tt.secret) {
					t.Errorf("error %q repeats the secret value", msg)
				}
			})
		}
	}
}

func TestRun_usage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"audit", "fix"}, {"user"}, {"user", "create", "-nope"}} {
		_, _, err := runCmd(t, map[string]string{"DATABASE_URL": unreachableDB}, "", args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
	}
	out, _, err := runCmd(t, nil, "", "help")
	if err != nil || !strings.Contains(out, "audit verify") {
		t.Errorf("help: %v\n%s", err, out)
	}
}

// emptyDatabase creates a database with no tables on the test server and
// returns its superuser URL; it is dropped when the test ends.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbtest.AdminURL())
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "cmdtest_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
	})
	u, _ := url.Parse(dbtest.AdminURL())
	u.Path = "/" + name
	return u.String()
}

func TestRun_migrate(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": emptyDatabase(t)}
	versionLine := regexp.MustCompile(`^migrations applied: schema version (\d+) of (\d+)\n$`)
	var first string
	var riverFirst int
	for i := 1; i <= 2; i++ {
		out, _, err := runCmd(t, env, "", "migrate")
		if err != nil {
			t.Fatalf("migrate #%d: %v", i, err)
		}
		m := versionLine.FindStringSubmatch(out)
		if m == nil || m[1] != m[2] || m[1] == "0" {
			t.Fatalf("migrate #%d printed %q", i, out)
		}
		if i == 1 {
			first = out
		} else if out != first {
			t.Errorf("second migrate printed %q, first %q", out, first)
		}
		// River's migrations come with the app's, and again change nothing.
		conn, err := pgx.Connect(context.Background(), env["DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		var river int
		err = conn.QueryRow(context.Background(), `SELECT count(*) FROM river_migration`).Scan(&river)
		conn.Close(context.Background())
		if err != nil || river == 0 {
			t.Fatalf("migrate #%d: river migrations %d, %v", i, river, err)
		}
		if i == 1 {
			riverFirst = river
		} else if river != riverFirst {
			t.Errorf("second migrate applied River migrations: %d, then %d", riverFirst, river)
		}
	}
}

// TestRun_userSetRoleSSO: set-role of a single sign-on user pins the role
// (else the next sign-in would silently take it back from the provider's
// groups), -pin=false leaves it to the groups and says so, and user list
// shows how each user signs in.
func TestRun_userSetRoleSSO(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	if _, _, err := runCmd(t, env, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	s, err := db.Open(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	sso, err := s.CreateOIDCUser(ctx, "olga@corp.example", "viewer", "https://idp.example", "sub-olga")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, env, "", "user", "create", "-email", "pat@corp.example", "-role", "viewer", "-password", "a long enough password"); err != nil {
		t.Fatal(err)
	}

	out, _, err := runCmd(t, env, "", "user", "set-role", "-email", "olga@corp.example", "-role", "admin")
	if err != nil || !strings.Contains(out, "is now admin, pinned") {
		t.Fatalf("set-role of an SSO user: %v %q", err, out)
	}
	if u, _ := s.UserByID(ctx, sso.ID); u.Role != "admin" || !u.RolePinned {
		t.Fatalf("after set-role: %s pinned=%v", u.Role, u.RolePinned)
	}
	list, _, err := runCmd(t, env, "", "user", "list")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string][]string{}
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) >= 6 {
			fields[f[1]] = f
		}
	}
	if f := fields["olga@corp.example"]; f == nil || f[2] != "admin" || f[4] != "oidc,pinned" || f[5] != "never" {
		t.Errorf("olga listed as %q", f)
	}
	if f := fields["pat@corp.example"]; f == nil || f[4] != "password" {
		t.Errorf("pat listed as %q", f)
	}

	out, _, err = runCmd(t, env, "", "user", "set-role", "-email", "olga@corp.example", "-role", "operator", "-pin=false")
	if err != nil || !strings.Contains(out, "not pinned: the next single sign-on sets the role from the provider's groups") {
		t.Fatalf("set-role -pin=false: %v %q", err, out)
	}
	if u, _ := s.UserByID(ctx, sso.ID); u.Role != "operator" || u.RolePinned {
		t.Fatalf("after -pin=false: %s pinned=%v", u.Role, u.RolePinned)
	}
	// A password-only user: no pin talk, nothing pinned.
	out, _, err = runCmd(t, env, "", "user", "set-role", "-email", "pat@corp.example", "-role", "helpdesk")
	if err != nil || strings.Contains(out, "pin") {
		t.Fatalf("set-role of a password user: %v %q", err, out)
	}
	if u, _ := s.UserByEmail(ctx, "pat@corp.example"); u.Role != "helpdesk" || u.RolePinned {
		t.Fatalf("pat: %s pinned=%v", u.Role, u.RolePinned)
	}
	var ue usageError
	if _, _, err := runCmd(t, env, "", "user", "disable", "-email", "pat@corp.example", "-pin"); !errors.As(err, &ue) {
		t.Errorf("-pin with disable: %v", err)
	}
}

func TestRun_user(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	list := func(t *testing.T) string {
		t.Helper()
		out, _, err := runCmd(t, env, "", "user", "list")
		if err != nil {
			t.Fatalf("user list: %v", err)
		}
		return out
	}
	userLine := func(out, email string) string {
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) >= 5 && f[1] == email {
				return f[2] + " " + f[3]
			}
		}
		return ""
	}

	out, _, err := runCmd(t, env, "a password read from stdin\n", "user", "create", "-email", "Ann@Example.com", "-role", "operator")
	if err != nil || !strings.HasPrefix(out, "created ann@example.com (operator), id ") {
		t.Fatalf("create from stdin: %v %q", err, out)
	}
	if _, _, err := runCmd(t, env, "", "user", "create", "-email", "bob@example.com", "-role", "viewer", "-password", "a password from the flag"); err != nil {
		t.Fatalf("create with -password: %v", err)
	}
	if got := userLine(list(t), "ann@example.com"); got != "operator active" {
		t.Errorf("ann listed as %q", got)
	}
	// The stored hash is the password from stdin, without its newline.
	s, err := db.Open(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u, err := s.UserByEmail(context.Background(), "ann@example.com"); err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("stored hash %q, %v", u.PasswordHash, err)
	}

	if _, _, err := runCmd(t, env, "", "user", "set-role", "-email", "ann@example.com", "-role", "admin"); err != nil {
		t.Fatalf("set-role: %v", err)
	}
	if _, _, err := runCmd(t, env, "", "user", "disable", "-email", "bob@example.com"); err != nil {
		t.Fatalf("disable: %v", err)
	}
	out = list(t)
	if got := userLine(out, "ann@example.com"); got != "admin active" {
		t.Errorf("after set-role ann is %q", got)
	}
	if got := userLine(out, "bob@example.com"); got != "viewer disabled" {
		t.Errorf("after disable bob is %q", got)
	}

	errTests := []struct {
		name, stdin string
		args        []string
		wantUsage   bool
		wantIn      string
	}{
		{"bad role", "", []string{"create", "-email", "c@example.com", "-role", "root", "-password", "long enough password"}, true, "-role"},
		{"set-role bad role", "", []string{"set-role", "-email", "ann@example.com", "-role", "superuser"}, true, "-role"},
		{"duplicate", "", []string{"create", "-email", "ANN@example.com", "-role", "viewer", "-password", "long enough password"}, false, "email already in use"},
		{"short password", "short\n", []string{"create", "-email", "c@example.com", "-role", "viewer"}, true, "password"},
		{"empty stdin", "", []string{"create", "-email", "c@example.com", "-role", "viewer"}, true, "password"},
		{"no email", "", []string{"disable"}, true, "-email"},
		{"unknown user", "", []string{"disable", "-email", "nobody@example.com"}, false, "nobody@example.com"},
		{"unknown subcommand", "", []string{"delete", "-email", "ann@example.com"}, true, "delete"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, env, tt.stdin, append([]string{"user"}, tt.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			var ue usageError
			if errors.As(err, &ue) != tt.wantUsage {
				t.Errorf("usage error %v, want %v: %v", errors.As(err, &ue), tt.wantUsage, err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not mention %q", err, tt.wantIn)
			}
		})
	}
	if got := strings.Count(list(t), "\n"); got != 2 {
		t.Errorf("%d users after the failed commands, want 2", got)
	}
}

// TestRun_auditVerify: intact, then tampered as a superuser with the
// insert-only triggers off: non-zero (an error) naming the row.
func TestRun_auditVerify(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	s, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []int64
	for i := range 5 {
		id, err := s.InsertAudit(context.Background(), &db.AuditEvent{
			ActorEmail: "ann@example.com", ActorRole: "admin", Action: "machine.start",
			MachineID: fmt.Sprint(100 + i), Outcome: db.OutcomeStarted, Params: []byte(`{"n": 1}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	out, _, err := runCmd(t, env, "", "audit", "verify")
	if err != nil || !strings.Contains(out, "audit log intact") {
		t.Fatalf("intact log: %v %q", err, out)
	}

	// The application's own role cannot change a row.
	if _, err := s.Pool().Exec(context.Background(), `UPDATE audit_events SET message = 'x' WHERE id = $1`, ids[2]); err == nil {
		t.Fatal("the application role updated an audit row")
	}
	admin, err := pgx.Connect(context.Background(), dbtest.AsAdmin(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	for _, q := range []string{
		`ALTER TABLE audit_events DISABLE TRIGGER USER`,
		fmt.Sprintf(`UPDATE audit_events SET message = 'nothing to see' WHERE id = %d`, ids[2]),
		`ALTER TABLE audit_events ENABLE TRIGGER USER`,
	} {
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, _, err = runCmd(t, env, "", "audit", "verify")
	if err == nil {
		t.Fatal("a tampered log verified")
	}
	if want := fmt.Sprintf("first bad row id %d", ids[2]); !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q, want one line naming %q", err, want)
	}
}

func TestRun_healthcheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if out, _, err := runCmd(t, map[string]string{"ADDR": addr}, "", "healthcheck"); err != nil || out != "ok\n" {
		t.Errorf("healthy server: %v %q", err, out)
	}
	_, port, _ := net.SplitHostPort(addr)
	if _, _, err := runCmd(t, map[string]string{"ADDR": ":" + port}, "", "healthcheck"); err != nil {
		t.Errorf("ADDR :port (the image's form): %v", err)
	}
	srv.Close()
	if _, _, err := runCmd(t, map[string]string{"ADDR": addr}, "", "healthcheck"); err == nil {
		t.Error("a stopped server is healthy")
	}
}

// TestRun_serveDemo: demo mode on a test database prints each demo user's
// password once, serves on the address it prints, answers /readyz, and
// shuts down cleanly when its context ends.
func TestRun_serveDemo(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL": dbtest.URL(t), "ADDR": "127.0.0.1:0", "SYNC_INTERVAL": "0",
		"DEMO_MACHINES": "4", "LOG_FORMAT": "json",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"serve"}, envOf(env), strings.NewReader(""), pw, io.Discard)
		pw.CloseWithError(io.EOF)
		done <- err
	}()

	demoLine := regexp.MustCompile(`^demo user created: (\S+)\s+role (\S+)\s+password (\S+)$`)
	users := map[string]string{}
	var base string
	sc := bufio.NewScanner(pr)
	for base == "" && sc.Scan() {
		if m := demoLine.FindStringSubmatch(sc.Text()); m != nil {
			users[m[2]] = m[1]
		}
		if u, ok := strings.CutPrefix(sc.Text(), "dashboard: serving on "); ok {
			base = u
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if base == "" {
		t.Fatalf("serve ended without saying where it serves: %v", <-done)
	}
	for _, role := range []string{"admin", "operator", "helpdesk", "viewer"} {
		if users[role] != role+"@demo.local" {
			t.Errorf("demo user for %s: %q", role, users[role])
		}
	}
	for path, want := range map[string]int{"/readyz": 200, "/healthz": 200, "/login": 200} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		if path == "/login" && !strings.Contains(string(body), "Demo: simulated Vagon API") {
			t.Error("no demo banner on /login")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of its context ending")
	}
}

// TestRun_userChangesAudited: every change the command line makes to users
// (create, set-role, disable) is in the audit log like the same change made
// on /users, by actor "cli" naming the command and the OS account, with the
// role before and after, and never the password.
func TestRun_userChangesAudited(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	if _, _, err := runCmd(t, env, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	const pw = "a long enough password"
	for _, args := range [][]string{
		{"user", "create", "-email", "ria@corp.example", "-role", "viewer", "-password", pw},
		{"user", "set-role", "-email", "ria@corp.example", "-role", "operator"},
		{"user", "disable", "-email", "ria@corp.example"},
	} {
		if _, _, err := runCmd(t, env, "", args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	s := dbtest.Open(t, env["DATABASE_URL"])
	rows, err := s.Pool().Query(context.Background(), `SELECT actor_email, actor_role, action, outcome, user_agent, params::text
		FROM audit_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var email, role, action, outcome, agent, params string
		if err := rows.Scan(&email, &role, &action, &outcome, &agent, &params); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(params, pw) {
			t.Errorf("%s: the password is in the audit log: %s", action, params)
		}
		if outcome != db.OutcomeStarted {
			got = append(got, email+" "+role+" "+action+" "+outcome+" | "+agent+" | "+params)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`cli system user.create succeeded | dashboard user create (os user `,
		`cli system user.update succeeded | dashboard user set-role (os user `,
		`cli system user.update succeeded | dashboard user disable (os user `,
	}
	if len(got) != len(want) {
		t.Fatalf("audit rows:\n%s", strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("row %d: %s\nwant it to start %s", i, got[i], w)
		}
	}
	if !strings.Contains(got[1], `"role": "operator"`) || !strings.Contains(got[1], `"before": {"role": "viewer"`) {
		t.Errorf("set-role row lacks the role before and after: %s", got[1])
	}
	if !strings.Contains(got[2], `"disabled": true`) {
		t.Errorf("disable row: %s", got[2])
	}
}
