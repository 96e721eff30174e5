package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/passwd"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// MinPasswordLen is the shortest password the dashboard accepts.
const MinPasswordLen = 12

// maxSessionsShown bounds the open sessions listed per user.
const maxSessionsShown = 20

func (s *Server) usersView(c echo.Context, form views.UserForm) (views.UsersView, error) {
	ctx := c.Request().Context()
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return views.UsersView{}, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	sessions, err := s.openSessions(c, 0)
	if err != nil {
		return views.UsersView{}, err
	}
	me := currentUser(c)
	v := views.UsersView{Form: form, Roles: fleet.Roles}
	for _, u := range users {
		v.Users = append(v.Users, userRow(u, me, sessions[u.ID]))
	}
	return v, nil
}

// openSessions returns the open sessions of user uid (0: of every user) as
// rows, by user id.
func (s *Server) openSessions(c echo.Context, uid int64) (map[int64][]views.SignInSession, error) {
	now := s.now()
	list, err := s.store.OpenWebSessions(c.Request().Context(), uid, now.Add(-IdleTimeout), now.Add(-AbsoluteTimeout), maxSessionsShown)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	me := currentUser(c)
	out := map[int64][]views.SignInSession{}
	for _, ws := range list {
		out[ws.UserID] = append(out[ws.UserID], views.SignInSession{
			ID: ws.ID, CreatedAt: ws.CreatedAt, LastSeenAt: ws.LastSeenAt, RemoteAddr: ws.RemoteAddr, UserAgent: ws.UserAgent,
			Current: me != nil && me.SessionID == ws.ID,
		})
	}
	return out, nil
}

func userRow(u db.User, me *authUser, sessions []views.SignInSession) views.UserRow {
	r := views.UserRow{ID: u.ID, Email: u.Email, Role: u.Role, Disabled: u.Disabled, CreatedAt: u.CreatedAt, Self: me != nil && me.ID == u.ID, Sessions: sessions,
		HasPassword: u.HasPassword(), HasSSO: u.HasOIDC(), RolePinned: u.RolePinned, LastSignInMethod: u.LastLoginMethod}
	if u.LastLoginAt != nil {
		r.LastSignIn = *u.LastLoginAt
	}
	return r
}

func (s *Server) listUsers(c echo.Context) error {
	v, err := s.usersView(c, views.UserForm{Role: fleet.RoleViewer})
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.UsersPage(s.page(c, "Users", views.NavUsers), v))
}

// ValidateNewUser checks the create-user form; errors are keyed by field.
func ValidateNewUser(email, role, pw, confirm string) map[string]string {
	errs := map[string]string{}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 320 {
		errs["email"] = "Enter a valid email address, such as name@example.com."
	}
	if !slices.Contains(fleet.Roles, role) {
		errs["role"] = "Choose one of viewer, helpdesk, operator or admin."
	}
	switch {
	case len(pw) < MinPasswordLen:
		errs["password"] = fmt.Sprintf("Use at least %d characters.", MinPasswordLen)
	case len(pw) > 1024:
		errs["password"] = "Use at most 1024 characters."
	}
	if confirm != pw {
		errs["password_confirm"] = "The two passwords differ."
	}
	return errs
}

func (s *Server) createUser(c echo.Context) error {
	ctx := c.Request().Context()
	email := db.NormalizeEmail(truncate(c.FormValue("email"), 400))
	role := c.FormValue("role")
	pw, confirm := c.FormValue("password"), c.FormValue("password_confirm")
	form := views.UserForm{Email: email, Role: role, Errors: ValidateNewUser(email, role, pw, confirm)}
	if len(form.Errors) == 0 {
		hash, err := passwd.Hash(pw)
		if err != nil {
			return err
		}
		p := fleet.Params{"email": email, "role": role}
		err = s.auditDo(c, fleet.ActUserCreate, "", p, func() error {
			_, err := s.store.CreateUser(ctx, email, role, hash)
			return err
		})
		switch {
		case err == nil:
			s.addFlash(c, views.FlashSuccess, "User "+email+" created as "+role+".")
			return redirect(c, "/users")
		case errors.Is(err, db.ErrEmailTaken):
			form.Errors["email"] = "A user with this email already exists."
		default:
			return err
		}
	}
	v, err := s.usersView(c, form)
	if err != nil {
		return err
	}
	return render(c, http.StatusUnprocessableEntity, views.UsersPage(s.page(c, "Users", views.NavUsers), v))
}

