package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// Page sizes of Admin.List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 200
)

// Bounds of what a JobRow carries of a job's own text.
const (
	maxArgsLen    = 160
	maxArgValue   = 48
	maxErrorLen   = 2000
	maxTraceLen   = 8000
	maxKindLen    = 100
	maxErrorsKept = 50
)

// Admin is the admin's view of the queue: list, read, retry and cancel jobs
// through River's client API. The web layer calls it through its own
// interface (web.JobQueue), so web never imports River.
type Admin struct {
	client *river.Client[pgx.Tx]
	bulk   *fleet.Bulk
	sched  *fleet.Scheduler
}

// NewAdmin returns the queue admin over client (a client that only
// inserts, without workers, is enough: Admin never works jobs).
func NewAdmin(client *river.Client[pgx.Tx]) *Admin { return &Admin{client: client} }

// WithBulk makes Cancel of a bulk operation's job cancel the operation
// (fleet.Bulk.Cancel), which its job then closes.
func (a *Admin) WithBulk(b *fleet.Bulk) *Admin { a.bulk = b; return a }

// WithScheduler makes Cancel of a schedule run's job end the run
// (fleet.Scheduler.CancelRun) before the job.
func (a *Admin) WithScheduler(s *fleet.Scheduler) *Admin { a.sched = s; return a }

// List returns one page of jobs, newest first, and the cursor of the next
// page ("" on the last page).
func (a *Admin) List(ctx context.Context, f fleet.JobFilter) ([]fleet.JobRow, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	p := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit)
	if f.Tab != "" {
		states := fleet.JobTabStates(f.Tab)
		if states == nil {
			return nil, "", fmt.Errorf("%w: unknown state %q", fleet.ErrJobBadFilter, f.Tab)
		}
		rs := make([]rivertype.JobState, len(states))
		for i, s := range states {
			rs[i] = rivertype.JobState(s)
		}
		p = p.States(rs...)
	}
	if f.Kind != "" {
		if !fleet.ValidJobKind(f.Kind) {
			return nil, "", fmt.Errorf("%w: kind", fleet.ErrJobBadFilter)
		}
		p = p.Kinds(f.Kind)
	}
	if f.After != "" {
		var cur river.JobListCursor
		if len(f.After) > 1000 || cur.UnmarshalText([]byte(f.After)) != nil {
			return nil, "", fleet.ErrJobBadCursor
		}
		p = p.After(&cur)
	}
	res, err := a.client.JobList(ctx, p)
	if err != nil {
		return nil, "", fmt.Errorf("jobs: list: %w", err)
	}
	rows := make([]fleet.JobRow, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		rows = append(rows, jobRow(j))
	}
	if len(res.Jobs) < limit || res.LastCursor == nil {
		return rows, "", nil
	}
	// A full page: look one job further, so the last page has no Next link
	// that leads nowhere.
	more, err := a.client.JobList(ctx, p.After(res.LastCursor).First(1))
	if err != nil {
		return nil, "", fmt.Errorf("jobs: list: %w", err)
	}
	if len(more.Jobs) == 0 {
		return rows, "", nil
	}
	next, err := res.LastCursor.MarshalText()
	if err != nil {
		return nil, "", fmt.Errorf("jobs: list cursor: %w", err)
	}
	return rows, string(next), nil
}

// Get returns the job id; fleet.ErrJobNotFound when there is none.
func (a *Admin) Get(ctx context.Context, id int64) (fleet.JobRow, error) {
	j, err := a.client.JobGet(ctx, id)
	if err != nil {
		return fleet.JobRow{}, notFound("get", err)
	}
	return jobRow(j), nil
}

// Retry makes the job id available to run now (fleet.JobCanRetry says
// which states may): fleet.ErrJobNoRetry in any other state, also when it
// started running meanwhile (River leaves a running job alone). It returns
// the job as it is after.
func (a *Admin) Retry(ctx context.Context, id int64) (fleet.JobRow, error) {
	before, err := a.Get(ctx, id)
	if err != nil {
		return fleet.JobRow{}, err
	}
	if !fleet.JobCanRetry(before.State) {
		return before, fleet.ErrJobNoRetry
	}
	j, err := a.client.JobRetry(ctx, id)
	if err != nil {
		return fleet.JobRow{}, notFound("retry", err)
	}
	after := jobRow(j)
	if after.State == string(rivertype.JobStateRunning) {
		return after, fleet.ErrJobNoRetry
	}
	return after, nil
}

