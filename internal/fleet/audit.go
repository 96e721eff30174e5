// Package fleet holds the dashboard's rules that are neither HTTP nor SQL:
// the audited-action protocol, bulk operations, the sessions sync and usage
// aggregation.
package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Audited action names (INTERFACES.md, plus page.view for refused page loads).
const (
	ActMachineCreate      = "machine.create"
	ActMachineUpdate      = "machine.update"
	ActMachineStart       = "machine.start"
	ActMachineStop        = "machine.stop"
	ActMachineReset       = "machine.reset"
	ActMachinePermissions = "machine.permissions"
	ActMachinePerformance = "machine.performance"
	ActMachineAccessLink  = "machine.access_link"
	ActTaskActivate       = "task.activate"
	ActTaskDelete         = "task.delete"
	ActUserCreate         = "user.create"
	ActAccessLinkCaps     = "access_link.caps"
	ActUserUpdate         = "user.update"
	ActAuthLogin          = "auth.login"
	ActAuthLoginFailed    = "auth.login_failed"
	ActAuthLogout         = "auth.logout"
	ActScheduleCreate     = "schedule.create"
	ActScheduleUpdate     = "schedule.update"
	ActScheduleDelete     = "schedule.delete"
	ActScheduleRun        = "schedule.run"
	ActBulk               = "bulk.run"
	ActJobRetry           = "job.retry"
	ActJobCancel          = "job.cancel"
	ActBulkCancel         = "bulk.cancel"
	ActPageView           = "page.view"
	ActAlertCreate        = "alert.create"
	ActAlertUpdate        = "alert.update"
	ActAlertDelete        = "alert.delete"
	ActAlertTest          = "alert.test"
)

// actionLabels names each action in words, for people reading the audit
// log. Every action in Specs has one (a test checks).
var actionLabels = map[string]string{
	ActMachineCreate:      "Create machines",
	ActMachineUpdate:      "Change machine settings",
	ActMachineStart:       "Start machine",
	ActMachineStop:        "Stop machine",
	ActMachineReset:       "Reset machine",
	ActMachinePermissions: "Change permissions",
	ActMachinePerformance: "Change performance",
	ActMachineAccessLink:  "Issue access link",
	ActTaskActivate:       "Run task",
	ActTaskDelete:         "Delete task",
	ActUserCreate:         "Add user",
	ActAccessLinkCaps:     "Change access-link limits",
	ActUserUpdate:         "Change user",
	ActAuthLogin:          "Sign in",
	ActAuthLoginFailed:    "Failed sign-in",
	ActAuthLogout:         "Sign out",
	ActBulk:               "Bulk action",
	ActBulkCancel:         "Cancel bulk action",
	ActPageView:           "Open page",
	ActScheduleCreate:     "Create schedule",
	ActScheduleUpdate:     "Change schedule",
	ActScheduleDelete:     "Delete schedule",
	ActScheduleRun:        "Run schedule",
	ActJobRetry:           "Retry background job",
	ActJobCancel:          "Cancel background job",
	ActAlertCreate:        "Add alert destination",
	ActAlertUpdate:        "Change alert destination",
	ActAlertDelete:        "Delete alert destination",
	ActAlertTest:          "Send test alert",
}

// ActionLabel is an audit action in words ("Start machine" for
// machine.start); an action without a label is returned as it is.
func ActionLabel(action string) string {
	if l, ok := actionLabels[action]; ok {
		return l
	}
	return action
}

// ActionSpec declares, for one action, which params are recorded in the
// audit log and which are secret. A secret key is never stored, even when a
// caller passes it; a key that is neither recorded nor secret is dropped.
type ActionSpec struct {
	Record []string
	Secret []string
}

