package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/oidc"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// SSO is single sign-on with the organization's OpenID provider (the
// OIDC_* variables); nil in Deps: passwords only.
type SSO struct {
	Client *oidc.Client
	// ProviderName is on the button: "Sign in with <ProviderName>".
	ProviderName string
	// RoleMap and DefaultRole decide the role at every sign-in
	// (fleet.RoleMap.Resolve); a user no group maps is refused when
	// DefaultRole is "".
	RoleMap     fleet.RoleMap
	DefaultRole string
	// AllowedDomains, when not empty, are the only email domains let in.
	AllowedDomains []string
	// PostLogoutURL is where the provider's logout sends the browser back
	// (PUBLIC_URL/login).
	PostLogoutURL string
}

// oidcLoginTTL is how long a started sign-in may take at the provider.
const oidcLoginTTL = 10 * time.Minute

// keyOIDCBind is the session key of the browser's binding value: a
// callback is accepted only from the browser that started the sign-in.
const keyOIDCBind = "oidc_bind"

// Reasons for refusing a single sign-on that the dashboard decides (the
// protocol's own are oidc.Reason*), as auth.login_failed params.reason.
const (
	reasonBadState      = "bad_state"          // unknown, tampered or already used state
	reasonBrowser       = "browser_mismatch"   // the callback came to another browser than the one that started
	reasonStateExpired  = "state_expired"      // more than oidcLoginTTL at the provider
	reasonNoEmail       = "no_email"           // the ID token has no usable email
	reasonUnverified    = "email_unverified"   // email_verified false where it matters
	reasonDomain        = "domain_not_allowed" // OIDC_ALLOWED_DOMAINS refuses the email's domain
	reasonUnmapped      = "unmapped_group"     // no group maps to a role and there is no default role
	reasonOverage       = "groups_overage"     // the provider left the groups out (Entra ID past 200 groups): the role cannot be known
	reasonDisabled      = "disabled"           // the dashboard account is disabled
	reasonEmailTaken    = "email_taken"        // a password account has the email, which the provider did not confirm
	reasonLinkedElse    = "linked_elsewhere"   // the account is linked to another identity
	reasonLocalDisabled = "local_login_disabled"
	reasonTooManyStarts = "too_many_starts" // the address has db.MaxOpenOIDCLoginsPerAddr sign-ins open
)

// ssoFailure is one refused single sign-on: what the audit log records and
// what the person is told.
type ssoFailure struct {
	status        int
	reason        string
	email         string
	providerError string
	groups        []string
	// policy marks a refusal by rule (outcome denied) rather than a
	// protocol failure (outcome failed).
	policy bool
}

// ssoMessages say, for each reason, what happened and what to do.
var ssoMessages = map[string]string{
	reasonBadState:           "This sign-in link is not valid or was already used. Start again.",
	reasonBrowser:            "This sign-in was started in another browser. Start again here.",
	reasonStateExpired:       "The sign-in took too long (more than 10 minutes). Start again.",
	reasonNoEmail:            "Your identity provider did not send an email address. Ask your administrator to release the email claim to this dashboard.",
	reasonUnverified:         "Your identity provider says your email address is not verified. Verify it there, then try again.",
	reasonDomain:             "Your email domain is not allowed to sign in to this dashboard.",
	reasonUnmapped:           "You signed in, but none of your groups gives access to this dashboard. Ask your administrator to add you to a group that does.",
	reasonTooManyStarts:      "Too many sign-ins were started from your network and not finished. Wait 10 minutes and try again.",
	reasonOverage:            "Your identity provider left your groups out of the sign-in (you are in too many of them), so your role cannot be known. Ask your administrator to send app roles or only the assigned groups to this dashboard.",
	reasonDisabled:           "Your dashboard account is disabled. Ask an administrator to enable it.",
	reasonEmailTaken:         "A dashboard account with your email already exists, and your identity provider does not confirm the address, so it cannot be linked. Ask an administrator.",
	reasonLinkedElse:         "Your dashboard account is linked to another identity at the provider. Ask an administrator.",
	oidc.ReasonUnavailable:   "Single sign-on is unavailable: the identity provider does not answer. Try again in a minute.",
	oidc.ReasonProviderError: "The identity provider did not sign you in.",
	oidc.ReasonExchange:      "The sign-in could not be completed with the identity provider (the link may have been used already). Start again.",
	oidc.ReasonNoIDToken:     "The identity provider did not send an ID token. Ask your administrator to check the dashboard's client settings.",
	oidc.ReasonInvalidToken:  "The identity provider's answer could not be verified. Start again; if it keeps happening, tell your administrator.",
	oidc.ReasonExpired:       "The identity provider's answer had expired (is this computer's clock right?). Start again.",
	oidc.ReasonAudience:      "The identity provider's answer was meant for another application. Tell your administrator.",
	oidc.ReasonIssuer:        "The answer came from another identity provider than the one configured. Tell your administrator.",
	oidc.ReasonNonce:         "The identity provider's answer does not belong to this sign-in. Start again.",
}

