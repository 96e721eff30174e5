package web

// Issue 4 §1–3, §5: the machine page and the single-machine actions, against
// the simulator over HTTP and a real Postgres (harness_test.go).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// machineFixture is an app with one user per role, each signed in.
type machineFixture struct {
	app     *testApp
	clients map[string]*client
	emails  map[string]string
}

func newMachineFixture(t *testing.T) *machineFixture {
	t.Helper()
	f := &machineFixture{app: newTestApp(t), clients: map[string]*client{}, emails: map[string]string{}}
	for _, role := range fleet.Roles {
		email := "m-" + role + "@example.com"
		pw := f.app.CreateUser(t, email, role)
		f.clients[role] = f.app.Login(t, email, pw)
		f.emails[role] = email
	}
	return f
}

// setStatus pins a machine's status in the simulator and drops the
// dashboard's cached lists, as a later action on it would.
func (f *machineFixture) setStatus(t *testing.T, id string, st vagon.Status) {
	t.Helper()
	if err := f.app.Sim.SetStatus(id, st); err != nil {
		t.Fatal(err)
	}
	f.app.Server.fleet.Invalidate(vagon.ID(id))
}

func (f *machineFixture) machine(t *testing.T, id string) vagon.Machine {
	t.Helper()
	m, ok := f.app.Sim.Machine(id)
	if !ok {
		t.Fatalf("no machine %s", id)
	}
	return m
}

// writes counts the simulator's calls that change something.
func writes(sim *vagonsim.Sim) int {
	n := 0
	for ep, c := range sim.Counts() {
		if !strings.HasPrefix(ep, "GET ") {
			n += c
		}
	}
	return n
}

// machineAction is one action of the machine page, with a valid form.
type machineAction struct {
	name     string
	path     string // under /machines/{id}
	minRole  string
	action   string // audit action
	endpoint string // simulator counter
	// prepare puts the machine in a state the action works in and returns
	// the form (and, for task delete, the path).
	prepare func(t *testing.T, f *machineFixture, id string) (path string, form url.Values)
}

func machineActions() []machineAction {
	return []machineAction{
		{"start", "/start", fleet.RoleHelpdesk, fleet.ActMachineStart, "POST /machines/{id}/start",
			func(t *testing.T, f *machineFixture, id string) (string, url.Values) {
				f.setStatus(t, id, vagon.StatusOff)
				if err := f.app.Sim.SetRemainingUsage(id, 600); err != nil {
					t.Fatal(err)
				}
				return "", url.Values{}
			}},
		{"stop", "/stop", fleet.RoleOperator, fleet.ActMachineStop, "POST /machines/{id}/stop",
			func(t *testing.T, f *machineFixture, id string) (string, url.Values) {
				f.setStatus(t, id, vagon.StatusReady)
				return "", url.Values{"gracefully": {"true"}, "confirm": {"true"}}
			}},
		{"reset", "/reset", fleet.RoleAdmin, fleet.ActMachineReset, "POST /machines/{id}/reset",
			func(t *testing.T, f *machineFixture, id string) (string, url.Values) {
				f.setStatus(t, id, vagon.StatusOff)
				return "", url.Values{"confirm": {f.machine(t, id).Attributes.Name}}
			}},
		{"access", "/access", fleet.RoleHelpdesk, fleet.ActMachineAccessLink, "POST /machines/{id}/access",
			func(t *testing.T, f *machineFixture, id string) (string, url.Values) {
				return "", url.Values{"expires_in": {"60"}, "note": {"INC-1"}}
			}},
		{"permissions", "/permissions", fleet.RoleOperator, fleet.ActMachinePermissions, "POST /machines/{id}/permissions",
			func(t *testing.T, f *machineFixture, id string) (string, url.Values) {
				f.app.Server.fleet.Invalidate(vagon.ID(id))
				form := url.Values{}
				for k, on := range f.machine(t, id).Attributes.Permissions.AsMap() {
					if k == vagon.PermClipboard {
						on = !on
					}
					if on {
						form.Set(k, "true")
					}
				}
				return "", form
			}},
		{"machine-type", "/machine-type", fleet.RoleOperator, fleet.ActMachinePerformance, "POST /machines/{id}/machine-type",
			func(t *testing.T, f *machineFixture, id string) (string, url.Values) {
				f.setStatus(t, id, vagon.StatusOff)
				types, err := f.app.API.ListMachineTypes(t.Context(), id)
				if err != nil || len(types) == 0 {
					t.Fatalf("types: %v %v", types, err)
				}
				return "", url.Values{"machine_type_id": {string(types[len(types)-1].ID)}}
			}},
		{"settings", "/settings", fleet.RoleOperator, fleet.ActMachineUpdate, "PATCH /machines/{id}",
			func(t *testing.T, f *machineFixture, id string) (string, url.Values) {
				f.app.Server.fleet.Invalidate(vagon.ID(id))
				next := "900"
				if f.machine(t, id).Attributes.AutoStopThreshold == 900 {
					next = "3600"
				}
				return "", url.Values{"auto_stop_threshold": {next}}
			}},
		{"task activate", "/tasks", fleet.RoleOperator, fleet.ActTaskActivate, "POST /machines/{id}/tasks",
			func(t *testing.T, f *machineFixture, id string) (string, url.Values) {
				f.setStatus(t, id, vagon.StatusOff)
				_ = f.app.Sim.SetBackupEnabled(id, true)
				return "", url.Values{"uid": {"proj-" + randHex(3)}}
			}},
		{"task delete", "", fleet.RoleOperator, fleet.ActTaskDelete, "DELETE /machines/{id}/tasks/{task_id}",
			func(t *testing.T, f *machineFixture, id string) (string, url.Values) {
				f.setStatus(t, id, vagon.StatusOff)
				_ = f.app.Sim.SetBackupEnabled(id, true)
				r, err := f.app.API.ActivateTask(t.Context(), id, "del-"+randHex(3))
				if err != nil {
					t.Fatal(err)
				}
				return "/tasks/" + string(r.Task.ID) + "/delete", url.Values{}
			}},
	}
}

