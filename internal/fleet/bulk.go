package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Bulk actions (the `action` field of POST /bulk).
const (
	BulkStart       = "start"
	BulkStop        = "stop"
	BulkPermissions = "permissions"
	BulkAutoStop    = "auto_stop"
)

// BulkActions lists the bulk actions in display order.
var BulkActions = []string{BulkStart, BulkStop, BulkPermissions, BulkAutoStop}

// BulkActionLabel names a bulk action ("Stop", "Set permissions"); an
// unknown action is returned as it is.
func BulkActionLabel(action string) string {
	switch action {
	case BulkStart:
		return "Start"
	case BulkStop:
		return "Stop"
	case BulkPermissions:
		return "Set permissions"
	case BulkAutoStop:
		return "Set auto-stop"
	}
	return action
}

// Defaults and limits of bulk operations.
const (
	DefaultBulkConcurrency = 4
	// DefaultBulkMaxOps is how many operations one process works on at once
	// (the bulk queue's worker count in internal/jobs).
	DefaultBulkMaxOps = 4
	// MaxBulkMachines is the most machines one operation may target.
	MaxBulkMachines = 500
)

// Errors of Submit, Cancel and Resolve. Their text is fit to show a person.
var (
	ErrBulkNoQueue      = errors.New("bulk actions are not available on this server: no job queue")
	ErrBulkCancelDenied = errors.New("only the person who started a bulk action, or an admin, can cancel it")
	ErrBulkFinished     = errors.New("this bulk action has already finished or been cancelled")
	ErrBulkAction       = errors.New("choose an action: start, stop, permissions or auto-stop")
	ErrBulkNoTarget     = errors.New("select at least one machine")
	ErrBulkTooMany      = fmt.Errorf("a bulk action may target at most %d machines; narrow the filter", MaxBulkMachines)
)

// BulkParams are an operation's action fields.
type BulkParams struct {
	// Gracefully (stop): let the machine save files before it stops.
	Gracefully *bool `json:"gracefully,omitempty"`
	// Permissions (permissions): only the chosen keys, with their new value.
	Permissions map[string]bool `json:"permissions,omitempty"`
	// AutoStopThreshold (auto_stop): seconds, one of vagon.AutoStopThresholds.
	AutoStopThreshold *int `json:"auto_stop_threshold,omitempty"`
}

// Validate checks the fields the action needs and drops the others.
func (p BulkParams) Validate(action string) (BulkParams, error) {
	switch action {
	case BulkStart:
		return BulkParams{}, nil
	case BulkStop:
		g := p.Gracefully == nil || *p.Gracefully
		return BulkParams{Gracefully: &g}, nil
	case BulkPermissions:
		if len(p.Permissions) == 0 {
			return BulkParams{}, errors.New("choose at least one permission to change")
		}
		for k := range p.Permissions {
			if !slices.Contains(vagon.PermissionKeys, k) {
				return BulkParams{}, fmt.Errorf("unknown permission %q", k)
			}
		}
		return BulkParams{Permissions: maps.Clone(p.Permissions)}, nil
	case BulkAutoStop:
		if p.AutoStopThreshold == nil || !slices.Contains(vagon.AutoStopThresholds, *p.AutoStopThreshold) {
			return BulkParams{}, errors.New("choose an auto-stop value: off, 15 min, 1 h, 3 h or 6 h")
		}
		n := *p.AutoStopThreshold
		return BulkParams{AutoStopThreshold: &n}, nil
	}
	return BulkParams{}, ErrBulkAction
}

// graceful reads Gracefully with its default (true).
func (p BulkParams) graceful() bool { return p.Gracefully == nil || *p.Gracefully }

// BulkOptions configure a Bulk. Zero fields take the defaults.
type BulkOptions struct {
	// Concurrency is how many machines of one operation are worked on at
	// once (DefaultBulkConcurrency).
	Concurrency int
	Log         *slog.Logger
}

// BulkQueue puts a stored operation on the job queue. internal/jobs
// implements it with River; fleet does not know River.
type BulkQueue interface {
	// EnqueueBulkTx inserts the job that runs operation id, in tx: the
	// transaction that stores the operation, so that neither exists
	// without the other.
	EnqueueBulkTx(ctx context.Context, tx pgx.Tx, id int64) error
}

