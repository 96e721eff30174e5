// Package oidctest runs a real, standards-compliant OpenID provider for
// tests: the OpenID-certified provider of github.com/zitadel/oidc/v3
// (pkg/op: discovery, authorization with PKCE, token endpoint, JWKS,
// userinfo, end_session), in-process on a loopback port, over a small
// in-memory op.Storage written here. It adds what tests need and a
// provider has: users with a password login page, a groups claim (and any
// other claims), several clients, signing-key rotation, and per-client ID
// token lifetimes. The storage insists on PKCE S256, so a relying party
// that forgets it fails here as it would at a strict provider.
//
// It is imported only by tests (internal/archtest checks the binary does
// not contain it).
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an account at the provider.
type User struct {
	Subject  string
	Username string
	Password string
	Email    string
	// EmailVerified is sent as email_verified unless OmitEmailVerified.
	EmailVerified     bool
	OmitEmailVerified bool
	Name              string
	// Groups go into the "groups" claim of the ID token (omitted when nil).
	Groups []string
	// Claims are added to the ID token as they are (for instance
	// realm_access: {roles: [...]}).
	Claims map[string]any
}

// Client is a registered relying party (a confidential web client).
type Client struct {
	ID, Secret             string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// IDTokenLifetime is how long its ID tokens last (1 h when zero).
	IDTokenLifetime time.Duration
}

// Provider is the running provider.
type Provider struct {
	// Issuer is its issuer URL, http://127.0.0.1:<port>.
	Issuer string

	srv *http.Server
	op  *op.Provider

	mu       sync.Mutex
	users    map[string]*User // by subject
	clients  map[string]*Client
	requests map[string]*authRequest
	codes    map[string]string // code → request id
	tokens   map[string]*accessToken
	keys     []*signingKey // the last is the signing key; all are in the JWKS
	logouts  []string      // subjects whose session end_session ended
	down     bool
}

// Start runs a provider with clients on a loopback port until the test
// ends.
func Start(t testing.TB, clients ...Client) *Provider {
	t.Helper()
	p, err := New(clients...)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// New runs a provider with clients on a loopback port; Close stops it.
func New(clients ...Client) (*Provider, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Provider{
		Issuer:   "http://" + ln.Addr().String(),
		users:    map[string]*User{},
		clients:  map[string]*Client{},
		requests: map[string]*authRequest{},
		codes:    map[string]string{},
		tokens:   map[string]*accessToken{},
	}
	for i := range clients {
		c := clients[i]
		p.clients[c.ID] = &c
	}
	if err := p.RotateKey(false); err != nil {
		ln.Close()
		return nil, err
	}
	var cryptoKey [32]byte
	_, _ = rand.Read(cryptoKey[:])
	cfg := &op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
	}
	p.op, err = op.NewProvider(cfg, &storage{p}, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	interceptor := op.NewIssuerInterceptor(p.op.IssuerFromRequest)
	mux.HandleFunc("GET /login", p.showLogin)
	mux.HandleFunc("POST /login", interceptor.HandlerFunc(p.checkLogin))
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("signed out at the provider"))
	})
	mux.Handle("/", p.op)
	p.srv = &http.Server{Handler: p.gate(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}

// SetDown makes every request fail with 503 (a provider outage) or serve
// again.
func (p *Provider) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

func (p *Provider) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			http.Error(w, "provider down", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// AddUser adds or replaces a user (by subject).
func (p *Provider) AddUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[u.Subject] = &u
}

// SetGroups changes a user's groups (for the next token).
func (p *Provider) SetGroups(subject string, groups ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.users[subject]; ok {
		u.Groups = groups
	}
}

// RotateKey makes a new RSA key the signing key. With dropOld the JWKS
// lists only the new key, so tokens signed before no longer verify.
func (p *Provider) RotateKey(dropOld bool) error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	sk := &signingKey{id: fmt.Sprintf("key-%d-%s", len(p.keys)+1, randID()), key: k}
	if dropOld {
		p.keys = nil
	}
	p.keys = append(p.keys, sk)
	return nil
}

// SigningKeyID is the id (kid) of the current signing key.
func (p *Provider) SigningKeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[len(p.keys)-1].id
}

// Logouts lists the subjects whose sessions the end_session endpoint
// ended, oldest first.
func (p *Provider) Logouts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.logouts...)
}

