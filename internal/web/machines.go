package web

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// perPageChoices are the page sizes the list offers.
var perPageChoices = []int{10, 20, 50, 100}

// parseMachineQuery reads the fleet filters from the URL. Each bad value is
// reported by its parameter name; the view keeps the raw text.
func parseMachineQuery(q url.Values) (vagon.ListMachinesOptions, views.MachineQuery, map[string]string) {
	mq := views.MachineQuery{
		Q: truncate(strings.TrimSpace(q.Get("q")), 200), Status: truncate(q.Get("status"), 50),
		Assigned: q.Get("assigned"), TimeLeft: truncate(q.Get("time_left"), 12),
		HasSessionData: q.Get("has_session_data"), PerPage: q.Get("per_page"), Page: 1,
	}
	o := vagon.ListMachinesOptions{Q: mq.Q, Status: mq.Status, Page: 1, PerPage: 20}
	errs := map[string]string{}
	boolParam := func(name, v string) *bool {
		switch v {
		case "":
			return nil
		case "true", "false":
			b := v == "true"
			return &b
		}
		errs[name] = "must be true or false"
		return nil
	}
	o.Assigned = boolParam("assigned", mq.Assigned)
	o.HasSessionData = boolParam("has_session_data", mq.HasSessionData)
	if mq.TimeLeft != "" {
		n, err := parseTimeLeft(mq.TimeLeft)
		if err != nil {
			errs["time_left"] = err.Error()
		} else {
			o.TimeLeft = &n
			mq.TimeLeft = strconv.Itoa(n) // the URL keeps minutes
		}
	}
	if k, msg := parseFleetSort(q, &mq); msg != "" {
		errs[k] = msg
	}
	if p := q.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100_000 {
			errs["page"] = "must be a page number"
		} else {
			o.Page, mq.Page = n, n
		}
	}
	if mq.PerPage != "" {
		n, err := strconv.Atoi(mq.PerPage)
		ok := false
		for _, c := range perPageChoices {
			ok = ok || c == n
		}
		if err != nil || !ok {
			errs["per_page"] = "must be one of 10, 20, 50, 100"
		} else {
			o.PerPage = n
		}
	}
	return o, mq, errs
}

func (s *Server) listMachines(c echo.Context) error {
	q := c.QueryParams()
	_, mq, errs := parseMachineQuery(q)
	// A plain GET with empty or unnormalized parameters (the filter form
	// sends every field, time left as typed) moves to the canonical URL.
	if len(errs) == 0 && c.Request().Header.Get("HX-Request") != "true" && !sameQuery(q, mq.URL()) {
		return c.Redirect(http.StatusSeeOther, mq.URL())
	}
	return s.renderFleet(c, q, views.SavedViewForm{}, http.StatusOK)
}

// prefetchFleet starts the machine-list call GET /machines will make, so it
// runs while the user is looked up; the handler's own call joins it (the
// service coalesces identical calls in flight) or finds it cached.
func (s *Server) prefetchFleet(c echo.Context) {
	q := c.QueryParams()
	o, mq, errs := parseMachineQuery(q)
	if len(errs) > 0 || (c.Request().Header.Get("HX-Request") != "true" && !sameQuery(q, mq.URL())) {
		return // refused, or redirected to the canonical URL: no call
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), apiTimeout)
	go func() {
		defer cancel()
		_, _ = s.fleetPage(ctx, o, mq)
	}()
}

