package vagon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testBase = "/organization-management/v1"

// stub is a tiny server whose answers a test scripts; it records requests.
type stub struct {
	mu      sync.Mutex
	reqs    []*recorded
	handler func(w http.ResponseWriter, r *http.Request, n int)
}

type recorded struct {
	method, path, query, auth, contentType string
	body                                   []byte
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, &recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
	n := len(s.reqs)
	s.mu.Unlock()
	s.handler(w, r, n)
}

func (s *stub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func newStub(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int), opts ...Option) (*Client, *stub) {
	t.Helper()
	s := &stub{handler: h}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	base := []Option{WithRetry(3, time.Millisecond)}
	c, err := New(srv.URL+testBase, "key123", "secret456", append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

const okBody = `{"client_code":200,"message":"OK","timestamp":"2026-02-05T10:11:54Z"}`

func TestNew_invalid(t *testing.T) {
	tests := []struct{ name, url, key, secret string }{
		{"bad scheme", "ftp://x/y", "k", "s"},
		{"no host", "http:///x", "k", "s"},
		{"unparseable", "http://[::1", "k", "s"},
		{"no key", "http://x", "", "s"},
		{"no secret", "http://x", "k", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.url, tt.key, tt.secret)
			if err == nil {
				t.Fatal("New: want error")
			}
			if strings.Contains(err.Error(), "s") && tt.secret != "" && strings.Contains(err.Error(), tt.secret+"\"") {
				t.Fatalf("error leaks secret: %v", err)
			}
		})
	}
	c, err := New("", "k", "s")
	if err != nil || c.BaseURL() != DefaultBaseURL {
		t.Fatalf("default base: %v %v", c, err)
	}
}

func TestClient_signsRequests(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, okBody) },
		WithClock(func() time.Time { return now }), WithNonce(func() string { return "nonce-abc" }))
	if err := c.StartMachine(context.Background(), "12"); err != nil {
		t.Fatal(err)
	}
	r := s.reqs[0]
	if r.method != "POST" || r.path != testBase+"/machines/12/start" || string(r.body) != "{}" {
		t.Fatalf("request = %s %s %q", r.method, r.path, r.body)
	}
	// Same vector as TestSign, computed with openssl.
	want := "HMAC key123:618700f4aec9c778bc37e46e8a76f8f08afcbac538decc8cbc4c3aed118397ca:nonce-abc:1700000000000"
	if r.auth != want {
		t.Fatalf("Authorization = %q, want %q", r.auth, want)
	}
	if r.contentType != "application/json" {
		t.Fatalf("Content-Type = %q", r.contentType)
	}
}

