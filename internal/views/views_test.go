package views_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/vagon-dashboard/dashboard/internal/views"
)

const token = "tok-123&\"<>"

func samplePage(role string) views.Page {
	p := views.Page{
		Title:     "Machines",
		Nav:       views.NavMachines,
		CSRFToken: token,
		RequestID: "req-42",
		Assets: views.Assets{
			CSS:     "/static/app.css?v=abc",
			JS:      "/static/app.js?v=def",
			HTMX:    "/static/vendor/htmx-2.0.11.min.js?v=123",
			Favicon: "/static/favicon.svg?v=456",
		},
	}
	if role != "" {
		p.User = &views.CurrentUser{Email: role + "@example.com", Role: role}
		// The web layer sets these from its route table; here the admin
		// stands in for a role those routes allow.
		p.CanUsers, p.AuditAll = role == "admin", role == "admin"
	}
	return p
}

var t0 = time.Date(2025, 3, 4, 15, 4, 5, 0, time.FixedZone("CET", 3600))

func sampleMachines() views.MachinesView {
	last := t0.Add(-2 * time.Hour)
	return views.MachinesView{
		Query: views.MachineQuery{Q: "design", Page: 2, PerPage: "20"},
		Rows: []views.MachineRow{
			{ID: "12", Name: "design-01", Status: "ready", UserName: "Ada Lovelace", UserEmail: "ada@example.com", Region: "dublin", MachineType: "Performance", RemainingMinutes: 725, LastSessionAt: &last},
			{ID: "13", Name: "<script>alert(1)</script>", Status: "graceful_stopping", Region: "frankfurt", MachineType: "Planet"},
			{ID: "14", Name: "odd-one", Status: "teleporting", UserName: "Bob", UserEmail: "<bob@example.com>", Region: "virginia", MachineType: "Pro"},
		},
		Count:   43,
		PrevURL: "/machines?q=design",
		NextURL: "/machines?q=design&page=3",
	}
}

func sampleUsers() views.UsersView {
	return views.UsersView{
		Roles: []string{"viewer", "helpdesk", "operator", "admin"},
		Users: []views.UserRow{
			{ID: 1, Email: "admin@example.com", Role: "admin", CreatedAt: t0, Self: true},
			{ID: 2, Email: "op@example.com", Role: "operator", CreatedAt: t0},
			{ID: 3, Email: "gone@example.com", Role: "viewer", CreatedAt: t0, Disabled: true},
		},
		Form: views.UserForm{Email: "new@", Role: "helpdesk", Errors: map[string]string{
			"email":            "Enter a valid email address.",
			"password_confirm": "The passwords do not match.",
		}},
	}
}

func sampleAudit() views.AuditView {
	code := 4204
	return views.AuditView{
		Filter: views.AuditFilterView{Outcome: "failed", From: "2025-03-01", Errors: map[string]string{"to": "Use YYYY-MM-DD."}},
		Rows: []views.AuditRow{
			{ID: 9, At: t0, ActorEmail: "op@example.com", ActorRole: "operator", Action: "machine.stop", ActionLabel: "Stop machine", MachineID: "12", MachineName: "Design 12", Outcome: "failed", ErrorCode: &code, Message: "machine is not running", Params: "{\n  \"gracefully\": true\n}", RequestID: "req-9",
				Started: &views.AuditRow{ID: 7, At: t0.Add(-time.Second), Action: "machine.stop", Outcome: "started", Params: "{\n  \"gracefully\": true\n}", RequestID: "req-9"}},
			{ID: 8, At: t0.Add(-time.Minute), ActorEmail: "hd@example.com", ActorRole: "helpdesk", Action: "machine.access_link", ActionLabel: "Issue access link", MachineID: "13", Outcome: "unknown", OutcomeHint: "Not known; check.", Note: "for <b>Ann</b>"},
		},
		NextURL:  "/audit?outcome=failed&before=8",
		CSVURL:   "/audit.csv?outcome=failed",
		Actions:  []views.Option{{Value: "machine.start", Label: "Start machine"}, {Value: "machine.stop", Label: "Stop machine"}},
		Outcomes: []string{"started", "succeeded", "failed", "denied", "unknown"},
	}
}