// Bulk stores bulk operations in Postgres and works on them, one machine
// call audited at a time. Running them is the job queue's business
// (internal/jobs): Submit enqueues a job in the transaction that stores the
// operation, and the job's worker calls RunSlice until the operation is
// finished.
//
// Resume: a slice works on the items still pending, and on items left
// running by an earlier slice that died or was cut off, which are settled
// by reading the machine's state (ReachedBy's policy): reached, the item is
// done (the call went through); clearly not reached, the call is made once
// more; otherwise, or when a restart interrupts that retry too, the item
// is marked interrupted and not tried again, so every operation ends.
type Bulk struct {
	svc   *Service
	store *db.Store
	api   *vagon.Client
	audit *Auditor
	o     BulkOptions
	queue BulkQueue
}

// NewBulk builds the bulk engine over svc (its API client, store and cache).
// It can read and resolve operations at once; Submit needs a queue (SetQueue).
func NewBulk(svc *Service, o BulkOptions) *Bulk {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultBulkConcurrency
	}
	o.Concurrency = min(o.Concurrency, 32)
	if o.Log == nil {
		o.Log = svc.log
	}
	return &Bulk{svc: svc, store: svc.Store(), api: svc.API(), audit: svc.Auditor(), o: o}
}

// SetQueue gives the engine the job queue Submit enqueues on. cmd/dashboard
// calls it once, before serving, with the queue that also runs the jobs.
func (b *Bulk) SetQueue(q BulkQueue) { b.queue = q }

// Submit stores an operation on ids with its job on the queue. The parent
// audit row (bulk.run started) is written in the same transaction as the
// operation and its job, so no worker can begin a machine before that row
// exists; when it cannot be written nothing is stored or enqueued and
// Submit returns ErrAuditUnavailable.
func (b *Bulk) Submit(ctx context.Context, actor Actor, action string, ids []string, p BulkParams) (int64, error) {
	p, err := p.Validate(action)
	if err != nil {
		return 0, err
	}
	ids, err = CleanMachineIDs(ids)
	if err != nil {
		return 0, err
	}
	if b.queue == nil {
		return 0, ErrBulkNoQueue
	}
	params, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("fleet: bulk params: %w", err)
	}
	op := &db.BulkOp{
		Action: action, Params: params, ActorEmail: actor.Email, ActorRole: actor.Role,
		RemoteAddr: actor.RemoteAddr, UserAgent: actor.UserAgent, RequestID: actor.RequestID,
		Concurrency: b.o.Concurrency,
	}
	var auditErr error
	id, err := b.store.CreateBulkOp(ctx, op, ids, nil, func(ctx context.Context, tx pgx.Tx, id int64) error {
		ap := Params{"bulk_op_id": id, "bulk_action": action, "machine_ids": ids, "count": len(ids), "fields": p}
		if err := b.audit.RecordTx(ctx, tx, actor, ActBulk, "", db.OutcomeStarted, ap, nil, ""); err != nil {
			auditErr = err
			return err
		}
		return b.queue.EnqueueBulkTx(ctx, tx, id)
	})
	if auditErr != nil {
		return 0, fmt.Errorf("%w: %v", ErrAuditUnavailable, auditErr)
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}

// MayCancelBulk is the rule of who may cancel an operation: the person who
// started it, or an admin (isAdmin, the caller's role check).
func MayCancelBulk(op *db.BulkOp, actor Actor, isAdmin bool) bool {
	return isAdmin || strings.EqualFold(op.ActorEmail, actor.Email)
}

// Cancel cancels an unfinished operation for actor (isAdmin: actor is an
// admin): its pending machines are skipped ("Cancelled by ..."), machines
// whose call is in flight finish, and the operation's job closes it (at
// once when it is running; when it next runs otherwise). It is audited as
// bulk.cancel. ErrBulkCancelDenied when actor may not; ErrBulkFinished when
// there is nothing left to cancel; db.ErrNotFound when there is no such
// operation.
func (b *Bulk) Cancel(ctx context.Context, actor Actor, id int64, isAdmin bool) error {
	op, err := b.store.BulkOp(ctx, id)
	if err != nil {
		return err
	}
	if !MayCancelBulk(op, actor, isAdmin) {
		return ErrBulkCancelDenied
	}
	if op.Finished() || op.Cancelled() {
		return ErrBulkFinished
	}
	var took bool
	err = b.audit.Do(ctx, actor, ActBulkCancel, "", Params{"bulk_op_id": id}, func(ctx context.Context, _ Params) error {
		var err error
		took, err = b.store.CancelBulkOp(ctx, id, actor.Email)
		if err == nil && !took {
			return ErrBulkFinished
		}
		return err
	})
	if errors.Is(err, ErrBulkFinished) {
		return ErrBulkFinished
	}
	return err
}