// Specs declares every audited action. A test checks that each action the
// app uses is declared and that no key is both recorded and secret.
var Specs = map[string]ActionSpec{
	ActMachineCreate:      {Record: []string{"plan_id", "quantity", "region", "software_ids", "base_image_id", "permissions", "created_ids", "bulk_op_id", "schedule_id", "schedule_run_id"}},
	ActMachineUpdate:      {Record: []string{"auto_stop_threshold", "usage_source", "before", "after", "skipped", "bulk_op_id", "schedule_id", "schedule_run_id"}},
	ActMachineStart:       {Record: []string{"skipped", "bulk_op_id", "schedule_id", "schedule_run_id"}},
	ActMachineStop:        {Record: []string{"gracefully", "skipped", "bulk_op_id", "schedule_id", "schedule_run_id"}},
	ActMachineReset:       {Record: []string{"remove_files", "machine_name", "bulk_op_id", "schedule_id", "schedule_run_id"}, Secret: []string{"confirm"}},
	ActMachinePermissions: {Record: []string{"before", "after", "changed", "skipped", "bulk_op_id", "schedule_id", "schedule_run_id"}},
	ActMachinePerformance: {Record: []string{"machine_type_id", "before", "bulk_op_id", "schedule_id", "schedule_run_id"}},
	ActMachineAccessLink:  {Record: []string{"expires_in", "expires_at", "note", "fingerprint", "max_expires_in", "bulk_op_id", "schedule_id", "schedule_run_id"}, Secret: []string{"connection_link"}},
	ActTaskActivate:       {Record: []string{"uid", "result", "task_id", "bulk_op_id", "schedule_id", "schedule_run_id"}},
	ActTaskDelete:         {Record: []string{"task_id", "uid", "bulk_op_id", "schedule_id", "schedule_run_id"}},
	ActAccessLinkCaps:     {Record: []string{"before", "after"}},
	// Single sign-on records the method, the groups that matched the role
	// map, and never a code, token, state, nonce or PKCE verifier.
	ActUserCreate:      {Record: []string{"email", "role", "method", "matched_groups"}, Secret: []string{"password", "password_confirm"}},
	ActUserUpdate:      {Record: []string{"user_id", "email", "role", "disabled", "before", "end_sessions", "session_id", "sessions_ended", "pinned", "linked", "matched_groups"}, Secret: []string{"password"}},
	ActAuthLogin:       {Record: []string{"email", "method", "matched_groups"}, Secret: []string{"password", "code", "id_token", "access_token", "state", "nonce", "code_verifier"}},
	ActAuthLoginFailed: {Record: []string{"email", "reason", "method", "provider_error", "groups", "retry_after_seconds", "email_attempts", "addr_attempts"}, Secret: []string{"password", "code", "id_token", "access_token", "state", "nonce", "code_verifier"}},
	ActAuthLogout:      {Record: []string{"reason", "method"}},
	ActBulk:            {Record: []string{"bulk_op_id", "bulk_action", "machine_ids", "count", "fields", "done", "skipped", "failed", "cancelled_by"}},
	ActBulkCancel:      {Record: []string{"bulk_op_id"}},
	ActPageView:        {Record: []string{"method", "route", "required_role"}},
	ActScheduleCreate:  {Record: []string{"schedule_id", "name", "schedule_action", "gracefully", "machine_ids", "saved_view_id", "days", "at", "timezone", "skip_dates", "skip_active_sessions", "enabled"}},
	ActScheduleUpdate:  {Record: []string{"schedule_id", "before", "after"}},
	ActScheduleDelete:  {Record: []string{"schedule_id", "name"}},
	ActScheduleRun:     {Record: []string{"schedule_id", "schedule_run_id", "due_at", "trigger", "machine_ids", "count", "done", "skipped", "failed"}},
	ActJobRetry:        {Record: []string{"job_id", "kind", "state", "result"}},
	ActJobCancel:       {Record: []string{"job_id", "kind", "state", "result"}},
	// Alert destinations: the URL's host only; the URL and secret are credentials.
	ActAlertCreate: {Record: []string{"alert_id", "name", "format", "events", "url_host", "secret_set"}, Secret: []string{"url", "secret"}},
	ActAlertUpdate: {Record: []string{"alert_id", "name", "format", "events", "url_host", "secret_set", "url_changed"}, Secret: []string{"url", "secret"}},
	ActAlertDelete: {Record: []string{"alert_id", "name", "format", "events", "url_host"}, Secret: []string{"url", "secret"}},
	ActAlertTest:   {Record: []string{"alert_id", "name", "format", "url_host", "delivery_id", "result"}, Secret: []string{"url", "secret"}},
}

