package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// The machine actions: one method each, used by the web handlers, the bulk
// runner and schedules alike. Each takes who acts, the machine's id and its
// input; checks the action's state rule; runs the API call through the
// audit protocol (Auditor.Do) with the action's one params shape; drops the
// cached lists the machine is in; and returns an ActionResult saying what
// happened, in words.
//
// The machine: an input's Machine is the machine as the caller just read it
// (a page's load, a bulk run's snapshot). When it is nil the method reads it
// itself, inside the audited call, after the started row: so when the audit
// log cannot be written not even a read reaches Vagon.

// Origin says what an action was part of; its non-zero fields are recorded
// in the audit params as bulk_op_id, schedule_id and schedule_run_id.
type Origin struct {
	BulkOpID      int64
	ScheduleID    int64
	ScheduleRunID int64
}

func (o Origin) record(p Params) {
	if o.BulkOpID != 0 {
		p["bulk_op_id"] = o.BulkOpID
	}
	if o.ScheduleID != 0 {
		p["schedule_id"] = o.ScheduleID
	}
	if o.ScheduleRunID != 0 {
		p["schedule_run_id"] = o.ScheduleRunID
	}
}

// ActionStatus is how an action ended.
type ActionStatus string

// The ends of an action.
const (
	// ActionDone: the call was made and Vagon accepted it.
	ActionDone ActionStatus = "done"
	// ActionSkipped: no call was made: the machine is already in the target
	// state, or its state does not allow the action (Refused).
	ActionSkipped ActionStatus = "skipped"
	// ActionFailed: Vagon refused the call, could not be reached, or the
	// audit log could not be written (then nothing was sent).
	ActionFailed ActionStatus = "failed"
	// ActionUnknown: the call was sent and no definite answer came in time,
	// and reading the state did not settle it; recorded unknown. Never send
	// it again blindly.
	ActionUnknown ActionStatus = "unknown"
)

// ActionResult is what an action method did.
type ActionResult struct {
	Action    string // the audit action (ActMachineStart, ...)
	MachineID string
	Status    ActionStatus
	// Message says what happened in words: what was done, why it was
	// skipped, ExplainAPIError's words for a failure, or
	// UnknownOutcomeText for an unknown outcome.
	Message string
	// Refused (skipped only): the machine's state does not allow the
	// action; false when it is already in the target state.
	Refused bool
	// ClientCode is the API's client_code of a failure (its HTTP status
	// when it had none); 0 otherwise.
	ClientCode int
	// AuditLate: the outcome row could not be written yet; it is kept and
	// written later (the error is an *OutcomeNotRecordedError).
	AuditLate bool
	// Machine is the machine as read before the call; nil when it could
	// not be read (or the action has none, as create).
	Machine *vagon.Machine

	// Link is the access link issued (IssueAccessLink). It is a credential:
	// show it once, never store or log it.
	Link *vagon.AccessLink
	// Task is the API's answer to ActivateTask and DeleteTask.
	Task *vagon.TaskResult
	// Created are the machines Create made.
	Created []vagon.Machine
}

// ErrInvalidMachineID says an id does not follow ValidMachineID; nothing
// was sent or recorded.
var ErrInvalidMachineID = errors.New("fleet: not a machine id")

// ErrInvalidInput wraps an input an action method refuses before anything
// is recorded or sent; its text after the prefix is fit to show.
var ErrInvalidInput = errors.New("fleet: invalid input")

// StateError is a refusal by an action's state rule found after the
// started row was written (the machine was read inside the audited call):
// the row says failed with Reason.
type StateError struct{ Reason string }

func (e *StateError) Error() string { return e.Reason }

// rule says why the action would not be sent to m: reason "" means go on;
// refused says the state does not allow it (otherwise it is already done).
type rule func(m *vagon.Machine) (reason string, refused bool)

