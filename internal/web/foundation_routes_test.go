package web

// Tests that walk every route, so a route added later is covered without
// touching them: CSRF on every state-changing route (from the Echo router
// itself) and the role matrix (from Server.Routes, the table the app uses).

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// stateChanging are the methods the CSRF check must refuse without a token.
// (Echo's Any also registers CONNECT, PROPFIND, REPORT and TRACE, which Go's
// client does not send as ordinary requests.)
var stateChanging = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// echoRoutes returns the router's own routes with one of methods, sorted and
// without duplicates.
func echoRoutes(s *Server, methods ...string) []Route {
	seen := map[string]bool{}
	var out []Route
	for _, r := range s.Echo().Routes() {
		k := r.Method + " " + r.Path
		if !slices.Contains(methods, r.Method) || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, Route{Method: r.Method, Path: r.Path})
	}
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.Method+" "+a.Path, b.Method+" "+b.Path) })
	return out
}

// plausibleForm has a value for the fields of every form the dashboard
// knows, so a POST that got past the CSRF check would do something.
func plausibleForm(machineID string) url.Values {
	return url.Values{
		"email": {"new-user@example.com"}, "role": {fleet.RoleAdmin},
		"password": {"a long enough password"}, "password_confirm": {"a long enough password"},
		"action": {"start"}, "machine_id": {machineID}, "gracefully": {"true"},
		"expires_in": {"60"}, "uid": {"1"}, "machine_type_id": {"1"},
		"auto_stop_threshold": {"30"}, "usage_source": {"balance"},
		"plan_id": {"1"}, "quantity": {"1"}, "region": {"dublin"},
	}
}

// effects is what a refused request must leave as it was.
type effects struct {
	audit int
	sim   map[string]int
	users string
}

func snapshot(t *testing.T, app *testApp) effects {
	t.Helper()
	users, err := app.Store.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "%d %s %s %v %s|", u.ID, u.Email, u.Role, u.Disabled, u.PasswordHash)
	}
	return effects{audit: len(app.AuditRows(t)), sim: app.Sim.Counts(), users: b.String()}
}

func (e effects) diff(o effects) string {
	var d []string
	if e.audit != o.audit {
		d = append(d, fmt.Sprintf("audit rows %d → %d", e.audit, o.audit))
	}
	if !maps.Equal(e.sim, o.sim) {
		d = append(d, fmt.Sprintf("simulator calls %v → %v", e.sim, o.sim))
	}
	if e.users != o.users {
		d = append(d, "users changed")
	}
	return strings.Join(d, "; ")
}

// TestCSRF_everyRoute: every state-changing route of the router (machine
// routes included as they are added, unknown paths too) refuses a signed-in
// admin's request without the session's token: 403, and nothing happens.
func TestCSRF_everyRoute(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	pw := app.CreateUser(t, "boss@example.com", fleet.RoleAdmin)
	app.CreateUser(t, "target@example.com", fleet.RoleViewer)
	otherPW := app.CreateUser(t, "other@example.com", fleet.RoleAdmin)
	params := map[string]string{"uid": strconv.FormatInt(app.UserID(t, "target@example.com"), 10)}
	c := app.Login(t, "boss@example.com", pw)
	foreignToken := app.Login(t, "other@example.com", otherPW).CSRF

	routes := echoRoutes(app.Server, stateChanging...)
	if !slices.ContainsFunc(routes, func(r Route) bool { return r.Method == http.MethodPost && r.Path == "/logout" }) {
		t.Fatalf("POST /logout is not among the router's routes %v: is the enumeration broken?", routes)
	}
	form := plausibleForm(app.MachineID(t))
	cases := []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"no token", form, nil},
		{"wrong form token", withField(form, "_csrf", "not-the-token"), nil},
		{"wrong header token", form, http.Header{"X-Csrf-Token": {"not-the-token"}, "Hx-Request": {"true"}}},
		{"token of another session", withField(form, "_csrf", foreignToken), nil},
		{"empty token", withField(form, "_csrf", ""), http.Header{"X-Csrf-Token": {""}}},
		{"same-origin fetch without token", form, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {app.URL}}},
	}
	for _, r := range routes {
		path := app.Path(t, r.Path, params)
		for _, tc := range cases {
			t.Run(r.Method+" "+r.Path+"/"+tc.name, func(t *testing.T) {
				before := snapshot(t, app)
				req, err := http.NewRequest(r.Method, app.URL+path, strings.NewReader(tc.form.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range tc.header {
					req.Header[k] = v
				}
				resp, _ := c.Do(t, req)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("status %d, want 403", resp.StatusCode)
				}
				if d := before.diff(snapshot(t, app)); d != "" {
					t.Errorf("a refused request had effects: %s", d)
				}
				if !c.SignedIn(t) {
					t.Fatal("the refused request signed the admin out")
				}
			})
		}
	}

	t.Run("valid token works", func(t *testing.T) {
		resp, _ := c.PostHTMX(t, "/users/"+params["uid"]+"/role", url.Values{"role": {fleet.RoleHelpdesk}})
		// The fragment is a bare <tr>, which an HTML parser drops outside a
		// table: look at the text.
		if resp.StatusCode != http.StatusOK || !strings.Contains(bodyText(t, resp), `data-testid="user-row"`) {
			t.Errorf("htmx POST with X-CSRF-Token: status %d, want 200 with the user row", resp.StatusCode)
		}
		resp, _ = c.PostForm(t, "/logout", nil)
		wantRedirectToLogin(t, resp)
		if c.SignedIn(t) {
			t.Error("POST /logout with the token did not sign out")
		}
	})
}

