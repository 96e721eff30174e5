package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// Alert destinations: admin only, the URL masked and the secret never
// shown, an empty URL/secret on edit keeps the stored one, delete asks
// first, "send test" posts now and shows the outcome in place.
func TestAlerts_page(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	ctx := context.Background()
	var hits, fail atomic.Int64
	var lastSig atomic.Value
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hits.Add(1)
		lastSig.Store(r.Header.Get(fleet.SignatureHeader) + "|" + string(b))
		if fail.Load() > 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rcv.Close)
	const token, secret, secret2 = "XOXtok3nPathPart", "first-s3cret", "second-s3cret"
	hookURL := rcv.URL + "/services/" + token

	// Operators (and below) are refused every alerts route.
	opPw := app.CreateUser(t, "op@example.com", fleet.RoleOperator)
	op := app.Login(t, "op@example.com", opPw)
	if resp, _ := op.Get(t, "/alerts"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("operator GET /alerts: %d", resp.StatusCode)
	}
	if resp, _ := op.PostForm(t, "/alerts/webhooks", url.Values{"name": {"x"}, "url": {hookURL}, "format": {"json"}, "events": {fleet.AlertBulkFailed}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("operator create: %d", resp.StatusCode)
	}
	if hs, _ := app.Server.alerts.Webhooks(ctx); len(hs) != 0 {
		t.Fatal("an operator created a destination")
	}

	pw := app.CreateUser(t, "admin@example.com", fleet.RoleAdmin)
	c := app.Login(t, "admin@example.com", pw)
	resp, doc := c.Get(t, "/alerts")
	if resp.StatusCode != http.StatusOK || doc.Find(testID("nav-alerts")).Length() != 1 {
		t.Fatalf("admin GET /alerts: %d", resp.StatusCode)
	}

	// Errors next to their fields; the URL typed is not echoed back.
	bad := "https://user:pa55@example.com/x"
	resp, doc = c.PostForm(t, "/alerts/webhooks", url.Values{"name": {""}, "url": {bad}, "format": {"json"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(testID("name-error")).Length() != 1 ||
		doc.Find(testID("url-error")).Length() != 1 || doc.Find(testID("events-error")).Length() != 1 {
		t.Fatalf("bad form: %d", resp.StatusCode)
	}
	if h, _ := doc.Html(); strings.Contains(h, "pa55") {
		t.Fatal("the URL typed was echoed back")
	}

	resp, _ = c.PostForm(t, "/alerts/webhooks", url.Values{"name": {"Ops"}, "url": {hookURL}, "format": {"json"},
		"secret": {secret}, "events": {fleet.AlertBulkFailed, fleet.AlertScheduleFailed}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	hooks, _ := app.Server.alerts.Webhooks(ctx)
	if len(hooks) != 1 {
		t.Fatal(hooks)
	}
	id := strconv.FormatInt(hooks[0].ID, 10)
	_, doc = c.Get(t, "/alerts")
	page, _ := doc.Html()
	if got := doc.Find(testID("webhook-url")).Text(); got != rcv.URL+"/…/•••" {
		t.Fatalf("masked URL = %q", got)
	}
	if strings.Contains(page, token) || strings.Contains(page, secret) || doc.Find(testID("webhook-signed")).Length() != 1 {
		t.Fatal("the page shows the URL's token or the secret")
	}
	_, doc = c.Get(t, "/alerts?edit="+id)
	page, _ = doc.Html()
	if strings.Contains(page, token) || strings.Contains(page, secret) || doc.Find(`input[name=name]`).AttrOr("value", "") != "Ops" {
		t.Fatal("the edit form shows a credential or lost the name")
	}

	// Edit with the URL and secret left empty keeps both.
	resp, _ = c.PostForm(t, "/alerts/webhooks/"+id, url.Values{"name": {"Ops 2"}, "url": {""}, "format": {"json"}, "secret": {""},
		"events": {fleet.AlertBulkFailed}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", resp.StatusCode)
	}
	w, _ := app.Server.alerts.Webhook(ctx, hooks[0].ID)
	if w.Name != "Ops 2" || w.URL != hookURL || w.Secret != secret || len(w.Events) != 1 {
		t.Fatalf("after update: name %q, url kept %v, secret kept %v, events %v", w.Name, w.URL == hookURL, w.Secret == secret, w.Events)
	}
	resp, _ = c.PostForm(t, "/alerts/webhooks/"+id, url.Values{"name": {"Ops 2"}, "format": {"json"}, "secret": {secret2},
		"events": {fleet.AlertBulkFailed}})
	if w, _ = app.Server.alerts.Webhook(ctx, hooks[0].ID); resp.StatusCode != http.StatusSeeOther || w.Secret != secret2 || w.URL != hookURL {
		t.Fatalf("new secret: %d", resp.StatusCode)
	}

	// Send test: posts now, the outcome in place (log + toast).
	resp, doc = c.PostHTMX(t, "/alerts/webhooks/"+id+"/test", nil)
	if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Fatalf("test: %d, receiver hits %d", resp.StatusCode, hits.Load())
	}
	if s := doc.Find(testID("delivery-status")).First().Text(); s != "delivered" || !strings.Contains(doc.Find("#toasts, [hx-swap-oob]").Text(), "answered OK") {
		t.Fatalf("test outcome: status %q", s)
	}
	sigBody := lastSig.Load().(string)
	sig, body, _ := strings.Cut(sigBody, "|")
	if sig != fleet.Signature(secret2, []byte(body)) || !strings.Contains(body, `"event":"alert.test"`) {
		t.Fatalf("test delivery: sig %q body %s", sig, body)
	}
	fail.Store(1)
	_, doc = c.PostHTMX(t, "/alerts/webhooks/"+id+"/test", nil)
	toast := doc.Find("[hx-swap-oob]").Text()
	if !strings.Contains(toast, "HTTP 502") || strings.Contains(toast, token) {
		t.Fatalf("failed test toast = %q", toast)
	}
	if e := doc.Find(testID("delivery-error")).First().Text(); !strings.Contains(e, "HTTP 502") || strings.Contains(e, token) {
		t.Fatalf("delivery error = %q", e)
	}

	// Delete asks first, then deletes once.
	_, doc = c.PostForm(t, "/alerts/webhooks/"+id+"/delete", nil)
	tok := doc.Find(testID("webhook-delete-confirm")+" input[name=token]").AttrOr("value", "")
	if tok == "" {
		t.Fatal("no delete confirmation")
	}
	if hs, _ := app.Server.alerts.Webhooks(ctx); len(hs) != 1 {
		t.Fatal("deleted without confirmation")
	}
	if resp, _ = c.PostForm(t, "/alerts/webhooks/"+id+"/delete", url.Values{"token": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if hs, _ := app.Server.alerts.Webhooks(ctx); len(hs) != 0 {
		t.Fatal("not deleted")
	}

	// Audit: each action, with the host, never the URL's token or a secret;
	// the server's log neither.
	seen := map[string]bool{}
	for _, r := range app.AuditRows(t) {
		if !strings.HasPrefix(r.Action, "alert.") {
			continue
		}
		seen[r.Action] = true
		s := string(r.Params) + r.Message
		if strings.Contains(s, token) || strings.Contains(s, secret) || strings.Contains(s, secret2) {
			t.Fatalf("audit row %s leaks: %s", r.Action, s)
		}
	}
	for _, a := range []string{fleet.ActAlertCreate, fleet.ActAlertUpdate, fleet.ActAlertTest, fleet.ActAlertDelete} {
		if !seen[a] {
			t.Errorf("no %s audit row", a)
		}
	}
	if l := app.Log.String(); strings.Contains(l, token) || strings.Contains(l, secret) || strings.Contains(l, secret2) {
		t.Fatal("the server's log has a credential")
	}
}
