// Package oidc signs people in with the organization's OpenID provider: the
// authorization-code flow with PKCE (S256), state and nonce, on
// github.com/coreos/go-oidc (discovery, the provider's rotating JWKS, ID
// token verification: signature, issuer, audience, expiry) and
// golang.org/x/oauth2 (the code exchange). Nothing here is hand-rolled
// cryptography; this package adds what the dashboard needs around them:
// lazy discovery that retries while the provider is down, the nonce check,
// reading email and groups from the claims, the provider's logout URL, and
// failures sorted into reasons that the audit log records (never a code or
// token).
package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Reasons a sign-in at the provider fails, as the audit log's
// auth.login_failed params.reason records them.
const (
	ReasonUnavailable   = "provider_unavailable" // discovery failed: the provider does not answer
	ReasonProviderError = "provider_error"       // the provider answered the callback with error=...
	ReasonExchange      = "exchange_failed"      // the code was refused (used twice, expired, wrong verifier) or the token endpoint failed
	ReasonNoIDToken     = "no_id_token"          // the token response carried no ID token
	ReasonInvalidToken  = "invalid_token"        // bad signature, unknown key, malformed
	ReasonExpired       = "token_expired"        // the ID token's exp has passed
	ReasonAudience      = "wrong_audience"       // the ID token is for another client
	ReasonIssuer        = "wrong_issuer"         // the ID token is from another issuer
	ReasonNonce         = "wrong_nonce"          // the ID token's nonce is not the one this sign-in sent
)

// ErrUnavailable means the provider's discovery document could not be
// read; single sign-on waits for it (Client retries).
var ErrUnavailable = errors.New("oidc: the identity provider cannot be reached")

// Error is a refused sign-in: Reason is one of the Reason constants,
// Detail a short word from the provider (an OAuth error code such as
// invalid_grant) or from the verifier. Neither ever holds a code or token.
type Error struct {
	Reason string
	Detail string
	Err    error
}

func (e *Error) Error() string {
	msg := "oidc: " + e.Reason
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns err's Reason, or "" when err is not an *Error.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	if errors.Is(err, ErrUnavailable) {
		return ReasonUnavailable
	}
	return ""
}

// Config configures a Client.
type Config struct {
	IssuerURL    string
	ClientID     string
	ClientSecret string
	// RedirectURL is where the provider sends the browser back
	// (PUBLIC_URL/auth/oidc/callback).
	RedirectURL string
	// Scopes requested; openid, email and profile when empty.
	Scopes []string
	// RolesClaim names the claim holding the groups: a top-level name
	// (groups, roles, https://example.com/roles, cognito:groups) or a
	// dotted path into objects (realm_access.roles).
	RolesClaim string
	// HTTPClient talks to the provider (a 10 s timeout client when nil).
	HTTPClient *http.Client
	// Now is the verifier's clock (time.Now when nil).
	Now func() time.Time
	// RetryEvery is how long a failed discovery is remembered before the
	// next sign-in tries again (10 s when zero).
	RetryEvery time.Duration
}

// Client is a configured relying party. It reads the provider's discovery
// document the first time it is needed, not at construction, so the
// dashboard starts (and password sign-in works) while the provider is
// down.
type Client struct {
	cfg Config

	mu      sync.Mutex
	ready   *discovered
	lastErr error
	lastTry time.Time
}

type discovered struct {
	verifier   *gooidc.IDTokenVerifier
	oauth      oauth2.Config
	endSession string
}

// New checks cfg and returns a Client; it does not contact the provider.
func New(cfg Config) (*Client, error) {
	if cfg.IssuerURL == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("oidc: issuer URL, client id and redirect URL are required")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{gooidc.ScopeOpenID, "email", "profile"}
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "groups"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = 10 * time.Second
	}
	return &Client{cfg: cfg}, nil
}

// Issuer is the configured issuer URL.
func (c *Client) Issuer() string { return c.cfg.IssuerURL }

