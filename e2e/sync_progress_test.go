package e2e

// Issue 13: the sync panel shows a pass under way, from another process.

import (
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// TestJourney_syncProgress: an admin has the usage report open while a
// sessions sync runs in another process (`dashboard sync`, as another
// replica's job would). The panel shows how far the pass has got and
// refreshes itself, never the page, then says the pass has ended.
func TestJourney_syncProgress(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	sim := vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: 30, Seed: 5, DefaultRegion: "dublin"})
	// The first 10 sessions calls answer; the others wait for the gate.
	const before = 10
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	var calls atomic.Int64
	started := make(chan struct{})
	d := startAPIDashboard(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/sessions") {
			switch n := calls.Add(1); {
			case n == before+1:
				close(started)
				fallthrough
			case n > before:
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
		}
		sim.ServeHTTP(w, r)
	}))
	page := newPageAt(t, d.URL, playwright.BrowserNewContextOptions{})
	signInAt(t, page, d.AdminEmail, d.AdminPassword)

	cmd := exec.Command(dashboardBinary(t), "sync")
	cmd.Env = d.Env
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	synced := make(chan error, 1)
	go func() { synced <- cmd.Wait() }()
	select {
	case <-started: // the pass is recorded, 10 machines fetched
	case err := <-synced:
		t.Fatalf("dashboard sync ended before it fetched the sessions: %v\n%s", err, out)
	}

	gotoPath(t, page, "/reports/usage")
	panel := byTestID(page, "sync-passes")
	if err := expect.Locator(panel).ToHaveAttribute("data-running", "true"); err != nil {
		t.Fatalf("the panel does not show a pass running: %v", err)
	}
	if _, err := page.Evaluate(`() => { window.__notReloaded = true }`); err != nil {
		t.Fatal(err)
	}
	// The 10 machines are written after FlushInterval although the others
	// wait; the panel picks them up by itself.
	progress := byTestID(page, "sync-progress")
	if err := expect.Locator(progress).ToHaveText(regexp.MustCompile(`^Syncing: 10 of (about )?\d+ machines \(\d+ %\), [\d,]+ sessions?, started \d+ s ago$`)); err != nil {
		t.Fatalf("progress line: %v", err)
	}

	open()
	if err := expect.Locator(byTestID(page, "sync-finished")).ToBeVisible(); err != nil {
		t.Fatalf("the panel does not say the pass ended: %v", err)
	}
	if err := expect.Locator(panel).ToHaveAttribute("data-running", "false"); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "sync-pass").First()).ToHaveAttribute("data-status", "succeeded"); err != nil {
		t.Fatal(err)
	}
	if v, err := page.Evaluate(`() => window.__notReloaded === true`); err != nil || v != true {
		t.Fatalf("the page was reloaded under the reader (%v, %v)", v, err)
	}
	if err := <-synced; err != nil {
		t.Fatalf("dashboard sync: %v\n%s", err, out)
	}
}
