package web

// Issue 9 §12: the account page's time zone, stored per user and handed to
// the layout for app.js's time enhancer.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

func TestValidTimeZone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tz   string
		want bool
	}{
		{"", true},
		{"UTC", true},
		{"Europe/Berlin", true},
		{"America/Sao_Paulo", true},
		{"Local", false},
		{"Mars/Olympus_Mons", false},
		{"Europe/Berlin ", false},
		{"../../etc/passwd", false},
		{strings.Repeat("A", 65), false},
	} {
		if got := validTimeZone(tc.tz); got != tc.want {
			t.Errorf("validTimeZone(%q) = %v, want %v", tc.tz, got, tc.want)
		}
	}
}

func TestAccount_timeZone(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	for _, role := range fleet.Roles {
		email := "tz-" + role + "@example.com"
		c := app.Login(t, email, app.CreateUser(t, email, role))
		resp, doc := c.Get(t, "/account")
		if resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="account-form"]`).Length() != 1 {
			t.Fatalf("%s: GET /account status %d", role, resp.StatusCode)
		}
		if got := doc.Find("body").AttrOr("data-time-zone", "x"); got != "" {
			t.Errorf("%s: body data-time-zone %q before choosing", role, got)
		}
		resp, _ = c.PostForm(t, "/account", url.Values{"time_zone": {"Europe/Berlin"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: POST status %d", role, resp.StatusCode)
		}
		u, err := app.Store.UserByEmail(context.Background(), email)
		if err != nil || u.TimeZone != "Europe/Berlin" {
			t.Errorf("%s: stored %q (%v)", role, u.TimeZone, err)
		}
		_, doc = c.Get(t, "/machines")
		if got := doc.Find("body").AttrOr("data-time-zone", ""); got != "Europe/Berlin" {
			t.Errorf("%s: body data-time-zone %q on another page", role, got)
		}
		if doc.Find(`a[href="/account"]`).Length() == 0 {
			t.Errorf("%s: no link to /account", role)
		}
		for _, bad := range []string{"Mars/Olympus_Mons", "Local"} {
			resp, doc = c.PostForm(t, "/account", url.Values{"time_zone": {bad}})
			if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="time_zone-error"]`).Length() != 1 {
				t.Errorf("%s: %q: status %d", role, bad, resp.StatusCode)
			}
		}
		if u, _ := app.Store.UserByEmail(context.Background(), email); u.TimeZone != "Europe/Berlin" {
			t.Errorf("%s: a refused zone changed the stored one to %q", role, u.TimeZone)
		}
		if resp, _ := c.PostForm(t, "/account", url.Values{"time_zone": {""}}); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: clearing: status %d", role, resp.StatusCode)
		}
		if u, _ := app.Store.UserByEmail(context.Background(), email); u.TimeZone != "" {
			t.Errorf("%s: cleared zone is %q", role, u.TimeZone)
		}
	}
}
