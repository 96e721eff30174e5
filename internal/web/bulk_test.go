package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/jobs"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// withBulkRunner gives the app a bulk engine on a River client started for
// the test's lifetime (cmd/dashboard wires the real one the same way).
func withBulkRunner(t *testing.T, app *testApp) *fleet.Bulk {
	t.Helper()
	b, q := withBulkQueue(t, app)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(10 * time.Second) })
	return b
}

// withBulkQueue gives the app a bulk engine whose River client is not
// started: operations are stored and enqueued, and stay queued.
func withBulkQueue(t *testing.T, app *testApp) (*fleet.Bulk, *jobs.Jobs) {
	t.Helper()
	if err := jobs.Migrate(context.Background(), app.Store); err != nil {
		t.Fatal(err)
	}
	b := fleet.NewBulk(app.Server.fleet, fleet.BulkOptions{})
	q, err := jobs.New(app.Store, jobs.Config{Bulk: b, RescueAfter: time.Minute, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b.SetQueue(q)
	app.Server.bulkSvc = b
	return b, q
}

// confirmFields collects the fields of the confirmation form.
func confirmFields(t *testing.T, doc *goquery.Document, testid string) url.Values {
	t.Helper()
	form := doc.Find(testID(testid))
	if form.Length() != 1 {
		t.Fatalf("no %s form on the page", testid)
	}
	out := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		val, _ := s.Attr("value")
		if name != "" && name != "_csrf" {
			out.Add(name, val)
		}
	})
	return out
}

func waitBulkDone(t *testing.T, b *fleet.Bulk, id int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := b.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Op.Finished() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("bulk %d did not finish", id)
}

