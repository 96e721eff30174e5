package oidc_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/oidc"
	"github.com/vagon-dashboard/dashboard/internal/oidc/oidctest"
)

const redirect = "http://127.0.0.1:1/auth/oidc/callback"

// world is a provider with two clients (the dashboard and another
// application) and one user.
type world struct {
	idp         *oidctest.Provider
	dash, other oidc.Config
}

func newWorld(t *testing.T) world {
	t.Helper()
	idp := oidctest.Start(t,
		oidctest.Client{ID: "dashboard", Secret: "dash-secret", RedirectURIs: []string{redirect}, PostLogoutRedirectURIs: []string{"http://127.0.0.1:1/login"}, IDTokenLifetime: 5 * time.Minute},
		oidctest.Client{ID: "other-app", Secret: "other-secret", RedirectURIs: []string{redirect}},
	)
	idp.AddUser(oidctest.User{
		Subject: "sub-ann", Username: "ann", Password: "ann-pw", Email: "Ann@Example.com", EmailVerified: true, Name: "Ann Smith",
		Groups: []string{"it-admins", "staff"},
		Claims: map[string]any{"realm_access": map[string]any{"roles": []string{"ops"}}},
	})
	return world{
		idp:   idp,
		dash:  oidc.Config{IssuerURL: idp.Issuer, ClientID: "dashboard", ClientSecret: "dash-secret", RedirectURL: redirect},
		other: oidc.Config{IssuerURL: idp.Issuer, ClientID: "other-app", ClientSecret: "other-secret", RedirectURL: redirect},
	}
}

func newClient(t *testing.T, cfg oidc.Config) *oidc.Client {
	t.Helper()
	c, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signIn runs the flow up to the callback and returns its code and the
// sign-in's secrets.
func (w world) signIn(t *testing.T, c *oidc.Client) (code string, st oidc.Start) {
	t.Helper()
	st = oidc.NewStart()
	authURL, err := c.AuthURL(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") != st.State || q.Get("nonce") != st.Nonce {
		t.Fatalf("authorization URL lacks PKCE S256, state or nonce: %s", authURL)
	}
	if strings.Contains(authURL, st.Verifier) {
		t.Fatal("the PKCE verifier left the server before the exchange")
	}
	cb, err := w.idp.SignIn(authURL, "ann", "ann-pw", redirect)
	if err != nil {
		t.Fatal(err)
	}
	cu, _ := url.Parse(cb)
	if cu.Query().Get("state") != st.State {
		t.Fatalf("callback state %q, want %q", cu.Query().Get("state"), st.State)
	}
	return cu.Query().Get("code"), st
}

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err nil, want reason %s", reason)
	}
	if got := oidc.ReasonOf(err); got != reason {
		t.Fatalf("reason %q (%v), want %q", got, err, reason)
	}
}

func TestClient_Exchange(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.dash)
	code, st := w.signIn(t, c)
	id, err := c.Exchange(context.Background(), code, st.Verifier, st.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	if id.Issuer != w.idp.Issuer || id.Subject != "sub-ann" || id.Email != "ann@example.com" || id.Name != "Ann Smith" {
		t.Errorf("identity %+v", id)
	}
	if id.EmailVerified == nil || !*id.EmailVerified || !slices.Equal(id.Groups, []string{"it-admins", "staff"}) || id.IDToken == "" {
		t.Errorf("verified %v, groups %v", id.EmailVerified, id.Groups)
	}

	// The code is spent: the same callback again is refused by the provider.
	_, err = c.Exchange(context.Background(), code, st.Verifier, st.Nonce)
	wantReason(t, err, oidc.ReasonExchange)
	if e := (*oidc.Error)(nil); !errors.As(err, &e) || e.Detail != "invalid_grant" || strings.Contains(err.Error(), code) {
		t.Errorf("replayed code: %v (want detail invalid_grant, without the code)", err)
	}
}

func TestClient_Exchange_wrongVerifier(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.dash)
	code, st := w.signIn(t, c)
	_, err := c.Exchange(context.Background(), code, oidc.NewStart().Verifier, st.Nonce)
	wantReason(t, err, oidc.ReasonExchange)
}

func TestClient_Exchange_wrongNonce(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.dash)
	code, st := w.signIn(t, c)
	_, err := c.Exchange(context.Background(), code, st.Verifier, "another-sign-ins-nonce")
	wantReason(t, err, oidc.ReasonNonce)
}

func TestClient_Exchange_expired(t *testing.T) {
	w := newWorld(t)
	cfg := w.dash
	cfg.Now = func() time.Time { return time.Now().Add(time.Hour) } // tokens live 5 min
	c := newClient(t, cfg)
	code, st := w.signIn(t, c)
	_, err := c.Exchange(context.Background(), code, st.Verifier, st.Nonce)
	wantReason(t, err, oidc.ReasonExpired)
}