func TestClient_requestBodies(t *testing.T) {
	tr, f := true, false
	auto, src := 900, "team_balance"
	img := int64(100)
	tests := []struct {
		name     string
		call     func(c *Client) error
		method   string
		path     string
		query    string
		wantBody string
	}{
		{"list with filters", func(c *Client) error {
			tl := 30
			_, err := c.ListMachines(context.Background(), &ListMachinesOptions{Q: "ann@x.io", Status: "off", Assigned: &tr, TimeLeft: &tl, HasSessionData: &f, Page: 2, PerPage: 50})
			return err
		}, "GET", "/machines", "assigned=true&has_session_data=false&page=2&per_page=50&q=ann%40x.io&status=off&time_left=30", ""},
		{"list without filters", func(c *Client) error { _, err := c.ListMachines(context.Background(), nil); return err }, "GET", "/machines", "", ""},
		{"create", func(c *Client) error {
			p := DefaultPermissions()
			_, err := c.CreateMachines(context.Background(), &CreateMachinesRequest{PlanID: 1, Quantity: 2, Region: "dublin", SoftwareIDs: []int64{3}, BaseImageID: &img, Permissions: &p})
			return err
		}, "POST", "/machines", "", `{"plan_id":1,"quantity":2,"region":"dublin","software_ids":[3],"base_image_id":100,"permissions":{"public_internet_access":true,"can_download_from_vagon_workstation":true,"can_upload_to_workstation":true,"analytics_collection_enabled":false,"clipboard_enabled":true,"screen_recording_enabled":false,"input_recording_enabled":false}}`},
		{"update only auto-stop", func(c *Client) error {
			_, err := c.UpdateMachine(context.Background(), "7", &UpdateMachineRequest{AutoStopThreshold: &auto})
			return err
		}, "PATCH", "/machines/7", "", `{"auto_stop_threshold":900}`},
		{"update auto-stop off and source", func(c *Client) error {
			zero := 0
			_, err := c.UpdateMachine(context.Background(), "7", &UpdateMachineRequest{AutoStopThreshold: &zero, UsageSource: &src})
			return err
		}, "PATCH", "/machines/7", "", `{"auto_stop_threshold":0,"usage_source":"team_balance"}`},
		{"stop graceful", func(c *Client) error { return c.StopMachine(context.Background(), "7", true) }, "POST", "/machines/7/stop", "", `{"gracefully":true}`},
		{"stop now", func(c *Client) error { return c.StopMachine(context.Background(), "7", false) }, "POST", "/machines/7/stop", "", `{"gracefully":false}`},
		{"reset", func(c *Client) error { return c.ResetMachine(context.Background(), "7", true) }, "POST", "/machines/7/reset", "", `{"remove_files":true}`},
		{"permissions only changed, false sent", func(c *Client) error {
			var u PermissionsUpdate
			u.Set(PermClipboard, false)
			return c.UpdatePermissions(context.Background(), "7", u)
		}, "POST", "/machines/7/permissions", "", `{"permissions":{"clipboard_enabled":false}}`},
		{"machine type", func(c *Client) error { return c.SetMachineType(context.Background(), "7", "15") }, "POST", "/machines/7/machine-type", "", `{"machine_type_id":15}`},
		{"access", func(c *Client) error { _, err := c.CreateAccessLink(context.Background(), "7", 60); return err }, "POST", "/machines/7/access", "", `{"expires_in":60}`},
		{"types", func(c *Client) error { _, err := c.ListMachineTypes(context.Background(), "7"); return err }, "GET", "/machines/7/available-machine-types", "", ""},
		{"sessions", func(c *Client) error { _, err := c.ListSessions(context.Background(), "7"); return err }, "GET", "/machines/7/sessions", "", ""},
		{"tasks page", func(c *Client) error {
			_, err := c.ListTasks(context.Background(), "7", &ListTasksOptions{Page: 2, PerPage: 5})
			return err
		}, "GET", "/machines/7/tasks", "page=2&per_page=5", ""},
		{"activate task", func(c *Client) error { _, err := c.ActivateTask(context.Background(), "7", "Project-A"); return err }, "POST", "/machines/7/tasks", "", `{"uid":"Project-A"}`},
		{"delete task", func(c *Client) error { _, err := c.DeleteTask(context.Background(), "7", "21"); return err }, "DELETE", "/machines/7/tasks/21", "", ""},
		{"software", func(c *Client) error { _, err := c.ListSoftware(context.Background()); return err }, "GET", "/software", "", ""},
		{"id is escaped", func(c *Client) error { return c.StartMachine(context.Background(), "a/b") }, "POST", "/machines/a%2Fb/start", "", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, okBody) })
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			r := s.reqs[0]
			if r.method != tt.method || r.path != testBase+tt.path || r.query != tt.query || string(r.body) != tt.wantBody {
				t.Fatalf("got %s %s?%s %s\nwant %s %s?%s %s", r.method, r.path, r.query, r.body, tt.method, testBase+tt.path, tt.query, tt.wantBody)
			}
			// The signature covers the escaped path as sent.
			_, sig, nonce, ts, ok := ParseAuthorization(r.auth)
			if !ok || sig != Sign("secret456", "key123", r.method, r.path, ts, nonce, r.body) {
				t.Fatalf("signature does not verify: %q", r.auth)
			}
		})
	}
}