// startOIDC (GET /login/oidc?next=) records a new sign-in (state, nonce,
// PKCE verifier, bound to this browser) and sends the browser to the
// provider.
func (s *Server) startOIDC(c echo.Context) error {
	if s.sso == nil {
		return echo.NewHTTPError(http.StatusNotFound, "Single sign-on is not configured on this dashboard.")
	}
	next := safeNext(c.QueryParam("next"))
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	ctx := c.Request().Context()
	st := oidc.NewStart()
	authURL, err := s.sso.Client.AuthURL(ctx, st)
	if err != nil {
		s.log.Warn("single sign-on: provider unavailable", "err", err.Error(), "request_id", requestID(c))
		return s.renderSSOError(c, ssoFailure{status: http.StatusServiceUnavailable, reason: oidc.ReasonUnavailable}, next)
	}
	sd := getSession(c)
	bind := sd.str(keyOIDCBind)
	if bind == "" {
		bind = randomHex(32)
		sd.set(keyOIDCBind, bind)
		if err := s.saveSession(c); err != nil {
			return err
		}
	}
	now := s.now()
	l := db.OIDCLogin{Nonce: st.Nonce, Verifier: st.Verifier, Next: next, RemoteAddr: clientIP(c), CreatedAt: now, ExpiresAt: now.Add(oidcLoginTTL)}
	err = s.store.CreateOIDCLogin(ctx, st.State, bind, l)
	if errors.Is(err, db.ErrTooManyOIDCLogins) {
		// A flood from one address: refused without a row of its own
		// (neither here nor in the audit log), until its sign-ins expire.
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(oidcLoginTTL.Seconds())))
		return s.renderSSOError(c, ssoFailure{status: http.StatusTooManyRequests, reason: reasonTooManyStarts}, next)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	return c.Redirect(http.StatusSeeOther, authURL)
}