// TestMachineActions_everyRole: every action × every role. Allowed: the
// action reaches Vagon once, started and succeeded are audited, and a plain
// POST answers 303 back to the machine page (the access link 200). Refused:
// 403, one denied row, nothing sent.
func TestMachineActions_everyRole(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	for _, a := range machineActions() {
		for _, role := range fleet.Roles {
			t.Run(a.name+"/"+role, func(t *testing.T) {
				sub, form := a.prepare(t, f, id)
				if sub == "" {
					sub = a.path
				}
				path := "/machines/" + id + sub
				before, auditBefore := f.app.Sim.Count(a.endpoint), len(f.app.AuditRows(t))
				c := f.clients[role]
				resp, _ := c.PostForm(t, path, form)
				rows := f.app.AuditRows(t)[auditBefore:]
				calls := f.app.Sim.Count(a.endpoint) - before
				if fleet.RoleRank(role) < fleet.RoleRank(a.minRole) {
					if resp.StatusCode != http.StatusForbidden {
						t.Fatalf("status %d, want 403", resp.StatusCode)
					}
					if calls != 0 {
						t.Errorf("%d calls reached Vagon", calls)
					}
					if len(rows) != 1 || rows[0].Outcome != db.OutcomeDenied || rows[0].Action != a.action || rows[0].MachineID != id {
						t.Errorf("audit rows %+v, want one %s denied", rows, a.action)
					}
					return
				}
				want := http.StatusSeeOther
				if a.name == "access" {
					want = http.StatusOK
				}
				if resp.StatusCode != want {
					t.Fatalf("status %d, want %d; body %.400s", resp.StatusCode, want, bodyText(t, resp))
				}
				if want == http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Location"), "/machines/"+id) {
					t.Errorf("Location %q", resp.Header.Get("Location"))
				}
				if calls != 1 {
					t.Errorf("%d calls to %s, want 1", calls, a.endpoint)
				}
				if len(rows) != 2 || rows[0].Outcome != db.OutcomeStarted || rows[1].Outcome != db.OutcomeSucceeded || rows[1].Action != a.action || rows[1].ActorEmail != f.emails[role] {
					t.Errorf("audit rows %+v, want %s started + succeeded by %s", rows, a.action, f.emails[role])
				}
			})
		}
	}
}

