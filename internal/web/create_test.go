package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

const simCreate = "POST /machines"

func adminClient(t *testing.T, app *testApp) *client {
	t.Helper()
	return app.Login(t, "admin@example.com", app.CreateUser(t, "admin@example.com", views.RoleAdmin))
}

func validCreateForm() url.Values {
	return url.Values{
		"plan_id": {"1"}, "quantity": {"2"}, "region": {"frankfurt"}, "software_ids": {"1", "10"},
		"base_image_id": {"101"}, "perm_public_internet_access": {"true"}, "perm_clipboard_enabled": {"true"},
	}
}

func TestCreate_form(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := adminClient(t, app)
	resp, doc := c.Get(t, "/machines/new")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The software picker shows sizes in human units; images include "latest".
	sw := doc.Find(testID("create-software") + " option")
	if sw.Length() == 0 || !strings.Contains(sw.First().Text(), "MiB") {
		t.Fatalf("software options: %q", sw.Text())
	}
	if first := doc.Find(testID("create-image") + " option").First(); first.Text() != "Latest" {
		t.Fatalf("first image option %q", first.Text())
	}
	// Documented defaults.
	want := map[string]bool{
		"public_internet_access": true, "can_download_from_vagon_workstation": true, "can_upload_to_workstation": true,
		"clipboard_enabled": true, "analytics_collection_enabled": false, "screen_recording_enabled": false, "input_recording_enabled": false,
	}
	for k, on := range want {
		_, checked := doc.Find(testID("create-perm-" + k)).Attr("checked")
		if checked != on {
			t.Errorf("%s checked=%v, want %v", k, checked, on)
		}
	}
	if n := app.Sim.Count(simCreate); n != 0 {
		t.Fatalf("GET sent %d creates", n)
	}
}

func TestCreate_validationNeverReachesAPI(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := adminClient(t, app)
	big := strings.Repeat("x", 10_000)
	cases := []struct {
		name  string
		set   map[string][]string
		field string
	}{
		{"plan zero", map[string][]string{"plan_id": {"0"}}, "plan_id"},
		{"plan text", map[string][]string{"plan_id": {"abc"}}, "plan_id"},
		{"plan 10 kB", map[string][]string{"plan_id": {big}}, "plan_id"},
		{"quantity zero", map[string][]string{"quantity": {"0"}}, "quantity"},
		{"quantity 51", map[string][]string{"quantity": {"51"}}, "quantity"},
		{"quantity empty", map[string][]string{"quantity": {""}}, "quantity"},
		{"region upper", map[string][]string{"region": {"Dublin"}}, "region"},
		{"region html", map[string][]string{"region": {"<x>"}}, "region"},
		{"region 10 kB", map[string][]string{"region": {views.RegionOther}, "region_other": {big}}, "region"},
		{"other empty", map[string][]string{"region": {views.RegionOther}}, "region"},
		{"software unknown", map[string][]string{"software_ids": {"999"}}, "software_ids"},
		{"software text", map[string][]string{"software_ids": {"blender"}}, "software_ids"},
		{"image unknown", map[string][]string{"base_image_id": {"5"}}, "base_image_id"},
	}
	for _, tc := range cases {
		for _, confirmed := range []bool{false, true} {
			form := validCreateForm()
			for k, v := range tc.set {
				form[k] = v
			}
			if confirmed {
				form.Set("confirmed", "true")
				form.Set("token", "abc")
			}
			resp, doc := c.PostForm(t, "/machines", form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d", tc.name, resp.StatusCode)
				continue
			}
			if doc.Find(`.field.has-error [name="`+tc.field+`"]`).Length() != 1 {
				t.Errorf("%s: no error next to %s", tc.name, tc.field)
			}
		}
	}
	if n := app.Sim.Count(simCreate); n != 0 {
		t.Fatalf("invalid input reached POST /machines %d times", n)
	}
}