func TestClient_refusesBadArguments(t *testing.T) {
	c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, okBody) })
	ctx := context.Background()
	errs := []error{
		c.StartMachine(ctx, ""),
		c.SetMachineType(ctx, "1", "abc"),
		c.SetMachineType(ctx, "1", "0"),
		c.UpdatePermissions(ctx, "1", PermissionsUpdate{}),
	}
	_, err := c.CreateMachines(ctx, nil)
	errs = append(errs, err)
	_, err = c.DeleteTask(ctx, "1", " ")
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: want error", i)
		}
	}
	if s.count() != 0 {
		t.Fatalf("%d requests reached the server", s.count())
	}
}

func TestClient_errors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		header    map[string]string
		wantCode  int
		wantHTTP  int
		wantMsg   string
		predicate func(error) bool
	}{
		{"json 4204", 422, `{"client_code":4204,"message":"Machine is not running","timestamp":"x"}`, nil, 4204, 422, "Machine is not running", IsNotRunning},
		{"client_code in a 200", 200, `{"client_code":480,"message":"Insufficient balance"}`, nil, 480, 200, "Insufficient balance", IsInsufficientBalance},
		{"404", 404, `{"client_code":404,"message":"Machine not found"}`, nil, 404, 404, "Machine not found", IsNotFound},
		{"400", 400, `{"client_code":400,"message":"bad"}`, nil, 400, 400, "bad", IsBadRequest},
		{"4201", 422, `{"client_code":4201,"message":"not ready"}`, nil, 4201, 422, "not ready", IsNotReady},
		{"4202", 422, `{"client_code":4202,"message":"Region is required"}`, nil, 4202, 422, "Region is required", IsRegionRequired},
		{"4205", 422, `{"client_code":4205,"message":"type"}`, nil, 4205, 422, "type", IsTypeUnavailable},
		{"4206", 409, `{"client_code":4206,"message":"Machine is running"}`, nil, 4206, 409, "Machine is running", IsRunning},
		{"4216", 422, `{"client_code":4216,"message":"uid"}`, nil, 4216, 422, "uid", IsInvalidUID},
		{"4217", 422, `{"client_code":4217,"message":"reused"}`, nil, 4217, 422, "reused", IsUIDReused},
		{"4218", 422, `{"client_code":4218,"message":"backup"}`, nil, 4218, 422, "backup", IsBackupDisabled},
		{"4219", 422, `{"client_code":4219,"message":"outputs"}`, nil, 4219, 422, "outputs", IsOutputsTask},
		{"4710", 403, `{"client_code":4710,"message":"Permission required"}`, nil, 4710, 403, "Permission required", IsPermissionRequired},
		{"401", 401, `{"client_code":401,"message":"Invalid signature"}`, nil, 401, 401, "Invalid signature", IsUnauthorized},
		{"json without code", 500, `{"message":"boom"}`, nil, 500, 500, "boom", nil},
		{"html 502", 502, "<html><body><h1>502 Bad Gateway</h1>\n</body></html>", nil, 0, 502, "non-JSON response: <html><body><h1>502 Bad Gateway</h1> </body></html>", nil},
		{"empty 504", 504, "", nil, 0, 504, "empty response body", nil},
		{"malformed success", 200, `{"machines":[`, nil, 0, 200, "malformed JSON in a success response", nil},
		{"retry-after", 429, `{"client_code":429,"message":"slow down"}`, map[string]string{"Retry-After": "7"}, 429, 429, "slow down", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}, WithRetry(0, 0))
			err := c.StopMachine(context.Background(), "9", true)
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("want *Error, got %T %v", err, err)
			}
			if e.Code != tt.wantCode || e.HTTPStatus != tt.wantHTTP || !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Fatalf("got code %d http %d msg %q", e.Code, e.HTTPStatus, e.Message)
			}
			if e.Endpoint != "POST /machines/{id}/stop" || e.Method != "POST" {
				t.Fatalf("endpoint %q method %q", e.Endpoint, e.Method)
			}
			if tt.predicate != nil && !tt.predicate(err) {
				t.Fatalf("predicate false for %v", err)
			}
			if tt.header["Retry-After"] == "7" && e.RetryAfter != 7*time.Second {
				t.Fatalf("RetryAfter = %v", e.RetryAfter)
			}
			msg := err.Error()
			for _, secret := range []string{"secret456", "HMAC", "Authorization"} {
				if strings.Contains(msg, secret) {
					t.Fatalf("error text %q contains %q", msg, secret)
				}
			}
			if !strings.Contains(msg, fmt.Sprint(tt.wantHTTP)) {
				t.Fatalf("error text %q lacks the HTTP status", msg)
			}
		})
	}
}