// TestMachineActions_htmxFragments: with HX-Request the answer is the
// updated section, the overview out of band and the flash.
func TestMachineActions_htmxFragments(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	sections := map[string]string{
		"start": "machine-overview", "stop": "machine-overview", "reset": "section-reset", "access": "section-access",
		"permissions": "section-permissions", "machine-type": "section-performance", "settings": "section-settings",
		"task activate": "section-tasks", "task delete": "section-tasks",
	}
	c := f.clients[fleet.RoleAdmin]
	c.CSRFFrom(t, "/machines/"+id)
	for _, a := range machineActions() {
		t.Run(a.name, func(t *testing.T) {
			sub, form := a.prepare(t, f, id)
			if sub == "" {
				sub = a.path
			}
			resp, doc := c.PostHTMX(t, "/machines/"+id+sub, form)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %.300s", resp.StatusCode, bodyText(t, resp))
			}
			if doc.Find("#"+sections[a.name]).Length() != 1 {
				t.Errorf("no #%s in the fragment", sections[a.name])
			}
			if doc.Find("html head").Length() != 0 && doc.Find("title").Length() != 0 {
				t.Error("a full page, want a fragment")
			}
			// 9.1: the outcome is in the section acted in and in a toast
			// appended to the fixed #toasts region, announced politely.
			toast := doc.Find(`[hx-swap-oob="beforeend:#toasts"] [data-testid="toast"]`)
			if toast.Length() != 1 || toast.AttrOr("data-kind", "") != views.FlashSuccess || toast.AttrOr("role", "") != "status" || toast.AttrOr("data-autohide", "") == "" {
				t.Errorf("toast %q (kind %s, role %s)", toast.Text(), toast.AttrOr("data-kind", ""), toast.AttrOr("role", ""))
			}
			if toast.Find(`button[data-toast-dismiss]`).Length() != 1 {
				t.Error("the toast has no dismiss button")
			}
			msg := doc.Find("#" + sections[a.name] + ` [data-testid="section-message"]`)
			if msg.Length() != 1 || msg.AttrOr("data-kind", "") != views.FlashSuccess || strings.TrimSpace(msg.Text()) != strings.TrimSpace(toast.Find(".toast-text").Text()) {
				t.Errorf("section message %q (%s), toast %q", msg.Text(), msg.AttrOr("data-kind", ""), toast.Text())
			}
			if doc.Find(`#flashes[hx-swap-oob] [data-testid="flash"]`).Length() != 0 {
				t.Error("the outcome is also in the flash area at the top of the page")
			}
		})
	}
}

// apiErrorCase forces one documented client_code on one action.
type apiErrorCase struct {
	action string
	code   int
	// natural, when set, provokes the code through the machine's state
	// instead of a forced fault.
	natural func(t *testing.T, f *machineFixture, id string)
}

