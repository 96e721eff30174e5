package web

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

const simCreate = "POST /machines"

func adminClient(t *testing.T, app *testApp) *client {
	t.Helper()
	return app.Login(t, "admin@example.com", app.CreateUser(t, "admin@example.com", fleet.RoleAdmin))
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
	// The same confirmation again (reload, double click) creates nothing
	// and says what the first submit made.
	resp, doc = c.PostForm(t, "/machines", fields)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(doc.Find(testID("create-replayed")).Text(), "already used") {
		t.Fatalf("replay: status %d %q", resp.StatusCode, doc.Find(testID("create-replayed")).Text())
	}
	if n := doc.Find(testID("replayed-machine")).Length(); n != 2 {
		t.Fatalf("replay lists %d machines, want 2", n)
	}
	if href, _ := doc.Find(testID("replayed-machine") + " a").First().Attr("href"); href != "/machines/"+id {
		t.Fatalf("replay link %q, want /machines/%s", href, id)
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
		resp, top, errs := confirmAndCreate(t, c, form)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(errs["plan_id"], "Plan not found") || !strings.Contains(errs["plan_id"], "404") {
			t.Fatalf("status %d errs %v", resp.StatusCode, errs)
		}
		// Said about the plan, not "machine, plan or task".
		if strings.Contains(top, "machine, plan or task") || !strings.Contains(top, "plan 99") {
			t.Fatalf("top error %q", top)
		}
		if len(errs) != 1 {
			t.Fatalf("errors by other fields: %v", errs)
		}
	})
}

func TestCreate_adminOnly(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := app.Login(t, "op@example.com", app.CreateUser(t, "op@example.com", fleet.RoleOperator))
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

// confirmedCreateForm goes through the review step and returns the
// confirmation form's fields (with its token) and the page.
func confirmedCreateForm(t *testing.T, c *client, form url.Values) (url.Values, *goquery.Document) {
	t.Helper()
	resp, doc := c.PostForm(t, "/machines", form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("review: status %d, errors %q", resp.StatusCode, doc.Find(".field-error").Text())
	}
	return confirmFields(t, doc, "create-confirm-form"), doc
}

// Issue 8: several submits of one confirmation at the same time (a double
// click, two tabs) reach the API once. The simulator answers slowly so that
// every submit is in flight before the first one's answer.
func TestCreate_concurrentConfirmCreatesOnce(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, 10} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			app := newTestApp(t)
			c := adminClient(t, app)
			fields, _ := confirmedCreateForm(t, c, validCreateForm())
			fields.Set("_csrf", c.CSRF)
			body := fields.Encode()
			app.Sim.SetLatency(150*time.Millisecond, 150*time.Millisecond)

			statuses := make([]int, n)
			bodies := make([]string, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					req, _ := http.NewRequest(http.MethodPost, c.base+"/machines", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					resp, err := c.http.Do(req)
					if err != nil {
						errs[i] = err
						return
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					statuses[i], bodies[i] = resp.StatusCode, string(b)
				}()
			}
			close(start)
			wg.Wait()
			app.Sim.ClearFaults()

			created, replayed := 0, 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("submit %d: %v", i, errs[i])
				}
				switch {
				case statuses[i] == http.StatusOK && strings.Contains(bodies[i], `data-testid="created-machines"`):
					created++
				case statuses[i] == http.StatusConflict && strings.Contains(bodies[i], "This confirmation was already used"):
					replayed++
				default:
					t.Errorf("submit %d: status %d", i, statuses[i])
				}
			}
			if created != 1 || replayed != n-1 {
				t.Fatalf("%d submits: %d created, %d told already used", n, created, replayed)
			}
			if got := app.Sim.Count(simCreate); got != 1 {
				t.Fatalf("%d submits of one confirmation sent POST /machines %d times, want 1", n, got)
			}
			var actions int
			for _, ev := range app.AuditRows(t) {
				if ev.Action == fleet.ActMachineCreate && ev.Outcome == db.OutcomeSucceeded {
					actions++
				}
			}
			if actions != 1 {
				t.Fatalf("%d succeeded machine.create audit rows, want 1", actions)
			}
		})
	}
}