func TestClient_errorBodyIsBounded(t *testing.T) {
	c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(502)
		io.WriteString(w, strings.Repeat("x", 1<<20))
	}, WithRetry(0, 0))
	err := c.StartMachine(context.Background(), "1")
	if e, ok := AsError(err); !ok || len(e.Message) > 200 {
		t.Fatalf("message not bounded: %d", len(err.Error()))
	}
}

func TestClient_retries(t *testing.T) {
	tests := []struct {
		name      string
		call      func(c *Client) error
		statuses  []int
		wantCalls int
		wantErr   bool
	}{
		{"GET retried on 503 then ok", func(c *Client) error { _, err := c.ListMachines(context.Background(), nil); return err }, []int{503, 502, 200}, 3, false},
		{"GET retried on 429", func(c *Client) error { _, err := c.ListSessions(context.Background(), "1"); return err }, []int{429, 200}, 2, false},
		{"GET gives up after max", func(c *Client) error { _, err := c.ListMachines(context.Background(), nil); return err }, []int{504, 504, 504, 504, 504}, 4, true},
		{"GET not retried on 404", func(c *Client) error { _, err := c.ListSessions(context.Background(), "1"); return err }, []int{404}, 1, true},
		{"GET not retried on 500", func(c *Client) error { _, err := c.ListSessions(context.Background(), "1"); return err }, []int{500, 200}, 1, true},
		{"POST never retried", func(c *Client) error { return c.StartMachine(context.Background(), "1") }, []int{503, 200}, 1, true},
		{"PATCH never retried", func(c *Client) error {
			_, err := c.UpdateMachine(context.Background(), "1", &UpdateMachineRequest{})
			return err
		}, []int{502, 200}, 1, true},
		{"DELETE never retried", func(c *Client) error { _, err := c.DeleteTask(context.Background(), "1", "2"); return err }, []int{429, 200}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
				st := tt.statuses[min(n-1, len(tt.statuses)-1)]
				if st == 200 {
					writeJSON(w, 200, `{"machines":[],"sessions":[],"count":0,"page":1,"next_page":null,"client_code":200,"message":"OK"}`)
					return
				}
				w.Header().Set("Retry-After", "0")
				writeJSON(w, st, fmt.Sprintf(`{"client_code":%d,"message":"x"}`, st))
			})
			err := tt.call(c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if s.count() != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", s.count(), tt.wantCalls)
			}
		})
	}
}

func TestClient_retryHonoursRetryAfterAndContext(t *testing.T) {
	c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "2")
		writeJSON(w, 429, `{"client_code":429,"message":"slow"}`)
	})
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	_, err := c.ListMachines(context.Background(), nil)
	if err == nil || len(waits) != 3 || waits[0] != 2*time.Second {
		t.Fatalf("err %v waits %v", err, waits)
	}
	// A deadline shorter than Retry-After stops retrying at once.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	before := s.count()
	_, err = c.ListMachines(ctx, nil)
	if !IsTooManyRequests(err) || s.count()-before != 1 {
		t.Fatalf("err %v calls %d", err, s.count()-before)
	}
}

// IsTooManyRequests is a test helper: the error is a 429.
func IsTooManyRequests(err error) bool {
	e, ok := AsError(err)
	return ok && e.HTTPStatus == 429
}