// CleanMachineIDs trims, checks and de-duplicates machine ids, keeping
// their order: each must be a positive decimal number.
func CleanMachineIDs(ids []string) ([]string, error) {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if !ValidMachineID(id) {
			return nil, fmt.Errorf("%q is not a machine id", truncateRunes(id, 24))
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, ErrBulkNoTarget
	}
	if len(out) > MaxBulkMachines {
		return nil, ErrBulkTooMany
	}
	return out, nil
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// BulkCounts counts an operation's items by state.
type BulkCounts struct {
	Total, Pending, Running, Done, Skipped, Failed, Interrupted int
}

// Finished is how many items reached a final state.
func (c BulkCounts) Finished() int { return c.Done + c.Skipped + c.Failed + c.Interrupted }

func countItems(items []db.BulkItem) BulkCounts {
	c := BulkCounts{Total: len(items)}
	for _, it := range items {
		switch it.State {
		case db.ItemPending:
			c.Pending++
		case db.ItemRunning:
			c.Running++
		case db.ItemDone:
			c.Done++
		case db.ItemSkipped:
			c.Skipped++
		case db.ItemFailed:
			c.Failed++
		case db.ItemInterrupted:
			c.Interrupted++
		}
	}
	return c
}

// BulkStatus is an operation with its items, for the progress page.
type BulkStatus struct {
	Op     db.BulkOp
	Params BulkParams
	Items  []db.BulkItem
	Counts BulkCounts
}

// Get returns an operation and its items; db.ErrNotFound when there is none.
func (b *Bulk) Get(ctx context.Context, id int64) (*BulkStatus, error) {
	op, err := b.store.BulkOp(ctx, id)
	if err != nil {
		return nil, err
	}
	items, err := b.store.BulkItems(ctx, id)
	if err != nil {
		return nil, err
	}
	st := &BulkStatus{Op: *op, Items: items, Counts: countItems(items)}
	_ = json.Unmarshal(op.Params, &st.Params)
	return st, nil
}

// Resolve lists the machines a bulk action would target, live from the
// API: with ids nil, every machine matching the filter opts (all pages);
// otherwise the machines with those ids, in that order, and the ids not
// found. More than MaxBulkMachines matches is ErrBulkTooMany.
func (b *Bulk) Resolve(ctx context.Context, opts vagon.ListMachinesOptions, ids []string) (machines []vagon.Machine, missing []string, err error) {
	opts.Page, opts.PerPage = 1, 100
	if ids == nil {
		for m, err := range b.api.Machines(ctx, &opts) {
			if err != nil {
				return nil, nil, err
			}
			machines = append(machines, m)
			if len(machines) > MaxBulkMachines {
				return nil, nil, ErrBulkTooMany
			}
		}
		return machines, nil, nil
	}
	found, err := b.snapshot(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		if m, ok := found[id]; ok {
			machines = append(machines, m)
		} else {
			missing = append(missing, id)
		}
	}
	return machines, missing, nil
}

// snapshot reads the current state of the machines with ids, walking the
// fleet's pages until it has seen all of them.
func (b *Bulk) snapshot(ctx context.Context, ids []string) (map[string]vagon.Machine, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := make(map[string]vagon.Machine, len(ids))
	for m, err := range b.api.Machines(ctx, &vagon.ListMachinesOptions{Page: 1, PerPage: 100}) {
		if err != nil {
			return nil, err
		}
		if id := string(m.ID); want[id] {
			out[id] = m
			if len(out) == len(want) {
				break
			}
		}
	}
	return out, nil
}

// SkipReason says why action would leave m as it is ("" when it would
// change it): the machine is already in the target state.
func SkipReason(action string, p BulkParams, m vagon.Machine) string {
	a := m.Attributes
	switch action {
	case BulkStart:
		return StartSkipReason(&m)
	case BulkStop:
		reason, _ := StopSkipReason(&m)
		return reason
	case BulkPermissions:
		if len(ChangedPermissions(p.Permissions, a.Permissions)) == 0 {
			return "Permissions already as chosen."
		}
	case BulkAutoStop:
		if p.AutoStopThreshold != nil && a.AutoStopThreshold == *p.AutoStopThreshold {
			return "Auto-stop already " + AutoStopLabel(a.AutoStopThreshold) + "."
		}
	}
	return ""
}

// AutoStopLabel names an auto-stop threshold in seconds ("off", "15 min", "1 h").
func AutoStopLabel(sec int) string {
	switch {
	case sec <= 0:
		return "off"
	case sec%3600 == 0:
		return strconv.Itoa(sec/3600) + " h"
	case sec%60 == 0:
		return strconv.Itoa(sec/60) + " min"
	}
	return strconv.Itoa(sec) + " s"
}

// BulkWriteTimeout bounds an item's write after its call, on a context
// that outlives a cut-off attempt (see TailTimeout).
const BulkWriteTimeout = 3 * time.Second

// RunSlice works on operation id until it is finished, ctx is done, the
// deadline passes or stop is closed (the process is shutting down),
// whichever comes first; it reports whether the operation is finished.
// After the deadline or stop no new machine is begun and the calls in
// flight finish: the job queue's worker calls it again (a fresh job
// attempt, here or on another replica) for the rest, so that no attempt
// runs long enough to look stuck to the queue's rescuer. When ctx is done,
// calls in flight are cut off (their audit rows settled by reading state
// within TailTimeout) and their items left running, as a crash would leave
// them: the next slice settles them (ReachedBy's policy).
//
// Each slice takes a new runner token first (db.StartBulkOp): a slice that
// a newer one took over (a rescued attempt that was still alive) can begin
// no machine and record no result. A cancelled operation begins no new
// machine and is closed once its calls in flight have ended.
func (b *Bulk) RunSlice(ctx context.Context, id int64, deadline time.Time, stop <-chan struct{}) (finished bool, err error) {
	op, err := b.store.BulkOp(ctx, id)
	if err != nil {
		return false, err
	}
	if op.Finished() {
		return true, nil
	}
	var p BulkParams
	if err := json.Unmarshal(op.Params, &p); err != nil {
		return false, fmt.Errorf("fleet: bulk params of %d: %w", id, err)
	}
	runner, err := b.store.StartBulkOp(ctx, id)
	if errors.Is(err, db.ErrBulkFenced) {
		return true, nil // finished since the read above
	}
	if err != nil {
		return false, err
	}
	items, err := b.store.BulkItems(ctx, id)
	if err != nil {
		return false, err
	}
	var todo []db.BulkItem
	var todoIDs []string
	for _, it := range items {
		if it.State == db.ItemPending || it.State == db.ItemRunning {
			todo = append(todo, it)
			todoIDs = append(todoIDs, it.MachineID)
		}
	}
	actor := Actor{Email: op.ActorEmail, Role: op.ActorRole, RemoteAddr: op.RemoteAddr, UserAgent: op.UserAgent,
		RequestID: "bulk-" + strconv.FormatInt(id, 10)}

	if len(todo) > 0 {
		// One walk of the fleet tells which machines are already in the
		// target state. Without it (API down), calls go out unchecked: the
		// API refuses start and stop in the wrong state anyway.
		snap, serr := b.snapshot(ctx, todoIDs)
		if ctx.Err() != nil {
			return false, nil
		}
		if serr != nil {
			b.o.Log.Warn("bulk: could not read machine states; calling without checks", "op", id, "err", serr.Error())
			snap = nil
		}
		work := make(chan db.BulkItem)
		var wg sync.WaitGroup
		for range max(1, min(op.Concurrency, len(todo))) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for it := range work {
					b.runItem(ctx, op, runner, p, actor, it, snap)
				}
			}()
		}
		stopped := false // the deadline passed, the process is stopping, or the operation was cancelled
	feed:
		for _, it := range todo {
			select {
			case <-stop:
				stopped = true
				break feed
			default:
			}
			if time.Now().After(deadline) {
				stopped = true
				break
			}
			if it.State == db.ItemPending {
				// Cancel skips pending items; one in flight finishes.
				if c, err := b.store.BulkOpCancelled(ctx, id); err != nil || c {
					stopped = true
					break
				}
			}
			select {
			case work <- it:
			case <-stop:
				stopped = true
				break feed
			case <-ctx.Done():
				break feed
			}
		}
		close(work)
		wg.Wait()
		if ctx.Err() != nil {
			return false, nil
		}
		if stopped {
			if c, err := b.store.BulkOpCancelled(ctx, id); err != nil || !c {
				return false, err // the rest in the next slice
			}
		}
	}
	if err := b.finish(ctx, op, runner, actor); err != nil {
		if errors.Is(err, db.ErrBulkFenced) {
			return false, nil // a newer slice owns the operation
		}
		return false, err
	}
	return true, nil
}

