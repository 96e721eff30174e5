package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
)

// receiver is a real local HTTP endpoint that fails its first fails
// requests with 500, then accepts.
type receiver struct {
	mu     sync.Mutex
	fails  int
	bodies [][]byte
	sigs   []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, b)
	r.sigs = append(r.sigs, req.Header.Get(fleet.SignatureHeader))
	if len(r.bodies) <= r.fails {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) got() ([][]byte, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]string(nil), r.sigs...)
}

// syncBuf is a goroutine-safe log sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitDelivery(t *testing.T, store *db.Store, webhookID int64, want string) db.AlertDelivery {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ds, err := store.AlertDeliveries(ctx, webhookID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].Status == want {
			return ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries of %d: %+v, want one %s", webhookID, ds, want)
		}
	}
}

// An issued access link is delivered through the job queue to a receiver
// that fails twice: delivered on the third attempt, signed with the secret;
// the URL's token and the secret appear in no log, audit row or error.
func TestAlerts_retryUntilDelivered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, sim, api := newEnv(t)
	rcv := &receiver{fails: 2}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	const token, secret = "T0KENxyz123secretpath", "s3cr3t-hmac-key"
	hookURL := srv.URL + "/services/" + token

	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := fleet.NewService(api, store, fleet.ServiceOptions{Log: log})
	alerts := fleet.NewAlerts(svc, fleet.AlertsOptions{Log: log})
	q, err := jobs.New(store, jobs.Config{Alerts: alerts, Log: log,
		AlertRetry: func(int) time.Duration { return 10 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	alerts.SetQueue(q)
	svc.SetAlerts(alerts)
	admin := fleet.Actor{Email: "admin@example.com", Role: fleet.RoleAdmin}
	hookID, errs, err := alerts.Create(ctx, admin, fleet.WebhookInput{Name: "Ops", URL: hookURL, Format: fleet.WebhookJSON,
		Secret: secret, Events: []string{fleet.AlertAccessLinkIssued, fleet.AlertBulkFailed}})
	if err != nil || errs != nil {
		t.Fatal(err, errs)
	}
	// A destination not subscribed to the event gets nothing.
	otherID, _, err := alerts.Create(ctx, admin, fleet.WebhookInput{Name: "Other", URL: srv.URL + "/other", Format: fleet.WebhookSlack,
		Events: []string{fleet.AlertScheduleFailed}})
	if err != nil {
		t.Fatal(err)
	}

	mid := string(sim.MachineIDs()[0])
	res, err := svc.IssueAccessLink(ctx, admin, mid, fleet.AccessLinkInput{ExpiresIn: 30})
	if err != nil || res.Link == nil {
		t.Fatal(res, err)
	}
	link := res.Link.Attributes.ConnectionLink

	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(10 * time.Second) })
	d := waitDelivery(t, store, hookID, db.DeliveryDelivered)
	if d.Attempts != 3 || d.LastError != "" || d.Event != fleet.AlertAccessLinkIssued {
		t.Fatalf("delivery = %+v, want delivered after 3 attempts", d)
	}
	if ds, _ := store.AlertDeliveries(ctx, otherID, 10); len(ds) != 0 {
		t.Fatalf("unsubscribed destination got %d deliveries", len(ds))
	}
	bodies, sigs := rcv.got()
	if len(bodies) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(bodies))
	}
	for i, b := range bodies {
		if sigs[i] != fleet.Signature(secret, b) {
			t.Fatalf("request %d: signature %q does not verify", i, sigs[i])
		}
	}
	var env struct {
		Event string                     `json:"event"`
		At    time.Time                  `json:"at"`
		Data  fleet.AccessLinkIssuedData `json:"data"`
		Text  *string                    `json:"text"`
	}
	if err := json.Unmarshal(bodies[2], &env); err != nil {
		t.Fatal(err)
	}
	if env.Event != fleet.AlertAccessLinkIssued || env.At.IsZero() || env.Data.MachineID != mid ||
		env.Data.IssuedBy != admin.Email || env.Data.Fingerprint != fleet.LinkFingerprint(link) || env.Text != nil {
		t.Fatalf("body = %s", bodies[2])
	}
	if strings.Contains(string(bodies[2]), link) {
		t.Fatal("the access link itself was sent")
	}

	// The job's recorded errors (River keeps each attempt's) name the host
	// at most.
	jl, err := q.Client().JobList(ctx, river.NewJobListParams().Kinds(jobs.KindAlert))
	if err != nil || len(jl.Jobs) != 1 {
		t.Fatal(len(jl.Jobs), err)
	}
	if n := len(jl.Jobs[0].Errors); n != 2 {
		t.Fatalf("job errors = %d, want 2", n)
	}
	var leaks []string
	for _, e := range jl.Jobs[0].Errors {
		leaks = append(leaks, e.Error)
	}
	audit, err := store.Pool().Query(ctx, `SELECT params::text FROM audit_events WHERE action LIKE 'alert.%'`)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for audit.Next() {
		var p string
		_ = audit.Scan(&p)
		leaks = append(leaks, p)
		rows++
	}
	audit.Close()
	if rows < 4 || !strings.Contains(leaks[len(leaks)-1], "url_host") {
		t.Fatalf("alert audit rows = %d (%v)", rows, leaks)
	}
	leaks = append(leaks, logs.String())
	for _, s := range leaks {
		for _, bad := range []string{token, secret, link} {
			if strings.Contains(s, bad) {
				t.Fatalf("a credential leaked into %q", s)
			}
		}
	}
	if !strings.Contains(jl.Jobs[0].Errors[0].Error, "HTTP 500") {
		t.Fatalf("job error = %q", jl.Jobs[0].Errors[0].Error)
	}
}