func TestClient_backoffIsCappedWithJitter(t *testing.T) {
	c, _ := New("http://x", "k", "s", WithRetry(10, 100*time.Millisecond))
	for attempt := 1; attempt <= 20; attempt++ {
		d := c.backoffFor(attempt)
		full := min(100*time.Millisecond<<(attempt-1), 30*time.Second)
		if attempt > 10 {
			full = 30 * time.Second
		}
		if d < full/2 || d > full {
			t.Fatalf("attempt %d: %v not in [%v, %v]", attempt, d, full/2, full)
		}
	}
}

func TestClient_timeoutIsRetriedForGet(t *testing.T) {
	var calls atomic.Int32
	c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if calls.Add(1) == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		writeJSON(w, 200, `{"machines":[],"count":0,"page":1,"next_page":null,"client_code":200,"message":"OK"}`)
	}, WithTimeout(100*time.Millisecond))
	if _, err := c.ListMachines(context.Background(), nil); err != nil {
		t.Fatalf("want success after a timed-out first try: %v", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("calls = %d", calls.Load())
	}
}

func TestClient_cancelledContext(t *testing.T) {
	c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		time.Sleep(200 * time.Millisecond)
		writeJSON(w, 200, okBody)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := c.StartMachine(ctx, "1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ctx.Err()", err)
	}
}

