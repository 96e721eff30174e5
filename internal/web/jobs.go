package web

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// JobQueue is the background job queue as the admin page uses it:
// jobs.Admin over River's client implements it, so web never imports
// River (cmd/dashboard wires it into Deps.Jobs).
type JobQueue interface {
	// List returns one page of jobs, newest first, and the next page's
	// cursor ("" on the last page).
	List(ctx context.Context, f fleet.JobFilter) ([]fleet.JobRow, string, error)
	// Get returns one job, fleet.ErrJobNotFound when there is none.
	Get(ctx context.Context, id int64) (fleet.JobRow, error)
	// Retry makes a job run now (fleet.ErrJobNoRetry in a state that
	// does not allow it) and returns it as it is after.
	Retry(ctx context.Context, id int64) (fleet.JobRow, error)
	// Cancel cancels a job as actor, by what it does: a bulk operation's
	// job cancels the operation (its job then closes it), a schedule run's
	// job ends the run as cancelled and then the job; any other job is
	// cancelled, or a running one asked to stop (fleet.ErrJobNoCancel when
	// it has finished).
	Cancel(ctx context.Context, actor fleet.Actor, id int64) (fleet.JobRow, error)
	// Counts returns how many jobs each tab holds.
	Counts(ctx context.Context) (fleet.JobCounts, error)
}

const (
	jobsPageSize   = 50
	jobsCSVMaxRows = 10_000
	jobsNoQueue    = "Background jobs are not available on this server."
	jobsReadFailed = "The job queue could not be read. Try again in a minute."
)

var errNoJobQueue = echo.NewHTTPError(http.StatusServiceUnavailable, jobsNoQueue)

// jobsFilter reads state, kind and cursor from the query string.
func jobsFilter(c echo.Context) (fleet.JobFilter, map[string]string) {
	q := c.QueryParams()
	f := fleet.JobFilter{Tab: truncate(q.Get("state"), 20), Kind: truncate(strings.TrimSpace(q.Get("kind")), 120), After: truncate(q.Get("cursor"), 1000)}
	errs := map[string]string{}
	if f.Tab != "" && fleet.JobTabStates(f.Tab) == nil {
		errs["state"] = "Unknown state: choose one of the tabs."
	}
	if f.Kind != "" && !fleet.ValidJobKind(f.Kind) {
		errs["kind"] = "A job kind is letters, digits and _ . : - only, like bulk_op."
	}
	return f, errs
}

// jobsQuery is the filter as a query string, without the empty parts.
func jobsQuery(f fleet.JobFilter) url.Values {
	v := url.Values{}
	if f.Tab != "" {
		v.Set("state", f.Tab)
	}
	if f.Kind != "" {
		v.Set("kind", f.Kind)
	}
	return v
}

// jobsBackURL is a "back to the list" address from a form or link: a
// /jobs list address only, else the plain list.
func jobsBackURL(raw string) string {
	if raw == "/jobs" || strings.HasPrefix(raw, "/jobs?") {
		if u, err := url.Parse(raw); err == nil && u.Host == "" && len(raw) <= 1500 {
			return raw
		}
	}
	return "/jobs"
}

// jobView maps a job for the page; the buttons follow the route table and
// the job's state.
func (s *Server) jobView(c echo.Context, j fleet.JobRow, from, back string) views.JobRowView {
	v := views.JobRowView{
		ID: j.ID, Kind: j.Kind, State: j.State, Tab: j.Tab, TabLabel: fleet.JobTabLabel(j.Tab), Queue: j.Queue,
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, CreatedAt: j.CreatedAt, ScheduledAt: j.ScheduledAt,
		AttemptedAt: j.AttemptedAt, FinishedAt: j.FinishedAt, Args: j.Args, CancelRequested: j.CancelRequested,
		CanRetry:  fleet.JobCanRetry(j.State) && s.allowed(c, http.MethodPost, "/jobs/:job_id/retry"),
		CanCancel: fleet.JobCanCancel(j.State) && !j.CancelRequested && s.allowed(c, http.MethodPost, "/jobs/:job_id/cancel"),
		From:      from, BackURL: back,
	}
	if v.TabLabel == "" {
		v.TabLabel = j.State
	}
	for _, e := range j.Errors {
		v.Errors = append(v.Errors, views.JobErrorView{Attempt: e.Attempt, At: e.At, Message: e.Message, Trace: e.Trace})
	}
	return v
}

