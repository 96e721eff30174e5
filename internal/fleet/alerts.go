package fleet

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Alerts (issue 11): admins configure webhook destinations and the events
// each receives; Emit stores one delivery per subscribed destination with
// its job, and the job (internal/jobs, alerts.go) calls Deliver until the
// destination answers 2xx. A destination's URL and secret are credentials:
// shown masked (MaskWebhookURL), never logged, audited (URL host only) or
// put in a delivery's error (DeliveryErrorText).

// Alert events a destination may receive.
const (
	AlertAccessLinkIssued   = "access_link.issued"
	AlertAccessLinkOutside  = "access_link.outside"
	AlertUsageLow           = "usage.low"
	AlertMachineIdleRunning = "machine.idle_running"
	AlertScheduleFailed     = "schedule.failed"
	AlertBulkFailed         = "bulk.failed"
	// AlertTest is the event of "send test"; no destination subscribes to it.
	AlertTest = "alert.test"
)

// AlertEvents lists the events in the order the page shows them.
var AlertEvents = []string{AlertAccessLinkIssued, AlertAccessLinkOutside, AlertUsageLow, AlertMachineIdleRunning, AlertScheduleFailed, AlertBulkFailed}

var alertEventLabels = map[string]string{
	AlertAccessLinkIssued:   "Access link issued",
	AlertAccessLinkOutside:  "Access link used outside the dashboard",
	AlertUsageLow:           "Usage low (a machine or the organization below a threshold)",
	AlertMachineIdleRunning: "Machine running with no session",
	AlertScheduleFailed:     "Schedule run failed",
	AlertBulkFailed:         "Bulk action failed",
	AlertTest:               "Test",
}

// AlertEventLabel is an event in words.
func AlertEventLabel(ev string) string {
	if l, ok := alertEventLabels[ev]; ok {
		return l
	}
	return ev
}

// Webhook formats.
const (
	WebhookJSON  = "json"
	WebhookSlack = "slack"
)

// Payloads of the events (the "data" of a delivery). None carries a
// credential: an access link is named by its fingerprint only.

// AccessLinkIssuedData is access_link.issued.
type AccessLinkIssuedData struct {
	MachineID   string    `json:"machine_id"`
	MachineName string    `json:"machine_name,omitempty"`
	IssuedBy    string    `json:"issued_by"`
	ExpiresAt   time.Time `json:"expires_at"`
	Fingerprint string    `json:"fingerprint"`
}

// AlertText implements AlertTexter.
func (d AccessLinkIssuedData) AlertText() string {
	return fmt.Sprintf("%s issued an access link to machine %s (expires %s, fingerprint %s).",
		d.IssuedBy, nameOr(d.MachineName, d.MachineID), d.ExpiresAt.UTC().Format(time.RFC3339), d.Fingerprint)
}

// AccessLinkOutsideData is access_link.outside: a link issued outside the
// dashboard, found in Vagon's imported activity log (the ledger's rule).
type AccessLinkOutsideData struct {
	MachineID   string    `json:"machine_id"`
	MachineName string    `json:"machine_name,omitempty"`
	By          string    `json:"by,omitempty"`
	At          time.Time `json:"at"`
}

// AlertText implements AlertTexter.
func (d AccessLinkOutsideData) AlertText() string {
	return fmt.Sprintf("An access link to machine %s was issued outside the dashboard.", nameOr(d.MachineName, d.MachineID))
}

// UsageLowData is usage.low: a machine (MachineID set) or the organization
// (MachineID empty) has less usage left than the threshold.
type UsageLowData struct {
	MachineID        string `json:"machine_id,omitempty"`
	MachineName      string `json:"machine_name,omitempty"`
	RemainingMinutes int    `json:"remaining_minutes"`
	ThresholdMinutes int    `json:"threshold_minutes"`
}

// AlertText implements AlertTexter.
func (d UsageLowData) AlertText() string {
	who := "The organization"
	if d.MachineID != "" {
		who = "Machine " + nameOr(d.MachineName, d.MachineID)
	}
	return fmt.Sprintf("%s has %d minutes of usage left (below %d).", who, d.RemainingMinutes, d.ThresholdMinutes)
}

// MachineIdleRunningData is machine.idle_running: running with no session
// for IdleMinutes.
type MachineIdleRunningData struct {
	MachineID   string `json:"machine_id"`
	MachineName string `json:"machine_name,omitempty"`
	IdleMinutes int    `json:"idle_minutes"`
}