// allPages renders every page once, for checks that hold everywhere.
func allPages() map[string]templ.Component {
	admin := samplePage("admin")
	signedOut := samplePage("")
	empty := views.MachinesView{}
	failed := views.MachinesView{Error: "The Vagon API did not answer (code 503). Try again in a minute."}
	return map[string]templ.Component{
		"login":           views.LoginPage(signedOut, views.LoginForm{Email: "a@b.c", Error: "Email or password is incorrect.", RetryAfter: "2 minutes", Next: "/audit"}),
		"error 404":       views.ErrorPage(admin, views.NewErrorView(404, "req-1")),
		"error fragment":  views.ErrorFragment(views.ErrorView{Status: 500, RequestID: "req-1"}),
		"users":           views.UsersPage(admin, sampleUsers()),
		"user row":        views.UserRowFragment(admin, sampleUsers().Users[1], sampleUsers().Roles),
		"audit":           views.AuditPage(admin, sampleAudit()),
		"audit results":   views.AuditResults(admin, sampleAudit()),
		"machines":        views.MachinesPage(admin, sampleMachines()),
		"machines empty":  views.MachinesPage(admin, empty),
		"machines error":  views.MachinesPage(admin, failed),
		"machines result": views.MachinesResults(admin, sampleMachines()),
	}
}

func render(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	html := buf.String()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc, html
}

func testIDs(doc *goquery.Document, sel string) []string {
	var ids []string
	doc.Find(sel).Each(func(_ int, s *goquery.Selection) {
		ids = append(ids, s.AttrOr("data-testid", ""))
	})
	return ids
}

func TestLayout_navByRole(t *testing.T) {
	tests := []struct {
		role      string
		links     []string
		auditText string
	}{
		{"viewer", []string{"nav-machines", "nav-reports", "nav-schedules", "nav-audit", "nav-activity"}, "My activity"},
		{"helpdesk", []string{"nav-machines", "nav-reports", "nav-schedules", "nav-audit", "nav-activity"}, "My activity"},
		{"operator", []string{"nav-machines", "nav-reports", "nav-schedules", "nav-audit", "nav-activity"}, "My activity"},
		{"admin", []string{"nav-machines", "nav-reports", "nav-schedules", "nav-audit", "nav-activity", "nav-users"}, "Audit"},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			doc, _ := render(t, views.MachinesPage(samplePage(tt.role), sampleMachines()))
			got := testIDs(doc, `[data-testid="nav"] a`)
			if strings.Join(got, ",") != strings.Join(tt.links, ",") {
				t.Errorf("nav links = %v, want %v", got, tt.links)
			}
			if txt := doc.Find(`[data-testid="nav-audit"]`).Text(); txt != tt.auditText {
				t.Errorf("audit link text = %q, want %q", txt, tt.auditText)
			}
			if href := doc.Find(`[data-testid="nav-audit"]`).AttrOr("href", ""); href != "/audit" {
				t.Errorf("audit link href = %q", href)
			}
			if cur := doc.Find(`[data-testid="nav-machines"]`).AttrOr("aria-current", ""); cur != "page" {
				t.Errorf("active nav aria-current = %q, want page", cur)
			}
			if n := doc.Find(`[aria-current="page"]`).Length(); n != 1 {
				t.Errorf("%d links marked current, want 1", n)
			}
			if got := doc.Find(`[data-testid="current-user"]`).Text(); got != tt.role+"@example.com" {
				t.Errorf("current-user = %q", got)
			}
			if got := doc.Find(`[data-testid="current-role"]`).Text(); got != tt.role {
				t.Errorf("current-role = %q", got)
			}
			if doc.Find(`form[action="/logout"][method="post"] [data-testid="logout"]`).Length() != 1 {
				t.Error("no sign-out form posting to /logout")
			}
		})
	}
}

func TestLayout_signedOut(t *testing.T) {
	doc, _ := render(t, views.LoginPage(samplePage(""), views.LoginForm{}))
	for _, id := range []string{"nav", "nav-machines", "current-user", "current-role", "logout"} {
		if doc.Find(`[data-testid="`+id+`"]`).Length() != 0 {
			t.Errorf("signed-out page shows %s", id)
		}
	}
}