// A confirmation whose create failed is used up too: submitting it again
// makes no second call and says where to look.
func TestCreate_replayAfterFailure(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := adminClient(t, app)
	form := validCreateForm()
	form.Set("plan_id", "99")
	fields, _ := confirmedCreateForm(t, c, form)
	if resp, _ := c.PostForm(t, "/machines", fields); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("create with plan 99: status %d", resp.StatusCode)
	}
	resp, doc := c.PostForm(t, "/machines", fields)
	msg := doc.Find(testID("create-replayed")).Text()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(msg, "No machines were reported created") || doc.Find(testID("create-replayed")+` a[href="/audit?action=machine.create"]`).Length() != 1 {
		t.Fatalf("replay: status %d %q", resp.StatusCode, msg)
	}
	if n := app.Sim.Count(simCreate); n != 1 {
		t.Fatalf("POST /machines sent %d times, want 1", n)
	}
}

// Issue 9 point 15: the API can't look a plan up, so a plan not found
// comes back on create; it is said by the plan field, every other field
// keeps what was typed, and plans that worked before are offered.
func TestCreate_planNotFoundKeepsForm(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := adminClient(t, app)
	// No plan has worked yet: nothing offered, and the review says the plan
	// can't be checked.
	_, doc := c.Get(t, "/machines/new")
	if doc.Find(testID("create-known-plans")).Length() != 0 {
		t.Fatal("plans offered before any create")
	}
	form := validCreateForm()
	form.Set("plan_id", "99")
	fields, doc := confirmedCreateForm(t, c, form)
	if doc.Find(testID("create-plan-unverified")).Length() != 1 {
		t.Fatal("review of an unknown plan does not say it can't be checked")
	}
	resp, doc := c.PostForm(t, "/machines", fields)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if msg := doc.Find(`.field.has-error ` + testID("create-plan-error")).Text(); !strings.Contains(msg, "Plan not found") {
		t.Fatalf("plan field error %q", msg)
	}
	if v, _ := doc.Find(testID("create-plan")).Attr("value"); v != "99" {
		t.Fatalf("plan field value %q", v)
	}
	if v, _ := doc.Find(testID("create-quantity")).Attr("value"); v != "2" {
		t.Fatalf("quantity value %q", v)
	}
	if v, _ := doc.Find(testID("create-region") + " option[selected]").Attr("value"); v != "frankfurt" {
		t.Fatalf("region %q", v)
	}
	var sw []string
	doc.Find(testID("create-software") + " option[selected]").Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr("value")
		sw = append(sw, v)
	})
	if strings.Join(sw, ",") != "1,10" {
		t.Fatalf("software kept %v", sw)
	}
	if _, on := doc.Find(testID("create-perm-can_download_from_vagon_workstation")).Attr("checked"); on {
		t.Fatal("an unchecked permission came back checked")
	}
	if _, on := doc.Find(testID("create-perm-clipboard_enabled")).Attr("checked"); !on {
		t.Fatal("a checked permission came back unchecked")
	}

	// Plan 1 works; from then on it is offered, and reviewing it says
	// nothing about an unchecked plan.
	form.Set("plan_id", "1")
	if resp, top, errs := confirmAndCreate(t, c, form); resp.StatusCode != http.StatusOK {
		t.Fatalf("create with plan 1: %d %q %v", resp.StatusCode, top, errs)
	}
	_, doc = c.Get(t, "/machines/new")
	if v, _ := doc.Find(`datalist#known-plans option`).Attr("value"); v != "1" {
		t.Fatalf("datalist offers %q", v)
	}
	if l, _ := doc.Find(testID("create-plan")).Attr("list"); l != "known-plans" {
		t.Fatalf("plan input list=%q", l)
	}
	if txt := doc.Find(testID("create-known-plans")).Text(); !strings.Contains(txt, "2 machines") {
		t.Fatalf("known plans %q", txt)
	}
	_, doc = confirmedCreateForm(t, c, form)
	if doc.Find(testID("create-plan-unverified")).Length() != 0 {
		t.Fatal("a plan that worked is called unverified")
	}
	if sum := doc.Find(testID("create-summary")).Text(); !strings.Contains(sum, "Plan 1, 2 machines.") {
		t.Fatalf("summary %q", sum)
	}
	form.Set("quantity", "1")
	_, doc = confirmedCreateForm(t, c, form)
	if sum := doc.Find(testID("create-summary")).Text(); !strings.Contains(sum, "Plan 1, 1 machine.") {
		t.Fatalf("summary %q", sum)
	}
}

