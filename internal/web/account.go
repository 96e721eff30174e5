package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/views"
)

// maxTimeZoneLen bounds an IANA zone name (the longest is ~32 characters).
const maxTimeZoneLen = 64

// validTimeZone checks a zone name from the account form: "" (the
// browser's zone) or an IANA name this binary knows. "Local" names the
// server's zone, not a place, and is refused.
func validTimeZone(tz string) bool {
	if tz == "" {
		return true
	}
	if len(tz) > maxTimeZoneLen || tz == "Local" || strings.ContainsAny(tz, " \\") {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

// showAccount is GET /account: the signed-in user's preferences.
func (s *Server) showAccount(c echo.Context) error {
	u := currentUser(c)
	p := s.page(c, "Your account", "")
	return render(c, http.StatusOK, views.AccountPage(p, views.AccountView{Email: u.Email, Role: u.Role, TimeZone: u.TimeZone}))
}

// saveAccount is POST /account (time_zone): an IANA zone or "" for the
// browser's own.
func (s *Server) saveAccount(c echo.Context) error {
	u := currentUser(c)
	tz := strings.TrimSpace(c.FormValue("time_zone"))
	v := views.AccountView{Email: u.Email, Role: u.Role, TimeZone: tz}
	if !validTimeZone(tz) {
		if len(tz) > maxTimeZoneLen {
			v.TimeZone = ""
		}
		v.Errors = map[string]string{"time_zone": "Not a time zone this dashboard knows. Use an IANA name such as Europe/Berlin or America/New_York, or leave it empty for your browser's zone."}
		return render(c, http.StatusUnprocessableEntity, views.AccountPage(s.page(c, "Your account", ""), v))
	}
	if err := s.store.SetUserTimeZone(c.Request().Context(), u.ID, tz); err != nil {
		return err
	}
	msg := "Times are now shown in " + tz + "."
	if tz == "" {
		msg = "Times are now shown in your browser's time zone."
	}
	s.addFlash(c, views.FlashSuccess, msg)
	return redirect(c, "/account")
}