// TestMachineActions_apiErrors: every documented code reaches the page as
// its explanation, with the code, for htmx and for plain POSTs (flash).
func TestMachineActions_apiErrors(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	actions := map[string]machineAction{}
	for _, a := range machineActions() {
		actions[a.name] = a
	}
	cases := []apiErrorCase{
		// A start of a running machine, or a stop of an off one, is skipped
		// by the state rule (fleet.StartSkipReason); the API's refusals
		// reach the page when the state changed after the read.
		{"start", vagon.CodeNotReady, nil},
		{"start", vagon.CodeInsufficientBalance, func(t *testing.T, f *machineFixture, id string) {
			f.app.Sim.SetBalance(0)
			t.Cleanup(func() { f.app.Sim.SetBalance(vagonsim.DefaultBalance) })
		}},
		{"stop", vagon.CodeNotRunning, nil},
		{"reset", vagon.CodeRunning, nil},
		{"machine-type", vagon.CodeTypeUnavailable, nil},
		{"machine-type", vagon.CodeRunning, nil},
		{"task activate", vagon.CodeInvalidUID, nil},
		{"task activate", vagon.CodeUIDReused, nil},
		{"task activate", vagon.CodeBackupDisabled, func(t *testing.T, f *machineFixture, id string) {
			_ = f.app.Sim.SetBackupEnabled(id, false)
			t.Cleanup(func() { _ = f.app.Sim.SetBackupEnabled(id, true) })
		}},
		{"task activate", vagon.CodeRunning, nil},
		{"task delete", vagon.CodeOutputsTask, nil},
		{"task delete", vagon.CodeNotFound, nil},
		{"task delete", vagon.CodeRunning, nil},
		{"access", vagon.CodeBadRequest, nil},
		{"access", vagon.CodeNotFound, nil},
		{"permissions", vagon.CodePermissionRequired, nil},
		{"settings", vagon.CodeBadRequest, nil},
		{"start", vagon.CodePermissionRequired, nil},
	}
	for _, tc := range cases {
		for _, htmx := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/%d/htmx=%v", tc.action, tc.code, htmx), func(t *testing.T) {
				a := actions[tc.action]
				sub, form := a.prepare(t, f, id)
				if sub == "" {
					sub = a.path
				}
				if tc.natural != nil {
					tc.natural(t, f, id)
				} else {
					f.app.Sim.Enqueue(a.endpoint, 1, vagonsim.APIError(tc.code, "forced by the test"))
				}
				before := f.app.Sim.Count(a.endpoint)
				c := f.clients[fleet.RoleAdmin]
				want := fmt.Sprintf("(Vagon code %d", tc.code)
				path := "/machines/" + id + sub
				if htmx {
					c.CSRFFrom(t, "/machines/"+id)
					resp, doc := c.PostHTMX(t, path, form)
					if resp.StatusCode < 400 {
						t.Errorf("status %d, want an error status", resp.StatusCode)
					}
					toast := doc.Find(`[data-testid="toast"][data-kind="error"]`)
					if got := toast.Text(); !strings.Contains(got, want) || toast.AttrOr("role", "") != "alert" {
						t.Errorf("toast %q (role %s) lacks %q", got, toast.AttrOr("role", ""), want)
					}
					if _, auto := toast.Attr("data-autohide"); auto {
						t.Error("an error toast hides itself")
					}
					if got := doc.Find(`[data-testid="section-message"][data-kind="error"]`).Text(); !strings.Contains(got, want) {
						t.Errorf("section message %q lacks %q", got, want)
					}
				} else {
					resp, _ := c.PostForm(t, path, form)
					if resp.StatusCode != http.StatusSeeOther {
						t.Fatalf("status %d, want 303", resp.StatusCode)
					}
					_, doc := c.Get(t, resp.Header.Get("Location"))
					if got := doc.Find(`[data-testid="section-message"][data-kind="error"]`).Text(); !strings.Contains(got, want) {
						t.Errorf("section message %q lacks %q", got, want)
					}
				}
				if n := f.app.Sim.Count(a.endpoint) - before; n != 1 {
					t.Errorf("%d calls, want 1", n)
				}
				rows := f.app.AuditRows(t)
				last := rows[len(rows)-1]
				if last.Outcome != db.OutcomeFailed || last.ErrorCode == nil || *last.ErrorCode != tc.code {
					t.Errorf("audit %s %s code %v, want failed %d", last.Action, last.Outcome, last.ErrorCode, tc.code)
				}
				f.app.Sim.ClearFaults()
			})
		}
	}
}

