package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

func TestValidateWebhook(t *testing.T) {
	ok := WebhookInput{Name: "Ops", URL: "https://hooks.example.com/x", Format: WebhookJSON, Events: []string{AlertBulkFailed}}
	with := func(f func(*WebhookInput)) WebhookInput { in := ok; f(&in); return in }
	cases := []struct {
		name   string
		in     WebhookInput
		update bool
		field  string // "" for valid
	}{
		{"valid", ok, false, ""},
		{"http ok", with(func(i *WebhookInput) { i.URL = "http://10.0.0.1:8080/hook" }), false, ""},
		{"no name", with(func(i *WebhookInput) { i.Name = "  " }), false, "name"},
		{"long name", with(func(i *WebhookInput) { i.Name = strings.Repeat("n", MaxWebhookName+1) }), false, "name"},
		{"no url on create", with(func(i *WebhookInput) { i.URL = "" }), false, "url"},
		{"no url on update keeps", with(func(i *WebhookInput) { i.URL = "" }), true, ""},
		{"ftp", with(func(i *WebhookInput) { i.URL = "ftp://example.com/x" }), false, "url"},
		{"no host", with(func(i *WebhookInput) { i.URL = "https:///path" }), false, "url"},
		{"relative", with(func(i *WebhookInput) { i.URL = "/hooks" }), false, "url"},
		{"userinfo", with(func(i *WebhookInput) { i.URL = "https://u:p@example.com/x" }), false, "url"},
		{"long url", with(func(i *WebhookInput) { i.URL = "https://example.com/" + strings.Repeat("a", MaxWebhookURL) }), false, "url"},
		{"format", with(func(i *WebhookInput) { i.Format = "xml" }), false, "format"},
		{"long secret", with(func(i *WebhookInput) { i.Secret = strings.Repeat("s", MaxWebhookSecret+1) }), false, "secret"},
		{"no events", with(func(i *WebhookInput) { i.Events = nil }), false, "events"},
		{"unknown event", with(func(i *WebhookInput) { i.Events = []string{"machine.exploded"} }), false, "events"},
		{"test event not subscribable", with(func(i *WebhookInput) { i.Events = []string{AlertTest} }), false, "events"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := ValidateWebhook(c.in, c.update)
			if c.field == "" {
				if errs != nil {
					t.Fatalf("errors %v, want none", errs)
				}
				return
			}
			if errs[c.field] == "" || len(errs) != 1 {
				t.Fatalf("errors %v, want one on %s", errs, c.field)
			}
		})
	}
}

func TestMaskWebhookURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://hooks.slack.com/services/T00/B00/XXXXsecret", "https://hooks.slack.com/…/•••"},
		{"http://127.0.0.1:9000/", "http://127.0.0.1:9000"},
		{"https://example.com?token=abc", "https://example.com/…/•••"},
		{"::bad", "•••"},
	}
	for _, c := range cases {
		if got := MaskWebhookURL(c.in); got != c.want {
			t.Errorf("MaskWebhookURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(MaskWebhookURL(c.in), "secret") || strings.Contains(MaskWebhookURL(c.in), "abc") {
			t.Errorf("mask of %q shows the credential", c.in)
		}
	}
}

// net/http's errors quote the whole URL; what is stored names the host.
func TestDeliveryErrorText_noURL(t *testing.T) {
	raw := "https://hooks.example.com/services/T/B/t0ken"
	cases := []error{
		&url.Error{Op: "Post", URL: raw, Err: errors.New("dial tcp: lookup hooks.example.com: no such host")},
		errors.New("Post \"" + raw + "\": EOF"),
		errors.New("something about /services/T/B/t0ken"),
	}
	for _, err := range cases {
		got := DeliveryErrorText(err, raw, "hooks.example.com")
		if strings.Contains(got, "t0ken") || strings.Contains(got, "/services") || !strings.HasPrefix(got, "hooks.example.com ") {
			t.Errorf("DeliveryErrorText(%v) = %q", err, got)
		}
	}
}

func TestSignature(t *testing.T) {
	// HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231-style known value.
	got := Signature("key", []byte("The quick brown fox jumps over the lazy dog"))
	if got != "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8" {
		t.Fatal(got)
	}
}