func TestLayout_demoBanner(t *testing.T) {
	for _, demo := range []bool{false, true} {
		p := samplePage("viewer")
		p.Demo = demo
		doc, _ := render(t, views.MachinesPage(p, sampleMachines()))
		b := doc.Find(`[data-testid="demo-banner"]`)
		if got := b.Length() == 1; got != demo {
			t.Errorf("demo=%v: banner shown=%v", demo, got)
		}
		if demo && !strings.Contains(b.Text(), "Demo: simulated Vagon API") {
			t.Errorf("banner text = %q", b.Text())
		}
		// axe "region": all content is in a landmark; the banner is a
		// named region of its own.
		if demo && (b.AttrOr("role", "") != "region" || b.AttrOr("aria-label", "") == "") {
			t.Errorf("banner is not a named region: role %q, aria-label %q", b.AttrOr("role", ""), b.AttrOr("aria-label", ""))
		}
	}
}

func TestLayout_headAndFlashes(t *testing.T) {
	p := samplePage("admin")
	p.Flashes = []views.Flash{{Kind: "success", Text: "Saved <b>ok</b>"}, {Kind: "bogus", Text: "x"}}
	doc, _ := render(t, views.MachinesPage(p, sampleMachines()))
	if got := doc.Find("title").Text(); got != "Machines · Vagon Fleet" {
		t.Errorf("title = %q", got)
	}
	cfg := doc.Find(`meta[name="htmx-config"]`).AttrOr("content", "")
	for _, want := range []string{`"includeIndicatorStyles":false`, `"allowEval":false`, `"allowScriptTags":false`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("htmx-config %q lacks %s", cfg, want)
		}
	}
	if doc.Find(`link[rel="stylesheet"][href="/static/app.css?v=abc"]`).Length() != 1 {
		t.Error("stylesheet link missing")
	}
	if doc.Find(`script[src="/static/vendor/htmx-2.0.11.min.js?v=123"][defer]`).Length() != 1 {
		t.Error("htmx script missing")
	}
	if doc.Find("main#main").Length() != 1 {
		t.Error("no <main id=main>")
	}
	f := doc.Find(`#flashes [data-testid="flash"]`)
	if f.Length() != 2 {
		t.Fatalf("%d flashes, want 2", f.Length())
	}
	if f.First().Text() != "Saved <b>ok</b>" || !f.First().HasClass("flash-success") {
		t.Errorf("first flash = %q classes %q", f.First().Text(), f.First().AttrOr("class", ""))
	}
	if !f.Last().HasClass("flash-info") {
		t.Errorf("unknown kind should fall back to info, classes %q", f.Last().AttrOr("class", ""))
	}
	if doc.Find(`dialog#confirm-dialog [data-confirm-ok]`).Length() != 1 {
		t.Error("confirm dialog missing")
	}
}

func TestMachinesPage_escapesData(t *testing.T) {
	doc, html := render(t, views.MachinesPage(samplePage("admin"), sampleMachines()))
	if strings.Contains(html, "<script>alert(1)</script>") {
		t.Fatal("machine name rendered as markup")
	}
	names := doc.Find(`[data-testid="machine-name"]`)
	if got := names.Eq(1).Text(); got != "<script>alert(1)</script>" {
		t.Errorf("name text = %q", got)
	}
	if got := doc.Find(`[data-testid="machine-user-email"]`).Last().Text(); got != "<bob@example.com>" {
		t.Errorf("email text = %q", got)
	}
}

