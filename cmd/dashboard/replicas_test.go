package main

import (
	"bufio"
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// replica is one `dashboard serve` process.
type replica struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
}

// buildBinary builds this command once per test into a temporary folder.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dashboard")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startReplica runs `bin serve` with env and waits until it listens.
func startReplica(t *testing.T, bin string, env []string, logf string) *replica {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	logFile, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{cmd: cmd, done: make(chan struct{})}
	baseCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "dashboard: serving on "); ok {
				baseCh <- u
			}
		}
	}()
	go func() { _ = cmd.Wait(); logFile.Close(); close(r.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf)
			t.Logf("log of pid %d:\n%s", cmd.Process.Pid, tail(string(b), 4000))
		}
	})
	select {
	case r.base = <-baseCh:
	case <-r.done:
		b, _ := os.ReadFile(logf)
		t.Fatalf("serve exited before listening:\n%s", b)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not listen within 60 s")
	}
	return r
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// countingSim serves the simulator and counts the POSTs per path.
type countingSim struct {
	sim   *vagonsim.Sim
	mu    sync.Mutex
	posts map[string]int
}

func (c *countingSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		c.mu.Lock()
		c.posts[r.URL.Path]++
		c.mu.Unlock()
	}
	c.sim.ServeHTTP(w, r)
}

func (c *countingSim) startPosts(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.posts[vagonsim.BasePath+"/machines/"+id+"/start"]
}

// signIn logs in at base as email and returns the client and its CSRF token.
func signIn(t *testing.T, base, email, password string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf := csrfOf(t, c, base+"/login")
	resp, err := c.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}, "_csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return c, csrfOf(t, c, base+"/machines")
}

func csrfOf(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := doc.Find(`meta[name="csrf-token"]`).Attr("content")
	if tok == "" {
		t.Fatalf("no CSRF token on %s (%d)", u, resp.StatusCode)
	}
	return tok
}

