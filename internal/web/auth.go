package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/passwd"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// maxField bounds any single form field the dashboard reads.
const maxField = 4096

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// safeNext keeps only a path on this site for the post-login redirect;
// anything else becomes /machines.
func safeNext(next string) string {
	if !localPath(next) || strings.HasPrefix(next, "/login") || strings.HasPrefix(next, "/logout") {
		return "/machines"
	}
	return next
}

// localPath reports whether p is a same-origin path (with optional query
// and fragment) that no browser can read as another origin. Browsers strip
// tabs and newlines from a Location and treat a backslash as a slash, so
// "/\t/evil.example" or "/\\evil.example" would become "//evil.example"
// (a host): the raw text must be printable ASCII without backslashes, not
// start with "//", parse with neither scheme nor host, and its decoded path
// must hold no control character, backslash, leading "//", dot segment or
// encoded slash or backslash.
func localPath(p string) bool {
	if len(p) == 0 || len(p) > 1000 || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	if strings.HasPrefix(u.Path, "//") || strings.ContainsRune(u.Path, '\\') || badText(u.Path, false) {
		return false
	}
	// Dot segments: a browser resolves "/.//evil.example" to the path
	// "//evil.example"; the dashboard's own links never carry them.
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	esc := strings.ToLower(u.EscapedPath())
	return !strings.Contains(esc, "%2f") && !strings.Contains(esc, "%5c")
}