// AlertText implements AlertTexter.
func (d MachineIdleRunningData) AlertText() string {
	return fmt.Sprintf("Machine %s has been running with no session for %d minutes.", nameOr(d.MachineName, d.MachineID), d.IdleMinutes)
}

// ScheduleFailedData is schedule.failed.
type ScheduleFailedData struct {
	ScheduleID int64  `json:"schedule_id"`
	RunID      int64  `json:"schedule_run_id"`
	Message    string `json:"message"`
}

// AlertText implements AlertTexter.
func (d ScheduleFailedData) AlertText() string {
	return fmt.Sprintf("Schedule %d: run %d failed: %s", d.ScheduleID, d.RunID, d.Message)
}

// BulkFailedData is bulk.failed.
type BulkFailedData struct {
	BulkOpID int64  `json:"bulk_op_id"`
	Action   string `json:"bulk_action"`
	Actor    string `json:"actor"`
	Message  string `json:"message"`
}

// AlertText implements AlertTexter.
func (d BulkFailedData) AlertText() string {
	return fmt.Sprintf("Bulk action %d (%s by %s) ended with failures: %s.", d.BulkOpID, d.Action, d.Actor, d.Message)
}

// TestAlertData is the payload of "send test".
type TestAlertData struct {
	Webhook string `json:"webhook"`
	SentBy  string `json:"sent_by"`
}

// AlertText implements AlertTexter.
func (d TestAlertData) AlertText() string {
	return fmt.Sprintf("Test alert for %q, sent by %s from the fleet dashboard.", d.Webhook, d.SentBy)
}

func nameOr(name, id string) string {
	if name != "" {
		return fmt.Sprintf("%q (%s)", name, id)
	}
	return id
}

// AlertTexter gives an event's human sentence (the Slack text).
type AlertTexter interface{ AlertText() string }

// Emitter is what the engines that cause events see of Alerts: Emit never
// fails the action that caused it (errors are logged).
type Emitter interface {
	Emit(ctx context.Context, event string, payload any)
}

// AlertQueue puts a stored delivery's job on the job queue, in tx.
type AlertQueue interface {
	EnqueueAlertTx(ctx context.Context, tx pgx.Tx, deliveryID int64) error
}

// EmitTimeout bounds what Emit may take from the action that caused it.
const EmitTimeout = 3 * time.Second

// DeliveryTimeout bounds one POST to a destination.
const DeliveryTimeout = 10 * time.Second

// AlertsOptions configure Alerts.
type AlertsOptions struct {
	Log *slog.Logger
	// Client posts deliveries (a client with DeliveryTimeout that follows
	// no redirect when nil).
	Client *http.Client
	Now    func() time.Time
	// IdleAfter is how long a machine may run with no session before
	// machine.idle_running (DefaultIdleAfter when zero).
	IdleAfter time.Duration
	// UsageLowMinutes: a machine with less remaining usage is usage.low
	// (DefaultUsageLowMinutes when zero).
	UsageLowMinutes int
	// OrgUsageLowMinutes: the organization's remaining usage (its latest
	// daily snapshot, GET /usage) below it is usage.low without a machine
	// (DefaultOrgUsageLowMinutes when zero).
	OrgUsageLowMinutes int
}

// Defaults of the periodic check (Alerts.Check).
const (
	// OutsideLinkWindow: outside links issued longer ago than this are not
	// alerted (a first import brings 30 days of history).
	OutsideLinkWindow         = 24 * time.Hour
	DefaultIdleAfter          = 60 * time.Minute
	DefaultUsageLowMinutes    = 120
	DefaultOrgUsageLowMinutes = 600
)

// orgAlertKey is the alert_sent key of the organization's usage.low.
const orgAlertKey = "organization"

// Alerts keeps the destinations and emits and delivers events.
type Alerts struct {
	svc    *Service
	store  *db.Store
	audit  *Auditor
	queue  AlertQueue
	log    *slog.Logger
	client *http.Client
	now    func() time.Time
	o      AlertsOptions
}

// NewAlerts builds Alerts over svc's store and auditor; Emit needs a queue
// (SetQueue).
func NewAlerts(svc *Service, o AlertsOptions) *Alerts {
	if o.Log == nil {
		o.Log = svc.log
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DeliveryTimeout,
			// A redirect is not followed (it could lead anywhere): a 3xx is
			// a failed attempt.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.IdleAfter <= 0 {
		o.IdleAfter = DefaultIdleAfter
	}
	if o.OrgUsageLowMinutes <= 0 {
		o.OrgUsageLowMinutes = DefaultOrgUsageLowMinutes
	}
	if o.UsageLowMinutes <= 0 {
		o.UsageLowMinutes = DefaultUsageLowMinutes
	}
	return &Alerts{svc: svc, store: svc.Store(), audit: svc.Auditor(), log: o.Log, client: o.Client, now: o.Now, o: o}
}