// Issue 9 point 14: the fleet page links to the create form exactly for
// the roles the route table lets POST /machines.
func TestCreate_linkOnFleetPage(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	var minRole string
	for _, r := range app.Server.Routes() {
		if r.Method == http.MethodPost && r.Path == "/machines" {
			minRole = r.MinRole
		}
	}
	for _, role := range []string{fleet.RoleViewer, fleet.RoleHelpdesk, fleet.RoleOperator, fleet.RoleAdmin} {
		email := role + "@example.com"
		c := app.Login(t, email, app.CreateUser(t, email, role))
		_, doc := c.Get(t, "/machines")
		link := doc.Find(`.page-header ` + testID("create-machines-link"))
		want := fleet.RoleRank(role) >= fleet.RoleRank(minRole)
		if (link.Length() == 1) != want {
			t.Errorf("%s: link shown %v, want %v", role, link.Length() == 1, want)
		}
		if href, _ := link.Attr("href"); want && href != "/machines/new" {
			t.Errorf("%s: link to %q", role, href)
		}
	}
}

// No text a person reads says "machine(s)": counted nouns go through
// views.Plural. This reads the string literals of the web and views
// packages (generated templ code included, which holds the templates' text).
func TestNoParenthesizedPlurals(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`[A-Za-z]\(s\)`)
	for _, dir := range []string{".", "../views"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && re.MatchString(lit.Value) {
					t.Errorf("%s: %s: say it with views.Plural", f, lit.Value)
				}
				return true
			})
		}
	}
}

// When the audit log can't be written nothing is sent, and the claim is
// given back: once the audit log works again, the same confirmation creates.
func TestCreate_auditDownReleasesConfirmation(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	c := adminClient(t, app)
	fields, _ := confirmedCreateForm(t, c, validCreateForm())
	admin, err := pgx.Connect(context.Background(), dbtest.AsAdmin(t, app.DBURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(context.Background(), `
		CREATE FUNCTION test_audit_down() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit log down (test)'; END $$;
		CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_events
		FOR EACH ROW EXECUTE FUNCTION test_audit_down();`); err != nil {
		t.Fatal(err)
	}
	resp, _ := c.PostForm(t, "/machines", fields)
	wantErrorPage(t, resp, http.StatusServiceUnavailable, "Audit log unavailable")
	if n := app.Sim.Count(simCreate); n != 0 {
		t.Fatalf("created without an audit row: %d", n)
	}
	if _, err := admin.Exec(context.Background(), `DROP TRIGGER test_audit_down ON audit_events`); err != nil {
		t.Fatal(err)
	}
	resp, doc := c.PostForm(t, "/machines", fields)
	if resp.StatusCode != http.StatusOK || doc.Find(testID("created-machine")).Length() != 2 {
		t.Fatalf("retry: status %d", resp.StatusCode)
	}
	if n := app.Sim.Count(simCreate); n != 1 {
		t.Fatalf("POST /machines sent %d times, want 1", n)
	}
}