// Cancel cancels the job id, as actor, by what the job does:
//
//   - a bulk operation's job (KindBulk): the operation is cancelled
//     (fleet.Bulk.Cancel, audited as bulk.cancel): its machines not begun
//     are skipped, calls in flight finish, and the job closes the
//     operation and ends cancelled (a waiting job is made to run now for
//     that). The job itself is not cancelled under a running worker, which
//     would cut its calls off and leave the operation open.
//   - a schedule run's job (KindScheduleRun): the run is ended as failed,
//     "Cancelled by" actor (fleet.Scheduler.CancelRun): its machines not
//     begun are skipped, calls in flight finish; then the job is cancelled
//     (a running one ends cancelled when its calls in flight are done), and
//     the schedule tick never runs the run again.
//   - any other job: River cancels it at once when it waits in the queue;
//     a running one is asked to stop (CancelRequested; its worker's
//     context is cancelled and it ends as cancelled when it returns).
//
// A finished job is fleet.ErrJobNoCancel. It returns the job as it is
// after.
func (a *Admin) Cancel(ctx context.Context, actor fleet.Actor, id int64) (fleet.JobRow, error) {
	raw, err := a.client.JobGet(ctx, id)
	if err != nil {
		return fleet.JobRow{}, notFound("get", err)
	}
	before := jobRow(raw)
	if !fleet.JobCanCancel(before.State) {
		return before, fleet.ErrJobNoCancel
	}
	switch {
	case raw.Kind == KindBulk && a.bulk != nil:
		var args BulkArgs
		if json.Unmarshal(raw.EncodedArgs, &args) == nil && args.OpID > 0 {
			return a.cancelBulk(ctx, actor, raw, args.OpID)
		}
	case raw.Kind == KindScheduleRun && a.sched != nil:
		var args ScheduleRunArgs
		if json.Unmarshal(raw.EncodedArgs, &args) == nil && args.RunID > 0 {
			return a.cancelRun(ctx, actor, raw, args.RunID)
		}
	}
	return a.riverCancel(ctx, id)
}

// cancelBulk cancels the operation of a bulk job; its worker closes it.
func (a *Admin) cancelBulk(ctx context.Context, actor fleet.Actor, job *rivertype.JobRow, opID int64) (fleet.JobRow, error) {
	// The jobs page is for admins (its route's permission): an admin may
	// cancel anyone's operation.
	err := a.bulk.Cancel(ctx, actor, opID, true)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return a.riverCancel(ctx, job.ID) // no operation left to close
	case errors.Is(err, fleet.ErrBulkFinished):
		st, gerr := a.bulk.Get(ctx, opID)
		if gerr == nil && st.Op.Finished() && job.State != rivertype.JobStateRunning {
			return a.riverCancel(ctx, job.ID) // nothing left for it to do
		}
		// Cancelled before and not yet closed: its worker closes it.
	case err != nil:
		return jobRow(job), err
	}
	if job.State == rivertype.JobStateScheduled || job.State == rivertype.JobStateRetryable {
		// Waiting (snoozed, or backing off): run it now, so it closes the
		// operation at once.
		if _, err := a.client.JobRetry(ctx, job.ID); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
			return jobRow(job), fmt.Errorf("jobs: cancel: wake bulk job: %w", err)
		}
	}
	return a.Get(ctx, job.ID)
}

// cancelRun ends a schedule run, then cancels its job.
func (a *Admin) cancelRun(ctx context.Context, actor fleet.Actor, job *rivertype.JobRow, runID int64) (fleet.JobRow, error) {
	err := a.sched.CancelRun(ctx, actor, runID)
	if err != nil && !errors.Is(err, fleet.ErrRunFinished) && !errors.Is(err, db.ErrNotFound) {
		return jobRow(job), err
	}
	if job.State == rivertype.JobStateRunning {
		// Its worker stops beginning machines, lets its calls in flight
		// finish and ends the job cancelled (fleet.ErrRunCancelled); a
		// River cancel now would cut those calls off.
		return a.Get(ctx, job.ID)
	}
	return a.riverCancel(ctx, job.ID)
}

// riverCancel is River's own cancel.
func (a *Admin) riverCancel(ctx context.Context, id int64) (fleet.JobRow, error) {
	j, err := a.client.JobCancel(ctx, id)
	if err != nil {
		return fleet.JobRow{}, notFound("cancel", err)
	}
	after := jobRow(j)
	if after.Tab != fleet.JobTabCancelled && after.State != string(rivertype.JobStateRunning) {
		// It finished (or failed for good) between the read and the cancel.
		return after, fleet.ErrJobNoCancel
	}
	return after, nil
}