func TestMachinesPage_table(t *testing.T) {
	doc, _ := render(t, views.MachinesPage(samplePage("viewer"), sampleMachines()))
	rows := doc.Find(`[data-testid="machine-row"]`)
	if rows.Length() != 3 {
		t.Fatalf("%d rows, want 3", rows.Length())
	}
	first := rows.First()
	if got := first.Find(`[data-testid="machine-name"]`).AttrOr("href", ""); got != "/machines/12" {
		t.Errorf("machine link = %q", got)
	}
	if got := first.Find(`td.num`).Text(); got != "12 h 5 min" {
		t.Errorf("time left = %q", got)
	}
	if got := first.Find("time[data-relative]").AttrOr("datetime", ""); got != "2025-03-04T12:04:05Z" {
		t.Errorf("last session datetime = %q", got)
	}
	if got := doc.Find(`[data-testid="pagination-info"]`).Text(); got != "Page 2 · 43 machines" {
		t.Errorf("pagination info = %q", got)
	}
	next := doc.Find(`a[data-testid="page-next"]`)
	if next.AttrOr("href", "") != "/machines?q=design&page=3" || next.AttrOr("hx-target", "") != "#machines-results" {
		t.Errorf("next link = %v", next.Nodes)
	}
	if doc.Find(`a[data-testid="page-prev"]`).AttrOr("href", "") != "/machines?q=design" {
		t.Error("prev link missing")
	}
	form := doc.Find(`form[data-testid="machines-filter"]`)
	if form.AttrOr("method", "") != "get" || form.AttrOr("hx-push-url", "") != "true" {
		t.Error("filter form must be a GET that pushes the URL")
	}
	if got := form.Find(`input[name="q"]`).AttrOr("value", ""); got != "design" {
		t.Errorf("q = %q", got)
	}
	if got := form.Find(`input[type="hidden"][name="per_page"]`).AttrOr("value", ""); got != "20" {
		t.Errorf("per_page kept = %q", got)
	}
	opts := form.Find(`select[name="status"] option`)
	if opts.Length() != len(views.KnownStatuses)+1 {
		t.Errorf("%d status options, want %d", opts.Length(), len(views.KnownStatuses)+1)
	}
}

func TestMachinesPage_emptyAndError(t *testing.T) {
	doc, _ := render(t, views.MachinesPage(samplePage("viewer"), views.MachinesView{}))
	if doc.Find(`[data-testid="empty-state"]`).Length() != 1 || doc.Find(`[data-testid="machine-row"]`).Length() != 0 {
		t.Error("empty view should show the empty state and no rows")
	}
	doc, _ = render(t, views.MachinesPage(samplePage("viewer"), views.MachinesView{
		Query: views.MachineQuery{Status: "off"},
		Error: "The Vagon API is slow to answer.",
	}))
	e := doc.Find(`[data-testid="machines-error"]`)
	if !strings.Contains(e.Text(), "The Vagon API is slow to answer.") {
		t.Errorf("error text = %q", e.Text())
	}
	if got := e.Find(`[data-testid="machines-retry"]`).AttrOr("href", ""); got != "/machines?status=off" {
		t.Errorf("retry href = %q", got)
	}
}

func TestStatusBadge(t *testing.T) {
	tests := []struct {
		status, text, class string
	}{
		{"ready", "Ready", "status-ready"},
		{"graceful_stopping", "Graceful stopping", "status-graceful-stopping"},
		{"region_migration", "Region migration", "status-region-migration"},
		{"teleporting", "teleporting", "status-unknown"},
		{"<b>x</b>", "<b>x</b>", "status-unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			doc, _ := render(t, views.StatusBadge(tt.status))
			b := doc.Find(`[data-testid="status-badge"]`)
			if b.Text() != tt.text {
				t.Errorf("text = %q, want %q", b.Text(), tt.text)
			}
			if !b.HasClass(tt.class) {
				t.Errorf("classes %q lack %q", b.AttrOr("class", ""), tt.class)
			}
			if b.AttrOr("data-status", "") != tt.status {
				t.Errorf("data-status = %q", b.AttrOr("data-status", ""))
			}
		})
	}
	for _, s := range views.KnownStatuses {
		if views.StatusClass(s) == "status-unknown" || views.StatusLabel(s) == s {
			t.Errorf("known status %q has no class or label", s)
		}
	}
}

func TestPages_csrf(t *testing.T) {
	for name, c := range allPages() {
		t.Run(name, func(t *testing.T) {
			doc, _ := render(t, c)
			if doc.Find("html").Length() > 0 && doc.Find("head").Children().Length() > 0 {
				if got := doc.Find(`meta[name="csrf-token"]`).AttrOr("content", ""); got != token {
					t.Errorf("csrf meta = %q, want %q", got, token)
				}
			}
			doc.Find("form").Each(func(_ int, f *goquery.Selection) {
				if strings.ToLower(f.AttrOr("method", "get")) != "post" {
					return
				}
				if got := f.Find(`input[type="hidden"][name="_csrf"]`).AttrOr("value", ""); got != token {
					t.Errorf("form %q: _csrf = %q", f.AttrOr("action", ""), got)
				}
			})
		})
	}
}

