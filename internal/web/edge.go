package web

// Input checks at the edge (INTERFACES.md, "Rules for all routes"): a body
// over the route's limit gets 413; a control character or invalid UTF-8 in
// any query or path parameter, form field or header gets 400. Both run in
// the middleware chain before the session, the CSRF check, any handler, any
// query and any log line sees the request.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// defaultBodyLimit bounds every request body: the dashboard's largest
// ordinary form (machine creation, permissions) is a few KB.
const defaultBodyLimit int64 = 256 << 10

// bodyLimits raises the limit for routes that need more, keyed by
// "METHOD /route/pattern" exactly as in the route table (a test checks
// that every key is a route).
var bodyLimits = map[string]int64{
	// A bulk action over a whole fleet repeats machine_id once per machine.
	"POST /bulk": 1 << 20,
}

// bodyLimit is the body limit of the matched route.
func bodyLimit(c echo.Context) int64 {
	if n, ok := bodyLimits[c.Request().Method+" "+c.Path()]; ok {
		return n
	}
	return defaultBodyLimit
}

func errTooLarge(limit int64) error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("The request is too large: this page accepts at most %d KB. Send less (fewer machines or shorter text) and try again.", limit>>10))
}

// mwBodyLimit refuses a body that declares more than the route's limit
// without reading it, and caps the rest: reading past the limit fails (the
// input check turns that into 413), so nothing ever buffers or spools a
// larger body to disk.
func (s *Server) mwBodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		limit := bodyLimit(c)
		r := c.Request()
		if r.ContentLength > limit {
			return errTooLarge(limit)
		}
		if r.Body != nil && r.Body != http.NoBody {
			// The server's own writer: on overflow it also closes the
			// connection instead of draining the rest.
			r.Body = http.MaxBytesReader(c.Response().Writer, r.Body, limit)
		}
		return next(c)
	}
}

// multilineQuery names the query parameters of a route that may carry tab,
// newline and carriage return, keyed like bodyLimits (a test checks every
// key is a route). Microsoft Entra ID writes "\r\nTrace ID: ..." into the
// error_description of every error it sends back to the redirect URL
// (error=access_denied when the user declines); refusing those with 400
// would hide the provider's answer behind a bare error page. The
// callback never shows, stores or logs error_description.
var multilineQuery = map[string][]string{
	"GET /auth/oidc/callback": {"error_description"},
}

// badText reports whether s is not valid UTF-8 or holds a control character
// (C0, DEL, C1); with multiline, tab, newline and carriage return are
// allowed (textareas send them).
func badText(s string, multiline bool) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return true
		}
		if unicode.IsControl(r) && !(multiline && (r == '\t' || r == '\n' || r == '\r')) {
			return true
		}
		i += size
	}
	return false
}

// errBadInput names where the refused character was; a name is quoted only
// when it is itself clean text, so the message (shown and logged) never
// carries the bad bytes.
func errBadInput(kind, name string) error {
	where := kind
	if name != "" && len(name) <= 64 && !badText(name, false) {
		where = fmt.Sprintf("%s %q", kind, name)
	}
	return echo.NewHTTPError(http.StatusBadRequest,
		"The request was refused: the "+where+" contains a control character (such as NUL) or text that is not valid UTF-8. Remove it and try again.")
}

// checkValues refuses the first bad key or value of vs.
func checkValues(kind string, vs url.Values, multiline bool) error {
	for k, list := range vs {
		if badText(k, false) {
			return errBadInput(kind+" name", "")
		}
		for _, v := range list {
			if badText(v, multiline) {
				return errBadInput(kind, k)
			}
		}
	}
	return nil
}

// mwCheckInput refuses a request whose path, path parameters, query, form
// fields (urlencoded or multipart) or headers carry a control character or
// invalid UTF-8: 400 before any handler, query or log line sees them. Query
// and path allow no control character at all; form fields allow tab,
// newline and carriage return. Cookies are left to the session code (other
// programs on the same host may set theirs).
func (s *Server) mwCheckInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if badText(r.URL.Path, false) {
			return errBadInput("address", "")
		}
		for i, v := range c.ParamValues() {
			if badText(v, false) {
				name := ""
				if names := c.ParamNames(); i < len(names) {
					name = names[i]
				}
				return errBadInput("path parameter", name)
			}
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "The request was refused: its address has a malformed query string.")
		}
		multi := multilineQuery[r.Method+" "+c.Path()]
		for k, vs := range q {
			if err := checkValues("query parameter", url.Values{k: vs}, slices.Contains(multi, k)); err != nil {
				return err
			}
		}
		for name, vs := range r.Header {
			if name == "Cookie" {
				continue
			}
			for _, v := range vs {
				if badText(v, false) {
					return errBadInput("header", name)
				}
			}
		}
		if err := s.checkForm(c); err != nil {
			return err
		}
		return next(c)
	}
}

// checkForm reads and checks a form body within the route's limit. An
// urlencoded body is put back for the handler; a multipart one stays parsed
// in the request (in memory: the limit is below the parser's memory budget).
func (s *Server) checkForm(c echo.Context) error {
	r := c.Request()
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var tooLarge *http.MaxBytesError
	switch ct {
	case "application/x-www-form-urlencoded":
		body, err := io.ReadAll(r.Body)
		if errors.As(err, &tooLarge) {
			return errTooLarge(tooLarge.Limit)
		}
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "The request was refused: its form could not be read.")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		vs, err := url.ParseQuery(string(body))
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "The request was refused: its form is malformed.")
		}
		return checkValues("form field", vs, true)
	case "multipart/form-data":
		limit := bodyLimit(c)
		err := r.ParseMultipartForm(limit)
		if errors.As(err, &tooLarge) {
			return errTooLarge(tooLarge.Limit)
		}
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "The request was refused: its form could not be read.")
		}
		if err := checkValues("form field", r.MultipartForm.Value, true); err != nil {
			return err
		}
		for k, files := range r.MultipartForm.File {
			if badText(k, false) {
				return errBadInput("form field name", "")
			}
			for _, f := range files {
				if badText(f.Filename, false) {
					return errBadInput("file name of form field", k)
				}
			}
		}
	}
	return nil
}
