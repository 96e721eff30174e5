package vagon

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultBaseURL is the production API's base URL.
const DefaultBaseURL = "https://api.vagon.io/organization-management/v1"

// maxBody bounds a success body (a page of 100 machines is ~150 kB).
const maxBody = 32 << 20

// CallInfo describes one finished HTTP call, for the caller's observation hook.
// A retried request reports each attempt.
type CallInfo struct {
	Method     string
	Endpoint   string // pattern, e.g. "POST /machines/{id}/start"
	HTTPStatus int    // 0 when no answer came (transport error)
	Code       int    // client_code; 0 when none could be read
	Duration   time.Duration
	Attempt    int // 1 for the first try
	Err        error
}

// Client calls the Vagon Computers API. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	key       string
	secret    string
	hc        *http.Client
	userAgent string
	now       func() time.Time
	nonce     func() string
	hook      func(CallInfo)
	retries   int
	backoff   time.Duration
	maxWait   time.Duration
	sleep     func(ctx context.Context, d time.Duration) error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the *http.Client used for calls.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout sets a per-attempt timeout on a copy of the HTTP client.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		cp := *c.hc
		cp.Timeout = d
		c.hc = &cp
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithClock sets the clock used for timestamps (tests).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithNonce sets the nonce source (tests). Each call must return a fresh value.
func WithNonce(f func() string) Option { return func(c *Client) { c.nonce = f } }

// WithHook sets a function called after every HTTP attempt, for metrics.
func WithHook(f func(CallInfo)) Option { return func(c *Client) { c.hook = f } }

// WithRetry sets how many times an idempotent GET is retried (0 disables) and
// the first backoff; later waits double, capped at 30 s, with jitter.
func WithRetry(max int, base time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = max, base }
}

// New returns a client for the API at baseURL (DefaultBaseURL when empty),
// signing with key and secret.
func New(baseURL, key, secret string, opts ...Option) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errorf("base URL %q: want http(s)://host/path", baseURL)
	}
	if key == "" || secret == "" {
		return nil, errorf("API key and secret are required")
	}
	c := &Client{
		base:      u,
		key:       key,
		secret:    secret,
		hc:        &http.Client{Timeout: 30 * time.Second},
		userAgent: "vagon-dashboard/1",
		now:       time.Now,
		nonce:     randomNonce,
		retries:   3,
		backoff:   250 * time.Millisecond,
		maxWait:   30 * time.Second,
		sleep:     sleepCtx,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the base URL the client calls.
func (c *Client) BaseURL() string { return c.base.String() }

func randomNonce() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// request is one API call to make.
type request struct {
	method   string
	endpoint string // pattern for errors and metrics
	path     string // relative to the base path, escaped
	query    url.Values
	body     any // JSON-encoded when not nil
	// sensitive marks an endpoint whose success body holds a credential
	// (an access link). No part of its response body may reach an error
	// text, and so a log line, a page or the audit log: every check and
	// decode error of such a request names what went wrong and withholds
	// the body. Set it on every endpoint that returns links or secrets.
	sensitive bool
}

// withheld replaces a response excerpt in the errors of a sensitive request.
const withheld = "body withheld: it may hold a credential"

// do builds, signs, sends and checks a request, retrying idempotent GETs, and
// decodes a success body into out (when not nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return errorf("%s: encode body: %w", r.endpoint, err)
		}
	}
	u := *c.base
	escaped := c.base.EscapedPath() + r.path
	unescaped, err := url.PathUnescape(escaped)
	if err != nil {
		return errorf("%s: path: %w", r.endpoint, err)
	}
	u.Path, u.RawPath = unescaped, escaped
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	attempts := 1
	if r.method == http.MethodGet {
		attempts += c.retries
	}
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		var sent atomic.Bool
		data, wait, err := c.once(ctx, r, &u, body, attempt, &sent)
		if err != nil && r.method != http.MethodGet && outcomeUnknown(err, sent.Load()) {
			// A write went out and no definite answer came back: it may
			// have happened. Never retried; the caller settles it.
			return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
		if err == nil {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				if r.sensitive {
					// A json error can quote the input; keep none of it.
					return errorf("%s: decode response: not the expected JSON (%s)", r.endpoint, withheld)
				}
				return errorf("%s: decode response: %w", r.endpoint, err)
			}
			return nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt == attempts || !retryable(err) {
			break
		}
		if wait <= 0 {
			wait = c.backoffFor(attempt)
		}
		if wait > c.maxWait {
			wait = c.maxWait
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			break // waiting would outlive the caller's deadline
		}
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
	}
	return lastErr
}