func withField(v url.Values, k, val string) url.Values {
	out := cloneValues(v)
	out.Set(k, val)
	return out
}

// TestRoleMatrix: every role × every route of Server.Routes. Allowed: not
// 403. Below the route's MinRole: 403, one `denied` audit row, and nothing
// sent to the simulator. Signed out: 303 to /login, or HX-Redirect for htmx.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	app.CreateUser(t, "target@example.com", fleet.RoleViewer)
	params := map[string]string{"uid": strconv.FormatInt(app.UserID(t, "target@example.com"), 10)}
	machineID := app.MachineID(t)

	type account struct {
		email, pw string
		c         *client
	}
	accounts := map[string]*account{}
	for _, role := range fleet.Roles {
		a := &account{email: role + "@example.com"}
		a.pw = app.CreateUser(t, a.email, role)
		a.c = app.Login(t, a.email, a.pw)
		accounts[role] = a
	}
	send := func(t *testing.T, c *client, method, path string, header http.Header) *http.Response {
		t.Helper()
		var body *strings.Reader
		if method == http.MethodGet || method == http.MethodHead {
			body = strings.NewReader("")
		} else {
			body = strings.NewReader(url.Values{"_csrf": {c.CSRF}}.Encode())
		}
		req, err := http.NewRequest(method, app.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header[k] = v
		}
		resp, _ := c.Do(t, req)
		return resp
	}

	routes := app.Server.Routes()
	if len(routes) < 10 {
		t.Fatalf("only %d routes in the table", len(routes))
	}
	for _, r := range routes {
		path := app.Path(t, r.Path, params)
		for _, role := range fleet.Roles {
			a := accounts[role]
			t.Run(r.Method+" "+r.Path+"/"+role, func(t *testing.T) {
				if !a.c.SignedIn(t) { // an allowed POST /logout signs out
					a.c = app.Login(t, a.email, a.pw)
				}
				allowed := r.MinRole == Public || fleet.RoleRank(role) >= fleet.RoleRank(r.MinRole)
				before := snapshot(t, app)
				resp := send(t, a.c, r.Method, path, nil)
				if allowed {
					if resp.StatusCode == http.StatusForbidden {
						t.Errorf("status 403 for an allowed role (MinRole %q)", r.MinRole)
					}
					return
				}
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("status %d, want 403 (MinRole %s)", resp.StatusCode, r.MinRole)
				}
				after := snapshot(t, app)
				if !maps.Equal(before.sim, after.sim) {
					t.Errorf("a refused request reached the simulator: %v → %v", before.sim, after.sim)
				}
				rows := app.AuditRows(t)
				if len(rows) != before.audit+1 {
					t.Fatalf("%d new audit rows, want 1 denied", len(rows)-before.audit)
				}
				ev := rows[len(rows)-1]
				wantAction := r.Action
				if wantAction == "" {
					wantAction = fleet.ActPageView
				}
				if ev.Outcome != db.OutcomeDenied || ev.Action != wantAction || ev.ActorEmail != a.email || ev.ActorRole != role {
					t.Errorf("audit %s %s by %s (%s), want %s denied by %s (%s)", ev.Action, ev.Outcome, ev.ActorEmail, ev.ActorRole, wantAction, a.email, role)
				}
				// Denied rows keep the params the action declares; for a
				// page view those are the method and route.
				if !strings.Contains(string(ev.Params), `"route": "`+r.Path+`"`) {
					t.Errorf("audit params %s do not name the route", ev.Params)
				}
				if strings.Contains(r.Path, "/:id") && ev.MachineID != machineID {
					t.Errorf("audit machine_id %q, want %q", ev.MachineID, machineID)
				}
			})
		}
		if r.MinRole == Public {
			continue
		}
		t.Run(r.Method+" "+r.Path+"/signed out", func(t *testing.T) {
			anon := app.NewClient()
			anon.CSRFFrom(t, "/login")
			before := snapshot(t, app)
			wantRedirectToLogin(t, send(t, anon, r.Method, path, nil))
			resp := send(t, anon, r.Method, path, http.Header{"Hx-Request": {"true"}})
			if loc := resp.Header.Get("HX-Redirect"); !strings.HasPrefix(loc, "/login") {
				t.Errorf("htmx: status %d HX-Redirect %q, want /login", resp.StatusCode, loc)
			}
			if d := before.diff(snapshot(t, app)); d != "" {
				t.Errorf("a signed-out request had effects: %s", d)
			}
		})
	}
}
