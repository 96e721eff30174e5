package web

// Issue 9 (the console used for a week) and issue 8 §7 (stale forms) on the
// machine page, against the simulator and a real Postgres.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// formValues reads the named form of a page the way a browser would submit
// it untouched: hidden fields, checked boxes and radios, text inputs and
// selected options.
func formValues(doc *goquery.Document, testID string) url.Values {
	form := url.Values{}
	doc.Find(`form[data-testid="` + testID + `"]`).Find("input, select").Each(func(_ int, s *goquery.Selection) {
		name, ok := s.Attr("name")
		if !ok || name == "_csrf" {
			return
		}
		if goquery.NodeName(s) == "select" {
			if o := s.Find("option[selected]"); o.Length() > 0 {
				form.Set(name, o.AttrOr("value", ""))
			}
			return
		}
		switch s.AttrOr("type", "text") {
		case "checkbox", "radio":
			if _, on := s.Attr("checked"); on {
				form.Add(name, s.AttrOr("value", "on"))
			}
		default:
			form.Add(name, s.AttrOr("value", ""))
		}
	})
	return form
}

// TestMachine_staleFormsSendNothing (issue 8 §7): tab A opens the page, tab
// B changes the machine, tab A submits: nothing reaches Vagon and the answer
// shows what A saw, what it is now and what A asked for; submitting the
// answer's form (its "seen" values are now the current ones) applies A's
// choice.
func TestMachine_staleFormsSendNothing(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	f.setStatus(t, id, vagon.StatusOff)
	tabA, tabB := f.clients[fleet.RoleOperator], f.clients[fleet.RoleAdmin]
	perm := vagon.PermClipboard
	var permB bool
	var stopB int

	cases := []struct {
		name, path, formID, endpoint, section string
		// change is tab A's edit of its (stale) form; other is tab B's
		// change, made after A opened the page.
		change func(form url.Values)
		other  func(t *testing.T)
		label  string
		// kept checks, after saving again, that the other change stayed.
		kept func(t *testing.T)
	}{
		{"permissions", "/permissions", "permissions-form", "POST /machines/{id}/permissions", "section-permissions",
			func(form url.Values) {
				if form.Get(vagon.PermScreenRecording) == "" {
					form.Set(vagon.PermScreenRecording, "true")
				} else {
					form.Del(vagon.PermScreenRecording)
				}
			},
			func(t *testing.T) {
				// Tab B, another admin, toggles clipboard sharing through
				// the dashboard.
				_, page := tabB.Get(t, "/machines/"+id)
				form := formValues(page, "permissions-form")
				if form.Get(perm) == "" {
					form.Set(perm, "true")
				} else {
					form.Del(perm)
				}
				if resp, _ := tabB.PostHTMX(t, "/machines/"+id+"/permissions", form); resp.StatusCode != http.StatusOK {
					t.Fatalf("tab B: status %d", resp.StatusCode)
				}
				permB = form.Get(perm) == "true"
			}, "Clipboard sharing",
			func(t *testing.T) {
				if got := f.machine(t, id).Attributes.Permissions.AsMap()[perm]; got != permB {
					t.Errorf("saving again undid tab B's clipboard change: %v, want %v", got, permB)
				}
			}},
		{"settings", "/settings", "settings-form", "PATCH /machines/{id}", "section-settings",
			func(form url.Values) {
				if form.Get("usage_source") == vagon.UsageSourceMachine {
					form.Set("usage_source", vagon.UsageSourceTeamBalance)
				} else {
					form.Set("usage_source", vagon.UsageSourceMachine)
				}
			},
			func(t *testing.T) {
				n := 900
				if f.machine(t, id).Attributes.AutoStopThreshold == 900 {
					n = 3600
				}
				if _, err := f.app.API.UpdateMachine(t.Context(), id, &vagon.UpdateMachineRequest{AutoStopThreshold: &n}); err != nil {
					t.Fatal(err)
				}
				stopB = n
			}, "Auto-stop after idle",
			func(t *testing.T) {
				if got := f.machine(t, id).Attributes.AutoStopThreshold; got != stopB {
					t.Errorf("saving again undid the other auto-stop change: %d, want %d", got, stopB)
				}
			}},
		{"performance", "/machine-type", "performance-form", "POST /machines/{id}/machine-type", "section-performance",
			func(form url.Values) {},
			func(t *testing.T) {
				types, err := f.app.API.ListMachineTypes(t.Context(), id)
				if err != nil || len(types) < 2 {
					t.Fatalf("types %v %v", types, err)
				}
				cur := f.machine(t, id).Attributes.MachineType
				for _, ty := range types {
					if ty.Attributes.FriendlyName != cur && ty.Attributes.Name != cur {
						if err := f.app.API.SetMachineType(t.Context(), id, string(ty.ID)); err != nil {
							t.Fatal(err)
						}
						return
					}
				}
			}, "Performance", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.app.Server.fleet.Invalidate(vagon.ID(id))
			_, page := tabA.Get(t, "/machines/"+id)
			form := formValues(page, tc.formID)
			if len(form) == 0 {
				t.Fatalf("no %s on the page", tc.formID)
			}
			tc.change(form)
			tc.other(t)
			f.app.Server.fleet.Invalidate(vagon.ID(id))

			before, auditBefore := writes(f.app.Sim), len(f.app.AuditRows(t))
			resp, doc := tabA.PostHTMX(t, "/machines/"+id+tc.path, form)
			if resp.StatusCode != http.StatusConflict {
				t.Fatalf("status %d, want 409; %.300s", resp.StatusCode, bodyText(t, resp))
			}
			if n := writes(f.app.Sim) - before; n != 0 {
				t.Errorf("%d calls changed something in Vagon, want 0", n)
			}
			if n := len(f.app.AuditRows(t)) - auditBefore; n != 0 {
				t.Errorf("%d audit rows for a submission that sent nothing", n)
			}
			sec := doc.Find("#" + tc.section)
			row := sec.Find(`[data-testid="conflict-row"]`).FilterFunction(func(_ int, s *goquery.Selection) bool {
				return strings.TrimSpace(s.Find("th").Text()) == tc.label
			})
			if row.Length() != 1 {
				t.Fatalf("no conflict row %q in %s: %q", tc.label, tc.section, sec.Find(`[data-testid="conflict"]`).Text())
			}
			seen, cur := row.Find(`[data-testid="conflict-seen"]`).Text(), row.Find(`[data-testid="conflict-current"]`).Text()
			if seen == "" || cur == "" || seen == cur {
				t.Errorf("conflict row: saw %q, now %q: want both versions, different", seen, cur)
			}
			if got := sec.Find(`[data-testid="section-message"]`).AttrOr("data-kind", ""); got != views.FlashError {
				t.Errorf("section message kind %q", got)
			}

			// Without htmx the answer is the page with the same comparison.
			resp2, page2 := tabA.PostForm(t, "/machines/"+id+tc.path, form)
			if resp2.StatusCode != http.StatusConflict || page2.Find("#"+tc.section+` [data-testid="conflict-row"]`).Length() == 0 {
				t.Errorf("plain POST: status %d, %d conflict rows", resp2.StatusCode, page2.Find("#"+tc.section+` [data-testid="conflict-row"]`).Length())
			}
			if n := writes(f.app.Sim) - before; n != 0 {
				t.Errorf("%d calls changed something in Vagon, want 0", n)
			}

			// Saving again from the answer applies the choice.
			again := formValues(doc, tc.formID)
			if tc.name == "performance" {
				// Choose the type A wanted (the one it saw as current).
				again.Set("machine_type_id", form.Get("machine_type_id"))
			}
			resp, _ = tabA.PostHTMX(t, "/machines/"+id+tc.path, again)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("resubmit: status %d; %.300s", resp.StatusCode, bodyText(t, resp))
			}
			if n := f.app.Sim.Count(tc.endpoint); n == 0 {
				t.Errorf("the resubmitted form did not reach %s", tc.endpoint)
			}
			if tc.kept != nil {
				tc.kept(t)
			}
		})
	}
}