// auditDo runs a database-only change as an audited action.
func (s *Server) auditDo(c echo.Context, action, machineID string, p fleet.Params, fn func() error) error {
	return s.audit.Do(c.Request().Context(), s.actor(c), action, machineID, p, func(context.Context, fleet.Params) error { return fn() })
}

// lookupUser reads :uid.
func (s *Server) lookupUser(c echo.Context) (db.User, error) {
	id, err := strconv.ParseInt(c.Param("uid"), 10, 64)
	if err != nil || id < 1 {
		return db.User{}, echo.NewHTTPError(http.StatusNotFound, "No such user.")
	}
	u, err := s.store.UserByID(c.Request().Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return db.User{}, echo.NewHTTPError(http.StatusNotFound, "No such user.")
	}
	if err != nil {
		return db.User{}, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	return u, nil
}

// targetUser reads :uid and refuses the admin's own account (no self-lockout).
func (s *Server) targetUser(c echo.Context) (db.User, error) {
	u, err := s.lookupUser(c)
	if err != nil {
		return db.User{}, err
	}
	if me := currentUser(c); me != nil && me.ID == u.ID {
		return db.User{}, echo.NewHTTPError(http.StatusUnprocessableEntity, "You can't change your own role or disable yourself; ask another admin.")
	}
	return u, nil
}

func (s *Server) setUserRole(c echo.Context) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	role := c.FormValue("role")
	if !slices.Contains(fleet.Roles, role) {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "Choose one of viewer, helpdesk, operator or admin.")
	}
	// A single sign-on user's role comes from the provider's groups at
	// every sign-in, unless the admin pins it here (field pinned=true).
	pinned := u.RolePinned
	if u.HasOIDC() {
		pinned = c.FormValue("pinned") == "true"
	}
	// The form carries what its reader saw (seen_role, seen_pinned), as
	// the machine forms do: what they changed from it is applied, what
	// they left alone keeps its current value, so a page opened before
	// another admin's change does not undo it. A role the reader changed
	// from one that is no longer current is a conflict: nothing is
	// changed. Without the seen_ fields (a script posting the documented
	// fields) the fields are taken as they are.
	if seen, ok := seenValue(c, "role"); ok {
		switch {
		case role == seen:
			role = u.Role
		case seen != u.Role && role != u.Role:
			return s.userConflict(c, u, fmt.Sprintf("Someone changed the role of %s since you opened this page (you saw %s; it is now %s). Nothing was changed: choose again.", u.Email, seen, u.Role))
		}
	}
	if seen, ok := seenValue(c, "pinned"); ok && (seen == "true") == pinned {
		pinned = u.RolePinned
	}
	p := fleet.Params{"user_id": u.ID, "email": u.Email, "role": role, "before": map[string]any{"role": u.Role}}
	if u.HasOIDC() {
		p["pinned"] = pinned
		p["before"] = map[string]any{"role": u.Role, "pinned": u.RolePinned}
	}
	err = s.auditDo(c, fleet.ActUserUpdate, "", p, func() error {
		return s.store.SetUserRoleAndPin(c.Request().Context(), u.ID, role, pinned)
	})
	if err != nil {
		return err
	}
	u.Role, u.RolePinned = role, pinned
	msg := u.Email + " is now " + role + "."
	switch {
	case u.HasOIDC() && pinned:
		msg += " The role is pinned: single sign-on keeps it whatever the provider's groups say."
	case u.HasOIDC():
		msg += " Single sign-on sets the role from the provider's groups again at the next sign-in (pin it to keep it)."
	}
	return s.afterUserChange(c, u, msg)
}

// userConflict answers a user form that was stale: 409 with the row as it
// is now and why (htmx), else back to /users with the message.
func (s *Server) userConflict(c echo.Context, u db.User, msg string) error {
	f := views.Flash{Kind: views.FlashError, Text: msg}
	if isHTMX(c) {
		row, err := s.userRowFor(c, u)
		if err != nil {
			return err
		}
		p := s.page(c, "Users", views.NavUsers)
		p.Flashes = append(p.Flashes, f)
		row.Outcome = &f
		return render(c, http.StatusConflict, views.UserRowFragment(p, row, fleet.Roles))
	}
	s.addFlash(c, f.Kind, f.Text)
	return redirect(c, "/users")
}

// disableUser is two steps: without confirmed=true it only shows the
// confirmation (in the row); the confirmation's button disables.
func (s *Server) disableUser(c echo.Context) error {
	if c.FormValue("confirmed") != "true" {
		return s.confirmDisable(c)
	}
	return s.setDisabled(c, true)
}