// oidcCallback (GET /auth/oidc/callback?code=&state=) claims the sign-in
// its state names (once), exchanges the code with the PKCE verifier,
// verifies the ID token and its nonce, then applies the dashboard's rules
// (domains, role map, disabled) and starts a session.
func (s *Server) oidcCallback(c echo.Context) error {
	if s.sso == nil {
		return echo.NewHTTPError(http.StatusNotFound, "Single sign-on is not configured on this dashboard.")
	}
	ctx := c.Request().Context()
	q := c.Request().URL.Query()
	state := q.Get("state")
	var login db.OIDCLogin
	fail := ssoFailure{status: http.StatusBadRequest}
	if state == "" || len(state) > 512 {
		fail.reason = reasonBadState
	} else {
		l, err := s.store.ClaimOIDCLogin(ctx, state)
		switch {
		case errors.Is(err, db.ErrNotFound):
			fail.reason = reasonBadState
		case err != nil:
			return fmt.Errorf("%w: %v", errDBUnavailable, err)
		case !l.BoundTo(getSession(c).str(keyOIDCBind)):
			fail.reason = reasonBrowser
		case !s.now().Before(l.ExpiresAt):
			fail.reason = reasonStateExpired
		default:
			login = l
		}
	}
	if fail.reason != "" {
		return s.ssoFail(c, fail, "/machines")
	}
	next := safeNext(login.Next)
	if e := q.Get("error"); e != "" {
		return s.ssoFail(c, ssoFailure{status: http.StatusUnauthorized, reason: oidc.ReasonProviderError, providerError: oauthWord(e)}, next)
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		return s.ssoFail(c, ssoFailure{status: http.StatusBadRequest, reason: oidc.ReasonExchange, providerError: "no code"}, next)
	}
	id, err := s.sso.Client.Exchange(ctx, code, login.Verifier, login.Nonce)
	if err != nil {
		reason := oidc.ReasonOf(err)
		if reason == "" {
			reason = oidc.ReasonExchange
		}
		status := http.StatusUnauthorized
		if reason == oidc.ReasonUnavailable {
			status = http.StatusServiceUnavailable
		}
		f := ssoFailure{status: status, reason: reason}
		var oe *oidc.Error
		if errors.As(err, &oe) {
			f.providerError = oe.Detail
		}
		s.log.Warn("single sign-on refused", "reason", reason, "err", err.Error(), "request_id", requestID(c))
		return s.ssoFail(c, f, next)
	}
	return s.finishOIDC(c, id, next)
}