func TestDeliveryBody(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := &Alerts{now: func() time.Time { return at }}
	stored, err := a.record(AlertMachineIdleRunning, MachineIdleRunningData{MachineID: "m1", MachineName: "Lab 1", IdleMinutes: 45})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := DeliveryBody(WebhookJSON, stored)
	if want := `{"event":"machine.idle_running","at":"2026-01-02T03:04:05Z","data":{"machine_id":"m1","machine_name":"Lab 1","idle_minutes":45}}`; string(js) != want {
		t.Errorf("json body = %s\nwant %s", js, want)
	}
	sl, _ := DeliveryBody(WebhookSlack, stored)
	if want := `{"text":"Machine \"Lab 1\" (m1) has been running with no session for 45 minutes."}`; string(sl) != want {
		t.Errorf("slack body = %s\nwant %s", sl, want)
	}
}

type fakeAlertQueue struct{ ids []int64 }

func (q *fakeAlertQueue) EnqueueAlertTx(_ context.Context, _ pgx.Tx, id int64) error {
	q.ids = append(q.ids, id)
	return nil
}

// The periodic check: a machine running with no session for the idle time
// alerts once per idle streak; one with an open session, or running for
// less, does not. Low usage alerts once, and again after it recovered.
func TestAlertsCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := dbtest.Store(t)
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	svc := NewService(nil, store, ServiceOptions{})
	a := NewAlerts(svc, AlertsOptions{Now: func() time.Time { return now }, IdleAfter: time.Hour, UsageLowMinutes: 100})
	q := &fakeAlertQueue{}
	a.SetQueue(q)
	hook, err := store.CreateAlertWebhook(ctx, db.AlertWebhook{Name: "h", URL: "https://example.com/h", Format: WebhookJSON,
		Events: []string{AlertMachineIdleRunning, AlertUsageLow}})
	if err != nil {
		t.Fatal(err)
	}
	ago := func(n int) time.Time { return now.Add(time.Duration(-n) * time.Minute) }
	pass := func(at time.Time, snaps ...db.Snapshot) {
		t.Helper()
		id, err := store.BeginSyncPass(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		for i := range snaps {
			snaps[i].TakenAt, snaps[i].Region, snaps[i].MachineType, snaps[i].UsageSource = at, "dublin", "g4", "machine"
		}
		if err := store.InsertSnapshots(ctx, id, snaps); err != nil {
			t.Fatal(err)
		}
	}
	snap := func(id, status string, remaining int64) db.Snapshot {
		return db.Snapshot{MachineID: id, Name: "Lab " + id, Status: status, RemainingUsageMinutes: remaining}
	}
	pass(ago(90), snap("m1", "off", 1000), snap("m2", "off", 1000), snap("m3", "off", 1000), snap("m4", "off", 50))
	pass(ago(80), snap("m1", "ready", 1000), snap("m2", "ready", 1000), snap("m3", "off", 1000), snap("m4", "off", 50))
	pass(ago(10), snap("m1", "ready", 1000), snap("m2", "ready", 1000), snap("m3", "ready", 1000), snap("m4", "off", 50))
	ended := ago(75)
	if _, err := store.UpsertSessions(ctx, []db.Session{
		{ID: "s1", MachineID: "m1", StartAt: ago(79), EndAt: &ended, DurationMinutes: 4},
		{ID: "s2", MachineID: "m2", StartAt: ago(79), DurationMinutes: 79}, // still open
	}, now); err != nil {
		t.Fatal(err)
	}
	events := func() []string {
		ds, err := store.AlertDeliveries(ctx, hook, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			var r alertRecord
			_ = json.Unmarshal(d.Payload, &r)
			var m map[string]any // jsonb orders keys its own way
			_ = json.Unmarshal(r.Data, &m)
			b, _ := json.Marshal(m)
			out = append([]string{d.Event + " " + string(b)}, out...)
		}
		return out
	}
	r, err := a.Check(ctx)
	if err != nil || r != (CheckResult{IdleRunning: 1, UsageLow: 1}) {
		t.Fatalf("check = %+v, %v", r, err)
	}
	want := []string{
		`machine.idle_running {"idle_minutes":75,"machine_id":"m1","machine_name":"Lab m1"}`,
		`usage.low {"machine_id":"m4","machine_name":"Lab m4","remaining_minutes":50,"threshold_minutes":100}`,
	}
	if got := events(); !slices.Equal(got, want) || len(q.ids) != 2 {
		t.Fatalf("events %q (jobs %d), want %q", got, len(q.ids), want)
	}
	// Again: nothing new.
	if r, err = a.Check(ctx); err != nil || r != (CheckResult{}) {
		t.Fatalf("second check = %+v, %v", r, err)
	}
	// m4 recovers, then drops again: a new alert.
	pass(ago(5), snap("m4", "off", 500))
	if r, _ = a.Check(ctx); r.UsageLow != 0 {
		t.Fatalf("recovered machine alerted: %+v", r)
	}
	pass(ago(1), snap("m4", "off", 20))
	if r, _ = a.Check(ctx); r.UsageLow != 1 {
		t.Fatalf("second drop: %+v", r)
	}
}

