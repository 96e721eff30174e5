package e2e

// The browser-test harness. TestMain builds the real binary, gives it a fresh
// Postgres database, starts it in demo mode on a loopback port (the
// simulator runs inside it, with fast transitions), reads the demo users'
// passwords from its output, and starts one Playwright driver and one
// headless Debian Chromium for the whole package. Each test gets a fresh
// browser context from newPage or signIn; a failed test leaves a screenshot
// in e2e-artifacts/ (and the server's log is kept there too).
//
// Prerequisites: Postgres at TEST_DATABASE_URL, the Playwright driver
// (npm playwright-core 1.52.0 under e2e-driver/node_modules/package, see
// PLAYWRIGHT_DRIVER_PATH) with node, and /usr/bin/chromium (E2E_CHROMIUM
// overrides it). When one is missing the tests skip with the reason, unless
// CI=true or E2E_REQUIRED=1, where they fail. Nothing is ever downloaded.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/playwright-community/playwright-go"
)

// Everything TestMain sets up, for the tests.
var (
	// baseURL is the running dashboard, e.g. http://127.0.0.1:40123.
	baseURL string
	// demoPasswords maps each role to its demo user's password; the
	// user is demoEmail(role).
	demoPasswords = map[string]string{}
	// skipReason is set when a prerequisite is missing and the tests may
	// skip (not in CI).
	skipReason string

	pw      *playwright.Playwright
	browser playwright.Browser
	expect  playwright.PlaywrightAssertions

	repoRoot     string
	artifactsDir string
)

// Roles of the demo users, lowest first.
var roles = []string{"viewer", "helpdesk", "operator", "admin"}

const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// chromiumArgs are the flags browser-tests.md lists: no sandbox as root, and
// no background traffic to hosts this machine cannot reach.
var chromiumArgs = []string{
	"--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--no-first-run",
}

func demoEmail(role string) string { return role + "@demo.local" }

func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("E2E_REQUIRED") == "1"
}

func TestMain(m *testing.M) {
	os.Exit(mainWithSetup(m))
}

// mainWithSetup runs the tests between setup and teardown; deferred cleanup
// runs before the exit code is returned.
func mainWithSetup(m *testing.M) int {
	start := time.Now()
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	err := setup(&cleanups)
	var missing missingError
	switch {
	case errors.As(err, &missing) && !required():
		skipReason = "e2e: skipped, " + missing.Error() + " (set E2E_REQUIRED=1 to make this a failure)"
		fmt.Fprintln(os.Stderr, skipReason)
	case err != nil:
		fmt.Fprintln(os.Stderr, "e2e: setup failed:", err)
		return 1
	default:
		fmt.Fprintf(os.Stderr, "e2e: dashboard on %s, browser ready in %s\n", baseURL, time.Since(start).Round(10*time.Millisecond))
	}
	return m.Run()
}

// missingError is a prerequisite that is absent (rather than broken).
type missingError struct{ what string }

func (e missingError) Error() string { return e.what }