// act is the one path of the machine actions.
//
// prep, when set, adds the params that come from the machine's state: before
// the started row when the caller gave the machine (so that row carries
// them too), or after the read inside the audited call.
func (s *Service) act(ctx context.Context, actor Actor, action, id string, m *vagon.Machine, nameHint string, via Origin, p Params, r rule, prep func(m *vagon.Machine, p Params), call func(ctx context.Context, m *vagon.Machine) error) (*ActionResult, error) {
	res := &ActionResult{Action: action, MachineID: id, Machine: m}
	if !ValidMachineID(id) {
		res.Status, res.Message = ActionFailed, "There is no machine with this id."
		return res, ErrInvalidMachineID
	}
	if m != nil && string(m.ID) != id {
		return nil, fmt.Errorf("%w: machine %s given for id %s", ErrInvalidInput, m.ID, id)
	}
	if p == nil {
		p = Params{}
	}
	via.record(p)
	if m != nil && r != nil {
		if reason, refused := r(m); reason != "" {
			res.Status, res.Message, res.Refused = ActionSkipped, reason, refused
			return res, nil
		}
	}
	if m != nil && prep != nil {
		prep(m, p)
	}
	skipped := ""
	called := false
	err := s.audit.Do(ctx, actor, action, id, p, func(ctx context.Context, p Params) error {
		if m == nil {
			found, err := s.GetMachine(ctx, id, nameHint)
			if err != nil {
				return err
			}
			m, res.Machine = found, found
			if r != nil {
				if reason, refused := r(m); reason != "" {
					if refused {
						return &StateError{Reason: reason}
					}
					skipped = reason
					p["skipped"] = reason
					return nil
				}
			}
			if prep != nil {
				prep(m, p)
			}
		}
		called = true
		return call(ctx, m)
	})
	if called {
		s.Invalidate(vagon.ID(id))
	}
	if skipped != "" && (err == nil || isNotRecordedOK(err)) {
		res.Status, res.Message, res.AuditLate = ActionSkipped, skipped, err != nil
		return res, err
	}
	classify(res, err)
	var se *StateError
	if errors.As(err, &se) && !res.AuditLate {
		// Refused by the state rule: the row says so; nothing went wrong.
		return res, nil
	}
	return res, err
}

func isNotRecordedOK(err error) bool {
	var nr *OutcomeNotRecordedError
	return errors.As(err, &nr) && nr.CallErr == nil
}

// classify fills a result's status and words from Do's error.
func classify(res *ActionResult, err error) {
	var nr *OutcomeNotRecordedError
	if errors.As(err, &nr) {
		res.AuditLate = true
		err = nr.CallErr
	}
	var se *StateError
	var unknown *UnknownOutcomeError
	switch {
	case err == nil:
		res.Status = ActionDone
	case errors.As(err, &se):
		res.Status, res.Refused, res.Message = ActionSkipped, true, se.Reason
	case errors.Is(err, ErrAuditUnavailable):
		res.Status, res.Message = ActionFailed, AuditUnavailableText
	case errors.As(err, &unknown):
		res.Status, res.Message = ActionUnknown, UnknownOutcomeText(unknown.Action)
	default:
		res.Status, res.Message, res.ClientCode = ActionFailed, ExplainAPIError(err), ClientCode(err)
	}
}

// done sets the words of a done result.
func done(res *ActionResult, msg string) {
	if res != nil && res.Status == ActionDone {
		res.Message = msg
	}
}

// ReachedBy says whether a machine in status shows that action happened:
// for start (ActMachineStart, or the bulk and schedule action "start") a
// status start leads to — creating (first start), turning_on, warming_up
// (first run) or ready; for stop ("stop", ActMachineStop) turning_off,
// graceful_stopping or off (vagon-api/NOTES.md). It is the one rule by
// which an interrupted or unanswered start or stop is settled: the audit
// log's unknown outcomes (Service.settleByState), bulk's resume and a
// schedule run's resume. Other actions have no such state: false.
//
// The policy for a call left in flight by a crash (or cut off): read the
// machine's state. Reached: the call went through (done). Otherwise the
// call is not sent blindly again. Only bulk makes one more call, and only
// when the state clearly shows the call did not happen (NotReachedBy: the
// machine is still in the state the action starts from) and the call in
// flight belongs to an attempt that is fenced off and over (db.BeginBulkItem's
// runner token; an attempt's life ends TailTimeout after its job timeout,
// before the queue's rescuer may start another); anything else is left
// unknown (bulk: interrupted) for a person to check. Schedules never call
// again: an item they cannot settle is unknown.
func ReachedBy(action string, status vagon.Status) bool {
	switch strings.TrimPrefix(action, "machine.") {
	case BulkStart:
		return slices.Contains([]vagon.Status{vagon.StatusCreating, vagon.StatusTurningOn, vagon.StatusWarmingUp, vagon.StatusReady}, status)
	case BulkStop:
		return slices.Contains([]vagon.Status{vagon.StatusTurningOff, vagon.StatusGracefulStopping, vagon.StatusOff}, status)
	}
	return false
}