// The organization's remaining usage (its latest daily snapshot) below the
// threshold is one usage.low without a machine, again only after it was
// above the threshold in between.
func TestAlertsCheck_organizationUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := dbtest.Store(t)
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	a := NewAlerts(NewService(nil, store, ServiceOptions{}), AlertsOptions{Now: func() time.Time { return now }, OrgUsageLowMinutes: 500})
	a.SetQueue(&fakeAlertQueue{})
	hook, err := store.CreateAlertWebhook(ctx, db.AlertWebhook{Name: "h", URL: "https://example.com/h", Format: WebhookJSON,
		Events: []string{AlertUsageLow}})
	if err != nil {
		t.Fatal(err)
	}
	reading := func(minutes int64) {
		t.Helper()
		now = now.Add(time.Hour)
		if err := store.UpsertOrgUsageSnapshot(ctx, now, minutes, "Planet"); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want int) {
		t.Helper()
		r, err := a.Check(ctx)
		if err != nil || r.UsageLow != want {
			t.Fatalf("check = %+v, %v; want %d usage.low", r, err, want)
		}
	}
	check(0) // no snapshot yet
	reading(800)
	check(0)
	reading(400)
	check(1)
	check(0) // once while it stays low
	reading(900)
	check(0)
	reading(100)
	check(1)
	ds, err := store.AlertDeliveries(ctx, hook, 10)
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries %d, %v", len(ds), err)
	}
	var rec alertRecord
	if err := json.Unmarshal(ds[0].Payload, &rec); err != nil {
		t.Fatal(err)
	}
	var d UsageLowData
	if err := json.Unmarshal(rec.Data, &d); err != nil || d.MachineID != "" || d.ThresholdMinutes != 500 {
		t.Fatalf("usage.low data %+v, %v", d, err)
	}
}

// A link in Vagon's imported log that the dashboard did not issue is one
// access_link.outside (the ledger's rule); an old one, from a first import's
// history, is not alerted.
func TestAlertsCheck_outsideLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := dbtest.Store(t)
	now := time.Now().UTC().Truncate(time.Second)
	svc := NewService(nil, store, ServiceOptions{Now: func() time.Time { return now }})
	a := NewAlerts(svc, AlertsOptions{Now: func() time.Time { return now }})
	a.SetQueue(&fakeAlertQueue{})
	hook, err := store.CreateAlertWebhook(ctx, db.AlertWebhook{Name: "h", URL: "https://example.com/h", Format: WebhookJSON,
		Events: []string{AlertAccessLinkOutside}})
	if err != nil {
		t.Fatal(err)
	}
	m := "104"
	entry := func(id string, at time.Time) db.ActivityEntry {
		return db.ActivityEntry{ID: id, At: at, ActorEmail: "script@example.com", ActionType: vagon.ActionExternalAccessCreated,
			MachineID: &m, MachineName: "Lab 104", Details: json.RawMessage(`{"metadata":{"access_id":"` + id + `","expires_in_minutes":60}}`)}
	}
	if _, err := store.InsertActivity(ctx, []db.ActivityEntry{entry("7001", now.Add(-10*time.Minute)), entry("7000", now.Add(-48*time.Hour))}, now); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0} {
		r, err := a.Check(ctx)
		if err != nil || r.Outside != want {
			t.Fatalf("check %d = %+v, %v; want %d outside", i, r, err, want)
		}
	}
	ds, err := store.AlertDeliveries(ctx, hook, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %d, %v", len(ds), err)
	}
	var rec alertRecord
	_ = json.Unmarshal(ds[0].Payload, &rec)
	var d AccessLinkOutsideData
	if err := json.Unmarshal(rec.Data, &d); err != nil || d.MachineID != m || d.By != "script@example.com" {
		t.Fatalf("outside data %+v, %v", d, err)
	}
}