func setup(cleanups *[]func()) error {
	var err error
	if repoRoot, err = filepath.Abs(".."); err != nil {
		return err
	}
	artifactsDir = filepath.Join(repoRoot, "e2e-artifacts")
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		return err
	}

	// Prerequisites, before any work.
	chromium := os.Getenv("E2E_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		return missingError{"no Chromium at " + chromium + " (apt-get install -y chromium)"}
	}
	driverDir := os.Getenv("PLAYWRIGHT_DRIVER_PATH")
	if driverDir == "" {
		driverDir = filepath.Join(repoRoot, "e2e-driver", "node_modules")
	}
	if _, err := os.Stat(filepath.Join(driverDir, "package", "cli.js")); err != nil {
		return missingError{"no Playwright driver at " + driverDir + "/package/cli.js (npm ci --prefix e2e-driver)"}
	}
	if os.Getenv("PLAYWRIGHT_NODEJS_PATH") == "" {
		node, err := exec.LookPath("node")
		if err != nil {
			return missingError{"no node on PATH for the Playwright driver"}
		}
		os.Setenv("PLAYWRIGHT_NODEJS_PATH", node)
	}
	adminURL := os.Getenv("TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = defaultAdminURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return missingError{"Postgres at TEST_DATABASE_URL does not answer: " + err.Error()}
	}
	*cleanups = append(*cleanups, func() { admin.Close(context.Background()) })

	// A scratch TMPDIR: the driver leaves playwright_* directories there
	// when things fail, and the binary is built into it.
	scratch, err := os.MkdirTemp("", "vagon-e2e-")
	if err != nil {
		return err
	}
	*cleanups = append(*cleanups, func() { os.RemoveAll(scratch) })
	os.Setenv("TMPDIR", scratch)

	// The real binary.
	bin := filepath.Join(scratch, "dashboard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/dashboard")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/dashboard: %v\n%s", err, out)
	}

	// A fresh database, dropped at the end.
	name := "e2e_" + randHex(6)
	if _, err := admin.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	*cleanups = append(*cleanups, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: drop database:", err)
		}
	})
	dbURL, err := url.Parse(adminURL)
	if err != nil {
		return fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	dbURL.Path = "/" + name

	if err := startServer(bin, dbURL.String(), cleanups); err != nil {
		return err
	}

	// One driver and one browser for the package.
	pw, err = playwright.Run(&playwright.RunOptions{DriverDirectory: driverDir, SkipInstallBrowsers: true, Verbose: false, Stdout: io.Discard})
	if err != nil {
		return fmt.Errorf("start the Playwright driver (%s): %w", driverDir, err)
	}
	*cleanups = append(*cleanups, func() { _ = pw.Stop() })
	browser, err = pw.Chromium.Launch(playwright.BrowserTypeLaunchOptions{
		ExecutablePath: playwright.String(chromium),
		Headless:       playwright.Bool(true),
		Args:           chromiumArgs,
	})
	if err != nil {
		return fmt.Errorf("launch %s: %w", chromium, err)
	}
	*cleanups = append(*cleanups, func() { _ = browser.Close() })
	// 15 s, not Playwright's 5 s: on a loaded 2-core CI machine an action's
	// answer (API call, audit rows, render) can take longer (a start's
	// fragment did, in a CI run); a passing assertion returns as soon as it
	// holds, so only a failing one waits the whole time. Measured alone here:
	// the whole suite takes 254 s with 15 s, as with 5 s.
	expectMS := 15000.0
	if v, err := strconv.ParseFloat(os.Getenv("E2E_EXPECT_MS"), 64); err == nil && v > 0 {
		expectMS = v
	}
	expect = playwright.NewPlaywrightAssertions(expectMS)
	return nil
}

// demoLine is how the binary prints each demo user, once, at first start.
var demoLine = regexp.MustCompile(`^demo user created:\s+(\S+)\s+role\s+(\S+)\s+password\s+(\S+)\s*$`)