func TestPages_noInlineScriptOrStyle(t *testing.T) {
	for name, c := range allPages() {
		t.Run(name, func(t *testing.T) {
			doc, _ := render(t, c)
			doc.Find("script").Each(func(_ int, s *goquery.Selection) {
				if s.AttrOr("src", "") == "" || strings.TrimSpace(s.Text()) != "" {
					t.Errorf("inline script: %v", s.Nodes[0])
				}
			})
			if doc.Find("style").Length() > 0 {
				t.Error("<style> element found")
			}
			doc.Find("*").Each(func(_ int, s *goquery.Selection) {
				for _, a := range s.Nodes[0].Attr {
					k := strings.ToLower(a.Key)
					if strings.HasPrefix(k, "on") || strings.HasPrefix(k, "hx-on") || strings.HasPrefix(k, "data-hx-on") {
						t.Errorf("<%s> has event handler attribute %s", s.Nodes[0].Data, a.Key)
					}
					if k == "style" {
						t.Errorf("<%s> has a style attribute", s.Nodes[0].Data)
					}
					if (k == "href" || k == "src" || k == "action") && strings.HasPrefix(strings.ToLower(a.Val), "javascript:") {
						t.Errorf("<%s %s=%q>", s.Nodes[0].Data, a.Key, a.Val)
					}
				}
			})
		})
	}
}

func TestUsersPage(t *testing.T) {
	doc, html := render(t, views.UsersPage(samplePage("admin"), sampleUsers()))
	rows := doc.Find(`[data-testid="user-row"]`)
	if rows.Length() != 3 {
		t.Fatalf("%d rows", rows.Length())
	}
	self := rows.Eq(0)
	if self.Find(`[data-testid="user-role-select"]`).Length() != 0 || self.Find(`[data-testid="user-disable"]`).Length() != 0 {
		t.Error("own row must not offer a role change or disable")
	}
	op := rows.Eq(1)
	form := op.Find(`form[data-testid="user-role-form"]`)
	if form.AttrOr("action", "") != "/users/2/role" || form.AttrOr("hx-post", "") != "/users/2/role" {
		t.Errorf("role form action = %q", form.AttrOr("action", ""))
	}
	if got := form.Find(`select[name="role"] option[selected]`).AttrOr("value", ""); got != "operator" {
		t.Errorf("selected role = %q", got)
	}
	// Disabling asks on the server: the row's button sends no confirmed
	// field, the confirmation step's button does.
	dis := op.Find(`[data-testid="user-disable"]`).Closest("form")
	if dis.AttrOr("action", "") != "/users/2/disable" || dis.Find(`input[name="confirmed"]`).Length() != 0 {
		t.Errorf("disable form = %q, with confirmed field: %v", dis.AttrOr("action", ""), dis.Find(`input[name="confirmed"]`).Length() != 0)
	}
	if got := strings.TrimSpace(op.Find(`[data-testid="user-last-login"]`).Text()); got != "never" {
		t.Errorf("last sign-in of a user who never signed in = %q", got)
	}
	v := sampleUsers()
	v.Users[1].ConfirmDisable = true
	v.Users[1].LastSignIn = t0
	v.Users[1].Sessions = []views.SignInSession{{ID: 7, CreatedAt: t0, LastSeenAt: t0, RemoteAddr: "203.0.113.9", UserAgent: "Firefox"}}
	cdoc, _ := render(t, views.UsersPage(samplePage("admin"), v))
	crow := cdoc.Find(`[data-testid="user-row"]`).Eq(1)
	ok := crow.Find(`[data-testid="user-disable-confirm"]`).Closest("form")
	if ok.AttrOr("action", "") != "/users/2/disable" || ok.Find(`input[name="confirmed"]`).AttrOr("value", "") != "true" {
		t.Errorf("confirmation form = %q", ok.AttrOr("action", ""))
	}
	if crow.Find(`[data-testid="user-disable-cancel"]`).AttrOr("href", "") != "/users" {
		t.Error("the confirmation has no cancel link")
	}
	if crow.Find(`[data-testid="user-last-login"] time`).Length() != 1 {
		t.Error("last sign-in not shown")
	}
	if crow.Find(`[data-testid="user-session-revoke"]`).Closest("form").AttrOr("action", "") != "/users/2/sessions/7/revoke" ||
		crow.Find(`[data-testid="user-sessions-revoke-all"]`).Closest("form").AttrOr("action", "") != "/users/2/sessions/revoke" {
		t.Error("session end forms missing or wrong")
	}
	if rows.Eq(2).Find(`[data-testid="user-enable"]`).Closest("form").AttrOr("action", "") != "/users/3/enable" {
		t.Error("disabled user has no enable form")
	}
	create := doc.Find(`form[data-testid="user-create-form"]`)
	if create.AttrOr("action", "") != "/users" {
		t.Error("create form must post to /users")
	}
	for _, n := range []string{"email", "role", "password", "password_confirm"} {
		if create.Find(`[name="`+n+`"]`).Length() != 1 {
			t.Errorf("create form lacks %s", n)
		}
	}
	if got := create.Find(`[data-testid="email-error"]`).Text(); got != "Enter a valid email address." {
		t.Errorf("email error = %q", got)
	}
	if create.Find(`input[name="email"]`).AttrOr("aria-invalid", "") != "true" {
		t.Error("email input not marked invalid")
	}
	if got := create.Find(`[data-testid="password_confirm-error"]`).Text(); got != "The passwords do not match." {
		t.Errorf("password_confirm error = %q", got)
	}
	if got := create.Find(`select[name="role"] option[selected]`).AttrOr("value", ""); got != "helpdesk" {
		t.Errorf("create role = %q", got)
	}
	if strings.Contains(html, `type="password" value`) {
		t.Error("a password field echoes a value")
	}
}

