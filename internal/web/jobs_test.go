package web

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
)

// The jobs page over a real River client on the app's database (River's
// tables migrated here with River's own migrator) working two test kinds.

type failingArgs struct {
	OpID int64 `json:"op_id"`
}

func (failingArgs) Kind() string { return "test_failing" }

type failingWorker struct {
	river.WorkerDefaults[failingArgs]
}

func (failingWorker) Work(context.Context, *river.Job[failingArgs]) error {
	return errors.New("vagon answered 500")
}

type laterArgs struct{}

func (laterArgs) Kind() string { return "test_later" }

type laterWorker struct {
	river.WorkerDefaults[laterArgs]
}

func (laterWorker) Work(context.Context, *river.Job[laterArgs]) error { return nil }

// jobsEnv is the River side of a jobs test.
type jobsEnv struct {
	client *river.Client[pgx.Tx]
	events <-chan *river.Event
}

// withRiver builds the app with Deps.Jobs = jobs.Admin over a started
// River client; env is filled in when the app is built.
func withRiver(env *jobsEnv) appOption {
	return withJobs(func(t testing.TB, dbURL string) JobQueue {
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		driver := riverpgxv5.New(pool)
		m, err := rivermigrate.New(driver, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			t.Fatalf("river migrate: %v", err)
		}
		workers := river.NewWorkers()
		river.AddWorker(workers, failingWorker{})
		river.AddWorker(workers, laterWorker{})
		client, err := river.NewClient(driver, &river.Config{
			Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
			Workers:           workers,
			FetchCooldown:     20 * time.Millisecond,
			FetchPollInterval: 100 * time.Millisecond,
			TestOnly:          true,
		})
		if err != nil {
			t.Fatal(err)
		}
		events, cancel := client.Subscribe(river.EventKindJobFailed, river.EventKindJobCompleted, river.EventKindJobCancelled)
		t.Cleanup(cancel)
		if err := client.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
			defer stop()
			_ = client.StopAndCancel(sctx)
		})
		env.client, env.events = client, events
		return jobs.NewAdmin(client)
	})
}

func (e *jobsEnv) insert(t *testing.T, args river.JobArgs, opts *river.InsertOpts) int64 {
	t.Helper()
	res, err := e.client.Insert(context.Background(), args, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

func (e *jobsEnv) waitEvent(t *testing.T, id int64, kind river.EventKind) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-e.events:
			if ev.Job != nil && ev.Job.ID == id && ev.Kind == kind {
				return
			}
		case <-deadline:
			t.Fatalf("job %d: no %s event", id, kind)
		}
	}
}