// NotReachedBy says whether a machine in status clearly shows that action
// did not happen: it is still in the one state the action starts from (off
// for start, ready for stop). A status that is neither this nor ReachedBy
// (resizing_disk, an unknown one) settles nothing.
func NotReachedBy(action string, status vagon.Status) bool {
	switch strings.TrimPrefix(action, "machine.") {
	case BulkStart:
		return status == vagon.StatusOff
	case BulkStop:
		return status == vagon.StatusReady
	}
	return false
}

// StartSkipReason is the state rule of start: why starting m would do
// nothing ("" when it would start it).
func StartSkipReason(m *vagon.Machine) string {
	switch st := m.Attributes.FriendlyStatus; st {
	case vagon.StatusReady:
		return "Already running."
	case vagon.StatusTurningOn, vagon.StatusCreating, vagon.StatusWarmingUp:
		return "Already starting (" + string(st) + ")."
	}
	return ""
}

// StopSkipReason is the state rule of stop: why stopping m would do
// nothing ("" when it is running); refused when it is neither running nor
// off or stopping.
func StopSkipReason(m *vagon.Machine) (reason string, refused bool) {
	switch st := m.Attributes.FriendlyStatus; st {
	case vagon.StatusReady:
		return "", false
	case vagon.StatusOff:
		return "Already off.", false
	case vagon.StatusTurningOff, vagon.StatusGracefulStopping:
		return "Already stopping (" + string(st) + ").", false
	default:
		return "Not running (" + string(st) + "), so there is nothing to stop.", true
	}
}

// OffRuleReason is the state rule of reset, performance and tasks: they
// need the machine off. It says why m can't have what done now ("" when it
// is off).
func OffRuleReason(m *vagon.Machine, what string) string {
	st := m.Attributes.FriendlyStatus
	switch st {
	case vagon.StatusOff:
		return ""
	case vagon.StatusReady:
		return "Stop the machine to " + what + "."
	}
	return "The machine must be off to " + what + "; it is " + strings.ReplaceAll(string(st), "_", " ") + " now. Nothing was sent to Vagon."
}

func offRule(what string) rule {
	return func(m *vagon.Machine) (string, bool) { r := OffRuleReason(m, what); return r, r != "" }
}

// StartInput is the input of Start.
type StartInput struct {
	Via Origin
	// Machine as the caller read it; nil: read inside the audited call.
	Machine *vagon.Machine
	// NameHint helps find the machine in one call when Machine is nil.
	NameHint string
}

// Start starts a machine (machine.start). Skipped when it is already
// running or starting. Params: the Origin keys.
func (s *Service) Start(ctx context.Context, actor Actor, id string, in StartInput) (*ActionResult, error) {
	r := func(m *vagon.Machine) (string, bool) { return StartSkipReason(m), false }
	res, err := s.act(ctx, actor, ActMachineStart, id, in.Machine, in.NameHint, in.Via, nil, r, nil, func(ctx context.Context, _ *vagon.Machine) error {
		return s.api.StartMachine(ctx, id)
	})
	done(res, "Started.")
	return res, err
}

// StopInput is the input of Stop.
type StopInput struct {
	Via        Origin
	Machine    *vagon.Machine
	NameHint   string
	Gracefully bool // let the machine save files, logs and recordings first
}

// Stop stops a machine (machine.stop). Skipped when it is already off or
// stopping; refused when it is not running. Params: gracefully and the
// Origin keys.
func (s *Service) Stop(ctx context.Context, actor Actor, id string, in StopInput) (*ActionResult, error) {
	g := in.Gracefully
	res, err := s.act(ctx, actor, ActMachineStop, id, in.Machine, in.NameHint, in.Via, Params{"gracefully": g}, StopSkipReason, nil, func(ctx context.Context, _ *vagon.Machine) error {
		return s.api.StopMachine(ctx, id, g)
	})
	if g {
		done(res, "Stopping gracefully.")
	} else {
		done(res, "Stopping immediately.")
	}
	return res, err
}

// ResetInput is the input of Reset.
type ResetInput struct {
	Via         Origin
	Machine     *vagon.Machine
	RemoveFiles bool // also wipe the machine's Vagon Files
}