func TestBulk_stopFlow(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	b := withBulkRunner(t, app)
	ids := app.Sim.MachineIDs()[:5]
	for _, id := range ids[:4] {
		if err := app.Sim.SetStatus(id, vagon.StatusReady); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Sim.SetStatus(ids[4], vagon.StatusOff); err != nil {
		t.Fatal(err)
	}
	if err := app.Sim.SetMachineName(ids[0], `<b>Bold</b> machine`); err != nil {
		t.Fatal(err)
	}
	c := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", fleet.RoleOperator))

	// Step 1: the confirmation lists the exact machines; nothing is sent.
	resp, doc := c.PostForm(t, "/bulk", url.Values{"action": {"stop"}, "machine_id": ids, "gracefully": {"true"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: status %d: %s", resp.StatusCode, doc.Find(testID("bulk-error")).Text())
	}
	if n := doc.Find(testID("bulk-target")).Length(); n != 5 {
		t.Fatalf("confirmation lists %d machines, want 5", n)
	}
	if got := doc.Find(`[data-machine-id="` + ids[0] + `"] ` + testID("bulk-target-name")).Text(); got != `<b>Bold</b> machine` {
		t.Fatalf("name shown as %q", got)
	}
	if skip := doc.Find(`[data-machine-id="` + ids[4] + `"] ` + testID("bulk-target-skip")).Text(); !strings.Contains(skip, "Already off") {
		t.Fatalf("off machine's note = %q", skip)
	}
	if n := app.Sim.Count("POST /machines/{id}/stop"); n != 0 {
		t.Fatalf("the confirmation step sent %d stops", n)
	}

	// Step 2: confirmed → the operation runs; 303 to its page.
	app.Sim.SetLatency(200*time.Millisecond, 200*time.Millisecond)
	fields := confirmFields(t, doc, "bulk-confirm-form")
	if fields.Get("confirmed") != "true" || len(fields["machine_id"]) != 5 {
		t.Fatalf("confirm form fields = %v", fields)
	}
	resp, _ = c.PostForm(t, "/bulk", fields)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/bulk/") {
		t.Fatalf("confirmed: status %d Location %q", resp.StatusCode, loc)
	}
	// While it runs, the progress fragment polls itself.
	resp, doc = c.Do(t, mustReq(t, http.MethodGet, c.base+loc, http.Header{"Hx-Request": {"true"}}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("progress fragment: %d", resp.StatusCode)
	}
	if trig, _ := doc.Find(testID("bulk-progress")).Attr("hx-trigger"); trig != "every 1s" {
		t.Fatalf("running progress hx-trigger = %q, want polling", trig)
	}
	if doc.Find(testID("topbar")).Length() > 0 {
		t.Fatal("htmx got the whole page")
	}
	var opID int64
	if err := json.Unmarshal([]byte(strings.TrimPrefix(loc, "/bulk/")), &opID); err != nil {
		t.Fatal(err)
	}
	waitBulkDone(t, b, opID)

	resp, doc = c.Get(t, loc)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("progress page: %d", resp.StatusCode)
	}
	prog := doc.Find(testID("bulk-progress"))
	if _, polling := prog.Attr("hx-trigger"); polling {
		t.Fatal("a finished operation still polls")
	}
	if v, _ := doc.Find(testID("bulk-progress-bar")).Attr("value"); v != "5" {
		t.Fatalf("progress value = %q, want 5", v)
	}
	if got := doc.Find(`[data-state="done"]`).Length(); got != 4 {
		t.Fatalf("%d done rows, want 4", got)
	}
	skipped := doc.Find(`[data-state="skipped"]`)
	if skipped.Length() != 1 || !strings.Contains(skipped.Find(testID("bulk-item-message")).Text(), "Already off") {
		t.Fatalf("skipped row: %q", skipped.Text())
	}
	if !strings.Contains(doc.Find(testID("flashes")).Text(), "started") {
		t.Fatalf("no flash after submit: %q", doc.Find(testID("flashes")).Text())
	}
	if n := app.Sim.AuthCount("POST /machines/{id}/stop"); n != 4 {
		t.Fatalf("stops sent = %d, want 4", n)
	}
	// Parent row (started, succeeded) and one started+succeeded per stopped machine.
	var parent, per int
	for _, ev := range app.AuditRows(t) {
		switch ev.Action {
		case fleet.ActBulk:
			parent++
			if ev.ActorEmail != "op@example.com" {
				t.Fatalf("bulk.run by %s", ev.ActorEmail)
			}
		case fleet.ActMachineStop:
			per++
			if !strings.Contains(string(ev.Params), `"bulk_op_id": `+strings.TrimPrefix(loc, "/bulk/")) {
				t.Fatalf("machine.stop params = %s", ev.Params)
			}
		}
	}
	if parent != 2 || per != 8 {
		t.Fatalf("audit: %d bulk.run rows, %d machine.stop rows; want 2 and 8", parent, per)
	}
}

func mustReq(t *testing.T, method, u string, h http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	return req
}

func TestBulk_allMatchingFilter(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, withSim(func(o *vagonsim.Options) { o.Machines = 30 }))
	withBulkRunner(t, app)
	want := map[string]bool{}
	for i, id := range app.Sim.MachineIDs() {
		st := vagon.StatusOff
		if i%3 == 0 {
			st = vagon.StatusReady
			want[id] = true
		}
		if err := app.Sim.SetStatus(id, st); err != nil {
			t.Fatal(err)
		}
	}
	c := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", fleet.RoleOperator))
	// all_matching wins over a stray selection; the filter spans pages.
	resp, doc := c.PostForm(t, "/bulk", url.Values{"action": {"stop"}, "all_matching": {"true"}, "status": {"ready"}, "machine_id": {"1"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, doc.Find(testID("bulk-error")).Text())
	}
	got := map[string]bool{}
	doc.Find(testID("bulk-target")).Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-machine-id")
		got[id] = true
	})
	if len(got) != len(want) {
		t.Fatalf("confirmation lists %d machines, want the %d ready ones", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("machine %s missing from the confirmation", id)
		}
	}
	fields := confirmFields(t, doc, "bulk-confirm-form")
	if len(fields["machine_id"]) != len(want) || fields.Has("all_matching") {
		t.Fatalf("confirm form posts %v", fields)
	}
}