// finish closes the operation and writes the parent audit row's outcome.
func (b *Bulk) finish(ctx context.Context, op *db.BulkOp, runner int64, actor Actor) error {
	op, err := b.store.BulkOp(ctx, op.ID) // it may have been cancelled since
	if err != nil {
		return err
	}
	items, err := b.store.BulkItems(ctx, op.ID)
	if err != nil {
		return err
	}
	c := countItems(items)
	if c.Pending > 0 && op.Cancelled() {
		// Cancelled between the slice's listing and now: none was begun.
		for _, it := range items {
			if it.State == db.ItemPending {
				if err := b.store.SetBulkItemResult(ctx, op.ID, it.MachineID, runner, db.ItemSkipped, "Cancelled by "+*op.CancelledBy+".", nil); err != nil {
					return err
				}
				c.Pending--
				c.Skipped++
			}
		}
	}
	if c.Pending+c.Running > 0 {
		return fmt.Errorf("fleet: bulk %d: %d machines not finished", op.ID, c.Pending+c.Running)
	}
	status, outcome := db.BulkSucceeded, db.OutcomeSucceeded
	if c.Failed+c.Interrupted > 0 {
		status, outcome = db.BulkFailed, db.OutcomeFailed
	}
	// The outcome row comes first, so a finished operation is always
	// audited (a crash between the two writes repeats the row on resume).
	msg := fmt.Sprintf("%d done, %d skipped, %d failed", c.Done, c.Skipped, c.Failed+c.Interrupted)
	ap := Params{"bulk_op_id": op.ID, "bulk_action": op.Action, "count": c.Total,
		"done": c.Done, "skipped": c.Skipped, "failed": c.Failed + c.Interrupted}
	if op.Cancelled() {
		ap["cancelled_by"] = *op.CancelledBy
		msg += ", cancelled by " + *op.CancelledBy
	}
	if err := b.audit.Record(ctx, actor, ActBulk, "", outcome, ap, nil, msg); err != nil {
		return fmt.Errorf("fleet: bulk %d: record outcome: %w", op.ID, err)
	}
	finished, err := b.store.FinishBulkOp(ctx, op.ID, status)
	if err != nil {
		return err
	}
	if finished && status == db.BulkFailed {
		b.svc.emit(ctx, AlertBulkFailed, BulkFailedData{BulkOpID: op.ID, Action: op.Action, Actor: actor.Email, Message: msg})
	}
	return nil
}