func TestClient_Verify_wrongAudience(t *testing.T) {
	w := newWorld(t)
	other := newClient(t, w.other)
	code, st := w.signIn(t, other)
	id, err := other.Exchange(context.Background(), code, st.Verifier, st.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	// A real token of the provider, issued to another application, shown
	// to the dashboard.
	_, err = newClient(t, w.dash).Verify(context.Background(), id.IDToken, st.Nonce)
	wantReason(t, err, oidc.ReasonAudience)
}

func TestClient_Verify_wrongIssuer(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.dash)
	code, st := w.signIn(t, c)
	id, err := c.Exchange(context.Background(), code, st.Verifier, st.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	// Another provider (its own keys and issuer) must not accept it.
	w2 := newWorld(t)
	cfg := w.dash
	cfg.IssuerURL = w2.idp.Issuer
	_, err = newClient(t, cfg).Verify(context.Background(), id.IDToken, st.Nonce)
	if r := oidc.ReasonOf(err); r != oidc.ReasonIssuer && r != oidc.ReasonInvalidToken {
		t.Fatalf("token of another issuer: reason %q (%v)", r, err)
	}
}

func TestClient_Verify_tampered(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.dash)
	code, st := w.signIn(t, c)
	id, err := c.Exchange(context.Background(), code, st.Verifier, st.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(id.IDToken, ".")
	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 1
	_, err = c.Verify(context.Background(), parts[0]+"."+parts[1]+"."+string(sig), st.Nonce)
	wantReason(t, err, oidc.ReasonInvalidToken)
}

// TestClient_keyRotation: the provider signs with a new key and drops the
// old one from its JWKS. A running client verifies the new tokens (go-oidc
// reads the JWKS again for a key id it has not seen) and refuses one signed
// with the dropped key.
func TestClient_keyRotation(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.dash)
	code, st := w.signIn(t, c)
	first, err := c.Exchange(context.Background(), code, st.Verifier, st.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	oldKey := w.idp.SigningKeyID()
	if err := w.idp.RotateKey(true); err != nil {
		t.Fatal(err)
	}
	if w.idp.SigningKeyID() == oldKey {
		t.Fatal("key did not change")
	}
	code, st2 := w.signIn(t, c)
	if _, err := c.Exchange(context.Background(), code, st2.Verifier, st2.Nonce); err != nil {
		t.Fatalf("sign-in after rotation: %v", err)
	}
	// go-oidc hands the keys it fetched to the waiting verification before
	// it stores them as its cache, so for a moment the cache may still hold
	// the dropped key: the old token must be refused once it is replaced.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = c.Verify(context.Background(), first.IDToken, st.Nonce)
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantReason(t, err, oidc.ReasonInvalidToken)
}

func TestClient_providerDown(t *testing.T) {
	w := newWorld(t)
	w.idp.SetDown(true)
	cfg := w.dash
	cfg.RetryEvery = time.Millisecond
	c := newClient(t, cfg)
	_, err := c.AuthURL(context.Background(), oidc.NewStart())
	if !errors.Is(err, oidc.ErrUnavailable) || oidc.ReasonOf(err) != oidc.ReasonUnavailable {
		t.Fatalf("provider down: %v", err)
	}
	w.idp.SetDown(false)
	time.Sleep(2 * time.Millisecond) // past RetryEvery
	if _, err := c.AuthURL(context.Background(), oidc.NewStart()); err != nil {
		t.Fatalf("provider back: %v", err)
	}
}

func TestClient_EndSessionURL(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.dash)
	got := c.EndSessionURL(context.Background(), "hint.token.x", "http://127.0.0.1:1/login")
	u, err := url.Parse(got)
	if err != nil || !strings.HasPrefix(got, w.idp.Issuer) {
		t.Fatalf("end session URL %q", got)
	}
	q := u.Query()
	if q.Get("id_token_hint") != "hint.token.x" || q.Get("client_id") != "dashboard" || q.Get("post_logout_redirect_uri") != "http://127.0.0.1:1/login" {
		t.Errorf("query %v", q)
	}
}

func TestClaimValues(t *testing.T) {
	claims := map[string]any{
		"groups":                    []any{"a", "b", 3, ""},
		"role":                      "admin",
		"https://example.com/roles": []any{"x"},
		"realm_access":              map[string]any{"roles": []any{"r1", "r2"}},
		"deep":                      map[string]any{"a": map[string]any{"b": "c"}},
		"not.nested":                []any{"flat"},
		"num":                       7,
	}
	tests := []struct {
		name string
		want []string
	}{
		{"groups", []string{"a", "b"}},
		{"role", []string{"admin"}},
		{"https://example.com/roles", []string{"x"}},
		{"realm_access.roles", []string{"r1", "r2"}},
		{"deep.a.b", []string{"c"}},
		{"not.nested", []string{"flat"}},
		{"num", nil},
		{"missing", nil},
		{"realm_access.missing", nil},
		{"role.sub", nil},
	}
	for _, tt := range tests {
		if got := oidc.ClaimValues(claims, tt.name); !slices.Equal(got, tt.want) {
			t.Errorf("ClaimValues(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestClient_nestedRolesClaim(t *testing.T) {
	w := newWorld(t)
	cfg := w.dash
	cfg.RolesClaim = "realm_access.roles"
	c := newClient(t, cfg)
	code, st := w.signIn(t, c)
	id, err := c.Exchange(context.Background(), code, st.Verifier, st.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(id.Groups, []string{"ops"}) {
		t.Errorf("groups %v, want [ops]", id.Groups)
	}
}