// renderFleet renders the fleet list for query q: the whole page, or for
// htmx the results with the parts outside them that follow the query (out
// of band), the canonical URL in HX-Push-Url.
func (s *Server) renderFleet(c echo.Context, q url.Values, form views.SavedViewForm, status int) error {
	o, mq, errs := parseMachineQuery(q)
	var (
		src       *vagon.MachineList
		machines  []vagon.Machine
		savedDone chan struct{}
		saved     []views.SavedViewRow
		savedErr  string
	)
	v := views.FleetView{MachinesView: views.MachinesView{Query: mq}, Errors: errs, ViewForm: form}
	v.CanCreate = s.allowed(c, http.MethodPost, "/machines")
	v.CanBulk = s.allowed(c, http.MethodPost, "/bulk")
	v.BulkActions, v.Permissions, v.AutoStopOptions = fleetBulkChoices()
	if len(errs) > 0 {
		var parts []string
		for k, m := range errs {
			parts = append(parts, k+" "+m)
		}
		sort.Strings(parts)
		v.Error = "This filter is not valid: " + strings.Join(parts, "; ") + "."
		status = http.StatusBadRequest
	} else {
		if !isHTMX(c) {
			// The saved views (a full page only) are read alongside.
			savedDone = make(chan struct{})
			go func() {
				defer close(savedDone)
				saved, savedErr = s.savedViewRows(c)
			}()
			defer func() { <-savedDone }() // on every way out: c is not ours after
		}
		ctx, cancel := withTimeout(c, apiTimeout)
		defer cancel()
		pg, err := s.fleetPage(ctx, o, mq)
		if err != nil {
			v.Error = fleet.ExplainAPIError(err)
			status = http.StatusBadGateway
			switch {
			case errors.Is(err, fleet.ErrTooManyToList):
				v.Error = fmt.Sprintf("Sorting reads every machine of the filter, and it matches more than %d. Narrow the filter, or reset the sort.", fleet.MaxAllMachines)
				status = http.StatusUnprocessableEntity
			case vagon.IsBadRequest(err):
				status = http.StatusBadRequest // a filter value the API refused
			}
		} else {
			src, machines = pg.src, pg.machines
			v.Count = pg.count
			if o.Page > 1 {
				prev := mq
				prev.Page = o.Page - 1
				v.PrevURL = prev.URL()
			}
			if pg.next > o.Page {
				next := mq
				next.Page = pg.next
				v.NextURL = next.URL()
			}
		}
	}
	p := s.page(c, "Machines", views.NavMachines)
	// The rows are built only to be rendered: not at all when the
	// fragment of a cached list is at hand (only FleetResults reads them).
	withRows := func() templ.Component {
		v.Machines = make([]views.FleetRow, 0, len(machines))
		v.RowHTML = make([]templ.Component, 0, len(machines))
		for _, m := range machines {
			r := fleetRow(m, 0)
			r.Selectable = v.CanBulk
			v.Machines = append(v.Machines, r)
			v.RowHTML = append(v.RowHTML, s.fleetRows.get(c.Request().Context(), r))
		}
		return views.FleetResults(p, v)
	}
	var results templ.Component
	if src != nil {
		// The rows of a cached list: rendered and compressed once.
		d, err := s.fleetFrags.get(c.Request().Context(), newFleetFragKey(src, mq.URL(), v.CanBulk), withRows)
		if err != nil {
			return err
		}
		results = fragment(d)
		v.Results = results
	} else {
		results = withRows()
	}
	if isHTMX(c) {
		c.Response().Header().Set("HX-Push-Url", mq.URL())
		return render(c, status, templ.Join(results, views.FleetOOB(p, v)))
	}
	if savedDone != nil {
		<-savedDone
		v.Views, v.ViewForm.LoadError = saved, savedErr
	} else {
		v.Views, v.ViewForm.LoadError = s.savedViewRows(c)
	}
	return render(c, status, views.FleetPage(p, v))
}

// rowKey is everything a fleet row's rendering is made of: the row with its
// time as a value (a struct of comparable fields, so a field added to the
// row is part of the key by itself).
type rowKey struct {
	row     views.FleetRow
	last    int64
	hasLast bool
}

// rowCache keeps rendered fleet rows by content: a machine whose row did
// not change renders to the same text in every list it appears in, and a
// list fetched again (a cache miss) mostly holds such rows.
type rowCache struct {
	mu sync.Mutex
	m  map[rowKey]templ.Component
}

// maxRows bounds a rowCache; past it, it starts afresh.
const maxRows = 20_000

// get is r's rendering: kept, or rendered now (a render error leaves the
// row to FleetRowView, whose error the page's render then reports).
func (rc *rowCache) get(ctx context.Context, r views.FleetRow) templ.Component {
	k := rowKey{row: r}
	if r.LastSessionAt != nil {
		k.last, k.hasLast = r.LastSessionAt.UnixNano(), true
		k.row.LastSessionAt = nil
	}
	rc.mu.Lock()
	comp, ok := rc.m[k]
	rc.mu.Unlock()
	if ok {
		return comp
	}
	var b strings.Builder
	if err := views.FleetRowView(r).Render(ctx, &b); err != nil {
		return nil
	}
	comp = templ.Raw(b.String())
	rc.mu.Lock()
	if rc.m == nil || len(rc.m) >= maxRows {
		rc.m = make(map[rowKey]templ.Component)
	}
	rc.m[k] = comp
	rc.mu.Unlock()
	return comp
}

// fleetFragKey names a rendering of the fleet results: the cached list it
// was cut from, the canonical query (filters, sort, page) and whether rows
// are selectable. The list is named by a weak pointer: equal for the same
// list, never for another, and not keeping it (thousands of machines)
// alive once the fleet cache let it go.
type fleetFragKey struct {
	src   weak.Pointer[vagon.MachineList]
	query string
	bulk  bool
}

func newFleetFragKey(src *vagon.MachineList, query string, bulk bool) fleetFragKey {
	return fleetFragKey{src: weak.Make(src), query: query, bulk: bulk}
}

// newFleetFragCache is the fleet results' fragment cache: a fragment goes
// as soon as the list it was cut from is collected, its bytes with it.
func newFleetFragCache() *fragmentCache[fleetFragKey] {
	var fc *fragmentCache[fleetFragKey]
	fc = newFragmentCache(maxFragmentBytes, func(k fleetFragKey) {
		if src := k.src.Value(); src != nil {
			runtime.AddCleanup(src, fc.drop, k)
		}
	})
	return fc
}