// jobsTabs are the state tabs with their counts and links (keeping kind).
func jobsTabs(f fleet.JobFilter, counts fleet.JobCounts) []views.JobTabView {
	total := 0
	for _, n := range counts {
		total += n
	}
	q := jobsQuery(fleet.JobFilter{Kind: f.Kind})
	tabs := []views.JobTabView{{Key: "", Label: "All", Href: withQuery("/jobs", q), Count: total, Current: f.Tab == ""}}
	for _, t := range fleet.JobTabs {
		tq := jobsQuery(fleet.JobFilter{Tab: t, Kind: f.Kind})
		tabs = append(tabs, views.JobTabView{Key: t, Label: fleet.JobTabLabel(t), Href: withQuery("/jobs", tq), Count: counts[t], Current: f.Tab == t})
	}
	return tabs
}

// jobsPoll says whether the list polls (anything running) and where.
func (s *Server) jobsPoll(ctx context.Context, listURL string) views.JobsView {
	counts, err := s.jobs.Counts(ctx)
	return views.JobsView{Available: true, Live: err == nil && counts[fleet.JobTabRunning] > 0, ListURL: listURL}
}

// listJobs is GET /jobs: the tabs, the filter and one page of jobs; the
// results alone (with tabs and poller out of band) for htmx.
func (s *Server) listJobs(c echo.Context) error {
	p := s.page(c, "Background jobs", views.NavJobs)
	if s.jobs == nil {
		return render(c, http.StatusOK, views.JobsPage(p, views.JobsView{}))
	}
	ctx := c.Request().Context()
	f, errs := jobsFilter(c)
	q := jobsQuery(f)
	v := views.JobsView{Available: true, Tab: f.Tab, Kind: f.Kind, Errors: errs, CSVURL: withQuery("/jobs.csv", q)}
	lq := jobsQuery(f)
	if f.After != "" {
		lq.Set("cursor", f.After)
		v.FirstURL = withQuery("/jobs", q)
	}
	v.ListURL = withQuery("/jobs", lq)
	status := http.StatusOK
	counts, err := s.jobs.Counts(ctx)
	if err != nil {
		s.log.Error("job queue", "err", err.Error(), "request_id", requestID(c))
		v.LoadError, status = jobsReadFailed, http.StatusBadGateway
	}
	v.Tabs = jobsTabs(f, counts)
	v.Live = counts[fleet.JobTabRunning] > 0
	if len(errs) > 0 {
		v.LoadError, status, v.CSVURL, v.Live = "Nothing listed: fix the filter.", http.StatusUnprocessableEntity, "", false
	} else if err == nil {
		f.Limit = jobsPageSize
		rows, next, err := s.jobs.List(ctx, f)
		switch {
		case errors.Is(err, fleet.ErrJobBadCursor):
			v.LoadError, status = "That page link is no longer valid. Open the newest jobs again.", http.StatusBadRequest
		case err != nil:
			s.log.Error("job queue", "err", err.Error(), "request_id", requestID(c))
			v.LoadError, status = jobsReadFailed, http.StatusBadGateway
		}
		for _, j := range rows {
			v.Rows = append(v.Rows, s.jobView(c, j, "list", v.ListURL))
		}
		if next != "" {
			nq := jobsQuery(f)
			nq.Set("cursor", next)
			v.NextURL = withQuery("/jobs", nq)
		}
	}
	if isHTMX(c) {
		c.Response().Header().Set("HX-Push-Url", v.ListURL)
		return render(c, status, views.JobsResultsFragment(p, v))
	}
	return render(c, status, views.JobsPage(p, v))
}