func TestCreate_confirmThenCreate(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := adminClient(t, app)
	// First POST: the confirmation, saying it spends balance; nothing created.
	resp, doc := c.PostForm(t, "/machines", validCreateForm())
	if resp.StatusCode != http.StatusOK || doc.Find(testID("create-confirm")).Length() != 1 {
		t.Fatalf("first POST: status %d, errors %q", resp.StatusCode, doc.Find(".field-error").Text())
	}
	if !strings.Contains(doc.Find(testID("create-balance-warning")).Text(), "spends organization balance") {
		t.Fatal("no balance warning")
	}
	if sum := doc.Find(testID("create-summary")).Text(); !strings.Contains(sum, "Blender") || !strings.Contains(sum, "frankfurt") {
		t.Fatalf("summary %q", sum)
	}
	// confirmed without the confirmation's token is not enough.
	noToken := validCreateForm()
	noToken.Set("confirmed", "true")
	if resp, doc := c.PostForm(t, "/machines", noToken); resp.StatusCode != http.StatusOK || doc.Find(testID("create-confirm")).Length() != 1 {
		t.Fatalf("confirmed without token: status %d", resp.StatusCode)
	}
	if n := app.Sim.Count(simCreate); n != 0 {
		t.Fatalf("created before confirmation: %d", n)
	}

	fields := confirmFields(t, doc, "create-confirm-form")
	resp, doc = c.PostForm(t, "/machines", fields)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create: status %d %q", resp.StatusCode, doc.Find(testID("create-error")).Text())
	}
	created := doc.Find(testID("created-machine"))
	if created.Length() != 2 {
		t.Fatalf("%d machines listed, want 2", created.Length())
	}
	id, _ := created.First().Attr("data-machine-id")
	if href, _ := created.First().Find("a").Attr("href"); href != "/machines/"+id {
		t.Fatalf("link %q", href)
	}
	m, ok := app.Sim.Machine(id)
	if !ok || m.Attributes.Region != "frankfurt" || m.Attributes.Permissions.CanDownloadFromVagonWorkstation || !m.Attributes.Permissions.ClipboardEnabled {
		t.Fatalf("created machine %+v", m.Attributes)
	}
	var started, succeeded db.AuditEvent
	for _, ev := range app.AuditRows(t) {
		if ev.Action == fleet.ActMachineCreate {
			if ev.Outcome == db.OutcomeStarted {
				started = ev
			} else {
				succeeded = ev
			}
		}
	}
	var p map[string]any
	_ = json.Unmarshal(succeeded.Params, &p)
	if started.ID == 0 || succeeded.Outcome != db.OutcomeSucceeded || len(p["created_ids"].([]any)) != 2 || p["region"] != "frankfurt" {
		t.Fatalf("audit: started %d, outcome %s, params %s", started.ID, succeeded.Outcome, succeeded.Params)
	}
	// The same confirmation again (reload, double click) creates nothing.
	resp, doc = c.PostForm(t, "/machines", fields)
	if resp.StatusCode != http.StatusOK || doc.Find(testID("create-replayed")).Length() != 1 {
		t.Fatalf("replay: status %d", resp.StatusCode)
	}
	if n := app.Sim.Count(simCreate); n != 1 {
		t.Fatalf("POST /machines sent %d times, want 1", n)
	}
}

// confirmAndCreate goes through both steps and returns the final page's doc.
func confirmAndCreate(t *testing.T, c *client, form url.Values) (*http.Response, string, map[string]string) {
	t.Helper()
	_, doc := c.PostForm(t, "/machines", form)
	fields := confirmFields(t, doc, "create-confirm-form")
	resp, doc := c.PostForm(t, "/machines", fields)
	errs := map[string]string{}
	doc.Find(".field.has-error").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Find("[name]").Attr("name")
		errs[name] = s.Find(".field-error").Text()
	})
	return resp, doc.Find(testID("create-error")).Text(), errs
}

func TestCreate_apiErrorsByField(t *testing.T) {
	t.Parallel()
	t.Run("480 balance", func(t *testing.T) {
		t.Parallel()
		app := newTestApp(t)
		app.Sim.SetBalance(0)
		c := adminClient(t, app)
		resp, top, errs := confirmAndCreate(t, c, validCreateForm())
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(errs["quantity"], "480") || !strings.Contains(top, "balance") {
			t.Fatalf("status %d top %q errs %v", resp.StatusCode, top, errs)
		}
		ev := lastAudit(t, app)
		if ev.Action != fleet.ActMachineCreate || ev.Outcome != db.OutcomeFailed || ev.ErrorCode == nil || *ev.ErrorCode != 480 {
			t.Fatalf("audit %s %s %v", ev.Action, ev.Outcome, ev.ErrorCode)
		}
	})
	t.Run("4202 region", func(t *testing.T) {
		t.Parallel()
		app := newTestApp(t, withSim(func(o *vagonsim.Options) { o.DefaultRegion = "" }))
		c := adminClient(t, app)
		form := validCreateForm()
		form.Set("region", "")
		resp, _, errs := confirmAndCreate(t, c, form)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(errs["region"], "4202") {
			t.Fatalf("status %d errs %v", resp.StatusCode, errs)
		}
	})
	t.Run("404 plan", func(t *testing.T) {
		t.Parallel()
		app := newTestApp(t)
		c := adminClient(t, app)
		form := validCreateForm()
		form.Set("plan_id", "99")
		resp, _, errs := confirmAndCreate(t, c, form)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(errs["plan_id"], "404") {
			t.Fatalf("status %d errs %v", resp.StatusCode, errs)
		}
	})
}

func TestCreate_adminOnly(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", views.RoleOperator))
	if resp, _ := c.Get(t, "/machines/new"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET /machines/new as operator: %d", resp.StatusCode)
	}
	form := validCreateForm()
	form.Set("confirmed", "true")
	form.Set("token", "abc")
	resp, _ := c.PostForm(t, "/machines", form)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /machines as operator: %d", resp.StatusCode)
	}
	ev := lastAudit(t, app)
	if ev.Action != fleet.ActMachineCreate || ev.Outcome != db.OutcomeDenied {
		t.Fatalf("audit %s %s", ev.Action, ev.Outcome)
	}
	if n := app.Sim.Total(); n != 0 {
		t.Fatalf("%d requests reached the API", n)
	}
}