// finishOIDC signs in the person id names, by the dashboard's rules.
func (s *Server) finishOIDC(c echo.Context, id *oidc.Identity, next string) error {
	ctx := c.Request().Context()
	email := id.Email
	deny := func(status int, reason string) error {
		return s.ssoFail(c, ssoFailure{status: status, reason: reason, email: email, groups: id.Groups, policy: true}, next)
	}
	if a, err := mail.ParseAddress(email); email == "" || err != nil || a.Address != email || len(email) > 320 {
		return s.ssoFail(c, ssoFailure{status: http.StatusForbidden, reason: reasonNoEmail}, next)
	}
	unverified := id.EmailVerified != nil && !*id.EmailVerified
	if len(s.sso.AllowedDomains) > 0 {
		if unverified {
			return deny(http.StatusForbidden, reasonUnverified)
		}
		domain := email[strings.LastIndexByte(email, '@')+1:]
		if !slices.Contains(s.sso.AllowedDomains, domain) {
			return deny(http.StatusForbidden, reasonDomain)
		}
	}
	u, how, err := s.findOIDCUser(ctx, id)
	switch {
	case errors.Is(err, db.ErrEmailTaken):
		return deny(http.StatusForbidden, reasonEmailTaken)
	case errors.Is(err, db.ErrIdentityTaken):
		return deny(http.StatusForbidden, reasonLinkedElse)
	case err != nil:
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	if how != "new" && u.Disabled {
		email = u.Email
		return deny(http.StatusForbidden, reasonDisabled)
	}
	role, matched := u.Role, []string(nil)
	// ADMIN_EMAIL's account keeps its role as if pinned: it is the way in
	// when single sign-on goes wrong, and once linked (a verified email) a
	// group change at the provider would otherwise demote the break-glass
	// admin at their next single sign-on.
	breakGlass := how != "new" && s.breakGlass != "" && u.Email == s.breakGlass
	if how == "new" || !(u.RolePinned || breakGlass) {
		// Groups left out of the token (Entra ID's overage) are not "no
		// groups": the default role would quietly demote an admin.
		if id.GroupsOverage && len(id.Groups) == 0 {
			return deny(http.StatusForbidden, reasonOverage)
		}
		r, m, ok := s.sso.RoleMap.Resolve(id.Groups, s.sso.DefaultRole)
		if !ok {
			return deny(http.StatusForbidden, reasonUnmapped)
		}
		role, matched = r, m
	}
	actor := fleet.OIDCActor(clientIP(c), truncate(c.Request().UserAgent(), 300), requestID(c))
	switch how {
	case "new":
		p := fleet.Params{"email": email, "role": role, "method": db.LoginOIDC, "matched_groups": matched}
		err = s.audit.Do(ctx, actor, fleet.ActUserCreate, "", p, func(ctx context.Context, _ fleet.Params) error {
			u, err = s.store.CreateOIDCUser(ctx, email, role, id.Issuer, id.Subject)
			return err
		})
	case "email":
		p := fleet.Params{"user_id": u.ID, "email": u.Email, "linked": db.LoginOIDC}
		err = s.audit.Do(ctx, actor, fleet.ActUserUpdate, "", p, func(ctx context.Context, _ fleet.Params) error {
			return s.store.LinkUserOIDC(ctx, u.ID, id.Issuer, id.Subject)
		})
	}
	verified := id.EmailVerified != nil && *id.EmailVerified
	if err == nil && how == "identity" && email != u.Email && verified {
		// Renamed at the provider (a verified address): follow it, unless
		// another account has the new address.
		p := fleet.Params{"user_id": u.ID, "email": email, "before": map[string]any{"email": u.Email}}
		err = s.audit.Do(ctx, actor, fleet.ActUserUpdate, "", p, func(ctx context.Context, _ fleet.Params) error {
			return s.store.SetUserEmail(ctx, u.ID, email)
		})
		switch {
		case err == nil:
			u.Email = email
		case errors.Is(err, db.ErrEmailTaken):
			s.log.Warn("single sign-on: the provider's new email is another account's; keeping the old one", "user_id", u.ID, "request_id", requestID(c))
			err = nil
		}
	}
	if err == nil && how != "new" && role != u.Role {
		// Only while the user is as read above: an admin who pinned or
		// changed the role in the meantime wins, and the sign-in goes on
		// with the role now in force.
		p := fleet.Params{"user_id": u.ID, "email": u.Email, "role": role, "before": map[string]any{"role": u.Role}, "matched_groups": matched}
		err = s.audit.Do(ctx, actor, fleet.ActUserUpdate, "", p, func(ctx context.Context, _ fleet.Params) error {
			return s.store.SetUserRoleFromProvider(ctx, u.ID, u.Role, role)
		})
		switch {
		case err == nil:
			u.Role = role
		case errors.Is(err, db.ErrUserChanged):
			if u, err = s.store.UserByID(ctx, u.ID); err == nil && u.Disabled {
				return deny(http.StatusForbidden, reasonDisabled)
			}
		}
	}
	if err != nil {
		if errors.Is(err, fleet.ErrAuditUnavailable) {
			return s.loginUnavailable(c, s.loginForm(c, next), err)
		}
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	who := s.actor(c)
	who.Email, who.Role = u.Email, u.Role
	p := fleet.Params{"email": u.Email, "method": db.LoginOIDC, "matched_groups": matched}
	if err := s.audit.Record(ctx, who, fleet.ActAuthLogin, "", db.OutcomeSucceeded, p, nil, "signed in with "+s.sso.ProviderName); err != nil {
		return s.loginUnavailable(c, s.loginForm(c, next), err)
	}
	if err := s.startSessionWith(c, u.ID, db.LoginOIDC, id.IDToken); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// findOIDCUser finds the dashboard account of id: by the provider's
// identity (issuer + subject) first, else by email when the provider
// confirms the address (email_verified true), to be linked ("email"); else
// it is a new account ("new", u empty). A password account whose email
// matches an unconfirmed address is ErrEmailTaken: linking it would let
// anyone who can set that email at the provider take the account.
func (s *Server) findOIDCUser(ctx context.Context, id *oidc.Identity) (u db.User, how string, err error) {
	u, err = s.store.UserByOIDC(ctx, id.Issuer, id.Subject)
	if err == nil {
		return u, "identity", nil
	}
	if !errors.Is(err, db.ErrNotFound) {
		return db.User{}, "", err
	}
	u, err = s.store.UserByEmail(ctx, id.Email)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return db.User{}, "new", nil
	case err != nil:
		return db.User{}, "", err
	case u.HasOIDC():
		return db.User{}, "", db.ErrIdentityTaken
	case id.EmailVerified == nil || !*id.EmailVerified:
		return db.User{}, "", db.ErrEmailTaken
	}
	return u, "email", nil
}

// ssoFail records a refused single sign-on as auth.login_failed (never a
// code or token) and shows the sign-in page with the reason.
//
// Anyone can call the callback with a made-up state, so those refusals
// (no sign-in of theirs behind them) are counted per client address like
// password attempts: past the limit only the first refusal of the window
// is written to the audit log, and the answer is 429.
func (s *Server) ssoFail(c echo.Context, f ssoFailure, next string) error {
	if f.reason == reasonBadState || f.reason == reasonBrowser || f.reason == reasonStateExpired {
		addr := clientIP(c)
		att, err := s.store.CountLoginAttempt(c.Request().Context(), "oidc-callback@"+addr, addr, s.now())
		if err != nil {
			return fmt.Errorf("%w: %v", errDBUnavailable, err)
		}
		if !att.Allowed {
			c.Response().Header().Set("Retry-After", fmt.Sprint(int(att.RetryAfter.Seconds()+0.999)))
			f.status = http.StatusTooManyRequests
			if !att.FirstRefusal {
				return s.renderSSOError(c, f, next)
			}
		}
	}
	actor := s.actor(c)
	actor.Email = f.email
	p := fleet.Params{"reason": f.reason, "method": db.LoginOIDC}
	if f.email != "" {
		p["email"] = f.email
	}
	if f.providerError != "" {
		p["provider_error"] = f.providerError
	}
	if f.reason == reasonUnmapped {
		g := f.groups
		if len(g) > 20 {
			g = g[:20]
		}
		p["groups"] = g
	}
	outcome := db.OutcomeFailed
	if f.policy {
		outcome = db.OutcomeDenied
	}
	if err := s.audit.Record(c.Request().Context(), actor, fleet.ActAuthLoginFailed, "", outcome, p, nil, ssoMessages[f.reason]); err != nil {
		return s.loginUnavailable(c, s.loginForm(c, next), err)
	}
	return s.renderSSOError(c, f, next)
}

// renderSSOError shows the sign-in page (with the single sign-on button to
// start again) and the reason.
func (s *Server) renderSSOError(c echo.Context, f ssoFailure, next string) error {
	form := s.loginForm(c, next)
	form.Error = ssoMessages[f.reason]
	if f.reason == oidc.ReasonProviderError && f.providerError != "" {
		form.Error += " (" + f.providerError + ")"
	}
	form.ErrorReason = f.reason
	return render(c, f.status, views.LoginPage(s.page(c, "Sign in", ""), form))
}

// loginForm is the sign-in page's state for this server: the single
// sign-on button and whether the password form shows.
func (s *Server) loginForm(c echo.Context, next string) views.LoginForm {
	f := views.LoginForm{Next: next}
	if s.sso != nil {
		f.SSOName = s.sso.ProviderName
		f.SSOURL = "/login/oidc"
		if next != "/machines" {
			f.SSOURL += "?next=" + url.QueryEscape(next)
		}
	}
	if s.localLoginOff {
		f.PasswordHidden = c.QueryParam("local") != "1"
		f.BreakGlassOnly = true
	}
	return f
}

// oauthWord keeps an OAuth error code (access_denied...) short and plain.
func oauthWord(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ssoOrigins are the provider's origins a form may be redirected to
// (POST /logout → its end_session endpoint), for the CSP's form-action.
func (s *Server) ssoOrigins() []string {
	if s.sso == nil {
		return nil
	}
	var out []string
	for _, raw := range []string{s.sso.Client.Issuer(), s.sso.Client.EndSessionEndpoint()} {
		if u, err := url.Parse(raw); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
			if o := u.Scheme + "://" + u.Host; !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}