func machineRow(m vagon.Machine) views.MachineRow {
	a := m.Attributes
	r := views.MachineRow{ID: string(m.ID), Name: a.Name, Status: string(a.FriendlyStatus), Region: a.Region,
		MachineType: a.MachineType, RemainingMinutes: a.RemainingUsage, LastSessionAt: a.LastSessionStartAt}
	if a.User != nil {
		r.UserName, r.UserEmail = a.User.Attributes.Name, a.User.Attributes.Email
	}
	return r
}

// fleetRow maps a machine to a fleet-list row; poll counts the refreshes
// of a row in transition.
func fleetRow(m vagon.Machine, poll int) views.FleetRow {
	a := m.Attributes
	r := views.FleetRow{MachineRow: machineRow(m), AutoStopSeconds: a.AutoStopThreshold, AutoStop: fleet.AutoStopLabel(a.AutoStopThreshold), Poll: poll}
	if a.Task != nil {
		r.TaskUID = a.Task.UID
	}
	if a.LatestImageStatus != nil {
		r.ImageStatus = *a.LatestImageStatus
	}
	return r
}

// maxCSVMachines bounds a CSV export.
const maxCSVMachines = 100_000

// exportMachines is GET /machines.csv: the current filter, every page.
func (s *Server) exportMachines(c echo.Context) error {
	o, _, errs := parseMachineQuery(c.QueryParams())
	if len(errs) > 0 {
		var parts []string
		for k, m := range errs {
			parts = append(parts, k+" "+m)
		}
		return echo.NewHTTPError(http.StatusBadRequest, "This filter is not valid: "+strings.Join(parts, "; ")+".")
	}
	o.Page, o.PerPage = 1, 100
	ctx, cancel := withTimeout(c, 2*apiTimeout)
	defer cancel()
	var all []vagon.Machine
	for m, err := range s.api.Machines(ctx, &o) {
		if err != nil {
			return s.pageError(c, &apiFailure{err})
		}
		if all = append(all, m); len(all) >= maxCSVMachines {
			break
		}
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="machines-%s.csv"`, s.now().UTC().Format("20060102-150405")))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"id", "name", "status", "user_name", "user_email", "region", "machine_type", "remaining_minutes", "auto_stop_seconds", "task_uid", "image_status", "last_session_start_at"})
	for _, m := range all {
		r := fleetRow(m, 0)
		last := ""
		if r.LastSessionAt != nil {
			last = r.LastSessionAt.UTC().Format(time.RFC3339)
		}
		rec := []string{r.ID, r.Name, r.Status, r.UserName, r.UserEmail, r.Region, r.MachineType,
			strconv.FormatInt(r.RemainingMinutes, 10), strconv.Itoa(r.AutoStopSeconds), r.TaskUID, r.ImageStatus, last}
		for i := range rec {
			rec[i] = csvSafe(rec[i])
		}
		if err := w.Write(rec); err != nil {
			return nil
		}
	}
	w.Flush()
	return nil
}

// fleetBulkChoices are the bulk form's choices, made once (read only).
func fleetBulkChoices() ([]views.Option, []views.BulkPermissionChoice, []views.Option) {
	c := bulkChoicesOnce()
	return c.actions, c.perms, c.autoStop
}

var bulkChoicesOnce = sync.OnceValue(func() (c struct {
	actions  []views.Option
	perms    []views.BulkPermissionChoice
	autoStop []views.Option
}) {
	c.actions, c.perms, c.autoStop = bulkActionOptions(), bulkPermissionChoices(), autoStopOptions()
	return c
})

// bulkActionOptions are the bulk form's actions, named by fleet.
func bulkActionOptions() []views.Option {
	out := make([]views.Option, 0, len(fleet.BulkActions))
	for _, a := range fleet.BulkActions {
		out = append(out, views.Option{Value: a, Label: fleet.BulkActionLabel(a)})
	}
	return out
}

// bulkPermissionChoices are the bulk form's permissions: fleet's keys and
// labels.
func bulkPermissionChoices() []views.BulkPermissionChoice {
	out := make([]views.BulkPermissionChoice, 0, len(fleet.Permissions))
	for _, pm := range fleet.Permissions {
		out = append(out, views.BulkPermissionChoice{Key: pm.Key, Label: pm.Label})
	}
	return out
}

// autoStopOptions are the auto-stop thresholds the API accepts, named by
// fleet.AutoStopLabel (the settings form and the bulk form).
func autoStopOptions() []views.Option {
	out := make([]views.Option, 0, len(vagon.AutoStopThresholds))
	for _, n := range vagon.AutoStopThresholds {
		out = append(out, views.Option{Value: strconv.Itoa(n), Label: fleet.AutoStopLabel(n)})
	}
	return out
}
