package web

// Issue 9: the fleet list's time-left input in hours and minutes, sorting
// (server-side: the API cannot sort), canonical URLs, and saved views.

import (
	"cmp"
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// maxTimeLeftMinutes bounds the time-left filter (about 19 years).
const maxTimeLeftMinutes = 10_000_000

var (
	timeLeftToken = regexp.MustCompile(`^(\d+(?:[.,]\d+)?)\s*(hours|hour|hrs|hr|h|minutes|minute|mins|min|m)?\s*`)
	errTimeLeft   = errors.New(`must be a duration such as "2 h", "90 min" or "77 h 50 min"`)
)

// parseTimeLeft reads the time-left filter as the list shows it: "77 h 50
// min", "77h 50m", "1.5 h", "90 min", "2 h"; a bare number is minutes (the
// URL's unit, as before). It returns minutes, the API's unit.
func parseTimeLeft(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return 0, errTimeLeft
	}
	var total float64
	sawHours, sawMinutes := false, false
	for s != "" {
		m := timeLeftToken.FindStringSubmatch(s)
		if m == nil {
			return 0, errTimeLeft
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", "."), 64)
		if err != nil {
			return 0, errTimeLeft
		}
		if strings.HasPrefix(m[2], "h") {
			if sawHours || sawMinutes {
				return 0, errTimeLeft
			}
			total += n * 60
			sawHours = true
		} else {
			if sawMinutes {
				return 0, errTimeLeft
			}
			total += n
			sawMinutes = true
		}
		s = s[len(m[0]):]
	}
	if total > maxTimeLeftMinutes {
		return 0, errors.New("is too long (at most 10,000,000 minutes)")
	}
	return int(math.Round(total)), nil
}

// parseFleetSort reads sort= and dir= into mq. It returns the bad
// parameter's name and message, or "", "".
func parseFleetSort(q url.Values, mq *views.MachineQuery) (string, string) {
	key, dir := q.Get("sort"), q.Get("dir")
	if key == "" {
		return "", "" // dir alone means nothing
	}
	col, ok := views.FleetSortColumnFor(key)
	if !ok {
		names := make([]string, 0, len(views.FleetSortColumns))
		for _, c := range views.FleetSortColumns {
			names = append(names, c.Key)
		}
		return "sort", "must be one of " + strings.Join(names, ", ")
	}
	switch dir {
	case "":
		dir = col.DefaultDir
	case "asc", "desc":
	default:
		return "dir", "must be asc or desc"
	}
	mq.Sort, mq.Dir = key, dir
	return "", ""
}

// sameQuery reports whether q holds exactly the parameters of the URL
// canonical (order aside).
func sameQuery(q url.Values, canonical string) bool {
	want := url.Values{}
	if _, raw, ok := strings.Cut(canonical, "?"); ok {
		want, _ = url.ParseQuery(raw)
	}
	if len(q) != len(want) {
		return false
	}
	for k, vs := range q {
		if !slices.Equal(vs, want[k]) {
			return false
		}
	}
	return true
}

// fleetPageResult is one page of the list and what paging needs.
type fleetPageResult struct {
	machines []vagon.Machine
	count    int
	next     int // the next page, 0 at the end
	// src is the cached list the page was cut from (shared, read only):
	// the same src, query and flags render the same rows.
	src *vagon.MachineList
}

// fleetPage reads one page of the list. Unsorted, it is the API's page.
// Sorted, the API cannot do it: every machine of the filter is read
// through the service's cache, sorted here, and then paged.
func (s *Server) fleetPage(ctx context.Context, o vagon.ListMachinesOptions, mq views.MachineQuery) (fleetPageResult, error) {
	if mq.Sort == "" {
		l, err := s.fleet.ListMachines(ctx, o)
		if err != nil {
			return fleetPageResult{}, err
		}
		r := fleetPageResult{machines: l.Machines, count: l.Count, src: l}
		if l.NextPage != nil {
			r.next = *l.NextPage
		}
		return r, nil
	}
	all, err := s.fleet.ListAllMachines(ctx, o)
	if err != nil {
		return fleetPageResult{}, err
	}
	ms := slices.Clone(all.Machines) // the cached list is shared
	sortMachines(ms, mq.Sort, mq.Dir == "desc")
	per := max(o.PerPage, 1)
	start := min((max(o.Page, 1)-1)*per, len(ms))
	end := min(start+per, len(ms))
	r := fleetPageResult{machines: ms[start:end], count: len(ms), src: all}
	if end < len(ms) {
		r.next = max(o.Page, 1) + 1
	}
	return r, nil
}

// sortMachines sorts by a FleetSortColumns key. Missing values (no user,
// never used) go last in either direction; ties keep id order.
func sortMachines(ms []vagon.Machine, key string, desc bool) {
	text := func(m vagon.Machine) string {
		a := m.Attributes
		switch key {
		case "name":
			return strings.ToLower(a.Name)
		case "status":
			return strings.ToLower(views.StatusLabel(string(a.FriendlyStatus)))
		case "user":
			if a.User == nil {
				return ""
			}
			return strings.ToLower(a.User.Attributes.Name + "\x00" + a.User.Attributes.Email)
		case "region":
			return strings.ToLower(a.Region)
		case "type":
			return strings.ToLower(a.MachineType)
		}
		return ""
	}
	byID := func(a, b vagon.Machine) int {
		x, y := string(a.ID), string(b.ID)
		return cmp.Or(cmp.Compare(len(x), len(y)), cmp.Compare(x, y))
	}
	slices.SortStableFunc(ms, func(a, b vagon.Machine) int {
		var c int
		switch key {
		case "time_left":
			c = cmp.Compare(a.Attributes.RemainingUsage, b.Attributes.RemainingUsage)
		case "last_session":
			ta, tb := a.Attributes.LastSessionStartAt, b.Attributes.LastSessionStartAt
			switch {
			case ta == nil && tb == nil:
			case ta == nil:
				return 1
			case tb == nil:
				return -1
			default:
				c = ta.Compare(*tb)
			}
		default:
			x, y := text(a), text(b)
			switch {
			case x == y:
			case x == "":
				return 1
			case y == "":
				return -1
			default:
				c = cmp.Compare(x, y)
			}
		}
		if desc {
			c = -c
		}
		return cmp.Or(c, byID(a, b))
	})
}

// savedViewRows reads the signed-in user's saved views; the second value
// is a message for the page when they could not be read.
func (s *Server) savedViewRows(c echo.Context) ([]views.SavedViewRow, string) {
	u := currentUser(c)
	if u == nil {
		return nil, ""
	}
	list, err := s.store.SavedViews(c.Request().Context(), u.ID)
	if err != nil {
		s.log.Warn("saved views", "err", err.Error(), "request_id", requestID(c))
		return nil, "Your saved views could not be loaded. Reload the page to try again."
	}
	rows := make([]views.SavedViewRow, 0, len(list))
	for _, v := range list {
		rows = append(rows, views.SavedViewRow{ID: v.ID, Name: v.Name, Query: v.Query, CreatedAt: v.CreatedAt})
	}
	return rows, ""
}

// maxViewName is the longest view name, in characters.
const maxViewName = 80

// saveView is POST /machines/views (field name, and the list's query
// fields): keep the list on screen as a named view.
func (s *Server) saveView(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	_, mq, errs := parseMachineQuery(form)
	mq.Page = 1
	name := strings.TrimSpace(form.Get("name"))
	vf := views.SavedViewForm{Name: truncate(name, 4*maxViewName)}
	switch {
	case len(errs) > 0:
		vf.Error = "The list's filter is not valid, so it can't be saved. Fix the filter first."
	case name == "":
		vf.Error = "Give the view a name."
	case utf8.RuneCountInString(name) > maxViewName:
		vf.Error = "Use at most 80 characters for the name."
	}
	if vf.Error == "" {
		_, err := s.store.CreateSavedView(c.Request().Context(), currentUser(c).ID, name, mq.SaveQuery())
		switch {
		case errors.Is(err, db.ErrViewNameTaken):
			vf.Error = "You already have a view named “" + name + "”. Choose another name, or delete that one first."
		case errors.Is(err, db.ErrTooManyViews):
			vf.Error = "You keep " + strconv.Itoa(db.MaxSavedViews) + " views, the most there can be. Delete one first."
		case err != nil:
			return err
		default:
			vf = views.SavedViewForm{Saved: name}
		}
	}
	status := http.StatusOK
	if vf.Error != "" {
		status = http.StatusUnprocessableEntity
	}
	if isHTMX(c) {
		return s.renderSavedViews(c, status, mq, vf)
	}
	if vf.Error != "" {
		return s.renderFleet(c, queryOf(mq), vf, status)
	}
	s.addFlash(c, views.FlashSuccess, "Saved the view “"+name+"”.")
	return c.Redirect(http.StatusSeeOther, mq.URL())
}

// deleteView is POST /machines/views/:vid/delete: drop one of the user's
// views (someone else's is not found).
func (s *Server) deleteView(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("vid"), 10, 64)
	if err != nil || id < 1 {
		return echo.ErrNotFound
	}
	err = s.store.DeleteSavedView(c.Request().Context(), currentUser(c).ID, id)
	if errors.Is(err, db.ErrNotFound) {
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	form, _ := c.FormParams()
	_, mq, errs := parseMachineQuery(form)
	if len(errs) > 0 {
		mq = views.MachineQuery{Page: 1}
	}
	if isHTMX(c) {
		return s.renderSavedViews(c, http.StatusOK, mq, views.SavedViewForm{})
	}
	s.addFlash(c, views.FlashSuccess, "The view was deleted.")
	return c.Redirect(http.StatusSeeOther, mq.URL())
}

func (s *Server) renderSavedViews(c echo.Context, status int, mq views.MachineQuery, vf views.SavedViewForm) error {
	rows, loadErr := s.savedViewRows(c)
	if vf.LoadError == "" {
		vf.LoadError = loadErr
	}
	p := s.page(c, "Machines", views.NavMachines)
	return render(c, status, views.SavedViews(p, views.SavedViewsView{Query: mq, Views: rows, Form: vf}))
}

// queryOf is mq's canonical parameters.
func queryOf(mq views.MachineQuery) url.Values {
	if _, raw, ok := strings.Cut(mq.URL(), "?"); ok {
		v, _ := url.ParseQuery(raw)
		return v
	}
	return url.Values{}
}