// jobID reads :job_id.
func jobID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("job_id"), 10, 64)
	if err != nil || id < 1 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "No such job.")
	}
	return id, nil
}

// loadJob reads the job of :job_id.
func (s *Server) loadJob(c echo.Context) (fleet.JobRow, error) {
	if s.jobs == nil {
		return fleet.JobRow{}, errNoJobQueue
	}
	id, err := jobID(c)
	if err != nil {
		return fleet.JobRow{}, err
	}
	j, err := s.jobs.Get(c.Request().Context(), id)
	if errors.Is(err, fleet.ErrJobNotFound) {
		return fleet.JobRow{}, echo.NewHTTPError(http.StatusNotFound, "No such job: it may have been removed after it finished.")
	}
	if err != nil {
		return fleet.JobRow{}, echo.NewHTTPError(http.StatusBadGateway, jobsReadFailed).SetInternal(err)
	}
	return j, nil
}

// showJob is GET /jobs/:job_id: the job with every error; the section
// alone for its htmx poll, its list row for row=1 (a cancel question's
// "keep it").
func (s *Server) showJob(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	back := jobsBackURL(c.QueryParam("back"))
	p := s.page(c, "Job #"+strconv.FormatInt(j.ID, 10), views.NavJobs)
	if isHTMX(c) && c.QueryParam("row") == "1" {
		return render(c, http.StatusOK, views.JobRowFragment(p, s.jobView(c, j, "list", back), s.jobsPoll(c.Request().Context(), back)))
	}
	v := views.JobDetailView{Available: true, Job: s.jobView(c, j, "detail", back), BackURL: back, Live: j.State == "running"}
	if isHTMX(c) {
		return render(c, http.StatusOK, views.JobDetail(p, v))
	}
	return render(c, http.StatusOK, views.JobPage(p, v))
}

// jobOutcome is an action's answer: the text and kind of its message and
// the status.
type jobOutcome struct {
	status int
	flash  views.Flash
	job    fleet.JobRow
	ask    bool // the cancel question, with token
	token  string
}

// answerJob answers a job action where the user acted: the row (list) or
// the job's section (detail) with the message in it and a toast, for htmx;
// otherwise a flash and a 303 to the job's page (or, for the question, the
// page asking).
func (s *Server) answerJob(c echo.Context, o jobOutcome) error {
	from := c.FormValue("from")
	if from != "list" {
		from = "detail"
	}
	back := jobsBackURL(c.FormValue("back"))
	v := s.jobView(c, o.job, from, back)
	if o.ask {
		v.ConfirmCancel, v.Token, v.CanCancel = true, o.token, true
	}
	if o.flash.Text != "" {
		v.Outcome = &views.SectionOutcome{Section: "job", Kind: o.flash.Kind, Text: o.flash.Text}
	}
	p := s.page(c, "Job #"+strconv.FormatInt(o.job.ID, 10), views.NavJobs)
	if !isHTMX(c) {
		if !o.ask {
			s.addFlash(c, o.flash.Kind, o.flash.Text)
			return c.Redirect(http.StatusSeeOther, views.JobURL(o.job.ID, "")+"?back="+url.QueryEscape(back))
		}
		v.From = "detail"
		return render(c, o.status, views.JobPage(p, views.JobDetailView{Available: true, Job: v, BackURL: back}))
	}
	if o.flash.Text != "" {
		p.Flashes = append(p.Flashes, o.flash)
	}
	if from == "list" {
		poll := s.jobsPoll(c.Request().Context(), back)
		if o.ask {
			poll.Live = false
		}
		return render(c, o.status, views.JobRowFragment(p, v, poll))
	}
	d := views.JobDetailView{Available: true, Job: v, BackURL: back, Live: o.job.State == "running" && !o.ask}
	return render(c, o.status, views.JobDetailFragment(p, d))
}