func TestClient_transportErrorHasNoSecrets(t *testing.T) {
	c, err := New("http://127.0.0.1:1"+testBase, "key123", "secret456", WithRetry(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	err = c.StartMachine(context.Background(), "1")
	if err == nil || strings.Contains(err.Error(), "secret456") || !strings.Contains(err.Error(), "POST /machines/{id}/start") {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_hook(t *testing.T) {
	var mu sync.Mutex
	var calls []CallInfo
	c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeJSON(w, 503, `{"client_code":503,"message":"x"}`)
			return
		}
		if r.Method == "POST" {
			writeJSON(w, 422, `{"client_code":4204,"message":"Machine is not running"}`)
			return
		}
		writeJSON(w, 200, `{"sessions":[],"client_code":200,"message":"OK"}`)
	}, WithHook(func(ci CallInfo) { mu.Lock(); calls = append(calls, ci); mu.Unlock() }))
	if _, err := c.ListSessions(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	_ = c.StopMachine(context.Background(), "1", false)
	want := []struct {
		endpoint     string
		status, code int
		attempt      int
	}{
		{"GET /machines/{id}/sessions", 503, 503, 1},
		{"GET /machines/{id}/sessions", 200, 200, 2},
		{"POST /machines/{id}/stop", 422, 4204, 1},
	}
	if len(calls) != len(want) {
		t.Fatalf("calls = %+v", calls)
	}
	for i, w := range want {
		g := calls[i]
		if g.Endpoint != w.endpoint || g.HTTPStatus != w.status || g.Code != w.code || g.Attempt != w.attempt || g.Duration <= 0 {
			t.Errorf("call %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestClient_Machines_walksPages(t *testing.T) {
	const pages = 4
	c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		page := r.URL.Query().Get("page")
		var p int
		fmt.Sscan(page, &p)
		next := "null"
		if p < pages {
			next = fmt.Sprint(p + 1)
		}
		writeJSON(w, 200, fmt.Sprintf(`{"machines":[{"id":"%d","type":"machine","attributes":{"name":"m%d","friendly_status":"off","user":null,"task":null}},{"id":%d,"type":"machine","attributes":{"name":"n%d","friendly_status":"off"}}],"count":%d,"page":%d,"next_page":%s,"client_code":200,"message":"OK"}`, p*10, p, p*10+1, p, pages*2, p, next))
	})
	all, err := c.ListAllMachines(context.Background(), &ListMachinesOptions{Q: "x", PerPage: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != pages*2 || all[0].ID != "10" || all[1].ID != "11" || all[7].ID != "41" {
		t.Fatalf("machines = %v", all)
	}
	for i, r := range s.reqs {
		if !strings.Contains(r.query, fmt.Sprintf("page=%d", i+1)) || !strings.Contains(r.query, "q=x") || !strings.Contains(r.query, "per_page=2") {
			t.Fatalf("request %d query %q", i, r.query)
		}
	}
	// Stopping early stops fetching.
	before := s.count()
	for range c.Machines(context.Background(), nil) {
		break
	}
	if s.count()-before != 1 {
		t.Fatalf("early stop fetched %d pages", s.count()-before)
	}
}

// MachinePages starts at the page asked for (a resumed sync pass) and
// numbers each page as asked, whatever the answer's page field says.
func TestClient_MachinePages_fromPage(t *testing.T) {
	c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		var p int
		fmt.Sscan(r.URL.Query().Get("page"), &p)
		next := "null"
		if p < 4 {
			next = fmt.Sprint(p + 1)
		}
		writeJSON(w, 200, fmt.Sprintf(`{"machines":[{"id":"%d","attributes":{}}],"count":4,"page":0,"next_page":%s,"client_code":200,"message":"OK"}`, p, next))
	})
	var got []string
	for page, err := range c.MachinePages(context.Background(), &ListMachinesOptions{Page: 3, PerPage: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%s", page.Page, page.Machines[0].ID))
	}
	if strings.Join(got, ",") != "3:3,4:4" || s.count() != 2 {
		t.Fatalf("pages = %v after %d requests, want 3:3,4:4 after 2", got, s.count())
	}
}

func TestClient_Machines_stopsOnLoopAndError(t *testing.T) {
	c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 3 {
			writeJSON(w, 404, `{"client_code":404,"message":"nope"}`)
			return
		}
		writeJSON(w, 200, `{"machines":[{"id":"1","attributes":{}}],"count":9,"page":1,"next_page":2,"client_code":200,"message":"OK"}`)
	})
	// next_page 2 from page 1, then 2 again from page 2: a loop the walker must stop.
	all, err := c.ListAllMachines(context.Background(), nil)
	if err != nil || len(all) != 2 || s.count() != 2 {
		t.Fatalf("all %d err %v calls %d", len(all), err, s.count())
	}
	_, err = c.ListAllMachines(context.Background(), nil)
	if err == nil {
		t.Fatalf("want error from the third page")
	}
}

func TestClient_ListAllTasks(t *testing.T) {
	c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		next := "null"
		if n < 3 {
			next = fmt.Sprint(n + 1)
		}
		writeJSON(w, 200, fmt.Sprintf(`{"tasks":[{"id":"%d","type":"task","attributes":{"uid":"t%d","status":"inactive","folder_size":null,"created_at":"2026-04-15T11:16:44.534Z"}}],"count":3,"page":%d,"next_page":%s,"client_code":200,"message":"OK"}`, n, n, n, next))
	})
	tasks, err := c.ListAllTasks(context.Background(), "5")
	if err != nil || len(tasks) != 3 || tasks[2].Attributes.UID != "t3" || tasks[0].Attributes.FolderSize != nil {
		t.Fatalf("tasks %+v err %v", tasks, err)
	}
}

func TestClient_UpdateMachine_decodesMachine(t *testing.T) {
	c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, `{"id":"7","type":"machine","attributes":{"name":"Computer #7","auto_stop_threshold":3600,"usage_source":"team_balance","friendly_status":"off"},"client_code":200,"message":"OK"}`)
	})
	m, err := c.UpdateMachine(context.Background(), "7", nil)
	if err != nil || m.ID != "7" || m.Attributes.AutoStopThreshold != 3600 || m.Attributes.UsageSource != "team_balance" {
		t.Fatalf("m %+v err %v", m, err)
	}
}