// TestMachineActions_invalidInput: bad input gets a field error (422) or a
// 404, and nothing that changes anything reaches Vagon.
func TestMachineActions_invalidInput(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	f.setStatus(t, id, vagon.StatusOff)
	big := strings.Repeat("x", 10<<10)
	tasks := f.app.Sim.Tasks(id)
	outputs := ""
	for _, tk := range tasks {
		if tk.Attributes.UID == vagon.OutputsTaskUID {
			outputs = string(tk.ID)
		}
	}
	if outputs == "" {
		r, err := f.app.API.ActivateTask(t.Context(), id, vagon.OutputsTaskUID)
		if err != nil {
			t.Fatal(err)
		}
		outputs = string(r.Task.ID)
	}
	cases := []struct {
		name, path string
		form       url.Values
		status     int
		fieldErr   string
	}{
		{"non-numeric machine id", "/machines/abc/start", nil, 404, ""},
		{"unknown machine id", "/machines/987654/start", nil, 404, ""},
		{"unknown machine id, access", "/machines/987654/access", url.Values{"expires_in": {"60"}}, 404, ""},
		{"zero-padded id", "/machines/0100/reset", nil, 404, ""},
		{"expires_in 0", "/machines/" + id + "/access", url.Values{"expires_in": {"0"}}, 422, "expires_in-error"},
		{"expires_in custom empty", "/machines/" + id + "/access", url.Values{"expires_in": {"custom"}}, 422, "expires_in-error"},
		{"expires_in too long", "/machines/" + id + "/access", url.Values{"expires_in": {"43201"}}, 422, "expires_in-error"},
		{"expires_in 10 kB", "/machines/" + id + "/access", url.Values{"expires_in": {big}}, 422, "expires_in-error"},
		{"note 10 kB", "/machines/" + id + "/access", url.Values{"expires_in": {"60"}, "note": {big}}, 422, "note-error"},
		{"bad uid", "/machines/" + id + "/tasks", url.Values{"uid": {"a/b"}}, 422, "uid-error"},
		{"empty uid", "/machines/" + id + "/tasks", url.Values{"uid": {"  "}}, 422, "uid-error"},
		{"uid 10 kB", "/machines/" + id + "/tasks", url.Values{"uid": {big}}, 422, "uid-error"},
		{"confirm wrong", "/machines/" + id + "/reset", url.Values{"confirm": {"nope"}}, 422, "confirm-error"},
		{"confirm 10 kB", "/machines/" + id + "/reset", url.Values{"confirm": {big}}, 422, "confirm-error"},
		{"auto-stop 30", "/machines/" + id + "/settings", url.Values{"auto_stop_threshold": {"30"}}, 422, "settings-autostop-error"},
		{"usage source 10 kB", "/machines/" + id + "/settings", url.Values{"usage_source": {big}}, 422, "usage_source-error"},
		{"machine type abc", "/machines/" + id + "/machine-type", url.Values{"machine_type_id": {"abc"}}, 422, "machine_type_id-error"},
		{"permission 10 kB", "/machines/" + id + "/permissions", url.Values{vagon.PermClipboard: {big}}, 422, "permissions-error"},
		{"stop gracefully junk", "/machines/" + id + "/stop", url.Values{"gracefully": {big}}, 422, ""},
		{"task id abc", "/machines/" + id + "/tasks/abc/delete", nil, 404, ""},
		{"task of another machine", "/machines/" + id + "/tasks/99999/delete", nil, 404, ""},
		{"Outputs task", "/machines/" + id + "/tasks/" + outputs + "/delete", nil, 409, ""},
	}
	c := f.clients[fleet.RoleAdmin]
	for _, tc := range cases {
		for _, htmx := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/htmx=%v", tc.name, htmx), func(t *testing.T) {
				before := writes(f.app.Sim)
				var resp *http.Response
				var doc *goquery.Document
				if htmx {
					resp, doc = c.PostHTMX(t, tc.path, tc.form)
				} else {
					resp, doc = c.PostForm(t, tc.path, tc.form)
				}
				status := tc.status
				if (status == 409 || status == 404 && strings.Contains(tc.path, "/tasks/")) && !htmx {
					status = http.StatusSeeOther // refused: flash and back
				}
				if resp.StatusCode != status {
					t.Fatalf("status %d, want %d", resp.StatusCode, status)
				}
				if tc.fieldErr != "" && doc.Find(`[data-testid="`+tc.fieldErr+`"]`).Length() != 1 {
					t.Errorf("no %s next to the field", tc.fieldErr)
				}
				if strings.Contains(bodyText(t, resp), big) {
					t.Error("the 10 kB value was echoed back")
				}
				if n := writes(f.app.Sim) - before; n != 0 {
					t.Errorf("%d write calls reached Vagon: %v", n, f.app.Sim.Counts())
				}
			})
		}
	}
}