// jobAction runs a queue call as an audited action (job_id, kind, the
// state before and the state after).
func (s *Server) jobAction(c echo.Context, action string, j fleet.JobRow, call func(ctx context.Context, id int64) (fleet.JobRow, error)) (fleet.JobRow, error) {
	after := j
	p := fleet.Params{"job_id": j.ID, "kind": j.Kind, "state": j.State}
	err := s.audit.Do(c.Request().Context(), s.actor(c), action, "", p, func(ctx context.Context, p fleet.Params) error {
		r, err := call(ctx, j.ID)
		if r.ID != 0 {
			after = r
			p["result"] = r.State
		}
		return err
	})
	var late *fleet.OutcomeNotRecordedError
	if errors.As(err, &late) {
		// Done (or refused) in the queue; only the audit row is late.
		return after, late.CallErr
	}
	return after, err
}

// jobError maps a failed queue call to an outcome, or returns the error
// for the error page (the audit log is down).
func jobError(j fleet.JobRow, err error) (jobOutcome, error) {
	switch {
	case errors.Is(err, fleet.ErrAuditUnavailable):
		return jobOutcome{}, err
	case errors.Is(err, fleet.ErrJobNotFound):
		return jobOutcome{}, echo.NewHTTPError(http.StatusNotFound, "No such job: it may have been removed after it finished.")
	case errors.Is(err, fleet.ErrJobNoRetry):
		return jobOutcome{status: http.StatusConflict, job: j, flash: views.Flash{Kind: views.FlashError, Text: "Job #" + strconv.FormatInt(j.ID, 10) + " is " + strings.ToLower(fleet.JobTabLabel(j.Tab)) + ", so it can't be retried now. Nothing was changed."}}, nil
	case errors.Is(err, fleet.ErrJobNoCancel):
		return jobOutcome{status: http.StatusConflict, job: j, flash: views.Flash{Kind: views.FlashError, Text: "Job #" + strconv.FormatInt(j.ID, 10) + " has finished (" + strings.ToLower(fleet.JobTabLabel(j.Tab)) + "), so there is nothing to cancel."}}, nil
	}
	return jobOutcome{status: http.StatusBadGateway, job: j, flash: views.Flash{Kind: views.FlashError, Text: "The job queue did not answer, so whether it changed is not known. Reload to see its state."}}, nil
}

// retryJob is POST /jobs/:job_id/retry.
func (s *Server) retryJob(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if !fleet.JobCanRetry(j.State) {
		o, _ := jobError(j, fleet.ErrJobNoRetry)
		return s.answerJob(c, o)
	}
	after, err := s.jobAction(c, fleet.ActJobRetry, j, s.jobs.Retry)
	if err != nil {
		o, err := jobError(after, err)
		if err != nil {
			return err
		}
		return s.answerJob(c, o)
	}
	return s.answerJob(c, jobOutcome{status: http.StatusOK, job: after,
		flash: views.Flash{Kind: views.FlashSuccess, Text: "Job #" + strconv.FormatInt(j.ID, 10) + " will run again now."}})
}

