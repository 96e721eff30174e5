package web

// Tests of the edge (issue 8): the post-login redirect stays on the site,
// bodies are bounded, control characters and invalid UTF-8 never get past
// the middleware, and the CSRF token is taken only from the body or header.

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// TestSafeNext: the post-login target is a same-origin path or /machines.
func TestSafeNext(t *testing.T) {
	t.Parallel()
	kept := []string{
		"/machines", "/audit?outcome=denied", "/machines/104", "/machines?q=a%2Fb&page=2",
		"/reports/usage?from=2025-01-01&to=2025-01-31#top", "/", "/machines/104%20x",
		"/@evil.example", // an ordinary path on this origin
	}
	for _, next := range kept {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}
	refused := []string{
		"", "machines", "evil.example", "https://evil.example/", "http:/evil.example",
		"javascript:alert(1)", "//evil.example", "///evil.example", "//evil.example/machines",
		// Browsers strip tabs, newlines and CRs inside a URL.
		"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "\t//evil.example",
		"/%09/evil.example", "/%0a/evil.example", "/%0d/evil.example", "/%00/evil.example",
		// A backslash is a slash to browsers.
		`/\evil.example`, `\\evil.example`, `/\/evil.example`, `/%5cevil.example`, `/%5Cevil.example`,
		"/machines\\..\\..\\evil",
		// Encoded slashes.
		"/%2fevil.example", "/%2F%2Fevil.example", "/%2f%2fevil.example/", "/machines%2f..%2f..",
		// Dot segments that resolve to a leading "//".
		"/.//evil.example", "/..//evil.example", "/%2e//evil.example", "/machines/..//evil.example",
		// Other bytes a browser may drop or reinterpret.
		"/ /evil.example", "/\x00/evil.example", "/\x7f/evil.example", "/\x0b/evil.example",
		"/\u00a0/evil.example", "/\u3000/evil.example", "/\uff0f\uff0fevil.example", "/\xff",
		"/login", "/login?next=/machines", "/logout",
		"/" + strings.Repeat("a", 1000),
	}
	for _, next := range refused {
		if got := safeNext(next); got != "/machines" {
			t.Errorf("safeNext(%q) = %q, want /machines", next, got)
		}
	}
}

// TestLogin_openRedirect: GET /login?next= (signed in) and POST /login with
// a next that a browser would read as another host answer 303 /machines.
func TestLogin_openRedirect(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "ann@example.com", fleet.RoleViewer)
	attacks := []string{"/\t/evil.example", "/%09/evil.example", `/\evil.example`, "/%2f/evil.example", "/.//evil.example"}
	signedIn := app.Login(t, "ann@example.com", pw)
	for _, next := range attacks {
		// A control character in the query is refused at the edge (400);
		// anything else must land on /machines.
		resp, _ := signedIn.Get(t, "/login?next="+url.QueryEscape(next))
		loc := resp.Header.Get("Location")
		if badText(next, false) {
			if resp.StatusCode != http.StatusBadRequest || loc != "" {
				t.Errorf("GET /login?next=%q signed in: %d Location %q, want 400", next, resp.StatusCode, loc)
			}
		} else if resp.StatusCode != http.StatusSeeOther || loc != "/machines" {
			t.Errorf("GET /login?next=%q signed in: %d Location %q, want 303 /machines", next, resp.StatusCode, loc)
		}
		c := app.NewClient()
		resp, _ = c.PostForm(t, "/login", url.Values{"email": {"ann@example.com"}, "password": {pw}, "next": {next}})
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/machines" {
			t.Errorf("POST /login next=%q: %d Location %q, want 303 /machines", next, resp.StatusCode, loc)
		}
	}
}