func TestBulk_roles(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	withBulkRunner(t, app)
	ids := app.Sim.MachineIDs()[:2]
	for _, role := range []string{fleet.RoleViewer, fleet.RoleHelpdesk} {
		email := role + "@example.com"
		c := app.Login(t, email, app.CreateUser(t, email, role))
		before := app.Sim.Total()
		for _, form := range []url.Values{
			{"action": {"start"}, "machine_id": ids},
			{"action": {"start"}, "machine_id": ids, "confirmed": {"true"}},
		} {
			resp, _ := c.PostForm(t, "/bulk", form)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s: POST /bulk = %d, want 403", role, resp.StatusCode)
			}
			ev := lastAudit(t, app)
			if ev.Outcome != db.OutcomeDenied || ev.Action != fleet.ActBulk || ev.ActorEmail != email {
				t.Fatalf("%s: last audit = %s %s by %s", role, ev.Action, ev.Outcome, ev.ActorEmail)
			}
		}
		if resp, _ := c.Get(t, "/bulk/1"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: GET /bulk/1 = %d", role, resp.StatusCode)
		}
		if n := app.Sim.Total(); n != before {
			t.Fatalf("%s: %d requests reached the API", role, n-before)
		}
	}
	if ids, _ := unfinishedBulkOps(app.Store); len(ids) != 0 {
		t.Fatalf("operations stored: %v", ids)
	}
}