// TestMachineActions_nothingToChange: unchanged settings or permissions
// send nothing.
func TestMachineActions_nothingToChange(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	m := f.machine(t, id)
	perms := url.Values{}
	for k, on := range m.Attributes.Permissions.AsMap() {
		if on {
			perms.Set(k, "true")
		}
	}
	c := f.clients[fleet.RoleOperator]
	for path, form := range map[string]url.Values{
		"/settings":    {"auto_stop_threshold": {fmt.Sprint(m.Attributes.AutoStopThreshold)}, "usage_source": {m.Attributes.UsageSource}},
		"/permissions": perms,
	} {
		before := writes(f.app.Sim)
		resp, _ := c.PostForm(t, "/machines/"+id+path, form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		_, doc := c.Get(t, resp.Header.Get("Location"))
		if got := doc.Find(`#section-` + strings.TrimPrefix(path, "/") + ` [data-testid="section-message"]`).Text(); got != "Nothing to change." {
			t.Errorf("%s: section message %q", path, got)
		}
		if writes(f.app.Sim) != before {
			t.Errorf("%s: a write reached Vagon", path)
		}
	}
}

// TestAccessLink_shownOnce: the link is in the POST's answer only; the
// audit keeps its fingerprint, expiry and note; no log, flash, cookie,
// redirect or later page holds it.
func TestAccessLink_shownOnce(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	c := f.clients[fleet.RoleHelpdesk]
	for _, htmx := range []bool{false, true} {
		form := url.Values{"expires_in": {"custom"}, "custom_minutes": {"90"}, "note": {"INC-77 for Ana"}}
		var resp *http.Response
		var doc *goquery.Document
		if htmx {
			resp, doc = c.PostHTMX(t, "/machines/"+id+"/access", form)
		} else {
			resp, doc = c.PostForm(t, "/machines/"+id+"/access", form)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("htmx=%v: status %d", htmx, resp.StatusCode)
		}
		link := doc.Find(`[data-testid="access-link"]`).AttrOr("value", "")
		if !strings.HasPrefix(link, "https://") {
			t.Fatalf("htmx=%v: link %q", htmx, link)
		}
		if doc.Find(`[data-testid="access-copy"][data-copy-target="#access-link"]`).Length() != 1 {
			t.Error("no copy button")
		}
		if doc.Find(`[data-testid="access-expires"]`).AttrOr("datetime", "") == "" {
			t.Error("no expiry")
		}
		if strings.Contains(doc.Find(`[data-testid="flash"]`).Text(), link) || resp.Header.Get("Location") != "" {
			t.Error("the link is in a flash or a redirect")
		}
		for _, ck := range resp.Cookies() {
			if strings.Contains(ck.Value, link) {
				t.Error("the link is in a cookie")
			}
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		sum := sha256.Sum256([]byte(link))
		rows := f.app.AuditRows(t)
		last := rows[len(rows)-1]
		var p map[string]any
		if err := json.Unmarshal(last.Params, &p); err != nil {
			t.Fatal(err)
		}
		if last.Action != fleet.ActMachineAccessLink || last.Outcome != db.OutcomeSucceeded ||
			p["fingerprint"] != hex.EncodeToString(sum[:])[:12] || p["note"] != "INC-77 for Ana" || p["expires_at"] == nil || p["expires_in"] != float64(90) {
			t.Errorf("audit %s %s params %v", last.Action, last.Outcome, p)
		}
		for _, r := range rows {
			if strings.Contains(string(r.Params), link) || strings.Contains(r.Message, link) {
				t.Errorf("audit row %d holds the link", r.ID)
			}
		}
		if strings.Contains(f.app.Log.String(), link) || strings.Contains(f.app.Log.String(), strings.TrimPrefix(link, "https://")) {
			t.Error("the log holds the link")
		}
		resp, _ = c.Get(t, "/machines/"+id)
		if strings.Contains(bodyText(t, resp), link) {
			t.Error("a later page shows the link again")
		}
		resp, _ = c.Get(t, "/audit")
		if strings.Contains(bodyText(t, resp), link) {
			t.Error("the audit page shows the link")
		}
	}
}

// TestPermissions_auditBeforeAfter: only changed keys are sent; the audit
// row holds before and after.
func TestPermissions_auditBeforeAfter(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	before := f.machine(t, id).Attributes.Permissions.AsMap()
	form := url.Values{}
	for k, on := range before {
		if k == vagon.PermScreenRecording {
			on = !on
		}
		if on {
			form.Set(k, "true")
		}
	}
	resp, _ := f.clients[fleet.RoleOperator].PostForm(t, "/machines/"+id+"/permissions", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", resp.StatusCode)
	}
	after := f.machine(t, id).Attributes.Permissions.AsMap()
	for k := range before {
		if (k == vagon.PermScreenRecording) == (before[k] == after[k]) {
			t.Errorf("%s: %v → %v", k, before[k], after[k])
		}
	}
	rows := f.app.AuditRows(t)
	var p struct{ Before, After map[string]bool }
	if err := json.Unmarshal(rows[len(rows)-1].Params, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Before) != 7 || len(p.After) != 7 || p.Before[vagon.PermScreenRecording] == p.After[vagon.PermScreenRecording] || p.Before[vagon.PermClipboard] != p.After[vagon.PermClipboard] {
		t.Errorf("audit params %+v", p)
	}
}

// TestMachinePage: attributes in human units, sections, the actions each
// role sees, and why a disabled action is disabled.
func TestMachinePage(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	f.setStatus(t, id, vagon.StatusReady)
	m := f.machine(t, id)
	want := map[string][]string{
		fleet.RoleViewer:   {"actions-readonly"},
		fleet.RoleHelpdesk: {"action-start", "action-access", "start-reason"},
		fleet.RoleOperator: {"action-start", "action-stop", "action-access", "task-form", "permissions-submit", "settings-form"},
		fleet.RoleAdmin:    {"action-start", "action-stop", "action-access", "action-reset", "reset-form", "reset-form-reason", "task-reason"},
	}
	absent := map[string][]string{
		fleet.RoleViewer:   {"action-start", "action-stop", "action-access", "action-reset", "access-form", "task-form", "permissions-submit", "settings-form", "reset-form", "performance-submit", "task-delete"},
		fleet.RoleHelpdesk: {"action-stop", "action-reset", "task-form", "permissions-submit", "settings-form", "reset-form"},
		fleet.RoleOperator: {"action-reset", "reset-form"},
	}
	for _, role := range fleet.Roles {
		resp, doc := f.clients[role].Get(t, "/machines/"+id)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", role, resp.StatusCode)
		}
		for _, tid := range want[role] {
			if doc.Find(testID(tid)).Length() == 0 {
				t.Errorf("%s: no %s", role, tid)
			}
		}
		for _, tid := range absent[role] {
			if doc.Find(testID(tid)).Length() != 0 {
				t.Errorf("%s: %s shown", role, tid)
			}
		}
		if role == fleet.RoleAdmin {
			if got := doc.Find(testID("reset-form-reason")).Text(); got != "Stop the machine to reset it." {
				t.Errorf("reset reason %q", got)
			}
			if _, disabled := doc.Find(testID("action-start")).Attr("disabled"); !disabled {
				t.Error("start enabled on a running machine")
			}
			if got := doc.Find(testID("machine-title")).Text(); got != m.Attributes.Name {
				t.Errorf("title %q", got)
			}
			if got := doc.Find(testID("attr-disk")).Text(); !strings.Contains(got, " GB") {
				t.Errorf("disk %q", got)
			}
			if got := doc.Find(testID("attr-network")).Text(); !strings.HasSuffix(strings.TrimSpace(got), " GB") {
				t.Errorf("network %q", got)
			}
			if doc.Find(testID("machine-state")).AttrOr("hx-trigger", "") != "" {
				t.Error("a ready machine polls")
			}
			if doc.Find(`[data-testid="section-sessions"] svg rect.chart-bar`).Length() != 30 {
				t.Error("no 30-day chart")
			}
			if doc.Find(`svg [style], [data-testid="section-sessions"] script`).Length() != 0 {
				t.Error("inline style or script in the chart")
			}
			if doc.Find(testID("type-current")).Length() != 1 {
				t.Error("current machine type not marked")
			}
			for _, k := range vagon.PermissionKeys {
				if doc.Find(`input[type="checkbox"][name="`+k+`"]`).Length() != 1 {
					t.Errorf("no checkbox %s", k)
				}
			}
		}
	}
	// A transitional machine's overview polls.
	f.setStatus(t, id, vagon.StatusGracefulStopping)
	_, doc := f.clients[fleet.RoleViewer].Get(t, "/machines/"+id)
	ov := doc.Find(testID("machine-state"))
	if ov.AttrOr("hx-trigger", "") != "every 2s" || !strings.Contains(ov.AttrOr("hx-get", ""), "poll=1") {
		t.Errorf("overview polling: trigger %q get %q", ov.AttrOr("hx-trigger", ""), ov.AttrOr("hx-get", ""))
	}
	// Sessions page.
	resp, doc := f.clients[fleet.RoleViewer].Get(t, "/machines/"+id+"/sessions")
	if resp.StatusCode != http.StatusOK || doc.Find(testID("session-row")).Length() != len(f.app.Sim.Sessions(id)) {
		t.Errorf("sessions page: status %d, %d rows, want %d", resp.StatusCode, doc.Find(testID("session-row")).Length(), len(f.app.Sim.Sessions(id)))
	}
	// Unknown machines.
	for _, p := range []string{"/machines/abc", "/machines/424242", "/machines/424242/sessions"} {
		if resp, _ := f.clients[fleet.RoleViewer].Get(t, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

// TestMachineName_escaped: HTML in a machine name from the API is text.
func TestMachineName_escaped(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	name := `<img src=x onerror=alert(1)>`
	if err := f.app.Sim.SetMachineName(id, name); err != nil {
		t.Fatal(err)
	}
	resp, doc := f.clients[fleet.RoleAdmin].Get(t, "/machines/"+id+"?n="+url.QueryEscape(name))
	if strings.Contains(bodyText(t, resp), name) {
		t.Error("the name is rendered as markup")
	}
	if doc.Find(testID("machine-title")).Text() != name {
		t.Errorf("title %q", doc.Find(testID("machine-title")).Text())
	}
}

// TestMachinesList: every column, filters passed to the API, polling rows,
// the CSV export and an API failure with a retry.
func TestMachinesList(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	ids := f.app.Sim.MachineIDs()
	f.setStatus(t, ids[0], vagon.StatusTurningOn)
	f.setStatus(t, ids[1], vagon.StatusOff)
	c := f.clients[fleet.RoleViewer]
	resp, doc := c.Get(t, "/machines")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	row := doc.Find(`[data-testid="machine-row"][data-machine-id="` + ids[0] + `"]`)
	if row.AttrOr("hx-trigger", "") != "every 2s" || !strings.Contains(row.AttrOr("hx-get", ""), "/machines/"+ids[0]+"/row?") {
		t.Errorf("transitional row: trigger %q get %q", row.AttrOr("hx-trigger", ""), row.AttrOr("hx-get", ""))
	}
	if off := doc.Find(`[data-testid="machine-row"][data-machine-id="` + ids[1] + `"]`); off.AttrOr("hx-trigger", "") != "" {
		t.Error("an off row polls")
	}
	// The row refreshes and slows down over time.
	// (A bare <tr> is dropped by an HTML parser outside a table: read the text.)
	resp, _ = c.Get(t, "/machines/"+ids[0]+"/row?poll=7")
	if b := bodyText(t, resp); resp.StatusCode != 200 || !strings.Contains(b, `hx-trigger="every 5s"`) || !strings.Contains(b, "poll=8") {
		t.Errorf("row poll 7: status %d body %.300s", resp.StatusCode, b)
	}
	f.setStatus(t, ids[0], vagon.StatusReady)
	resp, _ = c.Get(t, "/machines/"+ids[0]+"/row?poll=8")
	if b := bodyText(t, resp); !strings.Contains(b, `data-status="ready"`) || strings.Contains(b, "hx-trigger") {
		t.Errorf("a settled row keeps polling: %.300s", b)
	}

	// Filters reach the API and stay in the URL.
	resp, doc = c.Get(t, "/machines?status=off&assigned=true&per_page=10")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("filtered: status %d", resp.StatusCode)
	}
	doc.Find(testID("status-badge")).Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("data-status", "") != "off" {
			t.Errorf("status filter: a %s row", s.AttrOr("data-status", ""))
		}
	})
	if got := doc.Find(testID("machines-csv")).AttrOr("href", ""); got != "/machines.csv?assigned=true&status=off" {
		t.Errorf("csv link %q", got)
	}
	resp, _ = c.Get(t, "/machines.csv?status=off")
	body := bodyText(t, resp)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	wantOff := 0
	for _, id := range ids {
		if m, _ := f.app.Sim.Machine(id); m.Attributes.FriendlyStatus == vagon.StatusOff {
			wantOff++
		}
	}
	if resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(lines) != wantOff+1 || !strings.HasPrefix(lines[0], "id,name,status,") {
		t.Errorf("csv: %s, %d lines, want %d\n%s", resp.Header.Get("Content-Type"), len(lines), wantOff+1, body)
	}

	// An API failure: a message and a retry, never a blank page.
	f.app.Sim.Enqueue("GET /machines", 10, vagonsim.GatewayError(http.StatusBadGateway, true))
	resp, doc = c.Get(t, "/machines?q=zzz-fail")
	f.app.Sim.ClearFaults()
	if resp.StatusCode != http.StatusBadGateway || doc.Find(testID("machines-retry")).AttrOr("href", "") != "/machines?q=zzz-fail" {
		t.Errorf("failure: status %d, error %q", resp.StatusCode, doc.Find(testID("machines-error")).Text())
	}
}

// TestMachinesList_coalesced: 100 concurrent identical list views cost the
// API one call.
func TestMachinesList_coalesced(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	c := f.clients[fleet.RoleViewer]
	// A slow answer keeps the first call in flight while the others arrive,
	// even on a loaded machine; later ones are served from the cache.
	f.app.Sim.SetLatency(3*time.Second, 3*time.Second)
	f.app.Sim.ResetCounts()
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 100 {
		wg.Go(func() {
			resp, err := c.http.Get(f.app.URL + "/machines?q=a&per_page=20")
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- resp.Status
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := f.app.Sim.Count("GET /machines"); n != 1 {
		t.Errorf("%d upstream list calls for 100 identical views, want 1", n)
	}
	t.Logf("100 concurrent identical list views → %d upstream call(s)", f.app.Sim.Count("GET /machines"))
}