// SetQueue gives Alerts the job queue its deliveries run on.
func (a *Alerts) SetQueue(q AlertQueue) { a.queue = q }

// alertRecord is what a delivery row stores: the envelope sent as JSON,
// plus the sentence sent to Slack.
type alertRecord struct {
	Event string          `json:"event"`
	At    time.Time       `json:"at"`
	Data  json.RawMessage `json:"data"`
	Text  string          `json:"text,omitempty"`
}

func (a *Alerts) record(event string, payload any) ([]byte, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	text := "Fleet dashboard: " + AlertEventLabel(event) + "."
	if t, ok := payload.(AlertTexter); ok {
		text = t.AlertText()
	}
	return json.Marshal(alertRecord{Event: event, At: a.now().UTC(), Data: data, Text: text})
}

// Emit stores a delivery of event for every destination subscribed to it,
// each with its job. It never fails or holds up its caller beyond
// EmitTimeout: errors are logged (without payload or destination).
func (a *Alerts) Emit(ctx context.Context, event string, payload any) {
	if a == nil {
		return
	}
	if _, err := a.emit(ctx, event, payload, 0); err != nil {
		a.log.Error("alerts: emit", "event", event, "err", err.Error())
	}
}

func (a *Alerts) emit(ctx context.Context, event string, payload any, webhookID int64) ([]int64, error) {
	if a.queue == nil {
		return nil, errors.New("no job queue")
	}
	body, err := a.record(event, payload)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), EmitTimeout)
	defer cancel()
	return a.store.InsertAlertDeliveries(ctx, event, body, webhookID, a.queue.EnqueueAlertTx)
}

// WebhookInput is the form of a destination. On update an empty URL or
// Secret keeps the stored one.
type WebhookInput struct {
	Name   string
	URL    string
	Format string
	Secret string
	Events []string
}

// Limits of a destination's fields.
const (
	MaxWebhookName   = 100
	MaxWebhookURL    = 2000
	MaxWebhookSecret = 200
)

