package vagon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Documented client_code values (NOTES.md).
const (
	CodeOK                  = 200
	CodeBadRequest          = 400
	CodeUnauthorized        = 401
	CodeNotFound            = 404
	CodeInsufficientBalance = 480
	CodeNotReady            = 4201
	CodeRegionRequired      = 4202
	CodeNotRunning          = 4204
	CodeTypeUnavailable     = 4205
	CodeRunning             = 4206
	CodeInvalidUID          = 4216
	CodeUIDReused           = 4217
	CodeBackupDisabled      = 4218
	CodeOutputsTask         = 4219
	CodePermissionRequired  = 4710
)

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 64 << 10

// Error is the one error type for an answer of the API that is not a success:
// a non-2xx HTTP status or a client_code other than 200. It never carries the
// secret, the signature or the Authorization header.
type Error struct {
	Method     string        // HTTP method
	Endpoint   string        // endpoint pattern, e.g. "POST /machines/{id}/start"
	HTTPStatus int           // HTTP status of the answer
	Code       int           // client_code from the body; 0 when the body had none
	Message    string        // message from the body, or a short excerpt of a non-JSON body
	RetryAfter time.Duration // from a Retry-After header, 0 when absent
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("vagon: ")
	b.WriteString(e.Endpoint)
	b.WriteString(": HTTP ")
	b.WriteString(strconv.Itoa(e.HTTPStatus))
	if e.Code != 0 {
		b.WriteString(", client_code ")
		b.WriteString(strconv.Itoa(e.Code))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Temporary reports whether retrying the same request later may succeed.
func (e *Error) Temporary() bool {
	switch e.HTTPStatus {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// checkResponse turns a response into an *Error when it is not a success.
// It reads at most maxErrorBody bytes of an error body. For a 2xx answer it
// returns the body it read so the caller can decode it, checking client_code.
func checkResponse(method, endpoint string, resp *http.Response, body []byte) error {
	return checkResponseOf(method, endpoint, resp, body, false)
}

// checkResponseOf is checkResponse; sensitive (see request.sensitive) keeps
// every part of the body out of the error: no excerpt, and no message read
// from a success answer.
func checkResponseOf(method, endpoint string, resp *http.Response, body []byte, sensitive bool) error {
	var env struct {
		ClientCode *int   `json:"client_code"`
		Message    string `json:"message"`
	}
	jsonErr := json.Unmarshal(body, &env)
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok2xx && jsonErr == nil && (env.ClientCode == nil || *env.ClientCode == CodeOK) {
		return nil
	}
	e := &Error{Method: method, Endpoint: endpoint, HTTPStatus: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	switch {
	case jsonErr == nil:
		if env.ClientCode != nil {
			e.Code = *env.ClientCode
		}
		e.Message = sanitizeMessage(env.Message)
		if sensitive && ok2xx {
			e.Message = "unexpected client_code in a success response (" + withheld + ")"
		}
		if e.Code == 0 && !ok2xx {
			e.Code = resp.StatusCode
		}
	case ok2xx && sensitive:
		e.Message = "malformed JSON in a success response (" + withheld + ")"
	case ok2xx:
		e.Message = "malformed JSON in a success response: " + excerpt(body)
	default:
		if len(body) == 0 {
			e.Message = "empty response body"
		} else if sensitive {
			e.Message = "non-JSON response (" + withheld + ")"
		} else {
			e.Message = "non-JSON response: " + excerpt(body)
		}
	}
	return e
}

// readBounded reads at most limit bytes of r.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, limit))
}

// excerpt returns a short, single-line, valid UTF-8 prefix of a body.
func excerpt(b []byte) string {
	const n = 120
	s := string(b)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) && len(s) > 0 {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return sanitizeMessage(s)
}

// sanitizeMessage folds whitespace and drops control characters so an API
// message can be shown and logged on one line.
func sanitizeMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		s = s[:500]
		for !utf8.ValidString(s) && len(s) > 0 {
			s = s[:len(s)-1]
		}
	}
	return s
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// CodeOf returns the client_code of err when it is an *Error, else 0.
func CodeOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// AsError returns err as an *Error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func hasCode(err error, code int) bool { return CodeOf(err) == code }

// IsBadRequest reports a 400: an invalid parameter.
func IsBadRequest(err error) bool { return hasCode(err, CodeBadRequest) }

// IsUnauthorized reports a refused signature, key or timestamp.
func IsUnauthorized(err error) bool { return hasCode(err, CodeUnauthorized) }

// IsNotFound reports a 404: machine, plan or task not found.
func IsNotFound(err error) bool { return hasCode(err, CodeNotFound) }

// IsInsufficientBalance reports 480: not enough balance to create or start.
func IsInsufficientBalance(err error) bool { return hasCode(err, CodeInsufficientBalance) }

// IsNotReady reports 4201: the machine is not ready.
func IsNotReady(err error) bool { return hasCode(err, CodeNotReady) }

// IsRegionRequired reports 4202: create needs a region.
func IsRegionRequired(err error) bool { return hasCode(err, CodeRegionRequired) }

// IsNotRunning reports 4204: stop on a machine that is not running.
func IsNotRunning(err error) bool { return hasCode(err, CodeNotRunning) }

// IsTypeUnavailable reports 4205: the machine type is not in the plan.
func IsTypeUnavailable(err error) bool { return hasCode(err, CodeTypeUnavailable) }

// IsRunning reports 4206: the action needs the machine off.
func IsRunning(err error) bool { return hasCode(err, CodeRunning) }

// IsInvalidUID reports 4216: the task uid breaks the rules.
func IsInvalidUID(err error) bool { return hasCode(err, CodeInvalidUID) }

// IsUIDReused reports 4217: the uid was deleted before and can't be reused.
func IsUIDReused(err error) bool { return hasCode(err, CodeUIDReused) }

// IsBackupDisabled reports 4218: backup is not enabled for the seat.
func IsBackupDisabled(err error) bool { return hasCode(err, CodeBackupDisabled) }

// IsOutputsTask reports 4219: the default Outputs task can't be deleted.
func IsOutputsTask(err error) bool { return hasCode(err, CodeOutputsTask) }

// IsPermissionRequired reports 4710: the API key lacks the right.
func IsPermissionRequired(err error) bool { return hasCode(err, CodePermissionRequired) }

// errorf builds a package error.
func errorf(format string, args ...any) error { return fmt.Errorf("vagon: "+format, args...) }