func TestUserRowFragment(t *testing.T) {
	p := samplePage("admin")
	f := views.Flash{Kind: "success", Text: "Role changed."}
	p.Flashes = []views.Flash{f}
	u := sampleUsers().Users[1]
	u.Outcome = &f
	doc, html := render(t, views.UserRowFragment(p, u, sampleUsers().Roles))
	if !strings.HasPrefix(strings.TrimSpace(html), "<tr") {
		t.Errorf("fragment must start with the row: %.60q", html)
	}
	if strings.Contains(html, "<html") || strings.Contains(html, "<body") {
		t.Error("fragment contains the layout")
	}
	// The outcome is where the admin acted (the row) and in a toast, which
	// is always in view; #flashes at the top of the page is only cleared.
	if got := doc.Find(`[data-testid="section-message"]`).Text(); got != "Role changed." {
		t.Errorf("row message = %q", got)
	}
	toast := doc.Find(`[hx-swap-oob="beforeend:#toasts"] [data-testid="toast"]`)
	if toast.Length() != 1 || !strings.Contains(toast.Text(), "Role changed.") || toast.AttrOr("role", "") != "status" {
		t.Errorf("toast: %d %q role=%q", toast.Length(), toast.Text(), toast.AttrOr("role", ""))
	}
	if n := doc.Find(`#flashes [data-testid="flash"]`).Length(); n != 0 {
		t.Errorf("%d messages put into #flashes at the top of the page", n)
	}
	// Without an outcome (the disable confirmation step) the row has no message.
	doc, _ = render(t, views.UserRowFragment(samplePage("admin"), sampleUsers().Users[1], sampleUsers().Roles))
	if n := doc.Find(`[data-testid="section-message"], [data-testid="toast"]`).Length(); n != 0 {
		t.Errorf("%d messages without an outcome", n)
	}
}

