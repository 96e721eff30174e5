package fleet

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
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