// deniedKeys are recorded for every action: a refused attempt names the
// route it tried and the role it needed, whatever the action's own params.
var deniedKeys = []string{"method", "route", "required_role"}

// ErrAuditUnavailable means the started row could not be written, so the
// action was not performed.
var ErrAuditUnavailable = errors.New("fleet: the audit log cannot be written, so nothing was done")

// Actor is who does an action and from where.
type Actor struct {
	Email      string
	Role       string
	RemoteAddr string
	UserAgent  string
	RequestID  string
}

// Params are an action's fields, filtered through its ActionSpec.
type Params map[string]any

// OutcomeNotRecordedError is returned by Do when the action was performed
// (or failed) but its outcome row could not be written: the row is kept in
// the Auditor's spool and written when the database answers again. CallErr
// is the action's own result (nil: it succeeded).
type OutcomeNotRecordedError struct {
	Action, MachineID, Outcome string
	CallErr                    error
	Err                        error // why the row was not written
}

func (e *OutcomeNotRecordedError) Error() string {
	return fmt.Sprintf("fleet: %s on %q ended %s, but its outcome row could not be written to the audit log (kept, will be retried): %v",
		e.Action, e.MachineID, e.Outcome, e.Err)
}

// Unwrap gives the action's own error, so errors.Is and vagon.AsError see
// through to it.
func (e *OutcomeNotRecordedError) Unwrap() error { return e.CallErr }

// UnknownOutcomeHint says what an unknown outcome means and what to do,
// in the one set of words the audit page and the bulk runner show.
const UnknownOutcomeHint = "Vagon did not answer in time, so whether this happened is not known; check the machine before trying again."

// UnknownOutcomeError is returned by Do when the call was sent and Vagon
// gave no definite answer in time (vagon.ErrOutcomeUnknown), and reading the
// machine's state did not settle it. The row says outcome unknown.
type UnknownOutcomeError struct {
	Action string
	Err    error
}

func (e *UnknownOutcomeError) Error() string {
	return "fleet: " + e.Action + ": outcome unknown: " + e.Err.Error()
}

func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// Settler reads the state after a call whose outcome is unknown: happened
// is true when the state shows the action took effect; detail says what was
// read. It returns false when it cannot tell (or the action has no state to
// read).
type Settler func(ctx context.Context, action, machineID string) (happened bool, detail string)

// Bounds of what Do does after its call returned, on a context that
// outlives the caller's (a cancelled request, a job attempt cut off at its
// timeout): the read that settles an unknown outcome gets settleTimeout,
// and the whole tail (settle read and outcome row) TailTimeout; an outcome
// row that misses it is kept in the spool. So a bulk job attempt is over
// at most TailTimeout (plus the item's own write, BulkWriteTimeout) after
// its timeout: see config.MinJobsRescueAfter.
const (
	settleTimeout = 6 * time.Second
	TailTimeout   = 10 * time.Second
)

// Auditor writes audit rows around actions.
type Auditor struct {
	store  *db.Store
	log    *slog.Logger
	spool  *Spool
	settle Settler
}

// AuditorOptions configure an Auditor; zero fields take defaults.
type AuditorOptions struct {
	Log *slog.Logger
	// Spool keeps outcome rows that could not be written; an in-memory
	// spool when nil.
	Spool *Spool
	// Settle reads the state after an unknown outcome; none when nil.
	Settle Settler
}

// NewAuditor returns an Auditor writing to store, with an in-memory spool
// and no settling.
func NewAuditor(store *db.Store) *Auditor { return NewAuditorWith(store, AuditorOptions{}) }

// NewAuditorWith returns an Auditor writing to store.
func NewAuditorWith(store *db.Store, o AuditorOptions) *Auditor {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Spool == nil {
		o.Spool, _ = NewSpool(store, "", o.Log)
	}
	return &Auditor{store: store, log: o.Log, spool: o.Spool, settle: o.Settle}
}

// Spool returns the spool of rows waiting to be written.
func (a *Auditor) Spool() *Spool { return a.spool }