// TestBodyLimit: a body over the route's limit gets 413 with a clear
// message before anything reads it (the unauthenticated multipart sign-in
// of the report), whether it declares its length or streams it.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := app.NewClient()
	c.CSRFFrom(t, "/login")

	big := func() *bytes.Buffer {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("email", "a@example.com")
		fw, _ := mw.CreateFormFile("upload", "big.bin")
		_, _ = fw.Write(bytes.Repeat([]byte("x"), 2<<20))
		_ = mw.Close()
		return &buf
	}
	tests := []struct {
		name      string
		body      func() io.Reader
		ctype     string
		streaming bool // no Content-Length: the limit is found while reading
	}{
		{"multipart with length", func() io.Reader { return big() }, "multipart/form-data", false},
		{"multipart streamed", func() io.Reader { return io.MultiReader(big()) }, "multipart/form-data", true},
		{"urlencoded streamed", func() io.Reader {
			return io.MultiReader(strings.NewReader("_csrf="+c.CSRF+"&email="), strings.NewReader(strings.Repeat("a", 300<<10)))
		}, "application/x-www-form-urlencoded", true},
		{"urlencoded with length", func() io.Reader {
			return strings.NewReader("_csrf=" + c.CSRF + "&email=" + strings.Repeat("a", 300<<10))
		}, "application/x-www-form-urlencoded", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body()
			req, err := http.NewRequest(http.MethodPost, app.URL+"/login", body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.streaming {
				req.ContentLength = -1
			}
			ctype := tt.ctype
			if ctype == "multipart/form-data" {
				// Recover the boundary the writer chose.
				ctype = "multipart/form-data; boundary=" + boundaryOf(t, req)
			}
			req.Header.Set("Content-Type", ctype)
			resp, doc := c.Do(t, req)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413", resp.StatusCode)
			}
			if msg := doc.Find(`[data-testid="error-message"]`).Text(); !strings.Contains(msg, "too large") || !strings.Contains(msg, "256 KB") {
				t.Errorf("message %q does not say the request is too large and the limit", msg)
			}
		})
	}

	t.Run("a route with a larger limit", func(t *testing.T) {
		pw := app.CreateUser(t, "op@example.com", fleet.RoleOperator)
		op := app.Login(t, "op@example.com", pw)
		form := url.Values{"action": {"start"}}
		// ~450 KB (Go parses at most 10,000 form values).
		for i := range 9000 {
			form.Add("machine_id", strings.Repeat("0", 30)+strconv.Itoa(i))
		}
		resp, _ := op.PostForm(t, "/bulk", form)
		if resp.StatusCode == http.StatusRequestEntityTooLarge || resp.StatusCode == http.StatusBadRequest {
			t.Errorf("POST /bulk with %d KB: status %d, want it read: %s", len(form.Encode())>>10, resp.StatusCode, bodyText(t, resp))
		}
	})
}

// boundaryOf reads the multipart boundary from the first line of the body
// and puts the body back.
func boundaryOf(t *testing.T, req *http.Request) string {
	t.Helper()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\r\n")
	cl := req.ContentLength
	req.Body = io.NopCloser(bytes.NewReader(b))
	if cl >= 0 {
		req.ContentLength = int64(len(b))
	}
	return strings.TrimPrefix(line, "--")
}

// TestBodyLimits_areRoutes: every per-route override names a route of the
// table, so a typo cannot silently fall back to the default.
func TestBodyLimits_areRoutes(t *testing.T) {
	t.Parallel()
	s := &Server{}
	routes := map[string]bool{}
	for _, r := range s.buildRoutes() {
		routes[r.Method+" "+r.Path] = true
	}
	for k := range bodyLimits {
		if !routes[k] {
			t.Errorf("bodyLimits has %q, which is not a route", k)
		}
	}
	for k := range multilineQuery {
		if !routes[k] {
			t.Errorf("multilineQuery has %q, which is not a route", k)
		}
	}
}