// ValidateWebhook checks in (update: an empty URL keeps the stored one)
// and returns the problems by field name; nil when it is fine.
func ValidateWebhook(in WebhookInput, update bool) map[string]string {
	errs := map[string]string{}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		errs["name"] = "Give the destination a name."
	case utf8.RuneCountInString(name) > MaxWebhookName:
		errs["name"] = fmt.Sprintf("Use at most %d characters.", MaxWebhookName)
	}
	if in.URL != "" || !update {
		if msg := checkWebhookURL(in.URL); msg != "" {
			errs["url"] = msg
		}
	}
	if in.Format != WebhookJSON && in.Format != WebhookSlack {
		errs["format"] = "Choose JSON or Slack."
	}
	if len(in.Secret) > MaxWebhookSecret {
		errs["secret"] = fmt.Sprintf("Use at most %d characters.", MaxWebhookSecret)
	}
	if len(in.Events) == 0 {
		errs["events"] = "Choose at least one event."
	}
	for _, e := range in.Events {
		if !slices.Contains(AlertEvents, e) {
			errs["events"] = "Choose events from the list."
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func checkWebhookURL(raw string) string {
	if raw == "" {
		return "Enter the webhook URL."
	}
	if len(raw) > MaxWebhookURL {
		return fmt.Sprintf("Use at most %d characters.", MaxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return "Enter an http:// or https:// URL with a host."
	}
	if u.User != nil {
		return "Don't put a user name or password in the URL."
	}
	return ""
}

// WebhookHost is the host of a destination's URL (what audit rows, logs
// and errors may name); "" when it has none.
func WebhookHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// MaskWebhookURL shows a destination's URL without its credential: scheme
// and host, the rest masked (https://hooks.slack.com/…/•••).
func MaskWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "•••"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		s += "/…/•••"
	}
	return s
}

func normEvents(evs []string) []string {
	out := slices.Clone(evs)
	slices.Sort(out)
	return slices.Compact(out)
}

// ErrWebhookNotFound means there is no such destination.
var ErrWebhookNotFound = errors.New("fleet: no such alert destination")

func webhookParams(id int64, in WebhookInput, url string) Params {
	p := Params{"name": strings.TrimSpace(in.Name), "format": in.Format, "events": normEvents(in.Events)}
	if id != 0 {
		p["alert_id"] = id
	}
	if url != "" {
		p["url_host"] = WebhookHost(url)
	}
	p["secret_set"] = in.Secret != ""
	return p
}

// Webhooks lists the destinations.
func (a *Alerts) Webhooks(ctx context.Context) ([]db.AlertWebhook, error) {
	return a.store.AlertWebhooks(ctx)
}

// Webhook reads destination id (ErrWebhookNotFound).
func (a *Alerts) Webhook(ctx context.Context, id int64) (db.AlertWebhook, error) {
	w, err := a.store.AlertWebhook(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return w, ErrWebhookNotFound
	}
	return w, err
}

// Deliveries lists destination id's newest deliveries.
func (a *Alerts) Deliveries(ctx context.Context, id int64, limit int) ([]db.AlertDelivery, error) {
	return a.store.AlertDeliveries(ctx, id, limit)
}

// Create stores a destination (alert.create): the problems by field, or
// its id.
func (a *Alerts) Create(ctx context.Context, actor Actor, in WebhookInput) (int64, map[string]string, error) {
	if errs := ValidateWebhook(in, false); errs != nil {
		return 0, errs, nil
	}
	var id int64
	p := webhookParams(0, in, in.URL)
	err := a.audit.Do(ctx, actor, ActAlertCreate, "", p, func(ctx context.Context, p Params) error {
		var err error
		id, err = a.store.CreateAlertWebhook(ctx, db.AlertWebhook{Name: strings.TrimSpace(in.Name), URL: in.URL,
			Format: in.Format, Secret: in.Secret, Events: normEvents(in.Events), CreatedBy: actor.Email})
		p["alert_id"] = id
		return err
	})
	return id, nil, err
}

// Update changes destination id (alert.update); an empty URL or secret
// keeps the stored one.
func (a *Alerts) Update(ctx context.Context, actor Actor, id int64, in WebhookInput) (map[string]string, error) {
	cur, err := a.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if errs := ValidateWebhook(in, true); errs != nil {
		return errs, nil
	}
	u := in.URL
	if u == "" {
		u = cur.URL
	}
	p := webhookParams(id, in, u)
	p["secret_set"] = in.Secret != "" || cur.Secret != ""
	p["url_changed"] = in.URL != "" && in.URL != cur.URL
	return nil, a.audit.Do(ctx, actor, ActAlertUpdate, "", p, func(ctx context.Context, _ Params) error {
		err := a.store.UpdateAlertWebhook(ctx, db.AlertWebhook{ID: id, Name: strings.TrimSpace(in.Name), URL: in.URL,
			Format: in.Format, Secret: in.Secret, Events: normEvents(in.Events)})
		if errors.Is(err, db.ErrNotFound) {
			return ErrWebhookNotFound
		}
		return err
	})
}

// Delete removes destination id and its delivery log (alert.delete).
func (a *Alerts) Delete(ctx context.Context, actor Actor, id int64) error {
	cur, err := a.Webhook(ctx, id)
	if err != nil {
		return err
	}
	p := Params{"alert_id": id, "name": cur.Name, "format": cur.Format, "events": cur.Events, "url_host": WebhookHost(cur.URL)}
	return a.audit.Do(ctx, actor, ActAlertDelete, "", p, func(ctx context.Context, _ Params) error {
		err := a.store.DeleteAlertWebhook(ctx, id)
		if errors.Is(err, db.ErrNotFound) {
			return ErrWebhookNotFound
		}
		return err
	})
}

// Test sends a test event to destination id now (alert.test), once, and
// returns the delivery's outcome: nil when it answered 2xx, otherwise an
// error fit to show (it names the host at most). The attempt is in the
// destination's delivery log; a test is not retried.
func (a *Alerts) Test(ctx context.Context, actor Actor, id int64) error {
	cur, err := a.Webhook(ctx, id)
	if err != nil {
		return err
	}
	p := Params{"alert_id": id, "name": cur.Name, "format": cur.Format, "url_host": WebhookHost(cur.URL)}
	var sendErr error
	err = a.audit.Do(ctx, actor, ActAlertTest, "", p, func(ctx context.Context, p Params) error {
		body, err := a.record(AlertTest, TestAlertData{Webhook: cur.Name, SentBy: actor.Email})
		if err != nil {
			return err
		}
		var did int64
		ids, err := a.store.InsertAlertDeliveries(ctx, AlertTest, body, id, func(context.Context, pgx.Tx, int64) error { return nil })
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return ErrWebhookNotFound
		}
		did = ids[0]
		p["delivery_id"] = did
		sendErr = a.Deliver(ctx, did, true)
		if sendErr != nil {
			p["result"] = "failed"
		} else {
			p["result"] = "delivered"
		}
		return sendErr
	})
	if sendErr != nil {
		return sendErr
	}
	return err
}