// Filter returns the params the spec records, dropping secret and undeclared
// keys. It panics on an undeclared action: that is a programming error a
// test catches, never user input.
func Filter(action string, p Params) json.RawMessage {
	spec, ok := Specs[action]
	if !ok {
		panic(fmt.Sprintf("fleet: audit action %q is not declared in Specs", action))
	}
	out := make(map[string]any, len(p))
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if slices.Contains(spec.Secret, k) || !(slices.Contains(spec.Record, k) || slices.Contains(deniedKeys, k)) {
			continue
		}
		out[k] = p[k]
	}
	b, err := json.Marshal(out)
	if err != nil {
		b = []byte(`{"_error":"params could not be encoded"}`)
	}
	return b
}

// Record writes one audit row (for outcomes that wrap no API call: denied,
// logins, user changes).
func (a *Auditor) Record(ctx context.Context, actor Actor, action, machineID, outcome string, p Params, code *int, message string) error {
	_, err := a.store.InsertAudit(ctx, a.event(actor, action, machineID, outcome, p, code, message))
	return err
}

// RecordTx writes one audit row inside tx: it exists exactly when tx
// commits (bulk.run started, in the transaction that stores the operation
// and enqueues its job).
func (a *Auditor) RecordTx(ctx context.Context, tx pgx.Tx, actor Actor, action, machineID, outcome string, p Params, code *int, message string) error {
	_, err := a.store.InsertAuditTx(ctx, tx, a.event(actor, action, machineID, outcome, p, code, message))
	return err
}

func (a *Auditor) event(actor Actor, action, machineID, outcome string, p Params, code *int, message string) *db.AuditEvent {
	return &db.AuditEvent{
		ActorEmail: actor.Email,
		ActorRole:  actor.Role,
		Action:     action,
		MachineID:  machineID,
		Params:     Filter(action, p),
		Outcome:    outcome,
		ErrorCode:  code,
		Message:    message,
		RemoteAddr: actor.RemoteAddr,
		UserAgent:  actor.UserAgent,
		RequestID:  actor.RequestID,
	}
}

// Do runs call as an audited action: it writes a started row first and
// refuses (ErrAuditUnavailable, call not made) when that fails; then it runs
// call and writes succeeded or failed with the API's client_code and message.
// call may add to the params (for example a result, or a link's fingerprint)
// through the Params it receives; those are recorded in the outcome row.
// The outcome row is written with a context that outlives a cancelled
// request, so an action that reached the API is never left unrecorded.
//
// A call sent without a definite answer (vagon.ErrOutcomeUnknown: a
// timeout) is settled by reading the state when the Auditor can (then it
// is succeeded, "settled by reading state"); otherwise the row says
// unknown and Do returns an *UnknownOutcomeError. When the outcome row
// cannot be written, it is logged at ERROR, kept in the spool (written
// later, with the time the outcome happened) and Do returns an
// *OutcomeNotRecordedError.
func (a *Auditor) Do(ctx context.Context, actor Actor, action, machineID string, p Params, call func(ctx context.Context, p Params) error) error {
	if p == nil {
		p = Params{}
	}
	if err := a.Record(ctx, actor, action, machineID, db.OutcomeStarted, p, nil, ""); err != nil {
		return fmt.Errorf("%w: %v", ErrAuditUnavailable, err)
	}
	if a.spool.Len() > 0 {
		// The database answers again: write what waits before this row.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), TailTimeout)
		_, _ = a.spool.Flush(fctx)
		cancel()
	}
	callErr := call(ctx, p)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), TailTimeout)
	defer cancel()
	outcome, msg := db.OutcomeSucceeded, "OK"
	var code *int
	if callErr != nil {
		outcome = db.OutcomeFailed
		msg = callErr.Error()
		if e, ok := vagon.AsError(callErr); ok {
			c := e.Code
			if c == 0 {
				c = e.HTTPStatus
			}
			code = &c
			msg = e.Message
		}
	}
	if vagon.IsOutcomeUnknown(callErr) {
		outcome, msg = db.OutcomeUnknown, "Vagon did not answer in time, so whether it happened is unknown: "+unknownCause(callErr)
		if a.settle != nil && machineID != "" {
			sctx, cancel := context.WithTimeout(wctx, settleTimeout)
			happened, detail := a.settle(sctx, action, machineID)
			cancel()
			if happened {
				outcome, msg, code, callErr = db.OutcomeSucceeded, "settled by reading state: "+detail, nil, nil
			} else if detail != "" {
				msg += "; " + detail
			}
		}
		if callErr != nil {
			callErr = &UnknownOutcomeError{Action: action, Err: callErr}
		}
	}
	ev := a.event(actor, action, machineID, outcome, p, code, msg)
	happened := time.Now()
	if _, err := a.store.InsertAudit(wctx, ev); err != nil {
		ev.At = happened // a row written late keeps the time of the outcome
		serr := a.spool.Add(*ev)
		a.log.Error("audit: the outcome row could not be written; it is kept and will be retried",
			"action", action, "machine", machineID, "outcome", outcome, "actor", actor.Email,
			"request_id", actor.RequestID, "err", err.Error(), "spool_err", errString(serr))
		return &OutcomeNotRecordedError{Action: action, MachineID: machineID, Outcome: outcome, CallErr: callErr, Err: err}
	}
	return callErr
}