func (s *Server) enableUser(c echo.Context) error { return s.setDisabled(c, false) }

// confirmDisable shows the disable confirmation in the user's row: the row
// alone for htmx, else the users page with that row asking.
func (s *Server) confirmDisable(c echo.Context) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	p := s.page(c, "Users", views.NavUsers)
	if isHTMX(c) {
		row, err := s.userRowFor(c, u)
		if err != nil {
			return err
		}
		row.ConfirmDisable = true
		return render(c, http.StatusOK, views.UserRowFragment(p, row, fleet.Roles))
	}
	v, err := s.usersView(c, views.UserForm{Role: fleet.RoleViewer})
	if err != nil {
		return err
	}
	for i := range v.Users {
		v.Users[i].ConfirmDisable = v.Users[i].ID == u.ID
	}
	return render(c, http.StatusOK, views.UsersPage(p, v))
}

func (s *Server) setDisabled(c echo.Context, disabled bool) error {
	u, err := s.targetUser(c)
	if err != nil {
		return err
	}
	p := fleet.Params{"user_id": u.ID, "email": u.Email, "disabled": disabled, "before": map[string]any{"disabled": u.Disabled}}
	if err := s.auditDo(c, fleet.ActUserUpdate, "", p, func() error { return s.store.SetUserDisabled(c.Request().Context(), u.ID, disabled) }); err != nil {
		return err
	}
	u.Disabled = disabled
	msg := u.Email + " is enabled."
	if disabled {
		msg = u.Email + " is disabled and signed out everywhere."
	}
	return s.afterUserChange(c, u, msg)
}

// revokeUserSession ends one session of a user (an admin's own other
// sessions included), audited as user.update.
func (s *Server) revokeUserSession(c echo.Context) error {
	u, err := s.lookupUser(c)
	if err != nil {
		return err
	}
	sid, err := strconv.ParseInt(c.Param("sid"), 10, 64)
	if err != nil || sid < 1 {
		return echo.NewHTTPError(http.StatusNotFound, "No such session.")
	}
	p := fleet.Params{"user_id": u.ID, "email": u.Email, "end_sessions": "one", "session_id": sid}
	err = s.auditDo(c, fleet.ActUserUpdate, "", p, func() error {
		return s.store.RevokeWebSession(c.Request().Context(), u.ID, sid, db.RevokedAdmin, s.now())
	})
	if errors.Is(err, db.ErrNotFound) {
		return s.afterUserChange(c, u, "That session of "+u.Email+" had already ended.")
	}
	if err != nil {
		return err
	}
	return s.afterUserChange(c, u, "A session of "+u.Email+" was ended; that browser is signed out.")
}

// revokeUserSessions ends every session of a user, audited as user.update.
func (s *Server) revokeUserSessions(c echo.Context) error {
	u, err := s.lookupUser(c)
	if err != nil {
		return err
	}
	p := fleet.Params{"user_id": u.ID, "email": u.Email, "end_sessions": "all"}
	var n int64
	err = s.audit.Do(c.Request().Context(), s.actor(c), fleet.ActUserUpdate, "", p, func(ctx context.Context, p fleet.Params) error {
		var err error
		n, err = s.store.RevokeUserWebSessions(ctx, u.ID, db.RevokedAdmin, s.now())
		p["sessions_ended"] = n
		return err
	})
	if err != nil {
		return err
	}
	return s.afterUserChange(c, u, fmt.Sprintf("%s: %s ended.", u.Email, views.Plural(int(n), "session", "sessions")))
}

// userRowFor builds one user's row with their open sessions.
func (s *Server) userRowFor(c echo.Context, u db.User) (views.UserRow, error) {
	sessions, err := s.openSessions(c, u.ID)
	if err != nil {
		return views.UserRow{}, err
	}
	return userRow(u, currentUser(c), sessions[u.ID]), nil
}

func (s *Server) afterUserChange(c echo.Context, u db.User, msg string) error {
	if isHTMX(c) {
		row, err := s.userRowFor(c, u)
		if err != nil {
			return err
		}
		p := s.page(c, "Users", views.NavUsers)
		f := views.Flash{Kind: views.FlashSuccess, Text: msg}
		p.Flashes = append(p.Flashes, f)
		row.Outcome = &f
		return render(c, http.StatusOK, views.UserRowFragment(p, row, fleet.Roles))
	}
	s.addFlash(c, views.FlashSuccess, msg)
	return redirect(c, "/users")
}