func TestBulk_invalidInput(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	withBulkRunner(t, app)
	c := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", fleet.RoleOperator))
	id := app.MachineID(t)
	cases := map[string]url.Values{
		"unknown action":     {"action": {"reset"}, "machine_id": {id}},
		"no machines":        {"action": {"start"}},
		"non-numeric id":     {"action": {"start"}, "machine_id": {"abc"}},
		"huge id":            {"action": {"start"}, "machine_id": {strings.Repeat("9", 10_000)}},
		"no permission":      {"action": {"permissions"}, "machine_id": {id}},
		"bad permission":     {"action": {"permissions"}, "machine_id": {id}, "clipboard_enabled": {"maybe"}},
		"bad auto-stop":      {"action": {"auto_stop"}, "machine_id": {id}, "auto_stop_threshold": {"5"}},
		"bad gracefully":     {"action": {"stop"}, "machine_id": {id}, "gracefully": {"sometimes"}},
		"confirmed, no ids":  {"action": {"start"}, "confirmed": {"true"}, "all_matching": {"true"}},
		"confirmed, bad ids": {"action": {"start"}, "confirmed": {"true"}, "machine_id": {"1", "x"}},
	}
	for name, form := range cases {
		resp, doc := c.PostForm(t, "/bulk", form)
		if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(testID("bulk-error")).Length() != 1 {
			t.Errorf("%s: status %d, error %q", name, resp.StatusCode, doc.Find(testID("bulk-error")).Text())
		}
	}
	if n := app.Sim.Total(); n != 0 {
		t.Fatalf("invalid input reached the API: %v", app.Sim.Counts())
	}
	// An unknown machine id is reported, the others go on.
	resp, doc := c.PostForm(t, "/bulk", url.Values{"action": {"start"}, "machine_id": {id, "999999"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(doc.Find(testID("bulk-missing")).Text(), "999999") {
		t.Fatalf("missing id: status %d, %q", resp.StatusCode, doc.Find(testID("bulk-missing")).Text())
	}
	if resp, _ := c.Get(t, "/bulk/424242"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown op: %d", resp.StatusCode)
	}
	if resp, _ := c.Get(t, "/bulk/abc"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bad op id: %d", resp.StatusCode)
	}
}

func TestParseBulkForm_permissions(t *testing.T) {
	t.Parallel()
	// Tri-state selects and the checkbox style both choose keys; untouched
	// keys are not in the params.
	f, err := parseBulkForm(url.Values{
		"action":                          {"permissions"},
		vagon.PermClipboard:               {"false"},
		vagon.PermScreenRecording:         {"true"},
		vagon.PermPublicInternetAccess:    {""},
		"perm_set_" + vagon.PermCanUpload: {"on"},
		// can_upload unchecked: absent → off.
		"perm_set_" + vagon.PermInputRecording: {"on"},
		vagon.PermInputRecording:               {"true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{vagon.PermClipboard: false, vagon.PermScreenRecording: true, vagon.PermCanUpload: false, vagon.PermInputRecording: true}
	if len(f.params.Permissions) != len(want) {
		t.Fatalf("permissions = %v", f.params.Permissions)
	}
	for k, v := range want {
		if got, ok := f.params.Permissions[k]; !ok || got != v {
			t.Fatalf("%s = %v (%v), want %v", k, got, ok, v)
		}
	}
	// The confirm form re-posts them in the tri-state form.
	re := url.Values{"action": {"permissions"}}
	for _, h := range f.hidden {
		re.Add(h.Name, h.Value)
	}
	g, err := parseBulkForm(re)
	if err != nil || len(g.params.Permissions) != 4 || g.params.Permissions[vagon.PermCanUpload] {
		t.Fatalf("round trip: %v %v", g.params.Permissions, err)
	}
	// Stop defaults to graceful.
	s, err := parseBulkForm(url.Values{"action": {"stop"}})
	if err != nil || s.params.Gracefully == nil || !*s.params.Gracefully {
		t.Fatalf("stop default: %+v %v", s.params, err)
	}
}

func TestBulkBar_render(t *testing.T) {
	t.Parallel()
	render := func(canBulk bool) *goquery.Document {
		var b strings.Builder
		p := views.Page{CSRFToken: "tok", User: &views.CurrentUser{Email: "x@example.com", Role: fleet.RoleOperator}}
		q := views.MachineQuery{Q: "alice", Status: "ready", Page: 3}
		v := views.FleetView{MachinesView: views.MachinesView{Query: q}, CanBulk: canBulk, BulkActions: bulkActionOptions(), Permissions: bulkPermissionChoices(), AutoStopOptions: autoStopOptions()}
		if err := views.BulkBarFor(p, v).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	doc := render(true)
	form := doc.Find(`form#bulk-form[method="post"][action="/bulk"]`)
	if form.Length() != 1 {
		t.Fatal("no bulk form")
	}
	for sel, want := range map[string]string{
		`input[name="_csrf"]`: "tok", `input[name="q"]`: "alice", `input[name="status"]`: "ready",
	} {
		if v, _ := form.Find(sel).Attr("value"); v != want {
			t.Errorf("%s = %q, want %q", sel, v, want)
		}
	}
	if form.Find(`input[name="page"]`).Length() != 0 {
		t.Error("the page number must not limit all_matching")
	}
	for _, name := range []string{"action", "gracefully", "auto_stop_threshold", vagon.PermClipboard} {
		if form.Find(`select[name="`+name+`"]`).Length() != 1 {
			t.Errorf("no select %s", name)
		}
	}
	if form.Find(`input[type="checkbox"][name="all_matching"][value="true"]`).Length() != 1 {
		t.Error("no all_matching checkbox")
	}
	for _, pm := range fleet.Permissions {
		if got := form.Find(`label[for="bulk-perm-` + pm.Key + `"]`).Text(); got != pm.Label {
			t.Errorf("bulk label of %s = %q, want fleet's %q", pm.Key, got, pm.Label)
		}
	}
	if render(false).Find("form").Length() != 0 {
		t.Error("the bulk form shows without CanBulk")
	}
}

// unfinishedBulkOps lists the ids of the operations still queued or
// running, oldest first (a test's look at what was stored).
func unfinishedBulkOps(s *db.Store) ([]int64, error) {
	rows, _ := s.Pool().Query(context.Background(), `SELECT id FROM bulk_operations WHERE status IN ('queued', 'running') ORDER BY id`)
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
