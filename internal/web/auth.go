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
	f := views.LoginForm{Next: safeNext(c.QueryParam("next"))}
	if getSession(c).raw.Values["expired"] == true {
		p.Flashes = append(p.Flashes, views.Flash{Kind: views.FlashInfo, Text: "Your session ended. Sign in again."})
		delete(getSession(c).raw.Values, "expired")
		_ = s.saveSession(c)
	}
	return render(c, http.StatusOK, views.LoginPage(p, f))
}

// login checks the throttle, then the password, and starts a fresh session.
// Unknown emails cost the same time as wrong passwords.
func (s *Server) login(c echo.Context) error {
	ctx := c.Request().Context()
	email := db.NormalizeEmail(truncate(c.FormValue("email"), 320))
	pw := c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	form := views.LoginForm{Email: email, Next: next, Errors: map[string]string{}}
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
	now := s.now()
	wait, err := s.store.LoginThrottle(ctx, email, actor.RemoteAddr, now)
	if err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	if wait > 0 {
		_ = s.audit.Record(ctx, actor, fleet.ActAuthLoginFailed, "", db.OutcomeDenied,
			fleet.Params{"email": email, "reason": "throttled", "retry_after_seconds": int(wait.Seconds())}, nil, "too many failed sign-ins")
		form.RetryAfter = humanWait(wait)
		form.Error = "Too many failed sign-ins. Wait " + form.RetryAfter + " and try again."
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds()+0.5)))
		return render(c, http.StatusTooManyRequests, views.LoginPage(s.page(c, "Sign in", ""), form))
	}
	u, err := s.store.UserByEmail(ctx, email)
	ok := false
	switch {
	case err == nil:
		ok, err = passwd.Verify(pw, u.PasswordHash)
		if err != nil {
			s.log.Error("verify password", "err", err.Error(), "user_id", u.ID)
			ok = false
		}
	case errors.Is(err, db.ErrNotFound):
		passwd.DummyVerify(pw)
	default:
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	if !ok || u.Disabled {
		reason := "bad credentials"
		if ok && u.Disabled {
			reason = "disabled"
		}
		if err := s.store.RecordLoginFailure(ctx, email, actor.RemoteAddr, now); err != nil {
			return fmt.Errorf("%w: %v", errDBUnavailable, err)
		}
		_ = s.audit.Record(ctx, actor, fleet.ActAuthLoginFailed, "", db.OutcomeFailed, fleet.Params{"email": email, "reason": reason}, nil, reason)
		form.Error = "Email or password is incorrect."
		return render(c, http.StatusUnauthorized, views.LoginPage(s.page(c, "Sign in", ""), form))
	}
	_ = s.store.ClearLoginFailures(ctx, email, actor.RemoteAddr)
	if err := s.startSession(c, u.ID); err != nil {
		return err
	}
	actor.Role = u.Role
	if err := s.audit.Record(ctx, actor, fleet.ActAuthLogin, "", db.OutcomeSucceeded, fleet.Params{"email": email}, nil, "signed in"); err != nil {
		s.log.Error("audit login", "err", err.Error())
	}
	return redirect(c, next)
}

func (s *Server) logout(c echo.Context) error {
	_ = s.audit.Record(c.Request().Context(), s.actor(c), fleet.ActAuthLogout, "", db.OutcomeSucceeded, fleet.Params{"reason": "user"}, nil, "signed out")
	if err := s.endSession(c); err != nil {
		return err
	}
	s.addFlash(c, views.FlashInfo, "You are signed out.")
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