// Reset resets a machine (machine.reset); it must be off. Params:
// remove_files, machine_name and the Origin keys.
func (s *Service) Reset(ctx context.Context, actor Actor, id string, in ResetInput) (*ActionResult, error) {
	p := Params{"remove_files": in.RemoveFiles}
	prep := func(m *vagon.Machine, p Params) { p["machine_name"] = m.Attributes.Name }
	res, err := s.act(ctx, actor, ActMachineReset, id, in.Machine, "", in.Via, p, offRule("reset it"), prep, func(ctx context.Context, _ *vagon.Machine) error {
		return s.api.ResetMachine(ctx, id, in.RemoveFiles)
	})
	if in.RemoveFiles {
		done(res, "Reset, and its Vagon Files deleted.")
	} else {
		done(res, "Reset.")
	}
	return res, err
}

// PermissionsInput is the input of SetPermissions.
type PermissionsInput struct {
	Via     Origin
	Machine *vagon.Machine
	// Set are the permissions to set, by API key; keys left out stay as
	// they are. Only the keys whose value changes are sent.
	Set map[string]bool
}

// ChangedPermissions returns the keys of set whose value differs from cur.
func ChangedPermissions(set map[string]bool, cur vagon.Permissions) map[string]bool {
	now := cur.AsMap()
	out := map[string]bool{}
	for k, v := range set {
		if now[k] != v {
			out[k] = v
		}
	}
	return out
}

// SetPermissions changes a machine's permissions (machine.permissions),
// sending only the keys that change; skipped when none does.
//
// Params, one shape from the page and bulk alike: before and after hold
// all seven permissions (the machine's state before the call, and with the
// change applied), changed lists the keys sent, plus the Origin keys.
func (s *Service) SetPermissions(ctx context.Context, actor Actor, id string, in PermissionsInput) (*ActionResult, error) {
	if len(in.Set) == 0 {
		return nil, fmt.Errorf("%w: choose at least one permission to change", ErrInvalidInput)
	}
	for k := range in.Set {
		if !slices.Contains(vagon.PermissionKeys, k) {
			return nil, fmt.Errorf("%w: unknown permission %q", ErrInvalidInput, k)
		}
	}
	set := maps.Clone(in.Set)
	r := func(m *vagon.Machine) (string, bool) {
		if len(ChangedPermissions(set, m.Attributes.Permissions)) == 0 {
			return "Permissions already as chosen.", false
		}
		return "", false
	}
	var sent map[string]bool
	prep := func(m *vagon.Machine, p Params) {
		before := m.Attributes.Permissions.AsMap()
		after := maps.Clone(before)
		maps.Copy(after, set)
		sent = ChangedPermissions(set, m.Attributes.Permissions)
		p["before"], p["after"], p["changed"] = before, after, slices.Sorted(maps.Keys(sent))
	}
	res, err := s.act(ctx, actor, ActMachinePermissions, id, in.Machine, "", in.Via, nil, r, prep, func(ctx context.Context, _ *vagon.Machine) error {
		var u vagon.PermissionsUpdate
		for k, v := range sent {
			u.Set(k, v)
		}
		return s.api.UpdatePermissions(ctx, id, u)
	})
	if res != nil && res.Status == ActionDone {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(sent)) {
			parts = append(parts, PermissionLabel(k)+" "+onOff(sent[k]))
		}
		res.Message = "Changed " + strings.Join(parts, ", ") + "."
	}
	return res, err
}

// SettingsInput is the input of UpdateSettings: nil fields stay as they are.
type SettingsInput struct {
	Via               Origin
	Machine           *vagon.Machine
	AutoStopThreshold *int    // seconds, one of vagon.AutoStopThresholds
	UsageSource       *string // vagon.UsageSourceMachine or vagon.UsageSourceTeamBalance
}