// resumeSettle decides an item that an earlier slice left running (its
// call was in flight when that slice died or was cut off), by ReachedBy's
// policy: reached, the call went through (done); clearly not reached, one
// more call (retry true) unless one was already retried; anything else is
// left interrupted for a person to check. The earlier slice is fenced off
// (its runner token is older than ours) and over, so its call is not in
// flight any more.
func resumeSettle(action string, p BulkParams, it db.BulkItem, m vagon.Machine, known bool) (state, msg string, retry bool) {
	if !known {
		return db.ItemInterrupted, "Interrupted by a restart, and the machine's state could not be read to check it. " + UnknownOutcomeHint, false
	}
	st := m.Attributes.FriendlyStatus
	var reached, notReached bool
	switch action {
	case BulkStart, BulkStop:
		reached, notReached = ReachedBy(action, st), NotReachedBy(action, st)
	default: // settings: the machine shows them whatever its state
		reached = SkipReason(action, p, m) != ""
		notReached = !reached
	}
	switch {
	case reached:
		return db.ItemDone, "Settled by reading state after a restart: the call went through (the machine is " + string(st) + ").", false
	case !notReached:
		return db.ItemInterrupted, "Interrupted by a restart, and the machine is " + string(st) + ", so whether the call went through is not known; it was not sent again. Check the machine.", false
	case it.Attempts >= 2:
		return db.ItemInterrupted, "Interrupted by a restart twice, so not tried again. Check the machine.", false
	}
	return "", "", true
}