// Discover reads the provider's discovery document now (at start, to warm
// up and log a misconfiguration early). A failure is remembered for
// RetryEvery; later calls try again.
func (c *Client) Discover(ctx context.Context) error {
	_, err := c.provider(ctx)
	return err
}

func (c *Client) provider(ctx context.Context) (*discovered, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready != nil {
		return c.ready, nil
	}
	now := time.Now()
	if c.lastErr != nil && now.Sub(c.lastTry) < c.cfg.RetryEvery {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, c.lastErr)
	}
	c.lastTry = now
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The provider keeps the context's HTTP client (not its deadline) for
	// fetching the JWKS later, when a token names a key it has not seen.
	p, err := gooidc.NewProvider(gooidc.ClientContext(dctx, c.cfg.HTTPClient), c.cfg.IssuerURL)
	if err != nil {
		c.lastErr = err
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&extra)
	c.ready = &discovered{
		verifier: p.Verifier(&gooidc.Config{ClientID: c.cfg.ClientID, Now: c.cfg.Now}),
		oauth: oauth2.Config{
			ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, RedirectURL: c.cfg.RedirectURL,
			Endpoint: p.Endpoint(), Scopes: c.cfg.Scopes,
		},
		endSession: extra.EndSession,
	}
	c.lastErr = nil
	return c.ready, nil
}

// Start is a new sign-in's secrets: state (sent and returned in the URL),
// nonce (must come back inside the ID token) and the PKCE verifier (only
// its S256 challenge leaves the server before the code exchange).
type Start struct {
	State, Nonce, Verifier string
}

// NewStart draws fresh random values for a sign-in.
func NewStart() Start {
	return Start{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier()}
}

// AuthURL is the provider's authorization URL for st (code flow, PKCE
// S256, state, nonce).
func (c *Client) AuthURL(ctx context.Context, st Start) (string, error) {
	p, err := c.provider(ctx)
	if err != nil {
		return "", err
	}
	return p.oauth.AuthCodeURL(st.State, gooidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), nil
}

// Identity is who the provider says signed in.
type Identity struct {
	Issuer  string
	Subject string
	// Email is lowercased; "" when the token has none.
	Email string
	// EmailVerified is the email_verified claim: nil when the provider
	// does not say (Entra ID does not), else its value.
	EmailVerified *bool
	Name          string
	// Groups are the values of the roles claim (a string or a list of
	// strings; other values are ignored).
	Groups []string
	// GroupsOverage is set when the provider left the groups out of the
	// token because there were too many (Entra ID's _claim_names).
	GroupsOverage bool
	// IDToken is the raw ID token, for the logout's id_token_hint. It is a
	// credential of sorts: keep it server-side, never log it.
	IDToken string
	Expiry  time.Time
}

// Exchange trades the callback's code for tokens (sending the PKCE
// verifier), verifies the ID token (signature by the provider's current
// keys, issuer, audience, expiry) and its nonce, and reads the identity.
func (c *Client) Exchange(ctx context.Context, code, verifier, nonce string) (*Identity, error) {
	p, err := c.provider(ctx)
	if err != nil {
		return nil, err
	}
	ctx = gooidc.ClientContext(ctx, c.cfg.HTTPClient)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// Only the OAuth error code: the body could echo anything.
			detail := re.ErrorCode
			if detail == "" {
				detail = fmt.Sprintf("status %d", re.Response.StatusCode)
			}
			return nil, &Error{Reason: ReasonExchange, Detail: shortWord(detail)}
		}
		return nil, &Error{Reason: ReasonExchange, Detail: "token endpoint unreachable", Err: stripURLError(err)}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, &Error{Reason: ReasonNoIDToken}
	}
	return c.verify(ctx, p, raw, nonce)
}

// Verify checks a raw ID token as Exchange does (for tokens obtained
// otherwise, e.g. in tests).
func (c *Client) Verify(ctx context.Context, raw, nonce string) (*Identity, error) {
	p, err := c.provider(ctx)
	if err != nil {
		return nil, err
	}
	return c.verify(gooidc.ClientContext(ctx, c.cfg.HTTPClient), p, raw, nonce)
}