// TestEdgeInput_everyRoute walks every route of the table with a NUL, an
// invalid UTF-8 byte and other control characters in the path, the query,
// the form (urlencoded and multipart) and a header, as a signed-in admin
// (who passes every role check) and a viewer (who would be denied): each
// gets 400 with a clear message, nothing reaches the audit table or the
// simulator, and nothing is logged as an error.
func TestEdgeInput_everyRoute(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	adminPW := app.CreateUser(t, "boss@example.com", fleet.RoleAdmin)
	viewerPW := app.CreateUser(t, "look@example.com", fleet.RoleViewer)
	app.CreateUser(t, "target@example.com", fleet.RoleViewer)
	uid := strconv.FormatInt(app.UserID(t, "target@example.com"), 10)
	clients := map[string]*client{
		"admin":  app.Login(t, "boss@example.com", adminPW),
		"viewer": app.Login(t, "look@example.com", viewerPW),
	}
	form := plausibleForm(app.MachineID(t))

	type attempt struct {
		name, path string
		body       func(csrf string) (io.Reader, string) // nil: no body
		header     http.Header
	}
	urlencoded := func(k, v string) func(string) (io.Reader, string) {
		return func(csrf string) (io.Reader, string) {
			f := withField(withField(form, "_csrf", csrf), k, v)
			return strings.NewReader(f.Encode()), "application/x-www-form-urlencoded"
		}
	}
	multipartForm := func(k, v string) func(string) (io.Reader, string) {
		return func(csrf string) (io.Reader, string) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for fk, vs := range withField(withField(form, "_csrf", csrf), k, v) {
				for _, fv := range vs {
					_ = mw.WriteField(fk, fv)
				}
			}
			_ = mw.Close()
			return &buf, mw.FormDataContentType()
		}
	}
	bad := []struct{ name, v string }{{"NUL", "104\x00"}, {"invalid UTF-8", "104\xff"}, {"C1 control", "104\u0085"}, {"escape", "104\x1b[31m"}}

	before := snapshot(t, app)
	logBefore := len(app.Log.String())
	n := 0
	for _, r := range app.Server.Routes() {
		base := app.Path(t, r.Path, map[string]string{"uid": uid})
		var attempts []attempt
		for _, b := range bad {
			// Path: each parameter in turn, or (no parameter) the path itself.
			params := routeParam.FindAllString(r.Path, -1)
			for _, p := range params {
				name := strings.TrimPrefix(p, ":")
				attempts = append(attempts, attempt{name: "path " + name + " " + b.name,
					path: app.Path(t, r.Path, map[string]string{"uid": uid, name: b.v})})
			}
			if len(params) == 0 {
				attempts = append(attempts, attempt{name: "path " + b.name, path: base + url.PathEscape(b.v)})
			}
			attempts = append(attempts,
				attempt{name: "query value " + b.name, path: base + "?machine_id=" + url.QueryEscape(b.v)},
				attempt{name: "query name " + b.name, path: base + "?" + url.QueryEscape(b.v) + "=1"},
			)
			// Go's client (and server) refuse C0 controls in headers
			// themselves; the other forms reach the application.
			if b.name == "invalid UTF-8" || b.name == "C1 control" {
				attempts = append(attempts,
					attempt{name: "user agent " + b.name, path: base, header: http.Header{"User-Agent": {"agent " + b.v}}},
					attempt{name: "header tab", path: base, header: http.Header{"User-Agent": {"agent	1"}}})
			}
			if b.name == "NUL" || b.name == "invalid UTF-8" {
				attempts = append(attempts, attempt{name: "query tab", path: base + "?q=a%09b"})
			}
			if r.Method == http.MethodPost {
				attempts = append(attempts,
					attempt{name: "form value " + b.name, path: base, body: urlencoded("note", b.v)},
					attempt{name: "form name " + b.name, path: base, body: urlencoded(b.v, "1")},
					attempt{name: "multipart value " + b.name, path: base, body: multipartForm("note", b.v)},
				)
			}
		}
		for role, c := range clients {
			for _, a := range attempts {
				var body io.Reader
				ctype := ""
				if a.body != nil {
					body, ctype = a.body(c.CSRF)
				}
				req, err := http.NewRequest(r.Method, app.URL+a.path, body)
				if err != nil {
					t.Fatal(err)
				}
				if ctype != "" {
					req.Header.Set("Content-Type", ctype)
				}
				for k, v := range a.header {
					req.Header[k] = v
				}
				resp, doc := c.Do(t, req)
				n++
				msg := doc.Find(`[data-testid="error-message"]`).Text()
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "control character") {
					t.Errorf("%s %s as %s (%s): status %d %q, want 400 naming the control character", r.Method, a.path, role, a.name, resp.StatusCode, msg)
				}
			}
		}
	}
	if d := before.diff(snapshot(t, app)); d != "" {
		t.Errorf("refused requests had effects: %s", d)
	}
	logs := app.Log.String()[logBefore:]
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("refused requests logged errors:\n%s", logs)
	}
	if strings.ContainsAny(logs, "\x00\x1b\u0085") || !utf8.ValidString(logs) {
		t.Error("a refused request's bad bytes reached the log")
	}
	for role, c := range clients {
		if !c.SignedIn(t) {
			t.Errorf("the %s was signed out by a refused request", role)
		}
	}
	t.Logf("%d refused requests", n)

	// Tab, newline and carriage return are text in a form field (a note).
	c := clients["admin"]
	resp, _ := c.PostForm(t, "/machines/"+app.MachineID(t)+"/access", url.Values{"expires_in": {"60"}, "note": {"line one\r\n\tline two"}})
	if resp.StatusCode == http.StatusBadRequest {
		t.Errorf("a note with tab and newlines was refused: %s", bodyText(t, resp))
	}
}