// startServer runs the binary in demo mode on a loopback port the kernel
// picks (ADDR=127.0.0.1:0; the binary prints the address it got), collects
// the demo passwords, and waits for /readyz.
func startServer(bin, dbURL string, cleanups *[]func()) error {
	cmd := exec.Command(bin, "serve")
	cmd.Dir = repoRoot
	cmd.Env = serverEnv(dbURL)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(artifactsDir, "server.log"))
	if err != nil {
		return err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	*cleanups = append(*cleanups, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(25 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
	})

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for baseURL == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				return fmt.Errorf("the dashboard exited before serving; see %s", logFile.Name())
			}
			if m := demoLine.FindStringSubmatch(l); m != nil {
				demoPasswords[m[2]] = m[3]
			}
			if u, ok := strings.CutPrefix(l, "dashboard: serving on "); ok {
				baseURL = strings.TrimSpace(u)
			}
		case <-timeout:
			return fmt.Errorf("the dashboard did not start within 60 s; see %s", logFile.Name())
		}
	}
	go func() {
		for range lines { // keep the pipe drained
		}
	}()
	for _, r := range roles {
		if demoPasswords[r] == "" {
			return fmt.Errorf("no demo password printed for %s (got %v)", r, demoPasswords)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(baseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not 200 within 30 s (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serverEnv is this process's environment without anything that would take
// the binary out of demo mode or onto another database, plus the test's.
func serverEnv(dbURL string) []string {
	drop := map[string]bool{
		"DATABASE_URL": true, "VAGON_API_KEY": true, "VAGON_API_SECRET": true, "VAGON_API_URL": true,
		"ADDR": true, "SESSION_KEY": true, "ADMIN_EMAIL": true, "ADMIN_PASSWORD": true,
		"COOKIE_SECURE": true, "SYNC_INTERVAL": true, "LOG_FORMAT": true,
		"DEMO_TRANSITION_SECONDS": true, "DEMO_MACHINES": true,
		"PUBLIC_URL": true, "LOCAL_LOGIN": true, "OIDC_ISSUER_URL": true, "OIDC_CLIENT_ID": true, "OIDC_CLIENT_SECRET": true,
		"OIDC_ROLES_CLAIM": true, "OIDC_ROLE_MAP": true, "OIDC_DEFAULT_ROLE": true, "OIDC_ALLOWED_DOMAINS": true,
		"OIDC_SCOPES": true, "OIDC_PROVIDER_NAME": true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env,
		"DATABASE_URL="+dbURL,
		"ADDR=127.0.0.1:0",
		"DEMO_TRANSITION_SECONDS=2",
		"SYNC_INTERVAL=0",
		"LOG_FORMAT=json",
	)
}

// newPage opens a page in a fresh browser context (own cookies, storage)
// with baseURL set, so page.Goto("/machines") works. When the test fails,
// a full-page screenshot goes to e2e-artifacts/<test name>.png.
func newPage(t *testing.T) playwright.Page {
	t.Helper()
	return newPageAt(t, baseURL, playwright.BrowserNewContextOptions{})
}

// signIn opens a fresh context signed in as the demo user of role and
// returns its page, on /machines.
func signIn(t *testing.T, role string) playwright.Page {
	t.Helper()
	page := newPage(t)
	password, ok := demoPasswords[role]
	if !ok {
		t.Fatalf("no demo user for role %q", role)
	}
	signInAt(t, page, demoEmail(role), password)
	return page
}

// waitURL waits until the page's address matches re. It polls the URL
// instead of calling page.WaitForURL, which checks the load state and then
// subscribes to its event: a load that lands in between is missed and the
// wait times out, as seen on a loaded machine. What the page shows is then
// checked with auto-waiting assertions.
func waitURL(page playwright.Page, re *regexp.Regexp) error {
	return expect.Page(page).ToHaveURL(re, playwright.PageAssertionsToHaveURLOptions{Timeout: playwright.Float(30_000)})
}

// gotoPath navigates to a path of the dashboard and fails on an error status.
func gotoPath(t *testing.T, page playwright.Page, path string) {
	t.Helper()
	resp, err := page.Goto(path)
	if err != nil {
		t.Fatalf("goto %s: %v", path, err)
	}
	if resp != nil && resp.Status() >= 400 {
		t.Fatalf("goto %s: status %d", path, resp.Status())
	}
}

// byTestID is the element with data-testid=id.
func byTestID(page playwright.Page, id string) playwright.Locator { return page.GetByTestId(id) }

func fill(t *testing.T, page playwright.Page, id, value string) {
	t.Helper()
	if err := byTestID(page, id).Fill(value); err != nil {
		t.Fatalf("fill %s: %v", id, err)
	}
}

func click(t *testing.T, page playwright.Page, id string) {
	t.Helper()
	if err := byTestID(page, id).Click(); err != nil {
		t.Fatalf("click %s: %v", id, err)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func artifactName(testName string) string { return unsafeName.ReplaceAllString(testName, "_") }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
