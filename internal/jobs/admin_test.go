package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
)

// Test jobs: each kind's worker does one thing.

type alwaysFailArgs struct {
	MachineID string `json:"machine_id"`
	Token     string `json:"token"` // must never be shown
}

func (alwaysFailArgs) Kind() string { return "test_always_fail" }

type alwaysFailWorker struct {
	river.WorkerDefaults[alwaysFailArgs]
}

func (alwaysFailWorker) Work(context.Context, *river.Job[alwaysFailArgs]) error {
	return errors.New("vagon said no (password=hunter2)")
}

type failOnceArgs struct {
	OpID int64 `json:"op_id"`
}

func (failOnceArgs) Kind() string { return "test_fail_once" }

type failOnceWorker struct {
	river.WorkerDefaults[failOnceArgs]
}

func (failOnceWorker) Work(_ context.Context, j *river.Job[failOnceArgs]) error {
	if j.Attempt == 1 {
		return errors.New("first attempt fails")
	}
	return nil
}

type blockArgs struct{}

func (blockArgs) Kind() string { return "test_block" }

// blockWorker runs until its job is cancelled; started counts its runs.
type blockWorker struct {
	river.WorkerDefaults[blockArgs]
	started *atomic.Int32
}

func (w blockWorker) Work(ctx context.Context, _ *river.Job[blockArgs]) error {
	w.started.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

type noopArgs struct {
	N int `json:"n"`
}

func (noopArgs) Kind() string { return "test_noop" }

type noopWorker struct{ river.WorkerDefaults[noopArgs] }

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// laterRetry puts a failed job's next attempt an hour away, so a retryable
// job stays retryable until the test retries it.
type laterRetry struct{}

func (laterRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(time.Hour) }

type adminEnv struct {
	client *river.Client[pgx.Tx]
	admin  *jobs.Admin
	events <-chan *river.Event
}

// newEnv migrates River's tables into a fresh database (with River's own
// migrator, not the app's migrate path) and starts a client working the
// test kinds.
func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.URL(t))
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
	river.AddWorker(workers, alwaysFailWorker{})
	river.AddWorker(workers, failOnceWorker{})
	river.AddWorker(workers, blockWorker{started: &atomic.Int32{}})
	river.AddWorker(workers, noopWorker{})
	client, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		RetryPolicy:       laterRetry{},
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond,
		TestOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	t.Cleanup(cancel)
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = client.StopAndCancel(sctx)
	})
	return &adminEnv{client: client, admin: jobs.NewAdmin(client), events: events}
}

