package views

import (
	"net/url"
	"strconv"
	"time"
)

// NavJobs is the background jobs page in the top navigation (admins).
const NavJobs = "jobs"

// JobsView is the queue page (/jobs): state tabs with counts, the kind
// filter and one page of jobs.
type JobsView struct {
	// Available is false when this server runs no job queue.
	Available bool
	// Tab is the chosen tab key ("" all); Kind the kind filter.
	Tab, Kind string
	// Errors are filter errors by field ("state", "kind").
	Errors map[string]string
	Tabs   []JobTabView
	Rows   []JobRowView
	// NextURL is the next page ("" on the last); FirstURL the first page
	// when this is a later one.
	NextURL, FirstURL string
	CSVURL            string
	// ListURL is this list's own address (filters and cursor), for the
	// poll and the "keep it" link of a cancel confirmation.
	ListURL string
	// Live polls ListURL while a job on the page, or any job, is running.
	Live bool
	// LoadError says the queue could not be read.
	LoadError string
}

// JobTabView is one state tab.
type JobTabView struct {
	Key, Label, Href string
	Count            int
	Current          bool
}

// JobRowView is one job, in the list and on its own page.
type JobRowView struct {
	ID          int64
	Kind        string
	State       string // the queue's state name
	Tab         string
	TabLabel    string
	Queue       string
	Attempt     int
	MaxAttempts int
	CreatedAt   time.Time
	ScheduledAt time.Time
	AttemptedAt time.Time
	FinishedAt  time.Time
	Args        string
	Errors      []JobErrorView
	// CancelRequested: a cancel was asked for while it runs.
	CancelRequested bool
	// CanRetry / CanCancel offer the buttons (role and state allow).
	CanRetry, CanCancel bool
	// ConfirmCancel shows the cancel question with Token (single use).
	ConfirmCancel bool
	Token         string
	// From is where the row is shown: "list" or "detail" (posted back so
	// the answer fits where the user acted).
	From string
	// BackURL is the list the row was shown in (the "keep it" link).
	BackURL string
	// Outcome is the result of an action on it, shown in place.
	Outcome *SectionOutcome
}

// JobErrorView is the error of one attempt.
type JobErrorView struct {
	Attempt int
	At      time.Time
	Message string
	Trace   string
}

// LastError is the newest error, nil when none.
func (j JobRowView) LastError() *JobErrorView {
	if len(j.Errors) == 0 {
		return nil
	}
	return &j.Errors[len(j.Errors)-1]
}

// URL is the job's own page.
func (j JobRowView) URL() string { return JobURL(j.ID, "") }

// JobURL is /jobs/{id}[/action].
func JobURL(id int64, action string) string {
	u := "/jobs/" + strconv.FormatInt(id, 10)
	if action != "" {
		u += "/" + action
	}
	return u
}

// JobDetailView is one job's page.
type JobDetailView struct {
	Available bool
	Job       JobRowView
	BackURL   string
	// Live polls the page while the job runs.
	Live bool
}

// firstLineOf is the first line of s, for one-line error cells.
func firstLineOf(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