// runItem works on one machine under runner. snap is the machines' state
// read at the start of the slice (nil when it could not be read).
func (b *Bulk) runItem(ctx context.Context, op *db.BulkOp, runner int64, p BulkParams, actor Actor, it db.BulkItem, snap map[string]vagon.Machine) {
	if ctx.Err() != nil {
		return
	}
	set := func(state, msg string, code *int) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), BulkWriteTimeout)
		defer cancel()
		if err := b.store.SetBulkItemResult(wctx, op.ID, it.MachineID, runner, state, msg, code); err != nil {
			b.o.Log.Error("bulk: record item", "op", op.ID, "machine", it.MachineID, "err", err.Error())
		}
	}
	resumed := it.State == db.ItemRunning
	m, known := snap[it.MachineID]
	if snap != nil && !known {
		code := vagon.CodeNotFound
		set(db.ItemFailed, "Not found in the fleet: it may have been deleted.", &code)
		return
	}
	if known && m.Attributes.Name != it.MachineName {
		_ = b.store.SetBulkItemName(ctx, op.ID, it.MachineID, m.Attributes.Name)
	}
	if resumed {
		if state, msg, retry := resumeSettle(op.Action, p, it, m, known); !retry {
			set(state, msg, nil)
			if state == db.ItemDone {
				b.svc.Invalidate(m.ID)
			}
			return
		}
	} else if known {
		if reason := SkipReason(op.Action, p, m); reason != "" {
			set(db.ItemSkipped, reason, nil)
			return
		}
	}
	if _, err := b.store.BeginBulkItem(ctx, op.ID, it.MachineID, runner, it.State, it.Attempts); err != nil {
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, db.ErrBulkFenced):
			// A newer slice took the operation over, or the item changed
			// under us: not ours to call.
			b.o.Log.Warn("bulk: item not claimed; another runner owns it", "op", op.ID, "machine", it.MachineID)
		default:
			set(db.ItemFailed, "Could not record the start of the call, so it was not made.", nil)
		}
		return
	}
	res, err := b.call(ctx, op, p, actor, it.MachineID, m, known)
	if ctx.Err() != nil {
		// The attempt is cut off: leave the item running, as a crash
		// would; the next slice settles it by reading state.
		return
	}
	o := OutcomeOf(res, err)
	state := map[ActionStatus]string{ActionDone: db.ItemDone, ActionSkipped: db.ItemSkipped,
		// The call may have happened: never sent again blindly, and the
		// audit row says unknown.
		ActionUnknown: db.ItemInterrupted, ActionFailed: db.ItemFailed}[o.Status]
	set(state, o.Message, o.Code)
}

// call makes one machine's call through the fleet's action methods (the
// one audited path the pages use too), recording the operation's id.
func (b *Bulk) call(ctx context.Context, op *db.BulkOp, p BulkParams, actor Actor, id string, m vagon.Machine, known bool) (*ActionResult, error) {
	via := Origin{BulkOpID: op.ID}
	var seen *vagon.Machine
	if known {
		seen = &m
	}
	switch op.Action {
	case BulkStart:
		return b.svc.Start(ctx, actor, id, StartInput{Via: via, Machine: seen})
	case BulkStop:
		return b.svc.Stop(ctx, actor, id, StopInput{Via: via, Machine: seen, Gracefully: p.graceful()})
	case BulkPermissions:
		return b.svc.SetPermissions(ctx, actor, id, PermissionsInput{Via: via, Machine: seen, Set: p.Permissions})
	case BulkAutoStop:
		n := *p.AutoStopThreshold
		return b.svc.UpdateSettings(ctx, actor, id, SettingsInput{Via: via, Machine: seen, AutoStopThreshold: &n})
	}
	return nil, ErrBulkAction
}