func (s *Server) home(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/machines") }

func (s *Server) showLogin(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	p := s.page(c, "Sign in", "")
	f := s.loginForm(c, safeNext(c.QueryParam("next")))
	if getSession(c).raw.Values["expired"] == true {
		p.Flashes = append(p.Flashes, views.Flash{Kind: views.FlashInfo, Text: "Your session ended. Sign in again."})
		delete(getSession(c).raw.Values, "expired")
		_ = s.saveSession(c)
	}
	return render(c, http.StatusOK, views.LoginPage(p, f))
}

// login counts the attempt (refusing it unchecked when throttled), then
// checks the password, and starts a fresh session. Unknown emails cost the
// same time as wrong passwords. Every outcome is audited first: when the
// audit log cannot be written, sign-in is refused with 503 and nothing is
// changed.
func (s *Server) login(c echo.Context) error {
	ctx := c.Request().Context()
	email := db.NormalizeEmail(truncate(c.FormValue("email"), 320))
	pw := c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	form := s.loginForm(c, next)
	form.Email, form.Errors, form.PasswordHidden = email, map[string]string{}, false
	if email == "" {
		form.Errors["email"] = "Enter your email address."
	}
	if pw == "" {
		form.Errors["password"] = "Enter your password."
	}
	if len(pw) > 1024 {
		form.Errors["password"] = "That password is too long."
	}
	if len(form.Errors) > 0 {
		return render(c, http.StatusUnprocessableEntity, views.LoginPage(s.page(c, "Sign in", ""), form))
	}
	actor := s.actor(c)
	actor.Email = email
	att, err := s.store.CountLoginAttempt(ctx, email, actor.RemoteAddr, s.now())
	if err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	if !att.Allowed {
		return s.loginThrottled(c, actor, form, att)
	}
	// badCredentials is the one answer to every refused password: with
	// LOCAL_LOGIN=false it is the same for the break-glass admin's wrong
	// password as for anyone else's attempt, so the page does not tell
	// which address is the one account a password can open.
	badCredentials := func() error {
		form.Error = "Email or password is incorrect."
		if s.localLoginOff {
			form.Error += " Password sign-in is only for the administrator's emergency account here; everyone else signs in with " + s.sso.ProviderName + "."
		}
		return render(c, http.StatusUnauthorized, views.LoginPage(s.page(c, "Sign in", ""), form))
	}
	if s.localLoginOff && email != s.breakGlass {
		// LOCAL_LOGIN=false: no password is checked for anyone but the
		// break-glass admin (counted above, so a flood is throttled). A
		// check's time is spent all the same, and the answer is the
		// break-glass admin's wrong-password answer.
		s.dummyCheckPassword(pw)
		if err := s.audit.Record(ctx, actor, fleet.ActAuthLoginFailed, "", db.OutcomeDenied, fleet.Params{"email": email, "reason": reasonLocalDisabled, "method": db.LoginPassword}, nil, "password sign-in is turned off (LOCAL_LOGIN=false)"); err != nil {
			return s.loginUnavailable(c, form, err)
		}
		return badCredentials()
	}
	u, err := s.store.UserByEmail(ctx, email)
	ok := false
	switch {
	case err == nil && !u.HasPassword():
		// An account made by single sign-on has no password to match.
		s.dummyCheckPassword(pw)
	case err == nil:
		ok, err = s.checkPassword(pw, u.PasswordHash)
		if err != nil {
			s.log.Error("verify password", "err", err.Error(), "user_id", u.ID)
			ok = false
		}
	case errors.Is(err, db.ErrNotFound):
		s.dummyCheckPassword(pw)
	default:
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	if !ok || u.Disabled {
		reason := "bad credentials"
		if ok && u.Disabled {
			reason = "disabled"
		}
		if err := s.audit.Record(ctx, actor, fleet.ActAuthLoginFailed, "", db.OutcomeFailed, fleet.Params{"email": email, "reason": reason, "method": db.LoginPassword}, nil, reason); err != nil {
			return s.loginUnavailable(c, form, err)
		}
		return badCredentials()
	}
	actor.Role = u.Role
	if err := s.audit.Record(ctx, actor, fleet.ActAuthLogin, "", db.OutcomeSucceeded, fleet.Params{"email": email, "method": db.LoginPassword}, nil, "signed in"); err != nil {
		return s.loginUnavailable(c, form, err)
	}
	if err := s.store.ClearLoginAttempts(ctx, email, actor.RemoteAddr, att); err != nil {
		s.log.Warn("clear login attempts", "err", err.Error(), "request_id", requestID(c))
	}
	if err := s.startSession(c, u.ID); err != nil {
		return err
	}
	return redirect(c, next)
}

// loginThrottled answers a refused attempt with 429. Only the first refusal
// of a window (per email or address) is written to the audit log; the rest
// are counted in login_attempts, so a flood costs the log one row.
func (s *Server) loginThrottled(c echo.Context, actor fleet.Actor, form views.LoginForm, att db.LoginAttempt) error {
	secs := int(att.RetryAfter.Seconds() + 0.999)
	if att.FirstRefusal {
		p := fleet.Params{"email": form.Email, "reason": "throttled", "retry_after_seconds": secs,
			"email_attempts": att.EmailAttempts, "addr_attempts": att.AddrAttempts}
		msg := "too many sign-in attempts; further refusals in this window are not recorded one by one"
		if err := s.audit.Record(c.Request().Context(), actor, fleet.ActAuthLoginFailed, "", db.OutcomeDenied, p, nil, msg); err != nil {
			return s.loginUnavailable(c, form, err)
		}
	}
	form.RetryAfter = humanWait(att.RetryAfter)
	form.Error = "Too many sign-in attempts. Wait " + form.RetryAfter + " and try again."
	c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
	return render(c, http.StatusTooManyRequests, views.LoginPage(s.page(c, "Sign in", ""), form))
}

// loginUnavailable refuses a sign-in whose audit row could not be written:
// 503, the form again with the reason, and no session.
func (s *Server) loginUnavailable(c echo.Context, form views.LoginForm, err error) error {
	s.log.Error("audit sign-in", "err", err.Error(), "request_id", requestID(c))
	form.Unavailable = true
	form.Error = ""
	return render(c, http.StatusServiceUnavailable, views.LoginPage(s.page(c, "Sign in", ""), form))
}

// logout ends the session server-side and in the cookie. Unlike every
// other action it is not refused when the audit log cannot be written:
// refusing would keep a credential alive that its owner wants dead. The
// failure is logged and the user told. A session started by single
// sign-on then goes on to the provider's end_session endpoint (when it has
// one), which signs the browser out there too and sends it back to
// /login.
func (s *Server) logout(c echo.Context) error {
	ctx := c.Request().Context()
	sid := getSession(c).str("sid")
	sealed, revokeErr := s.store.EndWebSession(ctx, sid, db.RevokedLogout, s.now())
	method := db.LoginPassword
	idToken := ""
	if sealed != "" {
		method = db.LoginOIDC
		// One that does not open (SESSION_KEY changed) only loses the
		// hint: the provider's logout still runs, asking the user.
		var err error
		if idToken, err = s.idTokens.open(sealed, sid); err != nil {
			s.log.Warn("logout: the kept ID token does not open; going to the provider without id_token_hint", "request_id", requestID(c))
		}
	}
	auditErr := s.audit.Record(ctx, s.actor(c), fleet.ActAuthLogout, "", db.OutcomeSucceeded, fleet.Params{"reason": "user", "method": method}, nil, "signed out")
	if err := s.endSession(c); err != nil {
		return err
	}
	if revokeErr != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, revokeErr)
	}
	if auditErr != nil {
		s.log.Error("audit logout", "err", auditErr.Error(), "request_id", requestID(c))
		s.addFlash(c, views.FlashError, "You are signed out, but the audit log could not record it. Tell your administrator.")
	} else {
		s.addFlash(c, views.FlashInfo, "You are signed out.")
	}
	if method == db.LoginOIDC && s.sso != nil {
		if to := s.sso.Client.EndSessionURL(ctx, idToken, s.sso.PostLogoutURL); to != "" {
			return redirect(c, to)
		}
	}
	return redirect(c, "/login")
}

// humanWait says a wait in words: "45 seconds", "3 minutes".
func humanWait(d time.Duration) string {
	if d < time.Minute {
		n := int(d.Seconds() + 0.999)
		if n <= 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", n)
	}
	n := int(d.Minutes() + 0.999)
	if n == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// checkPassword verifies pw against a stored hash, counting the check (the
// throttling test asserts how many checks an attack gets).
func (s *Server) checkPassword(pw, hash string) (bool, error) {
	s.passwordChecks.Add(1)
	return passwd.Verify(pw, hash)
}

// dummyCheckPassword spends the time of a check for an unknown email.
func (s *Server) dummyCheckPassword(pw string) {
	s.passwordChecks.Add(1)
	passwd.DummyVerify(pw)
}