// cancelJob is POST /jobs/:job_id/cancel: without a token it asks (in
// place); the question's single-use token confirms.
func (s *Server) cancelJob(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if !fleet.JobCanCancel(j.State) {
		o, _ := jobError(j, fleet.ErrJobNoCancel)
		return s.answerJob(c, o)
	}
	token := c.FormValue("token")
	if !validConfirmToken(token) {
		return s.answerJob(c, jobOutcome{status: http.StatusOK, job: j, ask: true, token: newConfirmToken()})
	}
	ctx := c.Request().Context()
	if _, err := s.claimConfirm(c, fleet.ActJobCancel, token); errors.Is(err, db.ErrConfirmUsed) {
		return s.answerJob(c, jobOutcome{status: http.StatusConflict, job: j,
			flash: views.Flash{Kind: views.FlashInfo, Text: "This confirmation was already used, so nothing more was done. The job's state is shown."}})
	} else if err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	actor := s.actor(c)
	after, err := s.jobAction(c, fleet.ActJobCancel, j, func(ctx context.Context, id int64) (fleet.JobRow, error) {
		return s.jobs.Cancel(ctx, actor, id)
	})
	if errors.Is(err, fleet.ErrAuditUnavailable) {
		s.releaseConfirm(ctx, fleet.ActJobCancel, token) // nothing was done
		return err
	}
	s.finishConfirm(ctx, fleet.ActJobCancel, token, []string{strconv.FormatInt(j.ID, 10)})
	if err != nil {
		o, err := jobError(after, err)
		if err != nil {
			return err
		}
		return s.answerJob(c, o)
	}
	msg := "Job #" + strconv.FormatInt(j.ID, 10) + " is cancelled; it will not run."
	if after.Tab != fleet.JobTabCancelled {
		msg = "Job #" + strconv.FormatInt(j.ID, 10) + " is asked to stop; it ends as cancelled when its worker notices."
	}
	return s.answerJob(c, jobOutcome{status: http.StatusOK, job: after, flash: views.Flash{Kind: views.FlashSuccess, Text: msg}})
}

// exportJobs is GET /jobs.csv: every job of the filter (newest first, up
// to jobsCSVMaxRows), page by page.
func (s *Server) exportJobs(c echo.Context) error {
	if s.jobs == nil {
		return errNoJobQueue
	}
	f, errs := jobsFilter(c)
	if len(errs) > 0 {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "The filter is not valid; fix it on the jobs page first.")
	}
	f.After, f.Limit = "", 200
	ctx := c.Request().Context()
	rows, next, err := s.jobs.List(ctx, f)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, jobsReadFailed).SetInternal(err)
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="jobs-%s.csv"`, s.now().UTC().Format("20060102-150405")))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"id", "kind", "state", "queue", "attempt", "max_attempts", "created_at", "scheduled_at", "attempted_at", "finished_at", "args", "errors", "last_error_attempt", "last_error"})
	n := 0
	for {
		for _, j := range rows {
			if n >= jobsCSVMaxRows {
				break
			}
			_ = w.Write(jobCSVRecord(j))
			n++
		}
		w.Flush()
		if next == "" || n >= jobsCSVMaxRows {
			break
		}
		f.After = next
		if rows, next, err = s.jobs.List(ctx, f); err != nil {
			s.log.Error("jobs csv", "err", err.Error(), "request_id", requestID(c))
			_, _ = c.Response().Write([]byte("# export interrupted: the file is incomplete\n"))
			return nil
		}
	}
	if n >= jobsCSVMaxRows && next != "" {
		_, _ = c.Response().Write([]byte("# export stopped at " + strconv.Itoa(jobsCSVMaxRows) + " jobs: narrow the filter for the rest\n"))
	}
	return nil
}

func jobCSVRecord(j fleet.JobRow) []string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	lastAttempt, lastMsg := "", ""
	if e := j.LastError(); e != nil {
		lastAttempt, lastMsg = strconv.Itoa(e.Attempt), e.Message
	}
	rec := []string{strconv.FormatInt(j.ID, 10), j.Kind, j.State, j.Queue, strconv.Itoa(j.Attempt), strconv.Itoa(j.MaxAttempts),
		ts(j.CreatedAt), ts(j.ScheduledAt), ts(j.AttemptedAt), ts(j.FinishedAt), j.Args, strconv.Itoa(len(j.Errors)), lastAttempt, lastMsg}
	for i := range rec {
		rec[i] = csvSafe(rec[i])
	}
	return rec
}
