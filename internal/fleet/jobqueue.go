package fleet

import (
	"errors"
	"regexp"
	"time"
)

// The background job queue as the dashboard shows it to admins (issue 10).
// The queue itself is River (internal/jobs); these plain types are what the
// web layer sees of it, so web never imports River. The words live here
// once: the tabs, which states each holds, and which jobs may be retried or
// cancelled.

// Job tabs: the groups of job states the queue page shows.
const (
	JobTabQueued    = "queued"    // available, scheduled or pending
	JobTabRunning   = "running"   // being worked now
	JobTabRetryable = "retryable" // failed, will be tried again
	JobTabFailed    = "failed"    // discarded: out of attempts
	JobTabCancelled = "cancelled" // cancelled
	JobTabCompleted = "completed" // done
)

// JobTabs lists the tabs in the order the page shows them.
var JobTabs = []string{JobTabQueued, JobTabRunning, JobTabRetryable, JobTabFailed, JobTabCancelled, JobTabCompleted}

// jobTabLabels names each tab in words.
var jobTabLabels = map[string]string{
	JobTabQueued:    "Queued",
	JobTabRunning:   "Running",
	JobTabRetryable: "Retrying",
	JobTabFailed:    "Failed",
	JobTabCancelled: "Cancelled",
	JobTabCompleted: "Completed",
}

// JobTabLabel is a tab in words ("Failed" for failed); an unknown tab is
// returned as it is.
func JobTabLabel(tab string) string {
	if l, ok := jobTabLabels[tab]; ok {
		return l
	}
	return tab
}

// JobTabOf is the tab a queue state (River's job state name) belongs to,
// "" for a state this dashboard does not know.
func JobTabOf(state string) string {
	switch state {
	case "available", "scheduled", "pending":
		return JobTabQueued
	case "running":
		return JobTabRunning
	case "retryable":
		return JobTabRetryable
	case "discarded":
		return JobTabFailed
	case "cancelled":
		return JobTabCancelled
	case "completed":
		return JobTabCompleted
	}
	return ""
}

// JobTabStates are the queue states a tab lists (nil for an unknown tab).
func JobTabStates(tab string) []string {
	switch tab {
	case JobTabQueued:
		return []string{"available", "scheduled", "pending"}
	case JobTabRunning:
		return []string{"running"}
	case JobTabRetryable:
		return []string{"retryable"}
	case JobTabFailed:
		return []string{"discarded"}
	case JobTabCancelled:
		return []string{"cancelled"}
	case JobTabCompleted:
		return []string{"completed"}
	}
	return nil
}

// JobCanRetry reports whether a job in state may be retried from the
// dashboard: one that failed, was cancelled or waits for a later attempt
// (which then runs now). A running job is left alone, a completed one is
// never run twice (its work, a bulk operation say, is done), and an
// available one is about to run anyway.
func JobCanRetry(state string) bool {
	switch state {
	case "retryable", "discarded", "cancelled", "scheduled":
		return true
	}
	return false
}

// JobCanCancel reports whether a job in state may be cancelled: any job not
// finished yet (a running one is asked to stop).
func JobCanCancel(state string) bool {
	switch state {
	case "available", "scheduled", "pending", "retryable", "running":
		return true
	}
	return false
}

// Errors of the job queue (test with errors.Is).
var (
	ErrJobNotFound  = errors.New("fleet: no such job")
	ErrJobNoRetry   = errors.New("fleet: this job can't be retried in its state")
	ErrJobNoCancel  = errors.New("fleet: this job has finished, so it can't be cancelled")
	ErrJobBadCursor = errors.New("fleet: the page link of the job list is not valid")
	ErrJobBadFilter = errors.New("fleet: the job filter is not valid")
)

// validJobKind is what a job kind filter may be: what our kinds look like.
var validJobKind = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

// ValidJobKind reports whether k may be used as a job kind filter.
func ValidJobKind(k string) bool { return validJobKind.MatchString(k) }

// JobFilter selects jobs of the queue.
type JobFilter struct {
	// Tab is one of JobTabs, "" for every state.
	Tab string
	// Kind is one job kind exactly, "" for every kind.
	Kind string
	// Limit is the page size (a default when 0, capped by the queue).
	Limit int
	// After is the opaque cursor of the previous page's next link, "" for
	// the first page.
	After string
}

// JobRow is one job as the dashboard shows it: plain values, the arguments
// summarised (ids only, never a secret) and every error it had.
type JobRow struct {
	ID          int64
	Kind        string
	State       string // the queue's own state name (available, running, discarded…)
	Tab         string // JobTabOf(State)
	Queue       string
	Attempt     int
	MaxAttempts int
	CreatedAt   time.Time
	ScheduledAt time.Time
	AttemptedAt time.Time // zero when never attempted
	FinishedAt  time.Time // zero while not finished
	// Args is a short, sanitised summary of the job's arguments.
	Args string
	// Errors are the errors of its attempts, oldest first.
	Errors []JobError
	// CancelRequested is set when a cancel was asked for while it ran.
	CancelRequested bool
}

// LastError is the newest error of the job, nil when it had none.
func (j JobRow) LastError() *JobError {
	if len(j.Errors) == 0 {
		return nil
	}
	return &j.Errors[len(j.Errors)-1]
}

// JobError is the error of one attempt of a job.
type JobError struct {
	Attempt int
	At      time.Time
	Message string
	// Trace is the stack of a panic, "" otherwise.
	Trace string
}

// JobCounts are how many jobs each tab holds, by tab.
type JobCounts map[string]int