func (e *jobsEnv) state(t *testing.T, id int64) rivertype.JobState {
	t.Helper()
	j, err := e.client.JobGet(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j.State
}

// rowDoc parses an htmx answer whose main part is a bare <tr>.
func rowDoc(t *testing.T, resp *http.Response) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + bodyText(t, resp) + "</tbody></table>"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// jobAudits are the audit rows of action, oldest first.
func jobAudits(t *testing.T, app *testApp, action string) []db.AuditEvent {
	t.Helper()
	var out []db.AuditEvent
	for _, ev := range app.AuditRows(t) {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

func TestJobs_notAvailable(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "admin@example.com", fleet.RoleAdmin)
	c := app.Login(t, "admin@example.com", pw)
	resp, doc := c.Get(t, "/jobs")
	if resp.StatusCode != http.StatusOK || doc.Find(testID("jobs-unavailable")).Length() != 1 {
		t.Fatalf("GET /jobs without a queue: status %d, unavailable note %d", resp.StatusCode, doc.Find(testID("jobs-unavailable")).Length())
	}
	if doc.Find(testID("nav-jobs")).AttrOr("aria-current", "") != "page" {
		t.Error("the Jobs link is not the current page")
	}
	for _, path := range []string{"/jobs/1", "/jobs.csv"} {
		if resp, _ := c.Get(t, path); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s: status %d, want 503", path, resp.StatusCode)
		}
	}
	if resp, _ := c.PostForm(t, "/jobs/1/retry", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST retry: status %d, want 503", resp.StatusCode)
	}
}

func TestJobs_operatorRefused(t *testing.T) {
	t.Parallel()
	env := &jobsEnv{}
	app := newTestApp(t, withRiver(env))
	pw := app.CreateUser(t, "op@example.com", fleet.RoleOperator)
	c := app.Login(t, "op@example.com", pw)
	id := env.insert(t, laterArgs{}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
	_, doc := c.Get(t, "/machines")
	if doc.Find(testID("nav-jobs")).Length() != 0 {
		t.Error("an operator sees the Jobs link")
	}
	for _, tc := range []struct{ method, path, action string }{
		{http.MethodGet, "/jobs", fleet.ActPageView},
		{http.MethodGet, "/jobs.csv", fleet.ActPageView},
		{http.MethodPost, "/jobs/" + strconv.FormatInt(id, 10) + "/cancel", fleet.ActJobCancel},
		{http.MethodPost, "/jobs/" + strconv.FormatInt(id, 10) + "/retry", fleet.ActJobRetry},
	} {
		var resp *http.Response
		if tc.method == http.MethodGet {
			resp, _ = c.Get(t, tc.path)
		} else {
			resp, _ = c.PostForm(t, tc.path, url.Values{"token": {newConfirmToken()}})
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s: status %d, want 403", tc.method, tc.path, resp.StatusCode)
		}
		ev := lastAudit(t, app)
		if ev.Action != tc.action || ev.Outcome != db.OutcomeDenied || ev.ActorEmail != "op@example.com" {
			t.Errorf("%s %s: audit %s %s by %s, want %s denied", tc.method, tc.path, ev.Action, ev.Outcome, ev.ActorEmail, tc.action)
		}
	}
	if st := env.state(t, id); st != rivertype.JobStateScheduled {
		t.Errorf("job state %s after refused requests, want scheduled", st)
	}
}

func TestJobs_listRetryCancelCSV(t *testing.T) {
	t.Parallel()
	env := &jobsEnv{}
	app := newTestApp(t, withRiver(env))
	pw := app.CreateUser(t, "admin@example.com", fleet.RoleAdmin)
	c := app.Login(t, "admin@example.com", pw)

	failed := env.insert(t, failingArgs{OpID: 42}, &river.InsertOpts{MaxAttempts: 1})
	env.waitEvent(t, failed, river.EventKindJobFailed)
	queued := env.insert(t, laterArgs{}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
	failedS, queuedS := strconv.FormatInt(failed, 10), strconv.FormatInt(queued, 10)

	t.Run("list by state", func(t *testing.T) {
		resp, doc := c.Get(t, "/jobs?state=failed")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if n := doc.Find(testID("jobs-tab-failed")).AttrOr("data-count", ""); n != "1" {
			t.Errorf("failed tab count %q, want 1", n)
		}
		if n := doc.Find(testID("jobs-tab-queued")).AttrOr("data-count", ""); n != "1" {
			t.Errorf("queued tab count %q, want 1", n)
		}
		if doc.Find(testID("jobs-tab-failed")).AttrOr("aria-current", "") != "page" {
			t.Error("the failed tab is not current")
		}
		rows := doc.Find(testID("job-row"))
		if rows.Length() != 1 || rows.AttrOr("data-job-id", "") != failedS {
			t.Fatalf("%d rows, want job %s alone", rows.Length(), failedS)
		}
		if got := rows.Find(testID("job-last-error")).Text(); !strings.Contains(got, "vagon answered 500") {
			t.Errorf("last error %q", got)
		}
		if got := rows.Find(testID("job-args")).Text(); got != "op_id=42" {
			t.Errorf("args %q", got)
		}
		if rows.Find(testID("job-retry")).Length() != 1 || rows.Find(testID("job-cancel")).Length() != 0 {
			t.Error("a failed job offers retry and no cancel")
		}
		if href := doc.Find(testID("jobs-csv")).AttrOr("href", ""); href != "/jobs.csv?state=failed" {
			t.Errorf("CSV link %q", href)
		}
		// Nothing runs: the list does not poll.
		if doc.Find(testID("jobs-poll")).Length() != 0 {
			t.Error("the list polls with nothing running")
		}
		resp, _ = c.Get(t, "/jobs?state=nope")
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("unknown state: status %d, want 422", resp.StatusCode)
		}
		resp, _ = c.Get(t, "/jobs?cursor=garbage")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("bad cursor: status %d, want 400", resp.StatusCode)
		}
		resp, doc = c.Get(t, "/jobs?kind=test_later")
		if resp.StatusCode != http.StatusOK || doc.Find(testID("job-row")).Length() != 1 || doc.Find(testID("job-row")).AttrOr("data-job-id", "") != queuedS {
			t.Errorf("kind filter: status %d, %d rows", resp.StatusCode, doc.Find(testID("job-row")).Length())
		}
	})

	t.Run("detail shows every error", func(t *testing.T) {
		resp, doc := c.Get(t, "/jobs/"+failedS)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		errs := doc.Find(testID("job-error"))
		if errs.Length() != 1 || errs.AttrOr("data-attempt", "") != "1" || !strings.Contains(errs.Find(testID("job-error-message")).Text(), "vagon answered 500") {
			t.Errorf("errors: %d %q", errs.Length(), errs.Text())
		}
		if resp, _ := c.Get(t, "/jobs/999999"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("unknown job: status %d", resp.StatusCode)
		}
	})

	t.Run("retry", func(t *testing.T) {
		resp, _ := c.PostHTMX(t, "/jobs/"+failedS+"/retry", url.Values{"from": {"list"}, "back": {"/jobs?state=failed"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		doc := rowDoc(t, resp)
		if msg := doc.Find(testID("section-message")).Text(); !strings.Contains(msg, "will run again") {
			t.Errorf("row message %q", msg)
		}
		if doc.Find(testID("toast")).Length() != 1 {
			t.Error("no toast")
		}
		env.waitEvent(t, failed, river.EventKindJobFailed) // it ran again
		rows := jobAudits(t, app, fleet.ActJobRetry)
		if len(rows) != 2 || rows[0].Outcome != db.OutcomeStarted || rows[1].Outcome != db.OutcomeSucceeded {
			t.Fatalf("retry audit %+v, want started + succeeded", rows)
		}
		p := string(rows[1].Params)
		if !strings.Contains(p, `"job_id": `+failedS) || !strings.Contains(p, `"kind": "test_failing"`) || !strings.Contains(p, `"state": "discarded"`) {
			t.Errorf("retry audit params %s", p)
		}
		// Without htmx: a 303 to the job's page.
		resp, _ = c.PostForm(t, "/jobs/"+failedS+"/retry", nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/jobs/"+failedS) {
			t.Errorf("plain retry: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		env.waitEvent(t, failed, river.EventKindJobFailed)
	})

	t.Run("cancel asks first, then once", func(t *testing.T) {
		resp, _ := c.PostHTMX(t, "/jobs/"+queuedS+"/cancel", url.Values{"from": {"list"}, "back": {"/jobs"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		body := bodyText(t, resp)
		doc, _ := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + body + "</tbody></table>"))
		ask := doc.Find(testID("job-cancel-confirmation"))
		token := ask.Find(`input[name="token"]`).AttrOr("value", "")
		if ask.Length() != 1 || !validConfirmToken(token) {
			t.Fatalf("no confirmation with a token in %s", body)
		}
		if !strings.Contains(body, `id="jobs-poll" hx-swap-oob="true"></div>`) {
			t.Error("the question does not stop the poller")
		}
		if st := env.state(t, queued); st != rivertype.JobStateScheduled {
			t.Fatalf("asking changed the job: %s", st)
		}
		if n := len(jobAudits(t, app, fleet.ActJobCancel)); n != 0 {
			t.Fatalf("asking wrote %d audit rows", n)
		}
		resp, _ = c.PostHTMX(t, "/jobs/"+queuedS+"/cancel", url.Values{"from": {"list"}, "back": {"/jobs"}, "token": {token}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("confirmed: status %d", resp.StatusCode)
		}
		if msg := rowDoc(t, resp).Find(testID("section-message")).Text(); !strings.Contains(msg, "cancelled") {
			t.Errorf("row message %q", msg)
		}
		if st := env.state(t, queued); st != rivertype.JobStateCancelled {
			t.Fatalf("state %s, want cancelled", st)
		}
		// The same confirmation again: nothing more is done.
		resp, _ = c.PostHTMX(t, "/jobs/"+queuedS+"/cancel", url.Values{"from": {"detail"}, "token": {token}})
		if resp.StatusCode != http.StatusConflict {
			t.Errorf("second submit: status %d, want 409", resp.StatusCode)
		}
		rows := jobAudits(t, app, fleet.ActJobCancel)
		if len(rows) != 2 || rows[1].Outcome != db.OutcomeSucceeded || !strings.Contains(string(rows[1].Params), `"result": "cancelled"`) {
			t.Errorf("cancel audit %+v, want one started + succeeded", rows)
		}
		// A finished job has nothing to cancel.
		resp, _ = c.PostHTMX(t, "/jobs/"+failedS+"/cancel", url.Values{"from": {"list"}})
		if resp.StatusCode != http.StatusConflict {
			t.Errorf("cancel of a failed job: status %d, want 409", resp.StatusCode)
		}
	})

	t.Run("csv", func(t *testing.T) {
		resp, _ := c.Get(t, "/jobs.csv?state=cancelled")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		recs, err := csv.NewReader(resp.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0][0] != "id" || recs[1][0] != queuedS || recs[1][2] != "cancelled" {
			t.Errorf("csv %v", recs)
		}
		resp, _ = c.Get(t, "/jobs.csv")
		recs, _ = csv.NewReader(resp.Body).ReadAll()
		if len(recs) != 3 {
			t.Errorf("all jobs csv: %d lines, want header + 2", len(recs))
		}
	})
}
