package e2e

import (
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/vagon-dashboard/dashboard/internal/oidc/oidctest"
)

// startOIDCDashboard runs a real OpenID provider (zitadel's, in this
// process on loopback) and the dashboard binary configured for it (its own
// database, demo-mode Vagon), with two people at the provider: ida in
// it-admins and otto in it-ops. It returns the dashboard's URL.
func startOIDCDashboard(t *testing.T) (string, *oidctest.Provider) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	// PUBLIC_URL must be known before start: take a free port, then let
	// the binary listen on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dashURL := "http://" + addr
	secret := "e2e-" + randHex(8)
	idp := oidctest.Start(t, oidctest.Client{
		ID: "dashboard", Secret: secret,
		RedirectURIs:           []string{dashURL + "/auth/oidc/callback"},
		PostLogoutRedirectURIs: []string{dashURL + "/login"},
	})
	idp.AddUser(oidctest.User{Subject: "sub-ida", Username: "ida", Password: "ida-pw", Email: "ida@corp.example", EmailVerified: true, Name: "Ida Admin", Groups: []string{"it-admins", "staff"}})
	idp.AddUser(oidctest.User{Subject: "sub-otto", Username: "otto", Password: "otto-pw", Email: "otto@corp.example", EmailVerified: true, Name: "Otto Ops", Groups: []string{"it-ops"}})

	env := append(serverEnv(freshDatabase(t)),
		"ADDR="+addr,
		"PUBLIC_URL="+dashURL,
		"OIDC_ISSUER_URL="+idp.Issuer,
		"OIDC_CLIENT_ID=dashboard",
		"OIDC_CLIENT_SECRET="+secret,
		"OIDC_ROLE_MAP=it-admins=admin,it-ops=operator,staff=viewer",
		"OIDC_PROVIDER_NAME=Corp IdP",
	)
	serveBinary(t, env, "the single sign-on dashboard", 60*time.Second)
	return dashURL, idp
}

// ssoSignIn signs in at the provider from the dashboard's sign-in page and
// waits for the fleet.
func ssoSignIn(t *testing.T, page playwright.Page, username, password string) {
	t.Helper()
	gotoPath(t, page, "/login")
	click(t, page, "login-sso")
	if err := expect.Locator(byTestID(page, "idp-username")).ToBeVisible(); err != nil {
		t.Fatalf("no login form at the provider (at %s): %v", page.URL(), err)
	}
	fill(t, page, "idp-username", username)
	fill(t, page, "idp-password", password)
	click(t, page, "idp-submit")
	if err := waitURL(page, regexp.MustCompile(`/machines(\?.*)?$`)); err != nil {
		t.Fatalf("single sign-on of %s: not on /machines (at %s): %v", username, page.URL(), err)
	}
}

// TestJourney_oidcSignIn: a person signs in at the organization's
// provider from the dashboard's button and lands on the fleet with the role
// their group maps to; an admin sees on the users page how each person
// signs in; signing out ends the session at the provider too and comes
// back to the sign-in page. The new pages pass axe.
func TestJourney_oidcSignIn(t *testing.T) {
	t.Parallel()
	dashURL, idp := startOIDCDashboard(t)
	axePath := axeFile(t)

	page := newPageAt(t, dashURL, playwright.BrowserNewContextOptions{BypassCSP: playwright.Bool(true)})
	gotoPath(t, page, "/login")
	if err := expect.Locator(byTestID(page, "login-sso")).ToHaveText("Sign in with Corp IdP"); err != nil {
		t.Fatal(err)
	}
	if n := reportAxe(t, "oidc", "/login", runAxe(t, page, axePath)); n > 0 {
		t.Errorf("/login with single sign-on: %d axe violations", n)
	}

	// Otto (it-ops) becomes an operator.
	ssoSignIn(t, page, "otto", "otto-pw")
	if err := expect.Locator(byTestID(page, "current-user")).ToHaveText("otto@corp.example"); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "current-role")).ToHaveText("operator"); err != nil {
		t.Fatal(err)
	}
	if err := expect.Locator(byTestID(page, "machine-row").First()).ToBeVisible(); err != nil {
		t.Errorf("the fleet shows no machine: %v", err)
	}

	// Sign out: through the provider's end_session, back to /login.
	click(t, page, "logout")
	if err := waitURL(page, regexp.MustCompile(regexp.QuoteMeta(dashURL)+`/login(\?.*)?$`)); err != nil {
		t.Fatalf("after sign-out: at %s: %v", page.URL(), err)
	}
	if err := expect.Locator(page.GetByText("You are signed out.")).ToBeVisible(); err != nil {
		t.Error(err)
	}
	if got := idp.Logouts(); len(got) != 1 || got[0] != "sub-otto" {
		t.Errorf("sessions ended at the provider: %v", got)
	}

	// Ida (it-admins) is an admin and sees both on the users page.
	admin := newPageAt(t, dashURL, playwright.BrowserNewContextOptions{BypassCSP: playwright.Bool(true)})
	ssoSignIn(t, admin, "ida", "ida-pw")
	if err := expect.Locator(byTestID(admin, "current-role")).ToHaveText("admin"); err != nil {
		t.Fatal(err)
	}
	gotoPath(t, admin, "/users")
	otto := admin.Locator(`[data-testid="user-row"][data-email="otto@corp.example"]`)
	if err := expect.Locator(otto.GetByTestId("user-method")).ToHaveText("Single sign-on"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(otto.GetByTestId("user-last-login")).ToContainText("with single sign-on"); err != nil {
		t.Error(err)
	}
	if err := expect.Locator(otto.GetByTestId("user-role-pinned")).ToBeVisible(); err != nil {
		t.Error(err)
	}
	if n := reportAxe(t, "oidc", "/users", runAxe(t, admin, axePath)); n > 0 {
		t.Errorf("/users with single sign-on users: %d axe violations", n)
	}
}