// A Slack destination gets {"text": sentence}, unsigned; a delivery that
// never succeeds ends failed with a sanitised error after its attempts.
func TestAlerts_slackAndGiveUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, api := newEnv(t)
	ok := &receiver{}
	okSrv := httptest.NewServer(ok)
	t.Cleanup(okSrv.Close)
	down := &receiver{fails: 1 << 30}
	downSrv := httptest.NewServer(down)
	t.Cleanup(downSrv.Close)

	svc := fleet.NewService(api, store, fleet.ServiceOptions{})
	alerts := fleet.NewAlerts(svc, fleet.AlertsOptions{})
	q, err := jobs.New(store, jobs.Config{Alerts: alerts, Log: slog.New(slog.DiscardHandler),
		AlertRetry: func(int) time.Duration { return 5 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	alerts.SetQueue(q)
	admin := fleet.Actor{Email: "admin@example.com", Role: fleet.RoleAdmin}
	slackID, _, err := alerts.Create(ctx, admin, fleet.WebhookInput{Name: "Slack", URL: okSrv.URL + "/services/T/B/XYZ",
		Format: fleet.WebhookSlack, Secret: "ignored", Events: []string{fleet.AlertBulkFailed}})
	if err != nil {
		t.Fatal(err)
	}
	downID, _, err := alerts.Create(ctx, admin, fleet.WebhookInput{Name: "Down", URL: downSrv.URL + "/hook/tok3n",
		Format: fleet.WebhookJSON, Events: []string{fleet.AlertBulkFailed}})
	if err != nil {
		t.Fatal(err)
	}
	alerts.Emit(ctx, fleet.AlertBulkFailed, fleet.BulkFailedData{BulkOpID: 7, Action: "stop", Actor: "op@example.com", Message: "1 done, 0 skipped, 2 failed"})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(10 * time.Second) })
	waitDelivery(t, store, slackID, db.DeliveryDelivered)
	bodies, sigs := ok.got()
	var msg map[string]string
	if err := json.Unmarshal(bodies[0], &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg) != 1 || !strings.Contains(msg["text"], "Bulk action 7 (stop by op@example.com) ended with failures") || sigs[0] != "" {
		t.Fatalf("slack body %s, signature %q", bodies[0], sigs[0])
	}
	d := waitDelivery(t, store, downID, db.DeliveryFailed)
	if d.Attempts != jobs.AlertMaxAttempts || !strings.Contains(d.LastError, "HTTP 500") || strings.Contains(d.LastError, "tok3n") {
		t.Fatalf("given-up delivery = %+v", d)
	}
}