func TestDecode_machineFromDocs(t *testing.T) {
	// The list example of machines-api.md, plus an unknown status, numeric ids and nulls.
	body := `{"machines":[{"id":"100","type":"machine","attributes":{"name":"Computer #100","last_session_start_at":"2026-01-23T11:02:41.902Z","auto_stop_threshold":900,"file_storage_size":25,"disk_size":75,"network_credit":10233505675,"assigned_image_id":990,"assigned_image_name":"Template #990","region":"dublin","machine_type":"Planet","remaining_usage":0,"deposited_usage":0,"friendly_status":"off","user":{"id":"f1592625-edd0-48df-9bc0-de14910ec936","type":"user","attributes":{"email":"<user@vagon.io>","name":"Computer User"}},"permissions":{"public_internet_access":true,"can_download_from_vagon_workstation":true,"can_upload_to_workstation":true,"analytics_collection_enabled":true,"clipboard_enabled":true,"screen_recording_enabled":true,"input_recording_enabled":true},"usage_source":"machine","task":{"id":42,"uid":"Project-Alpha","created_at":"2026-04-20T09:15:00Z"},"latest_image_status":"ready"}},
	{"id":101,"type":"machine","attributes":{"name":"x","last_session_start_at":null,"assigned_image_id":null,"assigned_image_name":null,"friendly_status":"hibernating","user":null,"task":null,"latest_image_status":null}}],
	"count":2,"page":1,"next_page":null,"client_code":200,"message":"OK","timestamp":"2026-02-05T10:08:09Z"}`
	var l MachineList
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	m := l.Machines[0].Attributes
	if l.Machines[0].ID != "100" || m.Task.ID != "42" || m.User.Attributes.Email != "<user@vagon.io>" || *m.AssignedImageID != 990 || m.DiskSize != 75 || m.NetworkCredit != 10233505675 || *m.LatestImageStatus != "ready" || m.LastSessionStartAt.IsZero() {
		t.Fatalf("machine 0 = %+v", m)
	}
	n := l.Machines[1]
	if n.ID != "101" || n.Attributes.FriendlyStatus != "hibernating" || n.Attributes.FriendlyStatus.Known() || n.Attributes.User != nil || n.Attributes.Task != nil || n.Attributes.LatestImageStatus != nil || n.Attributes.LastSessionStartAt != nil {
		t.Fatalf("machine 1 = %+v", n)
	}
	if !n.Attributes.FriendlyStatus.Transitional() || StatusOff.Transitional() || !StatusGracefulStopping.Known() {
		t.Fatal("status predicates")
	}
}

func TestID_UnmarshalJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    ID
		wantErr bool
	}{
		{`"18"`, "18", false},
		{`42`, "42", false},
		{`null`, "", false},
		{`4.5`, "", true},
		{`true`, "", true},
		{`{}`, "", true},
		{`"abc"`, "abc", false},
	}
	for _, tt := range tests {
		var id ID
		err := json.Unmarshal([]byte(tt.in), &id)
		if (err != nil) != tt.wantErr || (err == nil && id != tt.want) {
			t.Errorf("Unmarshal(%s) = %q, %v", tt.in, id, err)
		}
	}
}

func TestPermissionsUpdate(t *testing.T) {
	var u PermissionsUpdate
	if !u.Empty() {
		t.Fatal("zero update not empty")
	}
	for _, k := range PermissionKeys {
		if !u.Set(k, false) {
			t.Fatalf("Set(%q) refused", k)
		}
	}
	if u.Set("root_access", true) {
		t.Fatal("unknown key accepted")
	}
	b, _ := json.Marshal(u)
	var m map[string]bool
	_ = json.Unmarshal(b, &m)
	if len(m) != 7 {
		t.Fatalf("marshalled %s", b)
	}
	if got := DefaultPermissions().AsMap(); len(got) != 7 || got[PermAnalyticsCollection] || !got[PermClipboard] {
		t.Fatalf("defaults %v", got)
	}
}