// unknownCause says in a few words why no answer came.
func unknownCause(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the request timed out"
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	}
	if e, ok := vagon.AsError(err); ok {
		return fmt.Sprintf("a gateway answered HTTP %d", e.HTTPStatus)
	}
	return "the connection broke after the request was sent"
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// OutsideMatchWindow is how far apart in time a Vagon entry and the audit
// row of the dashboard action that caused it may be, for the timeline and
// the access-link ledger alike.
const OutsideMatchWindow = 2 * time.Minute

// ActivityAuditActions maps the Vagon activity log's action types to the
// audit action the dashboard records when it causes them: the one rule for
// marking a Vagon entry "outside the dashboard" (the activity timeline
// passes it to db.TimelineFilter.Matches). Action types not here (file
// transfers, logins) are nothing the dashboard does.
var ActivityAuditActions = map[string]string{
	vagon.ActionMachineStarted:        ActMachineStart,
	vagon.ActionMachineStopped:        ActMachineStop,
	vagon.ActionMachineReset:          ActMachineReset,
	vagon.ActionExternalAccessCreated: ActMachineAccessLink,
	vagon.ActionMachineCreated:        ActMachineCreate,
	vagon.ActionMachineTypeChanged:    ActMachinePerformance,
}

// VagonActivityActions are the action types of Vagon's activity log, for
// the timeline's action filter.
var VagonActivityActions = []string{
	vagon.ActionMachineStarted, vagon.ActionMachineStopped, vagon.ActionMachineReset,
	vagon.ActionMachineTypeChanged, vagon.ActionExternalAccessCreated, vagon.ActionMachineCreated,
	vagon.ActionFileDownloaded, vagon.ActionFileUploaded, vagon.ActionFileDeleted,
	vagon.ActionFolderCreated, vagon.ActionUserLogin,
}

var vagonActivityLabels = map[string]string{
	vagon.ActionMachineStarted:        "Machine started",
	vagon.ActionMachineStopped:        "Machine stopped",
	vagon.ActionMachineReset:          "Machine reset",
	vagon.ActionMachineTypeChanged:    "Machine type changed",
	vagon.ActionExternalAccessCreated: "Access link created",
	vagon.ActionMachineCreated:        "Machine created",
	vagon.ActionFileDownloaded:        "File downloaded",
	vagon.ActionFileUploaded:          "File uploaded",
	vagon.ActionFileDeleted:           "File deleted",
	vagon.ActionFolderCreated:         "Folder created",
	vagon.ActionUserLogin:             "Signed in to Vagon",
}

// VagonActivityLabel is a Vagon action type in words; an unknown type is
// shown as it came, underscores as spaces.
func VagonActivityLabel(actionType string) string {
	if l, ok := vagonActivityLabels[actionType]; ok {
		return l
	}
	return strings.ReplaceAll(actionType, "_", " ")
}

// SeesAllActivity is the timeline's access rule: operators and admins read
// everyone's entries (both sources); other roles only their own.
func SeesAllActivity(role string) bool { return RoleAtLeast(role, RoleOperator) }