func TestAuditPage(t *testing.T) {
	doc, _ := render(t, views.AuditPage(samplePage("admin"), sampleAudit()))
	rows := doc.Find(`[data-testid="audit-row"]`)
	if rows.Length() != 2 {
		t.Fatalf("%d rows", rows.Length())
	}
	r := rows.First()
	if b := r.Find(`[data-testid="outcome-badge"]`); b.Text() != "failed" || !b.HasClass("badge-danger") {
		t.Errorf("outcome badge %q %q", b.Text(), b.AttrOr("class", ""))
	}
	if got := r.Find(`[data-testid="audit-error-code"]`).Text(); got != "code 4204" {
		t.Errorf("error code = %q", got)
	}
	if got := r.Find(`details pre[data-testid="audit-params"]`).Text(); !strings.Contains(got, `"gracefully": true`) {
		t.Errorf("params = %q", got)
	}
	// One line per action, in words, with the machine's name; the details
	// hold both rows.
	if got := r.Find(`[data-testid="audit-action-label"]`).Text(); got != "Stop machine" {
		t.Errorf("action = %q", got)
	}
	if got := r.Find(`[data-testid="audit-machine-name"]`).Text(); strings.TrimSpace(got) != "Design 12" {
		t.Errorf("machine = %q", got)
	}
	if got := r.Find(`[data-testid="audit-machine"]`).Text(); got != "12" {
		t.Errorf("machine id = %q", got)
	}
	ev := r.Find(`details [data-testid="audit-event"]`)
	if ev.Length() != 2 || ev.First().AttrOr("data-outcome", "") != "started" || ev.Last().AttrOr("data-outcome", "") != "failed" {
		t.Errorf("details hold %d rows, want started then failed", ev.Length())
	}
	r2 := rows.Eq(1)
	if b := r2.Find(`[data-testid="outcome-badge"]`); b.Text() != "unknown" || !b.HasClass("badge-warning") {
		t.Errorf("unknown badge %q %q", b.Text(), b.AttrOr("class", ""))
	}
	if b := r2.Find(`[data-testid="outcome-badge"]`); b.AttrOr("title", "") != "Not known; check." ||
		r2.Find(`[data-testid="audit-outcome-hint"]`).Text() != "Not known; check." {
		t.Errorf("unknown outcome without its hint: title %q", b.AttrOr("title", ""))
	}
	if rows.Eq(0).Find(`[data-testid="audit-outcome-hint"]`).Length() != 0 {
		t.Error("a failed row got a hint")
	}
	if got := r2.Find(`[data-testid="audit-note"]`).Text(); got != "Note: for <b>Ann</b>" {
		t.Errorf("note = %q", got)
	}
	if got := r2.Find(`[data-testid="audit-machine"]`).Text(); strings.TrimSpace(got) != "13" {
		t.Errorf("machine without a name = %q, want its id", got)
	}
	if got := doc.Find(`select[name="action"] option[value="machine.stop"]`).Text(); got != "Stop machine" {
		t.Errorf("action option = %q", got)
	}
	if got := doc.Find(`a[data-testid="page-next"]`).AttrOr("href", ""); got != "/audit?outcome=failed&before=8" {
		t.Errorf("older link = %q", got)
	}
	if got := doc.Find(`a[data-testid="audit-csv"]`).AttrOr("href", ""); got != "/audit.csv?outcome=failed" {
		t.Errorf("csv link = %q", got)
	}
	f := doc.Find(`form[data-testid="audit-filter"]`)
	if f.AttrOr("hx-get", "") != "/audit" || f.AttrOr("hx-target", "") != "#audit-results" || f.AttrOr("hx-push-url", "") != "true" {
		t.Error("filter form htmx attributes wrong")
	}
	if tr := f.AttrOr("hx-trigger", ""); !strings.Contains(tr, "input changed delay:400ms from:#field-actor") || !strings.Contains(tr, "from:#field-machine") {
		t.Errorf("filters are not applied while typing: hx-trigger %q", tr)
	}
	for _, n := range []string{"actor", "action", "machine", "outcome", "from", "to"} {
		if f.Find(`[name="`+n+`"]`).Length() != 1 {
			t.Errorf("filter lacks %s", n)
		}
	}
	if got := f.Find(`select[name="outcome"] option[selected]`).AttrOr("value", ""); got != "failed" {
		t.Errorf("outcome selected = %q", got)
	}
	if got := f.Find(`[data-testid="audit-to-error"]`).Text(); got != "Use YYYY-MM-DD." {
		t.Errorf("to error = %q", got)
	}

	own := sampleAudit()
	own.OwnOnly = true
	doc, _ = render(t, views.AuditPage(samplePage("viewer"), own))
	if doc.Find(`[name="actor"]`).Length() != 0 {
		t.Error("own-only view shows the actor filter")
	}
	if !strings.Contains(doc.Find("h1").Text(), "My activity") {
		t.Errorf("own-only title = %q", doc.Find("h1").Text())
	}
}