// UpdateSettings changes a machine's auto-stop threshold and usage source
// (machine.update), sending only the fields that change; skipped when none
// does.
//
// Params: before and after hold both settings (before the call, and with
// the change applied); auto_stop_threshold and usage_source the values
// sent; plus the Origin keys.
func (s *Service) UpdateSettings(ctx context.Context, actor Actor, id string, in SettingsInput) (*ActionResult, error) {
	if in.AutoStopThreshold == nil && in.UsageSource == nil {
		return nil, fmt.Errorf("%w: choose a setting to change", ErrInvalidInput)
	}
	if in.AutoStopThreshold != nil && !slices.Contains(vagon.AutoStopThresholds, *in.AutoStopThreshold) {
		return nil, fmt.Errorf("%w: choose an auto-stop value: off, 15 min, 1 h, 3 h or 6 h", ErrInvalidInput)
	}
	if in.UsageSource != nil && *in.UsageSource != vagon.UsageSourceMachine && *in.UsageSource != vagon.UsageSourceTeamBalance {
		return nil, fmt.Errorf("%w: choose machine only or team balance", ErrInvalidInput)
	}
	request := func(a vagon.MachineAttributes) *vagon.UpdateMachineRequest {
		var req vagon.UpdateMachineRequest
		if in.AutoStopThreshold != nil && *in.AutoStopThreshold != a.AutoStopThreshold {
			n := *in.AutoStopThreshold
			req.AutoStopThreshold = &n
		}
		if in.UsageSource != nil && *in.UsageSource != a.UsageSource {
			src := *in.UsageSource
			req.UsageSource = &src
		}
		return &req
	}
	r := func(m *vagon.Machine) (string, bool) {
		if req := request(m.Attributes); req.AutoStopThreshold == nil && req.UsageSource == nil {
			if in.UsageSource == nil {
				return "Auto-stop already " + AutoStopLabel(m.Attributes.AutoStopThreshold) + ".", false
			}
			return "Settings already as chosen.", false
		}
		return "", false
	}
	var req *vagon.UpdateMachineRequest
	prep := func(m *vagon.Machine, p Params) {
		a := m.Attributes
		req = request(a)
		before := map[string]any{"auto_stop_threshold": a.AutoStopThreshold, "usage_source": a.UsageSource}
		after := maps.Clone(before)
		if req.AutoStopThreshold != nil {
			p["auto_stop_threshold"], after["auto_stop_threshold"] = *req.AutoStopThreshold, *req.AutoStopThreshold
		}
		if req.UsageSource != nil {
			p["usage_source"], after["usage_source"] = *req.UsageSource, *req.UsageSource
		}
		p["before"], p["after"] = before, after
	}
	res, err := s.act(ctx, actor, ActMachineUpdate, id, in.Machine, "", in.Via, nil, r, prep, func(ctx context.Context, _ *vagon.Machine) error {
		_, err := s.api.UpdateMachine(ctx, id, req)
		return err
	})
	if res != nil && res.Status == ActionDone {
		var parts []string
		if req.AutoStopThreshold != nil {
			parts = append(parts, "auto-stop set to "+AutoStopLabel(*req.AutoStopThreshold))
		}
		if req.UsageSource != nil {
			parts = append(parts, "usage source set to "+*req.UsageSource)
		}
		res.Message = strings.ToUpper(parts[0][:1]) + strings.Join(parts, ", ")[1:] + "."
	}
	return res, err
}

// PerformanceInput is the input of SetPerformance.
type PerformanceInput struct {
	Via           Origin
	Machine       *vagon.Machine
	MachineTypeID string // an id from the machine's available machine types
}

// SetPerformance changes a machine's machine type (machine.performance);
// it must be off. Params: machine_type_id, before (the type's name before)
// and the Origin keys.
func (s *Service) SetPerformance(ctx context.Context, actor Actor, id string, in PerformanceInput) (*ActionResult, error) {
	if !ValidID(in.MachineTypeID) {
		return nil, fmt.Errorf("%w: choose one of the machine types in the list", ErrInvalidInput)
	}
	res, err := s.act(ctx, actor, ActMachinePerformance, id, in.Machine, "", in.Via, Params{"machine_type_id": in.MachineTypeID}, offRule("change its performance"), func(m *vagon.Machine, p Params) { p["before"] = m.Attributes.MachineType }, func(ctx context.Context, _ *vagon.Machine) error {
		return s.api.SetMachineType(ctx, id, in.MachineTypeID)
	})
	done(res, "Performance changed.")
	return res, err
}

// AccessLinkInput is the input of IssueAccessLink.
type AccessLinkInput struct {
	Via      Origin
	Machine  *vagon.Machine
	NameHint string
	// ExpiresIn is how long the link is valid, in minutes (at least 1).
	ExpiresIn int
	Note      string
}

