package vagonsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

const (
	testKey    = "test-key"
	testSecret = "test-secret"
)

// t0 is a Wednesday morning, in a non-UTC zone so zone bugs show.
var t0 = time.Date(2026, 4, 15, 11, 0, 0, 0, time.FixedZone("CEST", 2*3600))

// env is a simulator behind a real HTTP server, with the real client.
type env struct {
	t     testing.TB
	clk   *vagonsim.ManualClock
	sim   *vagonsim.Sim
	srv   *httptest.Server
	c     *vagon.Client
	log   *validationLog
	nonce atomic.Int64
}

// newEnv starts a simulator with opts (credentials and clock filled in when
// empty) and checks, at cleanup, that all traffic matched the spec.
func newEnv(t testing.TB, opts vagonsim.Options) *env {
	t.Helper()
	e := &env{t: t, clk: vagonsim.NewManualClock(t0), log: &validationLog{}}
	if opts.Key == "" {
		opts.Key, opts.Secret = testKey, testSecret
	}
	if opts.Clock == nil {
		opts.Clock = e.clk.Now
	}
	e.sim = vagonsim.New(opts)
	e.srv = httptest.NewServer(validating(t, e.sim, e.log))
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { e.log.check(t) })
	c, err := vagon.New(e.srv.URL+vagonsim.BasePath, opts.Key, opts.Secret,
		vagon.WithHTTPClient(e.srv.Client()), vagon.WithClock(e.clk.Now), vagon.WithRetry(0, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e
}

// rawResponse is an answer to a raw request.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
	env    struct {
		ClientCode int    `json:"client_code"`
		Message    string `json:"message"`
		Timestamp  string `json:"timestamp"`
	}
}

// rawOpt changes a raw request's signing inputs.
type rawOpt struct {
	key, secret string
	at          time.Time
	nonce       string
	signedPath  string
	signedBody  *string
	noAuth      bool
	header      string
}

// raw sends a request signed the documented way (with o's alterations), path
// relative to the base path, and decodes the envelope when the body is JSON.
func (e *env) raw(method, path, body string, o rawOpt) rawResponse {
	e.t.Helper()
	if o.key == "" {
		o.key, o.secret = testKey, testSecret
	}
	if o.at.IsZero() {
		o.at = e.clk.Now()
	}
	if o.nonce == "" {
		o.nonce = "raw-" + strconv.FormatInt(e.nonce.Add(1), 10)
	}
	full := vagonsim.BasePath + path
	if o.signedPath == "" {
		o.signedPath, _, _ = cutQuery(full)
	}
	signed := body
	if o.signedBody != nil {
		signed = *o.signedBody
	}
	req, err := http.NewRequest(method, e.srv.URL+full, bytes.NewReader([]byte(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	ts := strconv.FormatInt(o.at.UnixMilli(), 10)
	sig := vagon.Sign(o.secret, o.key, method, o.signedPath, ts, o.nonce, []byte(signed))
	switch {
	case o.header != "":
		req.Header.Set("Authorization", o.header)
	case !o.noAuth:
		req.Header.Set("Authorization", vagon.AuthorizationHeader(o.key, sig, o.nonce, o.at.UnixMilli()))
	}
	req.Header.Set("X-Test-Raw", "1")
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out := rawResponse{status: res.StatusCode, header: res.Header}
	out.body, _ = io.ReadAll(res.Body)
	_ = json.Unmarshal(out.body, &out.env)
	return out
}

func cutQuery(p string) (string, string, bool) {
	for i := range len(p) {
		if p[i] == '?' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

// apiErr returns err as a *vagon.Error or fails.
func apiErr(t testing.TB, err error) *vagon.Error {
	t.Helper()
	var ve *vagon.Error
	if !errors.As(err, &ve) {
		t.Fatalf("want *vagon.Error, got %T %v", err, err)
	}
	return ve
}

// findMachine returns the first machine id for which pred holds.
func (e *env) findMachine(pred func(vagon.Machine, vagonsim.Info) bool) string {
	e.t.Helper()
	for _, id := range e.sim.MachineIDs() {
		m, _ := e.sim.Machine(id)
		info, _ := e.sim.Info(id)
		if pred(m, info) {
			return id
		}
	}
	e.t.Fatal("no machine matches")
	return ""
}

// offMachine returns a machine put in status off with backup on.
func (e *env) offMachine() string {
	e.t.Helper()
	id := e.sim.MachineIDs()[0]
	must(e.t, e.sim.SetStatus(id, vagon.StatusOff))
	must(e.t, e.sim.SetBackupEnabled(id, true))
	must(e.t, e.sim.SetRemainingUsage(id, 600))
	return id
}

// readyMachine returns a machine put in status ready.
func (e *env) readyMachine() string {
	e.t.Helper()
	id := e.sim.MachineIDs()[1]
	must(e.t, e.sim.SetStatus(id, vagon.StatusReady))
	return id
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ctx() context.Context { return context.Background() }

func ptr[T any](v T) *T { return &v }