// TestReplicas runs two `dashboard serve` processes on one database: the
// sessions sync runs once per interval across both, and a bulk operation
// whose replica is killed with SIGKILL mid-way is finished by the other,
// no machine started twice.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	t.Parallel()
	bin := buildBinary(t)
	const machines = 20
	sim := vagonsim.New(vagonsim.Options{Key: "k", Secret: "s", Machines: machines + 4, Seed: 5})
	cs := &countingSim{sim: sim, posts: map[string]int{}}
	srv := httptest.NewServer(cs)
	t.Cleanup(srv.Close)
	dbURL := dbtest.URL(t)
	dir := t.TempDir()
	const interval = 10 * time.Second
	env := func(name string) []string {
		return []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
			"DATABASE_URL=" + dbURL, "ADDR=127.0.0.1:0", "LOG_FORMAT=json",
			"VAGON_API_URL=" + srv.URL + vagonsim.BasePath, "VAGON_API_KEY=k", "VAGON_API_SECRET=s",
			"ADMIN_EMAIL=admin@example.com", "ADMIN_PASSWORD=correct-horse-battery",
			"SYNC_INTERVAL=" + interval.String(), "JOBS_RESCUE_AFTER=30s",
			"AUDIT_SPOOL_FILE=" + filepath.Join(dir, name+"-spool.jsonl"), "DATA_DIR=" + filepath.Join(dir, name),
		}
	}
	// Both start together: River's migrations take turns.
	var reps [2]*replica
	var wg sync.WaitGroup
	for i := range reps {
		wg.Go(func() {
			reps[i] = startReplica(t, bin, env("r"+strconv.Itoa(i)), filepath.Join(dir, "r"+strconv.Itoa(i)+".log"))
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	t.Run("sync once per interval", func(t *testing.T) {
		type pass struct{ start, end time.Time }
		var passes []pass
		deadline := time.Now().Add(6 * interval)
		for len(passes) < 4 {
			if time.Now().After(deadline) {
				t.Fatalf("only %d sync passes finished in %s", len(passes), 6*interval)
			}
			time.Sleep(200 * time.Millisecond)
			rows, _ := pool.Query(ctx, `SELECT started_at, finished_at FROM sync_passes WHERE finished_at IS NOT NULL ORDER BY started_at`)
			passes = passes[:0]
			for rows.Next() {
				var p pass
				if err := rows.Scan(&p.start, &p.end); err != nil {
					t.Fatal(err)
				}
				passes = append(passes, p)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		}
		for i := 1; i < len(passes); i++ {
			if passes[i].start.Before(passes[i-1].end) {
				t.Fatalf("passes %d and %d overlap: %+v", i-1, i, passes)
			}
		}
		// Each replica running its own timer would make about twice as
		// many passes: n passes span at least n-2 intervals (the first two
		// may come close, one at start and one on the leader's schedule).
		span := passes[len(passes)-1].start.Sub(passes[0].start)
		if n := len(passes); span < time.Duration(n-2)*interval {
			t.Fatalf("%d passes within %s, want at most one per %s", n, span, interval)
		}
		var running int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'sessions_sync' AND state = 'running'`).Scan(&running)
		if running > 1 {
			t.Fatalf("%d sync jobs running at once", running)
		}
	})

	t.Run("bulk finished by the other replica after kill -9", func(t *testing.T) {
		ids := sim.MachineIDs()[:machines]
		for _, id := range ids {
			if err := sim.SetStatus(id, vagon.StatusOff); err != nil {
				t.Fatal(err)
			}
			_ = sim.SetRemainingUsage(id, 600)
		}
		c, csrf := signIn(t, reps[0].base, "admin@example.com", "correct-horse-battery")
		form := url.Values{"_csrf": {csrf}, "action": {"start"}, "machine_id": ids}
		resp, err := c.PostForm(reps[0].base+"/bulk", form)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := goquery.NewDocumentFromReader(resp.Body)
		resp.Body.Close()
		confirm := url.Values{}
		doc.Find(`[data-testid="bulk-confirm-form"] input`).Each(func(_ int, s *goquery.Selection) {
			n, _ := s.Attr("name")
			v, _ := s.Attr("value")
			confirm.Add(n, v)
		})
		if len(confirm["machine_id"]) != machines {
			t.Fatalf("confirmation form: %v", confirm)
		}
		sim.SetLatency(400*time.Millisecond, 400*time.Millisecond)
		resp, err = c.PostForm(reps[0].base+"/bulk", confirm)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		opID, err := strconv.ParseInt(strings.TrimPrefix(loc, "/bulk/"), 10, 64)
		if resp.StatusCode != http.StatusSeeOther || err != nil {
			t.Fatalf("submit: %d %q", resp.StatusCode, loc)
		}

		// Mid-way, kill -9 the replica whose River client runs the job.
		pidOf := map[string]*replica{}
		for _, r := range reps {
			pidOf["pid"+strconv.Itoa(r.cmd.Process.Pid)] = r
		}
		pidRe := regexp.MustCompile(`_(pid\d+)_`)
		var victim *replica
		var running []string
		for deadline := time.Now().Add(60 * time.Second); victim == nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the operation never got mid-way")
			}
			var done int
			var by []string
			err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM bulk_items WHERE op_id = $1 AND state IN ('done', 'skipped')),
				(SELECT attempted_by FROM river_job WHERE kind = 'bulk_op' AND state = 'running' AND args->>'op_id' = $1::text)`, opID).Scan(&done, &by)
			if err != nil || done < 4 || len(by) == 0 {
				continue
			}
			m := pidRe.FindStringSubmatch(by[len(by)-1])
			if m == nil || pidOf[m[1]] == nil {
				t.Fatalf("job attempted by %v: no replica of ours", by)
			}
			victim = pidOf[m[1]]
			_ = victim.cmd.Process.Signal(syscall.SIGKILL)
			<-victim.done
			rows, _ := pool.Query(ctx, `SELECT machine_id FROM bulk_items WHERE op_id = $1 AND state = 'running'`, opID)
			for rows.Next() {
				var id string
				_ = rows.Scan(&id)
				running = append(running, id)
			}
			rows.Close()
		}
		var state string
		var by []string
		if err := pool.QueryRow(ctx, `SELECT state, attempted_by FROM river_job WHERE kind = 'bulk_op' AND args->>'op_id' = $1`, strconv.FormatInt(opID, 10)).Scan(&state, &by); err != nil {
			t.Fatal(err)
		}
		if state != "running" || !strings.Contains(by[len(by)-1], "pid"+strconv.Itoa(victim.cmd.Process.Pid)) {
			t.Fatalf("after the kill the job is %s by %v: the kill did not hit it mid-slice", state, by)
		}
		sim.SetLatency(50*time.Millisecond, 50*time.Millisecond)

		// The survivor's rescuer (leader, after an election if the victim
		// led) finds the job stuck and runs it again.
		var status string
		for deadline := time.Now().Add(150 * time.Second); status != "succeeded" && status != "failed"; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("operation %d still %s", opID, status)
			}
			_ = pool.QueryRow(ctx, `SELECT status FROM bulk_operations WHERE id = $1`, opID).Scan(&status)
		}
		rows, _ := pool.Query(ctx, `SELECT machine_id, state, message FROM bulk_items WHERE op_id = $1`, opID)
		for rows.Next() {
			var id, st, msg string
			_ = rows.Scan(&id, &st, &msg)
			if st != "done" {
				t.Errorf("machine %s: %s (%s)", id, st, msg)
			}
		}
		rows.Close()
		inFlight := map[string]bool{}
		for _, id := range running {
			inFlight[id] = true
		}
		for _, id := range ids {
			n := cs.startPosts(id)
			m, _ := sim.Machine(id)
			st := m.Attributes.FriendlyStatus
			switch {
			case st == vagon.StatusOff:
				t.Errorf("machine %s was never started", id)
			case n == 1:
			case n == 2 && inFlight[id]:
				// Its first call was cut off before it took effect; the
				// state read on resume showed it still off.
				t.Logf("machine %s: call in flight at the kill, sent again after reading it off", id)
			default:
				t.Errorf("machine %s got %d start calls (in flight at the kill: %v)", id, n, inFlight[id])
			}
		}
		// The audit trail: per machine one machine.start succeeded row of
		// this operation. A machine in flight at the kill keeps the dead
		// process's started row without an outcome; its resume either
		// settled it by reading state (no new call, no new row) or made the
		// one retry (a second started row, and its succeeded row).
		type trail struct{ started, succeeded, other int }
		trails := map[string]*trail{}
		rows, _ = pool.Query(ctx, `SELECT machine_id, outcome FROM audit_events
			WHERE action = 'machine.start' AND params->>'bulk_op_id' = $1`, strconv.FormatInt(opID, 10))
		for rows.Next() {
			var id, outcome string
			if err := rows.Scan(&id, &outcome); err != nil {
				t.Fatal(err)
			}
			tr := trails[id]
			if tr == nil {
				tr = &trail{}
				trails[id] = tr
			}
			switch outcome {
			case "started":
				tr.started++
			case "succeeded":
				tr.succeeded++
			default:
				tr.other++
			}
		}
		rows.Close()
		for _, id := range ids {
			tr := trails[id]
			if tr == nil {
				t.Errorf("machine %s: no machine.start rows", id)
				continue
			}
			n := cs.startPosts(id)
			switch {
			case tr.other != 0:
				t.Errorf("machine %s: audit rows %+v: an outcome other than started/succeeded", id, *tr)
			case !inFlight[id] && (tr.started != 1 || tr.succeeded != 1):
				t.Errorf("machine %s: audit rows %+v, want one started and one succeeded", id, *tr)
			case inFlight[id] && (tr.started < 1 || tr.started > 2 || tr.succeeded > 1 || n > tr.started):
				// One started row per call begun (the cut-off one, and the
				// retry if the state read showed the machine still off); a
				// call may die after its row and before reaching Vagon.
				t.Errorf("machine %s (in flight at the kill): audit rows %+v for %d start calls", id, *tr, n)
			case inFlight[id] && tr.started == 2 && tr.succeeded != 1:
				t.Errorf("machine %s (retried after the kill): audit rows %+v, want its retry succeeded", id, *tr)
			}
		}
		parent := map[string]int{}
		rows, _ = pool.Query(ctx, `SELECT outcome FROM audit_events WHERE action = 'bulk.run' AND params->>'bulk_op_id' = $1`, strconv.FormatInt(opID, 10))
		for rows.Next() {
			var o string
			_ = rows.Scan(&o)
			parent[o]++
		}
		rows.Close()
		if parent["started"] != 1 || parent["succeeded"] != 1 || len(parent) != 2 {
			t.Errorf("bulk.run rows by outcome: %v, want one started and one succeeded", parent)
		}
		if status != "succeeded" {
			t.Errorf("operation %s", status)
		}
		var completed int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'bulk_op' AND state = 'completed' AND args->>'op_id' = $1`, strconv.FormatInt(opID, 10)).Scan(&completed)
		if completed != 1 {
			t.Errorf("bulk job not completed (%d)", completed)
		}
		t.Logf("killed pid %d with %d calls in flight: %v", victim.cmd.Process.Pid, len(running), running)
	})
}