func TestErrorPage(t *testing.T) {
	for _, status := range []int{403, 404, 500, 503} {
		doc, html := render(t, views.ErrorPage(samplePage("viewer"), views.NewErrorView(status, "req-7")))
		if doc.Find(`[data-testid="error-title"]`).Text() == "" || doc.Find(`[data-testid="error-message"]`).Text() == "" {
			t.Errorf("%d: empty title or message", status)
		}
		if got := doc.Find(`[data-testid="request-id"]`).Text(); got != "req-7" {
			t.Errorf("%d: request id = %q", status, got)
		}
		if strings.Contains(strings.ToLower(html), "goroutine") {
			t.Errorf("%d: internal detail on page", status)
		}
	}
	doc, _ := render(t, views.ErrorFragment(views.ErrorView{Status: 403, Title: "Nope", RequestID: "r"}))
	if doc.Find(`[data-testid="error-title"]`).Text() != "Nope" || doc.Find(`[data-testid="error-message"]`).Text() == "" {
		t.Error("fragment should keep a given title and fill the message")
	}
}

func TestLoginPage(t *testing.T) {
	doc, html := render(t, views.LoginPage(samplePage(""), views.LoginForm{
		Email: "a@b.c", Error: "Email or password is incorrect.", RetryAfter: "2 minutes", Next: "/audit",
		Errors: map[string]string{"password": "Enter your password."},
	}))
	f := doc.Find(`form[data-testid="login-form"]`)
	if f.AttrOr("action", "") != "/login" || f.AttrOr("method", "") != "post" {
		t.Error("login form must post to /login")
	}
	if got := f.Find(`input[name="email"]`).AttrOr("value", ""); got != "a@b.c" {
		t.Errorf("email = %q", got)
	}
	if f.Find(`input[name="password"][type="password"]`).Length() != 1 || strings.Contains(html, `name="password" type="password" value`) {
		t.Error("password field wrong")
	}
	if got := f.Find(`input[name="next"]`).AttrOr("value", ""); got != "/audit" {
		t.Errorf("next = %q", got)
	}
	if !strings.Contains(doc.Find(`[data-testid="login-throttled"]`).Text(), "2 minutes") {
		t.Error("throttle message missing")
	}
	if doc.Find(`[data-testid="login-error"]`).Text() != "Email or password is incorrect." {
		t.Error("error message missing")
	}
	if doc.Find(`[data-testid="password-error"]`).Text() != "Enter your password." {
		t.Error("field error missing")
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"minutes zero", views.FormatMinutes(0), "0 min"},
		{"minutes", views.FormatMinutes(45), "45 min"},
		{"hours", views.FormatMinutes(180), "3 h"},
		{"both", views.FormatMinutes(725), "12 h 5 min"},
		{"negative", views.FormatMinutes(-61), "-1 h 1 min"},
		{"bytes", views.FormatBytes(512), "512 B"},
		{"kib", views.FormatBytes(1536), "1.5 KiB"},
		{"gib", views.FormatBytes(20 << 30), "20.0 GiB"},
		{"gb", views.FormatGB(25), "25 GB"},
		{"tb", views.FormatGB(1536), "1.5 TB"},
		{"count", views.FormatCount(1234567), "1,234,567"},
		{"count small", views.FormatCount(999), "999"},
		{"time", views.FormatTime(t0), "2025-03-04 14:04 UTC"},
		{"query url", views.MachineQuery{Q: "a b", Status: "off", Page: 3}.URL(), "/machines?page=3&q=a+b&status=off"},
		{"query url empty", views.MachineQuery{Page: 1}.URL(), "/machines"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestWriteSamples writes every sample page to $VIEWS_SAMPLE_DIR (for
// screenshots while working on the look); it does nothing otherwise.
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("VIEWS_SAMPLE_DIR")
	if dir == "" {
		t.Skip("VIEWS_SAMPLE_DIR not set")
	}
	for name, c := range allPages() {
		_, html := render(t, c)
		html = strings.NewReplacer(
			"/static/app.css?v=abc", "static/app.css",
			"/static/app.js?v=def", "static/app.js",
			"/static/vendor/htmx-2.0.11.min.js?v=123", "static/vendor/htmx-2.0.11.min.js",
			"/static/favicon.svg?v=456", "static/favicon.svg",
		).Replace(html)
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".html")
		if err := os.WriteFile(file, []byte(html), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
