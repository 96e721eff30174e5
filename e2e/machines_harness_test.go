package e2e

// Helpers for the issue-4 machine journeys: pages with context options
// (clipboard permissions, another dashboard), machine claiming so parallel
// journeys never act on the same machine of the shared demo fleet, and a
// second dashboard instance in API mode against an in-process simulator.

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/playwright-community/playwright-go"
)

// claimed holds the demo machines a journey has taken for itself.
var (
	claimMu sync.Mutex
	claimed = map[string]string{}
)

// claim takes machine id for test name; false when another journey has it.
func claim(t *testing.T, id string) bool {
	claimMu.Lock()
	defer claimMu.Unlock()
	if owner, ok := claimed[id]; ok && owner != t.Name() {
		return false
	}
	claimed[id] = t.Name()
	return true
}

// rowByID is the machine list's row for machine id.
func rowByID(page playwright.Page, id string) playwright.Locator {
	return page.Locator(`[data-testid="machine-row"][data-machine-id="` + id + `"]`)
}

// rowIDs is the machine ids of the list's rows, top to bottom, once the
// results are shown.
func rowIDs(t *testing.T, page playwright.Page) []string {
	t.Helper()
	if err := byTestID(page, "machines-results").WaitFor(); err != nil {
		t.Fatalf("machine results: %v", err)
	}
	rows, err := byTestID(page, "machine-row").All()
	if err != nil {
		t.Fatalf("machine rows: %v", err)
	}
	var ids []string
	for _, r := range rows {
		id, err := r.GetAttribute("data-machine-id")
		if err != nil {
			t.Fatalf("row id: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

// claimFirst claims the first unclaimed machine listed at path (a /machines
// URL with filters) and returns its id, failing when there is none.
func claimFirst(t *testing.T, page playwright.Page, path string) string {
	t.Helper()
	gotoPath(t, page, path)
	for _, id := range rowIDs(t, page) {
		if claim(t, id) {
			return id
		}
	}
	t.Fatalf("no unclaimed machine at %s", path)
	return ""
}

// newPageAt opens a page in a fresh browser context on base with extra
// context options; when the test fails, a full-page screenshot goes to
// e2e-artifacts/<test name>.png.
func newPageAt(t *testing.T, base string, opts playwright.BrowserNewContextOptions) playwright.Page {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	opts.BaseURL = playwright.String(base)
	opts.Viewport = &playwright.Size{Width: 1280, Height: 800}
	bctx, err := browser.NewContext(opts)
	if err != nil {
		t.Fatalf("new browser context: %v", err)
	}
	bctx.SetDefaultTimeout(10_000)
	page, err := bctx.NewPage()
	if err != nil {
		t.Fatalf("new page: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			path := filepath.Join(artifactsDir, artifactName(t.Name())+".png")
			if _, err := page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(path), FullPage: playwright.Bool(true)}); err != nil {
				t.Logf("screenshot: %v", err)
			} else {
				t.Logf("screenshot of the failure: %s (page %s)", path, page.URL())
			}
		}
		_ = bctx.Close()
	})
	return page
}

// signInAt signs in on page with email and password and waits for /machines.
func signInAt(t *testing.T, page playwright.Page, email, password string) {
	t.Helper()
	gotoPath(t, page, "/login")
	fill(t, page, "email", email)
	fill(t, page, "password", password)
	click(t, page, "login-submit")
	if err := waitURL(page, regexp.MustCompile(`/machines(\?.*)?$`)); err != nil {
		t.Fatalf("sign in as %s: not on /machines (at %s): %v", email, page.URL(), err)
	}
}

// signInWith is signIn with context options (e.g. permissions).
func signInWith(t *testing.T, role string, opts playwright.BrowserNewContextOptions) playwright.Page {
	t.Helper()
	page := newPageAt(t, baseURL, opts)
	signInAt(t, page, demoEmail(role), demoPasswords[role])
	return page
}

// timeout is an assertion timeout in milliseconds.
func timeout(d time.Duration) *float64 { return playwright.Float(float64(d.Milliseconds())) }

// dashboardBinary is the binary TestMain built: setup builds it into the
// scratch directory it makes TMPDIR. When it is not there (setup changed),
// the binary is built again for this test.
func dashboardBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(os.Getenv("TMPDIR"), "dashboard")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	bin = filepath.Join(t.TempDir(), "dashboard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/dashboard")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dashboard: %v\n%s", err, out)
	}
	return bin
}

// freshDatabase creates an empty database, dropped when the test ends, and
// returns its URL.
func freshDatabase(t *testing.T) string {
	t.Helper()
	adminURL := os.Getenv("TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = defaultAdminURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("connect to Postgres: %v", err)
	}
	name := "e2e_" + randHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(context.Background())
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		conn.Close(context.Background())
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// apiDashboard is a second dashboard in API mode against sim.
type apiDashboard struct {
	URL, AdminEmail, AdminPassword string
	// Env is the binary's environment: its database and API, for another
	// command (`dashboard sync`) on the same.
	Env []string
}

// startAPIDashboard serves sim (a *vagonsim.Sim with credentials k/s, or a
// handler in front of one) on a test server and runs the binary against it
// with its own database; both stop when the test ends. The log goes to
// e2e-artifacts/<test>-server.log.
func startAPIDashboard(t *testing.T, sim http.Handler) apiDashboard {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	d := apiDashboard{AdminEmail: "admin@e2e.test", AdminPassword: "e2e-" + randHex(10)}

	env := serverEnv(freshDatabase(t))
	env = append(env,
		"VAGON_API_URL="+srv.URL+"/organization-management/v1",
		"VAGON_API_KEY=k", "VAGON_API_SECRET=s",
		"ADMIN_EMAIL="+d.AdminEmail, "ADMIN_PASSWORD="+d.AdminPassword,
	)
	d.Env = env
	d.URL = serveBinary(t, env, "the second dashboard", 30*time.Second)
	return d
}

// serveBinary runs the dashboard binary's serve with env in a temporary
// directory until the test ends (SIGTERM, then a kill after 20 s), its log
// in e2e-artifacts/<test>-server.log, and returns its URL once it has said
// where it serves and /readyz answers 200. what names it in failures.
func serveBinary(t *testing.T, env []string, what string, startWithin time.Duration) string {
	t.Helper()
	cmd := exec.Command(dashboardBinary(t), "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(artifactsDir, artifactName(t.Name())+"-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
	})

	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "dashboard: serving on "); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
		}
	}()
	var url string
	select {
	case url = <-found:
	case <-exited:
		t.Fatalf("%s exited before serving; see %s", what, logFile.Name())
	case <-time.After(startWithin):
		t.Fatalf("%s did not start within %v; see %s", what, startWithin, logFile.Name())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz not 200 within 20 s (last: %v)", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
