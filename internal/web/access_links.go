package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// The access-link ledger (/access-links, /access-links.csv) and the
// lifetime caps by role (POST /access-links/caps). Helpdesk and up see the
// ledger (they issue links); the caps are admins'.

const (
	accessLinksPerPage = 50
	// accessLinksCSVMax bounds one export.
	accessLinksCSVMax = 100000
)

// accessLinksCSVColumns are the export's columns, in order (the contract).
var accessLinksCSVColumns = []string{"issued_at", "source", "issued_by", "machine_id", "machine_name", "note", "expires_at", "state", "fingerprint"}

// accessLinksFilter reads the filters from the URL; a bad value is said
// next to its field and does not filter.
func accessLinksFilter(c echo.Context) (views.AccessLinksFilter, fleet.AccessLinkQuery) {
	f := views.AccessLinksFilter{
		MachineID: truncate(strings.TrimSpace(c.QueryParam("machine_id")), 64),
		IssuedBy:  truncate(strings.TrimSpace(c.QueryParam("issued_by")), 254),
		Source:    c.QueryParam("source"), State: c.QueryParam("state"), Errors: map[string]string{},
	}
	q := fleet.AccessLinkQuery{MachineID: f.MachineID, IssuedBy: f.IssuedBy}
	if f.MachineID != "" && !fleet.ValidMachineID(f.MachineID) {
		f.Errors["machine_id"] = "A machine id is a number."
		q.MachineID = ""
	}
	switch f.Source {
	case "", db.AccessSourceDashboard, db.AccessSourceVagon:
		q.Source = f.Source
	default:
		f.Errors["source"] = "Choose Dashboard or Vagon."
	}
	switch f.State {
	case "", fleet.AccessStateActive, fleet.AccessStateExpired:
		q.State = f.State
	default:
		f.Errors["state"] = "Choose active or expired."
	}
	return f, q
}

// query is the filter's URL query, with page when above 1.
func accessLinksQuery(f views.AccessLinksFilter, page int) string {
	v := url.Values{}
	for k, x := range map[string]string{"machine_id": f.MachineID, "issued_by": f.IssuedBy, "source": f.Source, "state": f.State} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// listAccessLinks is GET /access-links.
func (s *Server) listAccessLinks(c echo.Context) error {
	return s.renderAccessLinks(c, http.StatusOK, nil, "")
}

func (s *Server) renderAccessLinks(c echo.Context, status int, caps []views.AccessCapField, capsErr string) error {
	f, q := accessLinksFilter(c)
	page, _ := strconv.Atoi(c.QueryParam("page"))
	page = max(page, 1)
	q.Limit, q.Offset = accessLinksPerPage, (page-1)*accessLinksPerPage
	ctx := c.Request().Context()
	rows, total, err := s.fleet.AccessLinks(ctx, q)
	if err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	canStop := s.allowed(c, http.MethodPost, "/machines/:id/stop")
	v := views.AccessLinksView{Filter: f, Total: total, CSVURL: "/access-links.csv" + accessLinksQuery(f, 0),
		CanCaps: s.allowed(c, http.MethodPost, "/access-links/caps"), CapsError: capsErr}
	for _, r := range rows {
		row := accessLinkRowView(r)
		row.CanStop = canStop && r.Active
		v.Rows = append(v.Rows, row)
	}
	pages := int((total + accessLinksPerPage - 1) / accessLinksPerPage)
	v.Pager.Info = fmt.Sprintf("Page %d of %d · %s", page, max(pages, 1), views.Plural(int(total), "link", "links"))
	if page > 1 {
		v.Pager.PrevURL = "/access-links" + accessLinksQuery(f, page-1)
		if v.Pager.PrevURL == "/access-links" {
			v.Pager.PrevURL += "?page=1"
		}
	}
	if page < pages {
		v.Pager.NextURL = "/access-links" + accessLinksQuery(f, page+1)
	}
	if v.CanCaps {
		if caps == nil {
			cur, err := s.fleet.AccessLinkCaps(ctx)
			if err != nil {
				return fmt.Errorf("%w: %v", errDBUnavailable, err)
			}
			for _, role := range fleet.CapRoles {
				val := ""
				if m, ok := cur[role]; ok {
					val = strconv.Itoa(m)
				}
				caps = append(caps, views.AccessCapField{Role: role, Value: val})
			}
		}
		v.Caps = caps
	}
	return render(c, status, views.AccessLinksPage(s.page(c, "Access links", views.NavMachines), v))
}

func accessLinkRowView(r db.AccessLinkRow) views.AccessLinkRowView {
	v := views.AccessLinkRowView{IssuedAt: r.IssuedAt, Source: r.Source, IssuedBy: r.IssuedBy, MachineID: r.MachineID,
		MachineName: r.MachineName, Note: r.Note, ExpiresAt: r.ExpiresAt, ExpiryKnown: r.ExpiryKnown,
		State: fleet.AccessLinkState(r), Fingerprint: r.Fingerprint}
	if r.ExpiresIn != nil {
		v.Minutes = *r.ExpiresIn
	}
	return v
}

// exportAccessLinks is GET /access-links.csv: the ledger with the page's
// filters, every row (up to accessLinksCSVMax), times in UTC; an unknown
// expiry is blank. Never a link: fingerprints only.
func (s *Server) exportAccessLinks(c echo.Context) error {
	_, q := accessLinksFilter(c)
	q.Limit = accessLinksCSVMax
	rows, _, err := s.fleet.AccessLinks(c.Request().Context(), q)
	if err != nil {
		return fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	w := s.csvHeaders(c, "access-links")
	_ = w.Write(slices.Clone(accessLinksCSVColumns))
	for _, r := range rows {
		exp := ""
		if r.ExpiryKnown {
			exp = r.ExpiresAt.UTC().Format(time.RFC3339)
		}
		writeSafe(w, []string{r.IssuedAt.UTC().Format(time.RFC3339), r.Source, r.IssuedBy, r.MachineID, r.MachineName,
			r.Note, exp, fleet.AccessLinkState(r), r.Fingerprint})
	}
	w.Flush()
	return nil
}

// setAccessLinkCaps is POST /access-links/caps: cap_<role> in minutes,
// empty for no cap.
func (s *Server) setAccessLinkCaps(c echo.Context) error {
	caps := fleet.AccessLinkCaps{}
	var fields []views.AccessCapField
	var bad []string
	for _, role := range fleet.CapRoles {
		raw := truncate(strings.TrimSpace(c.FormValue("cap_"+role)), 12)
		fields = append(fields, views.AccessCapField{Role: role, Value: raw})
		if raw == "" {
			continue
		}
		m, err := strconv.Atoi(raw)
		if err != nil || m < 1 || m > fleet.MaxAccessLinkMinutes {
			bad = append(bad, role)
			continue
		}
		caps[role] = m
	}
	if len(bad) > 0 {
		return s.renderAccessLinks(c, http.StatusUnprocessableEntity, fields,
			"Each limit is 1 to 43,200 minutes (30 days), or empty for none (bad value for "+strings.Join(bad, ", ")+").")
	}
	if err := s.fleet.SetAccessLinkCaps(c.Request().Context(), s.actor(c), caps); err != nil {
		if errors.Is(err, fleet.ErrInvalidInput) {
			return s.renderAccessLinks(c, http.StatusUnprocessableEntity, fields, strings.TrimPrefix(err.Error(), fleet.ErrInvalidInput.Error()+": "))
		}
		return err
	}
	s.addFlash(c, views.FlashSuccess, "Access-link limits saved.")
	return c.Redirect(http.StatusSeeOther, "/access-links")
}