// waitEvent waits for an event of kind about job id.
func (e *adminEnv) waitEvent(t *testing.T, id int64, kind river.EventKind) {
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

// waitState waits until job id is in state (polling the row: River sends no
// event when a job starts).
func (e *adminEnv) waitState(t *testing.T, id int64, state string) fleet.JobRow {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := e.admin.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s, want %s", id, j.State, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *adminEnv) insert(t *testing.T, args river.JobArgs, opts *river.InsertOpts) int64 {
	t.Helper()
	res, err := e.client.Insert(context.Background(), args, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

func TestAdmin_failedJobRetry(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	ctx := context.Background()
	id := e.insert(t, alwaysFailArgs{MachineID: "m-1", Token: "s3cret-value"}, &river.InsertOpts{MaxAttempts: 1})
	e.waitEvent(t, id, river.EventKindJobFailed)

	counts, err := e.admin.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[fleet.JobTabFailed] != 1 || len(counts) != len(fleet.JobTabs) {
		t.Errorf("counts %v, want failed 1 and every tab", counts)
	}
	rows, next, err := e.admin.List(ctx, fleet.JobFilter{Tab: fleet.JobTabFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].ID != id || next != "" {
		t.Fatalf("failed tab %+v next %q, want job %d alone", rows, next, id)
	}
	j := rows[0]
	if j.State != "discarded" || j.Tab != fleet.JobTabFailed || j.Attempt != 1 || j.MaxAttempts != 1 || j.FinishedAt.IsZero() {
		t.Errorf("job %+v", j)
	}
	last := j.LastError()
	if last == nil || last.Attempt != 1 || !strings.Contains(last.Message, "vagon said no") {
		t.Fatalf("last error %+v", last)
	}
	if strings.Contains(last.Message, "hunter2") {
		t.Errorf("error text shows a password: %q", last.Message)
	}
	if strings.Contains(j.Args, "s3cret") || !strings.Contains(j.Args, "machine_id=m-1") || !strings.Contains(j.Args, "token=[hidden]") {
		t.Errorf("args summary %q", j.Args)
	}

	// Retry: it runs again (one more attempt allowed) and fails again.
	after, err := e.admin.Retry(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != "available" && after.State != "running" && after.Tab != fleet.JobTabFailed {
		t.Errorf("state after retry %s", after.State)
	}
	e.waitEvent(t, id, river.EventKindJobFailed)
	j, err = e.admin.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Errors) != 2 || j.Errors[1].Attempt != 2 || j.State != "discarded" {
		t.Errorf("after retry: state %s errors %+v, want 2 errors", j.State, j.Errors)
	}
}

func TestAdmin_retryableJobRetrySucceeds(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	ctx := context.Background()
	id := e.insert(t, failOnceArgs{OpID: 7}, nil)
	e.waitEvent(t, id, river.EventKindJobFailed)
	j := e.waitState(t, id, "retryable")
	if j.Tab != fleet.JobTabRetryable || j.LastError() == nil || j.Args != "op_id=7" {
		t.Errorf("retryable job %+v", j)
	}
	if c, _ := e.admin.Counts(ctx); c[fleet.JobTabRetryable] != 1 {
		t.Errorf("counts %v", c)
	}
	if _, err := e.admin.Retry(ctx, id); err != nil {
		t.Fatal(err)
	}
	e.waitEvent(t, id, river.EventKindJobCompleted)
	j, _ = e.admin.Get(ctx, id)
	if j.State != "completed" || j.Attempt != 2 || len(j.Errors) != 1 {
		t.Errorf("after retry %+v", j)
	}
	// A completed job is never run twice.
	if _, err := e.admin.Retry(ctx, id); !errors.Is(err, fleet.ErrJobNoRetry) {
		t.Errorf("retry completed: %v, want ErrJobNoRetry", err)
	}
	if _, err := e.admin.Cancel(ctx, adminActor, id); !errors.Is(err, fleet.ErrJobNoCancel) {
		t.Errorf("cancel completed: %v, want ErrJobNoCancel", err)
	}
}

func TestAdmin_cancel(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	ctx := context.Background()

	t.Run("queued", func(t *testing.T) {
		id := e.insert(t, noopArgs{N: 1}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
		j, err := e.admin.Get(ctx, id)
		if err != nil || j.State != "scheduled" || j.Tab != fleet.JobTabQueued {
			t.Fatalf("scheduled job %+v %v", j, err)
		}
		after, err := e.admin.Cancel(ctx, adminActor, id)
		if err != nil {
			t.Fatal(err)
		}
		if after.State != "cancelled" || after.CancelRequested {
			t.Errorf("after cancel %+v", after)
		}
		if _, err := e.admin.Cancel(ctx, adminActor, id); !errors.Is(err, fleet.ErrJobNoCancel) {
			t.Errorf("second cancel: %v, want ErrJobNoCancel", err)
		}
	})

	t.Run("running", func(t *testing.T) {
		id := e.insert(t, blockArgs{}, nil)
		e.waitState(t, id, "running")
		if _, err := e.admin.Retry(ctx, id); !errors.Is(err, fleet.ErrJobNoRetry) {
			t.Errorf("retry running: %v, want ErrJobNoRetry", err)
		}
		if c, _ := e.admin.Counts(ctx); c[fleet.JobTabRunning] != 1 {
			t.Errorf("counts %v, want 1 running", c)
		}
		after, err := e.admin.Cancel(ctx, adminActor, id)
		if err != nil {
			t.Fatal(err)
		}
		if after.State != "running" || !after.CancelRequested {
			t.Errorf("after cancel of a running job %+v, want running with cancel requested", after)
		}
		e.waitEvent(t, id, river.EventKindJobCancelled)
		if j := e.waitState(t, id, "cancelled"); j.Tab != fleet.JobTabCancelled {
			t.Errorf("tab %s", j.Tab)
		}
	})
}

func TestAdmin_listPagesAndFilters(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	ctx := context.Background()
	later := &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}
	var ids []int64
	for i := range 5 {
		ids = append(ids, e.insert(t, noopArgs{N: i}, later))
	}
	e.insert(t, failOnceArgs{OpID: 1}, later) // another kind

	var got []int64
	cursor, pages := "", 0
	for {
		rows, next, err := e.admin.List(ctx, fleet.JobFilter{Tab: fleet.JobTabQueued, Kind: "test_noop", Limit: 2, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range rows {
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		cursor = next
		if pages > 5 {
			t.Fatal("no last page")
		}
	}
	want := []int64{ids[4], ids[3], ids[2], ids[1], ids[0]} // newest first
	if pages != 3 || !equal(got, want) {
		t.Errorf("pages %d ids %v, want 3 pages of %v", pages, got, want)
	}
	all, _, err := e.admin.List(ctx, fleet.JobFilter{})
	if err != nil || len(all) != 6 {
		t.Errorf("all: %d rows, %v", len(all), err)
	}
	none, next, err := e.admin.List(ctx, fleet.JobFilter{Tab: fleet.JobTabRunning})
	if err != nil || len(none) != 0 || next != "" {
		t.Errorf("running: %v %q %v", none, next, err)
	}

	for _, tc := range []struct {
		name string
		f    fleet.JobFilter
		want error
	}{
		{"bad cursor", fleet.JobFilter{After: "not a cursor!"}, fleet.ErrJobBadCursor},
		{"unknown tab", fleet.JobFilter{Tab: "discarded"}, fleet.ErrJobBadFilter},
		{"bad kind", fleet.JobFilter{Kind: "a kind; drop"}, fleet.ErrJobBadFilter},
	} {
		if _, _, err := e.admin.List(ctx, tc.f); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := e.admin.Get(ctx, 999999); !errors.Is(err, fleet.ErrJobNotFound) {
		t.Errorf("get unknown: %v", err)
	}
	if _, err := e.admin.Retry(ctx, 999999); !errors.Is(err, fleet.ErrJobNotFound) {
		t.Errorf("retry unknown: %v", err)
	}
	if _, err := e.admin.Cancel(ctx, adminActor, 999999); !errors.Is(err, fleet.ErrJobNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSummarizeArgs(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"ids in key order", `{"op_id":12,"machine_id":"m-1"}`, "machine_id=m-1 op_id=12"},
		{"secret keys hidden", `{"api_key":"abc","password":"p","connection_link":"https://x"}`, "api_key=[hidden] connection_link=[hidden] password=[hidden]"},
		{"control characters removed", `{"name":"a\u0007b\nc"}`, "name=abc"},
		{"short list", `{"ids":[1,2]}`, "ids=[1,2]"},
		{"long list counted", `{"ids":[1,2,3,4]}`, "ids=[4 items]"},
		{"nested object counted", `{"p":{"a":1,"b":2}}`, "p={2 fields}"},
		{"empty", ``, ""},
		{"not an object", `[1,2]`, "(arguments not shown)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := jobs.SummarizeArgs([]byte(tc.in)); got != tc.want {
				t.Errorf("SummarizeArgs(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	t.Run("long value cut", func(t *testing.T) {
		got := jobs.SummarizeArgs([]byte(`{"a":"` + long + `","b":"` + long + `","c":"` + long + `","d":"` + long + `"}`))
		if len(got) > 160 || !strings.HasSuffix(got, "…") || strings.Contains(got, strings.Repeat("x", 60)) {
			t.Errorf("summary %d bytes: %q", len(got), got)
		}
	})
}

var adminActor = fleet.Actor{Email: "admin@example.com", Role: "admin"}