func TestValidateTaskUID(t *testing.T) {
	tests := []struct {
		uid string
		ok  bool
	}{
		{"Project-Alpha", true},
		{"Outputs", true},
		{"ünïcode ok", true},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("é", 255), true},
		{strings.Repeat("a", 256), false},
		{"", false},
		{"   ", false},
		{`a\b`, false}, {"a/b", false}, {"a:b", false}, {"a*b", false}, {"a?b", false},
		{`a"b`, false}, {"a<b", false}, {"a>b", false}, {"a|b", false},
	}
	for _, tt := range tests {
		if err := ValidateTaskUID(tt.uid); (err == nil) != tt.ok {
			t.Errorf("ValidateTaskUID(%.20q) = %v", tt.uid, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {"-1", 0}, {"soon", 0},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-10 * time.Second).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestClient_accessLinkBodyNeverInErrors: the access endpoint's answer is a
// credential, so whatever is wrong with it, neither the error text nor the
// hook's error (metrics, logs) carries any part of the body.
func TestClient_accessLinkBodyNeverInErrors(t *testing.T) {
	const secret = "SECRETTOKEN0123456789"
	link := "https://connect.vagon.io/s/" + secret
	cases := []struct {
		name   string
		status int
		body   string
	}{
		{"non-JSON 2xx", 200, "<html>your link: " + link + "</html>"},
		{"cut-short JSON 2xx", 200, `{"client_code":200,"attributes":{"connection_link":"` + link},
		{"JSON of the wrong shape", 200, `{"client_code":200,"attributes":"` + link + `"}`},
		{"2xx with an error code", 200, `{"client_code":4201,"message":"` + link + `"}`},
		{"non-JSON 5xx", 502, "<html>" + link + "</html>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hookErrs []string
			c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}, WithHook(func(ci CallInfo) {
				if ci.Err != nil {
					hookErrs = append(hookErrs, ci.Err.Error())
				}
			}))
			_, err := c.CreateAccessLink(context.Background(), "42", 60)
			if err == nil {
				t.Fatal("no error")
			}
			for _, text := range append(hookErrs, err.Error(), fmt.Sprintf("%+v", err)) {
				for _, part := range []string{secret[:8], "connect.vagon", "connection_link", "<html>"} {
					if strings.Contains(text, part) {
						t.Errorf("error %q holds %q of the body", text, part)
					}
				}
			}
			if !strings.Contains(err.Error(), "withheld") {
				t.Errorf("error %q does not say the body was withheld", err)
			}
		})
	}
	// Other endpoints keep their excerpt: it is what tells a gateway page
	// from a broken answer.
	c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "<html>maintenance</html>")
	})
	if err := c.StartMachine(context.Background(), "42"); err == nil || !strings.Contains(err.Error(), "maintenance") {
		t.Errorf("start: %v, want the excerpt", err)
	}
}

// TestClient_writeOutcomeUnknown: a write that was sent but got no definite
// answer is ErrOutcomeUnknown (and is not retried); one that never left, or
// that got a definite refusal, is not.
func TestClient_writeOutcomeUnknown(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}
	c, st := newStub(t, slow)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := c.StartMachine(ctx, "42")
	cancel()
	if !IsOutcomeUnknown(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timed-out start: %v, want unknown wrapping the deadline", err)
	}
	if st.count() != 1 {
		t.Errorf("start sent %d times, want once", st.count())
	}

	c, _ = newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusGatewayTimeout) })
	if err := c.StopMachine(context.Background(), "42", false); !IsOutcomeUnknown(err) {
		t.Errorf("504 stop: %v, want unknown", err)
	} else if e, ok := AsError(err); !ok || e.HTTPStatus != 504 {
		t.Errorf("504 stop: %v, want it to keep the *Error", err)
	}
	// A 502, 400 or a refused connection are definite: nothing happened.
	c, _ = newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusBadGateway) })
	if err := c.StartMachine(context.Background(), "42"); err == nil || IsOutcomeUnknown(err) {
		t.Errorf("502 start: %v, want a plain failure", err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	dead := srv.URL
	srv.Close()
	c2, _ := New(dead+testBase, "k", "s")
	if err := c2.StartMachine(context.Background(), "42"); err == nil || IsOutcomeUnknown(err) {
		t.Errorf("refused connection: %v, want a plain failure", err)
	}
	// Reads are never unknown: they are retried instead.
	c, _ = newStub(t, slow)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.ListMachines(ctx, nil); err == nil || IsOutcomeUnknown(err) {
		t.Errorf("timed-out list: %v", err)
	}
}