// TestCSRF_notFromQuery: a token in the query string is no token. Every
// state-changing route refuses a signed-in admin's POST whose only token is
// ?_csrf= (403, no effect), while the same token in the body works.
func TestCSRF_notFromQuery(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "boss@example.com", fleet.RoleAdmin)
	app.CreateUser(t, "target@example.com", fleet.RoleViewer)
	params := map[string]string{"uid": strconv.FormatInt(app.UserID(t, "target@example.com"), 10)}
	c := app.Login(t, "boss@example.com", pw)
	form := plausibleForm(app.MachineID(t))
	for _, r := range echoRoutes(app.Server, http.MethodPost) {
		path := app.Path(t, r.Path, params)
		before := snapshot(t, app)
		for _, ctype := range []string{"application/x-www-form-urlencoded", "multipart/form-data"} {
			var body io.Reader = strings.NewReader(form.Encode())
			if ctype != "application/x-www-form-urlencoded" {
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				for k, vs := range form {
					_ = mw.WriteField(k, vs[0])
				}
				_ = mw.Close()
				body, ctype = &buf, mw.FormDataContentType()
			}
			req, err := http.NewRequest(r.Method, app.URL+path+"?_csrf="+url.QueryEscape(c.CSRF), body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", ctype)
			resp, _ := c.Do(t, req)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s?_csrf=<token> (%s): status %d, want 403", r.Method, r.Path, ctype, resp.StatusCode)
			}
		}
		if d := before.diff(snapshot(t, app)); d != "" {
			t.Errorf("%s %s with the token in the query had effects: %s", r.Method, r.Path, d)
		}
	}
	// The token in the body (urlencoded or multipart) still works.
	resp, _ := c.PostForm(t, "/users/"+params["uid"]+"/role", url.Values{"role": {fleet.RoleHelpdesk}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST with the token in the body: status %d, want 303", resp.StatusCode)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("_csrf", c.CSRF)
	_ = mw.WriteField("role", fleet.RoleOperator)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, app.URL+"/users/"+params["uid"]+"/role", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if resp, _ := c.Do(t, req); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("multipart POST with the token in the body: status %d, want 303", resp.StatusCode)
	}
}