// LinkFingerprint is what the audit keeps of an access link: the first 12
// hex digits of its SHA-256 (the link itself is a credential).
func LinkFingerprint(link string) string {
	sum := sha256.Sum256([]byte(link))
	return hex.EncodeToString(sum[:])[:12]
}

// IssueAccessLink issues an access link (machine.access_link); the result's
// Link holds it. Params: expires_in, note, expires_at, fingerprint (never
// the link) and the Origin keys.
func (s *Service) IssueAccessLink(ctx context.Context, actor Actor, id string, in AccessLinkInput) (*ActionResult, error) {
	if in.ExpiresIn < 1 {
		return nil, fmt.Errorf("%w: an access link is valid for at least a minute", ErrInvalidInput)
	}
	if ValidMachineID(id) {
		// The role's cap (AccessLinkCaps): over it, nothing is sent.
		if err := s.checkLinkCap(ctx, actor, id, in); err != nil {
			res := &ActionResult{Action: ActMachineAccessLink, MachineID: id, Machine: in.Machine, Status: ActionFailed, Message: err.Error()}
			if _, ok := errors.AsType[*LinkCapError](err); !ok {
				// The caps or the refusal's row could not be read or
				// written: as with the audit log down, nothing is sent.
				res.Message, err = AuditUnavailableText, fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
			}
			return res, err
		}
	}
	var link *vagon.AccessLink
	p := Params{"expires_in": in.ExpiresIn, "note": in.Note}
	res, err := s.act(ctx, actor, ActMachineAccessLink, id, in.Machine, in.NameHint, in.Via, p, nil, nil, func(ctx context.Context, _ *vagon.Machine) error {
		l, err := s.api.CreateAccessLink(ctx, id, in.ExpiresIn)
		if err != nil {
			return err
		}
		link = l
		p["fingerprint"] = LinkFingerprint(l.Attributes.ConnectionLink)
		p["expires_at"] = l.Attributes.ExpiresAt.UTC()
		return nil
	})
	if res != nil {
		res.Link = link
	}
	if err == nil && link != nil {
		s.emit(ctx, AlertAccessLinkIssued, accessLinkIssued(actor, id, res, p))
	}
	done(res, "Access link issued.")
	return res, err
}

// ActivateTaskInput is the input of ActivateTask.
type ActivateTaskInput struct {
	Via     Origin
	Machine *vagon.Machine
	UID     string // the task's name (vagon.ValidateTaskUID)
}