// backoffFor gives a capped exponential backoff with full jitter in [d/2, d].
func (c *Client) backoffFor(attempt int) time.Duration {
	d := c.backoff << (attempt - 1)
	if d <= 0 || d > c.maxWait {
		d = c.maxWait
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// retryable reports an error worth retrying for an idempotent request.
func retryable(err error) bool {
	if e, ok := AsError(err); ok {
		return e.Temporary()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errTransport)
}

var errTransport = errors.New("transport error")

// ErrOutcomeUnknown is wrapped by the error of a write (any method but GET)
// that was sent but got no definite answer: the deadline passed or the
// connection broke after the request was written, or a gateway answered 504.
// The API may have done it; read the state to know (IsOutcomeUnknown). The
// error still wraps the cause (context.DeadlineExceeded, an *Error, ...).
var ErrOutcomeUnknown = errors.New("vagon: no answer to a request that was sent, so whether it happened is unknown")

// IsOutcomeUnknown reports an error wrapping ErrOutcomeUnknown.
func IsOutcomeUnknown(err error) bool { return errors.Is(err, ErrOutcomeUnknown) }

// outcomeUnknown reports whether err, from an attempt whose request was (or
// was not) written to the connection, leaves its effect unknown.
func outcomeUnknown(err error, sent bool) bool {
	if e, ok := AsError(err); ok {
		return e.HTTPStatus == http.StatusGatewayTimeout
	}
	if !sent {
		return false // refused connection, DNS, TLS: the API never saw it
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, errTransport)
}

// once makes one attempt. It returns the success body, or an error and the
// server's requested wait (Retry-After).
// sent is set once the request has been written to the connection.
func (c *Client) once(ctx context.Context, r request, u *url.URL, body []byte, attempt int, sent *atomic.Bool) ([]byte, time.Duration, error) {
	start := time.Now()
	info := CallInfo{Method: r.method, Endpoint: r.endpoint, Attempt: attempt}
	report := func(err error) {
		info.Duration = time.Since(start)
		info.Err = err
		if e, ok := AsError(err); ok {
			info.Code = e.Code
		} else if err == nil {
			info.Code = CodeOK
		}
		if c.hook != nil {
			c.hook(info)
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { sent.Store(i.Err == nil) },
	})
	req, err := http.NewRequestWithContext(tctx, r.method, u.String(), rd)
	if err != nil {
		return nil, 0, errorf("%s: build request: %w", r.endpoint, err)
	}
	ts := c.now().UnixMilli()
	nonce := c.nonce()
	sig := Sign(c.secret, c.key, r.method, u.EscapedPath(), fmt.Sprint(ts), nonce, body)
	req.Header.Set("Authorization", AuthorizationHeader(c.key, sig, nonce, ts))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			report(ctx.Err())
			return nil, 0, ctx.Err()
		}
		// url.Error repeats the URL; keep only the cause (no secrets are in
		// the URL, but the message stays short and stable).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		werr := fmt.Errorf("vagon: %s: %w: %w", r.endpoint, errTransport, err)
		report(werr)
		return nil, 0, werr
	}
	defer resp.Body.Close()
	limit := int64(maxBody)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = maxErrorBody
	}
	data, rerr := readBounded(resp.Body, limit)
	info.HTTPStatus = resp.StatusCode
	if rerr != nil {
		if ctx.Err() != nil {
			report(ctx.Err())
			return nil, 0, ctx.Err()
		}
		werr := fmt.Errorf("vagon: %s: read response: %w: %w", r.endpoint, errTransport, rerr)
		report(werr)
		return nil, 0, werr
	}
	if err := checkResponseOf(r.method, r.endpoint, resp, data, r.sensitive); err != nil {
		report(err)
		e, _ := AsError(err)
		return nil, e.RetryAfter, err
	}
	report(nil)
	return data, 0, nil
}