// TestMachine_stopAsksWhenInUse (9.7): stopping a machine with a running
// session answers a question naming its user and the session's start, and
// sends nothing; the confirmed stop (confirm=true) stops it.
func TestMachine_stopAsksWhenInUse(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	f.setStatus(t, id, vagon.StatusReady)
	m := f.machine(t, id)
	var open *time.Time
	for _, ss := range f.app.Sim.Sessions(id) {
		if ss.Attributes.EndAt == nil {
			st := ss.Attributes.StartAt
			open = &st
		}
	}
	if open == nil {
		t.Fatal("the ready machine has no running session in the simulator")
	}
	c := f.clients[fleet.RoleOperator]
	c.CSRFFrom(t, "/machines/"+id)
	for _, htmx := range []bool{true, false} {
		auditBefore := len(f.app.AuditRows(t))
		before := f.app.Sim.Count("POST /machines/{id}/stop")
		post := c.PostForm
		if htmx {
			post = c.PostHTMX
		}
		resp, doc := post(t, "/machines/"+id+"/stop", url.Values{"gracefully": {"true"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("htmx=%v: status %d", htmx, resp.StatusCode)
		}
		if n := f.app.Sim.Count("POST /machines/{id}/stop") - before; n != 0 {
			t.Errorf("htmx=%v: %d stops sent before confirming", htmx, n)
		}
		if n := len(f.app.AuditRows(t)) - auditBefore; n != 0 {
			t.Errorf("htmx=%v: %d audit rows before confirming", htmx, n)
		}
		q := doc.Find(`[data-testid="stop-confirm"]`)
		text := q.Find(`[data-testid="stop-confirm-text"]`).Text()
		if m.Attributes.User != nil && !strings.Contains(text, m.Attributes.User.Attributes.Email) {
			t.Errorf("htmx=%v: the question %q does not name %s", htmx, text, m.Attributes.User.Attributes.Email)
		}
		if got := q.Find("time").AttrOr("datetime", ""); got != open.UTC().Format(time.RFC3339) {
			t.Errorf("htmx=%v: session start %q, want %s", htmx, got, open.UTC().Format(time.RFC3339))
		}
		confirm := q.Find(`form input[name="confirm"][value="true"]`)
		if confirm.Length() != 1 || q.Find(`form input[name="gracefully"][value="true"]`).Length() != 1 {
			t.Errorf("htmx=%v: the question's form lacks confirm=true or keeps not the graceful choice", htmx)
		}
	}
	resp, _ := c.PostHTMX(t, "/machines/"+id+"/stop", url.Values{"gracefully": {"true"}, "confirm": {"true"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirmed stop: status %d", resp.StatusCode)
	}
	if got := f.machine(t, id).Attributes.FriendlyStatus; got != vagon.StatusGracefulStopping {
		t.Errorf("after the confirmed stop the machine is %s", got)
	}
	rows := f.app.AuditRows(t)
	if last := rows[len(rows)-1]; last.Action != fleet.ActMachineStop || last.Outcome != "succeeded" {
		t.Errorf("last audit row %s %s", last.Action, last.Outcome)
	}
}

// TestAccessLink_customMinutes (9.11): a custom value typed while a preset
// is chosen is never silently dropped: it is refused with both named, and
// nothing is sent; with Custom chosen it is used.
func TestAccessLink_customMinutes(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	c := f.clients[fleet.RoleHelpdesk]
	c.CSRFFrom(t, "/machines/"+id)
	const ep = "POST /machines/{id}/access"
	before := f.app.Sim.Count(ep)
	resp, doc := c.PostHTMX(t, "/machines/"+id+"/access", url.Values{"expires_in": {"60"}, "custom_minutes": {"90"}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("preset + custom: status %d, want 422", resp.StatusCode)
	}
	if got := doc.Find(`[data-testid="expires_in-error"]`).Text(); !strings.Contains(got, "90 minutes") || !strings.Contains(got, "1 h") {
		t.Errorf("error %q names not both choices", got)
	}
	if n := f.app.Sim.Count(ep) - before; n != 0 {
		t.Errorf("%d links issued", n)
	}
	if _, checked := doc.Find(`[data-testid="custom-minutes"]`).Attr("data-select-radio"); !checked {
		t.Error("the custom field does not select its radio")
	}
	for _, tc := range []struct {
		form url.Values
		want time.Duration
	}{
		{url.Values{"expires_in": {"custom"}, "custom_minutes": {"90"}}, 90 * time.Minute},
		{url.Values{"expires_in": {"60"}, "custom_minutes": {"60"}}, time.Hour},
		{url.Values{"expires_in": {"60"}, "custom_minutes": {""}}, time.Hour},
	} {
		resp, doc := c.PostHTMX(t, "/machines/"+id+"/access", tc.form)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%v: status %d", tc.form, resp.StatusCode)
		}
		exp, err := time.Parse(time.RFC3339, doc.Find(`[data-testid="access-expires"]`).AttrOr("datetime", ""))
		if err != nil {
			t.Fatalf("%v: expiry: %v", tc.form, err)
		}
		if d := exp.Sub(f.app.Sim.Now()); d < tc.want-2*time.Minute || d > tc.want+2*time.Minute {
			t.Errorf("%v: link valid for %s, want %s", tc.form, d.Round(time.Minute), tc.want)
		}
	}
}