// ActivateTask creates or reactivates a task (task.activate); the machine
// must be off. Params: uid, result, task_id and the Origin keys.
func (s *Service) ActivateTask(ctx context.Context, actor Actor, id string, in ActivateTaskInput) (*ActionResult, error) {
	if err := vagon.ValidateTaskUID(in.UID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	var tr *vagon.TaskResult
	p := Params{"uid": in.UID}
	res, err := s.act(ctx, actor, ActTaskActivate, id, in.Machine, "", in.Via, p, offRule("change its tasks"), nil, func(ctx context.Context, _ *vagon.Machine) error {
		r, err := s.api.ActivateTask(ctx, id, in.UID)
		if err != nil {
			return err
		}
		tr = r
		p["result"], p["task_id"] = r.Result, string(r.Task.ID)
		return nil
	})
	if res != nil {
		res.Task = tr
		if tr != nil {
			done(res, TaskResultMessage(tr.Result, in.UID))
		}
	}
	return res, err
}

// TaskResultMessage words the result of a task activation.
func TaskResultMessage(result, uid string) string {
	switch result {
	case vagon.TaskCreated:
		return "Created the task " + uid + " and made it active."
	case vagon.TaskReactivated:
		return "Reactivated the task " + uid + "."
	case vagon.TaskAlreadyActive:
		return "The task " + uid + " was already active; nothing changed."
	}
	return "Task " + uid + ": " + result + "."
}

// DeleteTaskInput is the input of DeleteTask.
type DeleteTaskInput struct {
	Via     Origin
	Machine *vagon.Machine
	TaskID  string
	// UID is the task's name as listed (the default Outputs task is
	// refused without a call).
	UID string
}

// DeleteTask deletes a task (task.delete); the machine must be off and the
// task not the default Outputs task. Params: task_id, uid and the Origin
// keys.
func (s *Service) DeleteTask(ctx context.Context, actor Actor, id string, in DeleteTaskInput) (*ActionResult, error) {
	if !ValidID(in.TaskID) {
		return nil, fmt.Errorf("%w: this machine has no such task", ErrInvalidInput)
	}
	if in.UID == vagon.OutputsTaskUID {
		return &ActionResult{Action: ActTaskDelete, MachineID: id, Machine: in.Machine, Status: ActionSkipped, Refused: true,
			Message: "The default Outputs task can't be deleted. Nothing was sent to Vagon."}, nil
	}
	var tr *vagon.TaskResult
	res, err := s.act(ctx, actor, ActTaskDelete, id, in.Machine, "", in.Via, Params{"task_id": in.TaskID, "uid": in.UID}, offRule("change its tasks"), nil, func(ctx context.Context, _ *vagon.Machine) error {
		r, err := s.api.DeleteTask(ctx, id, in.TaskID)
		tr = r
		return err
	})
	if res != nil {
		res.Task = tr
	}
	done(res, "Deleted the task "+in.UID+".")
	return res, err
}

// CreateInput is the input of Create.
type CreateInput struct {
	Via     Origin
	Request *vagon.CreateMachinesRequest
}

// Create creates machines (machine.create); the result's Created lists
// them. Params: plan_id, quantity, region, software_ids, base_image_id,
// permissions, created_ids and the Origin keys.
func (s *Service) Create(ctx context.Context, actor Actor, in CreateInput) (*ActionResult, error) {
	req := in.Request
	if req == nil || req.PlanID < 1 || req.Quantity < 1 {
		return nil, fmt.Errorf("%w: a plan and a quantity are needed", ErrInvalidInput)
	}
	p := Params{"plan_id": req.PlanID, "quantity": req.Quantity, "region": req.Region,
		"software_ids": req.SoftwareIDs, "base_image_id": req.BaseImageID, "permissions": req.Permissions}
	in.Via.record(p)
	res := &ActionResult{Action: ActMachineCreate}
	var out *vagon.CreatedMachines
	called := false
	err := s.audit.Do(ctx, actor, ActMachineCreate, "", p, func(ctx context.Context, p Params) error {
		called = true
		var err error
		out, err = s.api.CreateMachines(ctx, req)
		if err == nil {
			ids := make([]string, 0, len(out.Machines))
			for _, m := range out.Machines {
				ids = append(ids, string(m.ID))
			}
			p["created_ids"] = ids
		}
		return err
	})
	classify(res, err)
	if out != nil {
		res.Created = out.Machines
	}
	if called {
		ids := make([]vagon.ID, 0, len(res.Created))
		for _, m := range res.Created {
			ids = append(ids, m.ID)
		}
		s.Invalidate(ids...)
	}
	done(res, fmt.Sprintf("Created %d machines.", len(res.Created)))
	return res, err
}

func onOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

// ItemOutcome is how one machine of a bulk operation or a schedule run
// ended, for its progress row: the action's status, its words, and the
// API's client_code of a failure or a skip it caused.
type ItemOutcome struct {
	Status  ActionStatus
	Message string
	Code    *int
}

// OutcomeOf turns what an action method returned into the machine's
// outcome, the one rule bulk operations and schedules share: a stop Vagon
// refuses as not running was skipped (nothing to stop); a done action whose
// audit row is late says so; an unknown one says not to retry blindly.
func OutcomeOf(res *ActionResult, err error) ItemOutcome {
	if res == nil {
		return ItemOutcome{Status: ActionFailed, Message: ExplainAPIError(err)}
	}
	var code *int
	if res.ClientCode != 0 {
		c := res.ClientCode
		code = &c
	}
	switch res.Status {
	case ActionDone:
		msg := res.Message
		if res.AuditLate {
			msg += " (Its record in the audit log failed and will be retried.)"
		}
		return ItemOutcome{Status: ActionDone, Message: msg}
	case ActionSkipped:
		return ItemOutcome{Status: ActionSkipped, Message: res.Message}
	case ActionUnknown:
		return ItemOutcome{Status: ActionUnknown, Message: UnknownOutcomeHint}
	}
	if res.Action == ActMachineStop && res.ClientCode == vagon.CodeNotRunning {
		return ItemOutcome{Status: ActionSkipped, Message: "Not running, so there was nothing to stop.", Code: code}
	}
	return ItemOutcome{Status: ActionFailed, Message: res.Message, Code: code}
}