func (c *Client) verify(ctx context.Context, p *discovered, raw, nonce string) (*Identity, error) {
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, &Error{Reason: c.classify(err, raw), Err: err}
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, &Error{Reason: ReasonNonce}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, &Error{Reason: ReasonInvalidToken, Err: err}
	}
	id := &Identity{
		Issuer: idt.Issuer, Subject: idt.Subject, IDToken: raw, Expiry: idt.Expiry,
		Email:         strings.ToLower(strings.TrimSpace(str(claims["email"]))),
		EmailVerified: boolClaim(claims["email_verified"]),
		Name:          str(claims["name"]),
		Groups:        ClaimValues(claims, c.cfg.RolesClaim),
	}
	if names, ok := claims["_claim_names"].(map[string]any); ok {
		_, id.GroupsOverage = names[c.cfg.RolesClaim]
	}
	return id, nil
}

// classify names why go-oidc refused a token. The unverified payload is
// read only to choose the words; the refusal stands whatever it says.
func (c *Client) classify(err error, raw string) string {
	var exp *gooidc.TokenExpiredError
	if errors.As(err, &exp) {
		return ReasonExpired
	}
	parts := strings.Split(raw, ".")
	if len(parts) == 3 {
		if b, derr := base64.RawURLEncoding.DecodeString(parts[1]); derr == nil {
			var claims struct {
				Iss string          `json:"iss"`
				Aud json.RawMessage `json:"aud"`
			}
			if json.Unmarshal(b, &claims) == nil {
				if claims.Iss != c.cfg.IssuerURL {
					return ReasonIssuer
				}
				if !audienceHas(claims.Aud, c.cfg.ClientID) {
					return ReasonAudience
				}
			}
		}
	}
	return ReasonInvalidToken
}

func audienceHas(raw json.RawMessage, id string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == id
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == id {
				return true
			}
		}
	}
	return false
}

// EndSessionEndpoint is the provider's end_session_endpoint as discovered
// so far ("" when it has none or discovery has not succeeded yet); it
// never contacts the provider.
func (c *Client) EndSessionEndpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready == nil {
		return ""
	}
	return c.ready.endSession
}

// EndSessionURL is the provider's logout URL (RP-initiated logout) with
// idTokenHint (may be ""), the client id and where to come back; "" when
// the provider has no end_session_endpoint (Google, Entra ID's v1) or has
// not been read yet and cannot be now.
func (c *Client) EndSessionURL(ctx context.Context, idTokenHint, postLogoutRedirect string) string {
	p, err := c.provider(ctx)
	if err != nil || p.endSession == "" {
		return ""
	}
	u, err := url.Parse(p.endSession)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	q := u.Query()
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	q.Set("client_id", c.cfg.ClientID)
	if postLogoutRedirect != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirect)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// ClaimValues reads claim name from claims as a list of strings: a string
// is one value, a list keeps its strings. A name that is not a key of its
// own and contains dots is a path into nested objects (Keycloak's
// realm_access.roles); a name that is a key (https://example.com/roles)
// is read as it is.
func ClaimValues(claims map[string]any, name string) []string {
	v, ok := claims[name]
	if !ok && strings.Contains(name, ".") {
		var cur any = claims
		for _, part := range strings.Split(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				cur = nil
				break
			}
			cur = m[part]
		}
		v = cur
	}
	switch t := v.(type) {
	case string:
		if t != "" {
			return []string{t}
		}
	case []any:
		var out []string
		for _, item := range t {
			if s, ok := item.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

// boolClaim reads a boolean claim that some providers send as a string.
func boolClaim(v any) *bool {
	switch t := v.(type) {
	case bool:
		return &t
	case string:
		b := strings.EqualFold(t, "true")
		if b || strings.EqualFold(t, "false") {
			return &b
		}
	}
	return nil
}

// shortWord keeps an error code printable and short for the audit log.
func shortWord(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			break
		}
		if r > ' ' && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stripURLError drops the URL from a transport error (the token
// endpoint's address is harmless, but the query of a misconfigured one
// need not reach the log).
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