// Counts returns how many jobs each tab holds (every tab present, 0 when
// empty).
func (a *Admin) Counts(ctx context.Context) (fleet.JobCounts, error) {
	by, err := a.client.Driver().GetExecutor().JobCountByAllStates(ctx, &riverdriver.JobCountByAllStatesParams{Schema: a.client.Schema()})
	if err != nil {
		return nil, fmt.Errorf("jobs: count: %w", err)
	}
	out := fleet.JobCounts{}
	for _, tab := range fleet.JobTabs {
		out[tab] = 0
	}
	for state, n := range by {
		if tab := fleet.JobTabOf(string(state)); tab != "" {
			out[tab] += n
		}
	}
	return out, nil
}

func notFound(op string, err error) error {
	if errors.Is(err, rivertype.ErrNotFound) {
		return fleet.ErrJobNotFound
	}
	return fmt.Errorf("jobs: %s: %w", op, err)
}

// jobRow maps River's row to the dashboard's.
func jobRow(j *rivertype.JobRow) fleet.JobRow {
	r := fleet.JobRow{
		ID: j.ID, Kind: clean(j.Kind, maxKindLen, false), State: string(j.State), Tab: fleet.JobTabOf(string(j.State)),
		Queue: clean(j.Queue, maxKindLen, false), Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		CreatedAt: j.CreatedAt, ScheduledAt: j.ScheduledAt, Args: SummarizeArgs(j.EncodedArgs),
	}
	if j.AttemptedAt != nil {
		r.AttemptedAt = *j.AttemptedAt
	}
	if j.FinalizedAt != nil {
		r.FinishedAt = *j.FinalizedAt
	}
	errs := j.Errors
	if len(errs) > maxErrorsKept {
		errs = errs[len(errs)-maxErrorsKept:]
	}
	for _, e := range errs {
		r.Errors = append(r.Errors, fleet.JobError{Attempt: e.Attempt, At: e.At,
			Message: redact(clean(e.Error, maxErrorLen, true)), Trace: redact(clean(e.Trace, maxTraceLen, true))})
	}
	var meta struct {
		CancelAttemptedAt *string `json:"cancel_attempted_at"`
	}
	// River notes every cancel in the metadata; only a running job is
	// still waiting for it to take effect.
	if j.State == rivertype.JobStateRunning && json.Unmarshal(j.Metadata, &meta) == nil && meta.CancelAttemptedAt != nil {
		r.CancelRequested = true
	}
	return r
}

// secretKey matches argument names whose values are never shown, whatever
// a job carries (our jobs carry ids only; this is the second line).
var secretKey = regexp.MustCompile(`(?i)secret|passw|token|key|link|credential|auth|cookie|signature|session`)

// secretValue redacts key=value and "key": "value" pairs of secret-looking
// names inside error text.
var secretValue = regexp.MustCompile(`(?i)((?:secret|password|passwd|token|api[_-]?key|signature|authorization|connection_link)["']?\s*[:=]\s*["']?)[^\s"'&,;]+`)

func redact(s string) string { return secretValue.ReplaceAllString(s, "${1}[hidden]") }

// SummarizeArgs turns a job's JSON arguments into a short line: key=value
// pairs in key order, long values cut, nested values counted, secret-looking
// keys hidden, control characters removed, the whole at most maxArgsLen.
func SummarizeArgs(encoded []byte) string {
	var obj map[string]any
	if err := json.Unmarshal(encoded, &obj); err != nil {
		if len(encoded) == 0 || string(encoded) == "null" {
			return ""
		}
		return "(arguments not shown)"
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := clean(k, 40, false)
		if secretKey.MatchString(k) {
			parts = append(parts, name+"=[hidden]")
			continue
		}
		parts = append(parts, name+"="+argValue(obj[k]))
	}
	return clean(strings.Join(parts, " "), maxArgsLen, false)
}

func argValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return clean(x, maxArgValue, false)
	case []any:
		if len(x) <= 3 {
			vals := make([]string, len(x))
			for i, e := range x {
				if _, nested := e.(map[string]any); nested {
					return fmt.Sprintf("[%d items]", len(x))
				}
				vals[i] = argValue(e)
			}
			return "[" + strings.Join(vals, ",") + "]"
		}
		return fmt.Sprintf("[%d items]", len(x))
	case map[string]any:
		return fmt.Sprintf("{%d fields}", len(x))
	}
	return "?"
}

// clean drops invalid UTF-8 and control characters (newlines and tabs kept
// when multiline) and cuts s to at most n bytes on a rune boundary, with
// an ellipsis when cut.
func clean(s string, n int, multiline bool) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if multiline && (r == '\n' || r == '\t') {
			return r
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