// DeliveryError is a failed attempt, with a message that names the
// destination's host at most.
type DeliveryError struct{ Msg string }

func (e *DeliveryError) Error() string { return e.Msg }

// Deliver makes one attempt at delivery id: it POSTs the event to its
// destination and records the attempt. final says no attempt follows, so a
// failure leaves the delivery failed rather than pending. nil when
// delivered (or delivered before); db.ErrNotFound when the delivery or its
// destination is gone; otherwise a *DeliveryError.
func (a *Alerts) Deliver(ctx context.Context, id int64, final bool) error {
	t, err := a.store.AlertDeliveryTarget(ctx, id)
	if err != nil {
		return err
	}
	if t.Delivery.Status == db.DeliveryDelivered {
		return nil
	}
	body, err := DeliveryBody(t.Webhook.Format, t.Delivery.Payload)
	if err != nil {
		return err
	}
	sendErr := a.post(ctx, t.Webhook, body)
	status, msg := db.DeliveryDelivered, ""
	if sendErr != nil {
		status, msg = db.DeliveryPending, sendErr.Error()
		if final {
			status = db.DeliveryFailed
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.store.RecordAlertAttempt(wctx, id, status, msg); err != nil {
		return err
	}
	if sendErr != nil {
		return sendErr
	}
	return nil
}

// SignatureHeader carries the body's HMAC when a destination has a secret.
const SignatureHeader = "X-Fleet-Signature"

// Signature is the X-Fleet-Signature value of body: sha256=<hex HMAC-SHA256(secret, body)>.
func Signature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// DeliveryBody is what is POSTed for a stored delivery: the JSON envelope
// {"event","at","data"}, or Slack's {"text"}.
func DeliveryBody(format string, stored []byte) ([]byte, error) {
	var r alertRecord
	if err := json.Unmarshal(stored, &r); err != nil {
		return nil, fmt.Errorf("alerts: stored payload: %w", err)
	}
	if format == WebhookSlack {
		return json.Marshal(map[string]string{"text": r.Text})
	}
	r.Text = ""
	return json.Marshal(r)
}

func (a *Alerts) post(ctx context.Context, w db.AlertWebhook, body []byte) error {
	host := WebhookHost(w.URL)
	ctx, cancel := context.WithTimeout(ctx, DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Msg: "The webhook URL is not valid."}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vagon-fleet-dashboard")
	if w.Secret != "" && w.Format == WebhookJSON {
		req.Header.Set(SignatureHeader, Signature(w.Secret, body))
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return &DeliveryError{Msg: DeliveryErrorText(err, w.URL, host)}
	}
	defer resp.Body.Close()
	var buf [512]byte
	_, _ = resp.Body.Read(buf[:])
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &DeliveryError{Msg: fmt.Sprintf("%s answered HTTP %d.", host, resp.StatusCode)}
	}
	return nil
}

// DeliveryErrorText says why a POST to rawURL failed, naming host at most:
// net/http's errors quote the whole URL, which may carry a token.
func DeliveryErrorText(err error, rawURL, host string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var why string
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		why = "did not answer in time"
	case errors.Is(err, context.Canceled):
		why = "the request was cancelled"
	default:
		why = "could not be reached: " + err.Error()
	}
	msg := host + " " + why
	if rawURL != "" {
		msg = strings.ReplaceAll(msg, rawURL, host)
	}
	if u, perr := url.Parse(rawURL); perr == nil && len(u.Path) > 1 {
		msg = strings.ReplaceAll(msg, u.Path, "/…")
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// SetAlerts gives the engines (actions, bulk, schedules) the alerts they
// emit events on; without it they emit none.
func (s *Service) SetAlerts(e Emitter) { s.alerts = e }

// emit hands an event to the alerts, if any; it never fails the caller.
func (s *Service) emit(ctx context.Context, event string, payload any) {
	if s.alerts != nil {
		s.alerts.Emit(ctx, event, payload)
	}
}

// accessLinkIssued is the payload of an issued link: its fingerprint and
// expiry from the audit params p, never the link.
func accessLinkIssued(actor Actor, id string, res *ActionResult, p Params) AccessLinkIssuedData {
	d := AccessLinkIssuedData{MachineID: id, IssuedBy: actor.Email}
	if res != nil && res.Machine != nil {
		d.MachineName = res.Machine.Attributes.Name
	}
	d.Fingerprint, _ = p["fingerprint"].(string)
	d.ExpiresAt, _ = p["expires_at"].(time.Time)
	return d
}

// CheckResult says what a periodic check emitted.
type CheckResult struct {
	IdleRunning, UsageLow, Outside int
}

// Check looks at the latest fleet sync (machines_latest, sessions) for
// machines running with no session for IdleAfter (machine.idle_running,
// once per idle streak) and machines below UsageLowMinutes of remaining
// usage (usage.low, once until they are above it again), and the
// organization's remaining usage in its latest daily snapshot (taken by
// the sessions sync; one from the last two days) below OrgUsageLowMinutes,
// and access links issued outside the dashboard in the last
// OutsideLinkWindow (access_link.outside, once per link; the ledger's
// match rule, AccessLinks). The job queue calls it periodically.
func (a *Alerts) Check(ctx context.Context) (CheckResult, error) {
	var r CheckResult
	now := a.now()
	idle, err := a.store.IdleRunningMachines(ctx, string(vagon.StatusReady), now.Add(-a.o.IdleAfter))
	if err != nil {
		return r, err
	}
	for _, m := range idle {
		first, err := a.store.ClaimAlertSent(ctx, AlertMachineIdleRunning, m.MachineID, m.IdleSince)
		if err != nil {
			return r, err
		}
		if first {
			a.Emit(ctx, AlertMachineIdleRunning, MachineIdleRunningData{MachineID: m.MachineID, MachineName: m.Name,
				IdleMinutes: int(now.Sub(m.IdleSince) / time.Minute)})
			r.IdleRunning++
		}
	}
	low, err := a.store.LowRemaining(ctx, int64(a.o.UsageLowMinutes), now)
	if err != nil {
		return r, err
	}
	keep := []string{}
	for _, m := range low {
		keep = append(keep, m.MachineID)
		first, err := a.store.ClaimAlertSent(ctx, AlertUsageLow, m.MachineID, time.Unix(0, 0))
		if err != nil {
			return r, err
		}
		if first {
			a.Emit(ctx, AlertUsageLow, UsageLowData{MachineID: m.MachineID, MachineName: m.Name,
				RemainingMinutes: int(m.RemainingUsageMinutes), ThresholdMinutes: a.o.UsageLowMinutes})
			r.UsageLow++
		}
	}
	outside, _, err := a.svc.AccessLinks(ctx, AccessLinkQuery{Source: db.AccessSourceVagon, Limit: 500})
	if err != nil {
		return r, err
	}
	for _, l := range outside { // newest first
		if l.IssuedAt.Before(now.Add(-OutsideLinkWindow)) {
			break
		}
		first, err := a.store.ClaimAlertSent(ctx, AlertAccessLinkOutside, l.MachineID+" "+l.AccessID, l.IssuedAt)
		if err != nil {
			return r, err
		}
		if first {
			a.Emit(ctx, AlertAccessLinkOutside, AccessLinkOutsideData{MachineID: l.MachineID, MachineName: l.MachineName,
				By: l.IssuedBy, At: l.IssuedAt})
			r.Outside++
		}
	}
	snaps, err := a.store.OrgUsageSnapshots(ctx, now.AddDate(0, 0, -1), now)
	if err != nil {
		return r, err
	}
	if n := len(snaps); n > 0 && snaps[n-1].UsageMinutes < int64(a.o.OrgUsageLowMinutes) {
		keep = append(keep, orgAlertKey)
		first, err := a.store.ClaimAlertSent(ctx, AlertUsageLow, orgAlertKey, time.Unix(0, 0))
		if err != nil {
			return r, err
		}
		if first {
			a.Emit(ctx, AlertUsageLow, UsageLowData{RemainingMinutes: int(snaps[n-1].UsageMinutes), ThresholdMinutes: a.o.OrgUsageLowMinutes})
			r.UsageLow++
		}
	}
	return r, a.store.ClearAlertSent(ctx, AlertUsageLow, keep)
}