// SignIn does in Go what a browser does: it follows authURL to the login
// page, posts username and password, and follows the provider's redirects
// until one leaves for a URL starting with stopAt (the relying party's
// callback), which it returns without requesting it.
func (p *Provider) SignIn(authURL, username, password, stopAt string) (string, error) {
	jar, _ := cookiejar.New(nil)
	var final string
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), stopAt) {
			final = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := hc.Get(authURL)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if final != "" {
		return final, nil
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" {
		return "", fmt.Errorf("oidctest: authorize answered %d at %s", resp.StatusCode, resp.Request.URL.Path)
	}
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, err = hc.PostForm(p.Issuer+"/login", url.Values{"id": {id}, "username": {username}, "password": {password}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if final == "" {
		return "", fmt.Errorf("oidctest: sign-in of %s did not come back to %s (status %d at %s)", username, stopAt, resp.StatusCode, resp.Request.URL)
	}
	return final, nil
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body><main><h1>Test identity provider</h1>
{{if .Error}}<p role="alert" data-testid="idp-error">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<label>Username <input name="username" data-testid="idp-username" autocomplete="username"></label>
<label>Password <input name="password" type="password" data-testid="idp-password" autocomplete="current-password"></label>
<button type="submit" data-testid="idp-submit">Sign in</button>
</form></main></body></html>`))

func (p *Provider) showLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, map[string]string{"ID": r.URL.Query().Get("authRequestID")})
}

func (p *Provider) checkLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id := r.PostFormValue("id")
	p.mu.Lock()
	req, ok := p.requests[id]
	var user *User
	for _, u := range p.users {
		if u.Username == r.PostFormValue("username") && u.Password == r.PostFormValue("password") {
			user = u
		}
	}
	if ok && user != nil {
		req.subject, req.done, req.authTime = user.Subject, true, time.Now()
	}
	p.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, "unknown sign-in request", http.StatusBadRequest)
	case user == nil:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_ = loginPage.Execute(w, map[string]string{"ID": id, "Error": "Wrong username or password."})
	default:
		http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
	}
}

func randID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// authRequest is one authorization request (op.AuthRequest).
type authRequest struct {
	id, clientID, redirectURI, state, nonce, subject string
	scopes                                           []string
	responseType                                     oidc.ResponseType
	responseMode                                     oidc.ResponseMode
	challenge                                        *oidc.CodeChallenge
	done                                             bool
	authTime                                         time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

type accessToken struct {
	subject, clientID string
	scopes            []string
	expires           time.Time
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (k publicKey) ID() string                         { return k.k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.k.key.PublicKey }

// client adapts a Client to op.Client.
type client struct{ c *Client }

func (c client) GetID() string                       { return c.c.ID }
func (c client) RedirectURIs() []string              { return c.c.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string    { return c.c.PostLogoutRedirectURIs }
func (c client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c client) LoginURL(id string) string            { return "/login?authRequestID=" + url.QueryEscape(id) }
func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c client) DevMode() bool                        { return false }
func (c client) IsScopeAllowed(string) bool           { return false }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c client) ClockSkew() time.Duration             { return 0 }
func (c client) IDTokenLifetime() time.Duration {
	if c.c.IDTokenLifetime > 0 {
		return c.c.IDTokenLifetime
	}
	return time.Hour
}
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// storage is the provider's op.Storage, in memory.
type storage struct{ p *Provider }

var errUnsupported = errors.New("oidctest: not supported")

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if r.CodeChallenge == "" || r.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("this provider requires PKCE with S256")
	}
	a := &authRequest{
		id: randID(), clientID: r.ClientID, redirectURI: r.RedirectURI, state: r.State, nonce: r.Nonce,
		scopes: r.Scopes, responseType: r.ResponseType, responseMode: r.ResponseMode,
		challenge: &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod},
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.requests[a.id] = a
	return a, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	a, ok := s.p.requests[id]
	if !ok {
		return nil, errors.New("oidctest: no such request")
	}
	return a, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.p.mu.Lock()
	id, ok := s.p.codes[code]
	s.p.mu.Unlock()
	if !ok {
		return nil, errors.New("oidctest: code invalid or used")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.codes[code] = id
	return nil
}

// DeleteAuthRequest runs after the code was exchanged: the code is then
// spent, so a second exchange is refused (invalid_grant).
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	delete(s.p.requests, id)
	for code, rid := range s.p.codes {
		if rid == id {
			delete(s.p.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	clientID := ""
	if a, ok := r.(*authRequest); ok {
		clientID = a.clientID
	}
	id := randID()
	exp := time.Now().Add(5 * time.Minute)
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.tokens[id] = &accessToken{subject: r.GetSubject(), clientID: clientID, scopes: r.GetScopes(), expires: exp}
	return id, exp, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errUnsupported
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errUnsupported
}

func (s *storage) TerminateSession(_ context.Context, userID, _ string) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.logouts = append(s.p.logouts, userID)
	return nil
}

func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error { return nil }

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.keys[len(s.p.keys)-1], nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	out := make([]op.Key, len(s.p.keys))
	for i, k := range s.p.keys {
		out[i] = publicKey{k}
	}
	return out, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	c, ok := s.p.clients[id]
	if !ok {
		return nil, errors.New("oidctest: no such client")
	}
	return client{c}, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	c, ok := s.p.clients[id]
	if !ok || c.Secret != secret {
		return errors.New("oidctest: wrong client credentials")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *storage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return s.userinfo(ui, r.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, _, _ string) error {
	s.p.mu.Lock()
	t, ok := s.p.tokens[tokenID]
	s.p.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("oidctest: token invalid or expired")
	}
	return s.userinfo(ui, t.subject, t.scopes)
}

func (s *storage) userinfo(ui *oidc.UserInfo, subject string, scopes []string) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	u, ok := s.p.users[subject]
	if !ok {
		return errors.New("oidctest: no such user")
	}
	ui.Subject = u.Subject
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeEmail:
			ui.Email = u.Email
			switch {
			case u.OmitEmailVerified:
			case u.EmailVerified:
				ui.EmailVerified = oidc.Bool(true)
			default:
				// oidc.Bool(false) is omitted from the JSON; a provider
				// that says "not verified" sends false.
				ui.AppendClaims("email_verified", false)
			}
		case oidc.ScopeProfile:
			ui.Name = u.Name
			ui.PreferredUsername = u.Username
		}
	}
	if u.Groups != nil {
		ui.AppendClaims("groups", append([]string(nil), u.Groups...))
	}
	for k, v := range u.Claims {
		ui.AppendClaims(k, v)
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errUnsupported
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errUnsupported
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errUnsupported
}

func (s *storage) Health(context.Context) error { return nil }
