package views

import (
	"hash/fnv"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Issue 9: the fleet list's sorting, column chooser, saved views, time-left
// display and selection.

// FleetSortColumn is a sortable column of the fleet list.
type FleetSortColumn struct {
	Key   string // the sort= value
	Label string
	// DefaultDir is the first direction a click on the header asks for.
	DefaultDir string
}

// FleetSortColumns are the fleet list's sortable columns.
var FleetSortColumns = []FleetSortColumn{
	{"name", "Name", "asc"},
	{"status", "Status", "asc"},
	{"user", "User", "asc"},
	{"region", "Region", "asc"},
	{"type", "Type", "asc"},
	{"time_left", "Time left", "asc"},
	{"last_session", "Last session", "desc"},
}

// FleetSortColumnFor returns the sortable column with key, and whether
// there is one.
func FleetSortColumnFor(key string) (FleetSortColumn, bool) {
	for _, c := range FleetSortColumns {
		if c.Key == key {
			return c, true
		}
	}
	return FleetSortColumn{}, false
}

// FleetColumn is a column the user may show or hide (the column chooser).
// By default it shows on wide screens and folds at 1024 px and below.
type FleetColumn struct {
	Key   string // CSS: col-<key>, col-show-<key>, col-hide-<key>
	Label string
}

// FleetOptionalColumns are the columns of the chooser.
var FleetOptionalColumns = []FleetColumn{
	{"type", "Type"}, {"autostop", "Auto-stop"}, {"task", "Task"}, {"image", "Image"}, {"last", "Last session"},
}

// sortURL is the list sorted by key: the other direction when it is the
// current sort, the column's default otherwise; back to page 1.
func sortURL(q MachineQuery, key string) string {
	col, _ := FleetSortColumnFor(key)
	dir := col.DefaultDir
	if q.Sort == key {
		dir = "asc"
		if q.Dir == "asc" {
			dir = "desc"
		}
	}
	q.Sort, q.Dir, q.Page = key, dir, 1
	return q.URL()
}

// ariaSort is the header's aria-sort value ("" when not sorted by it).
func ariaSort(q MachineQuery, key string) string {
	if q.Sort != key {
		return ""
	}
	if q.Dir == "desc" {
		return "descending"
	}
	return "ascending"
}

func sortLabel(key string) string {
	c, _ := FleetSortColumnFor(key)
	return c.Label
}

// timeLeftValue is the time-left filter as the user reads it: the URL
// keeps minutes ("4670"), the field shows "77 h 50 min". Text that is not
// a number (an invalid entry) is shown as typed.
func timeLeftValue(q MachineQuery) string {
	n, err := strconv.ParseInt(q.TimeLeft, 10, 64)
	if err != nil {
		return q.TimeLeft
	}
	return FormatMinutes(n)
}

// SaveQuery is the query string a saved view keeps: the filter, page size
// and sort, without the page.
func (q MachineQuery) SaveQuery() string { return q.values().Encode() }

// Sorted reports whether the list is sorted by a column.
func (q MachineQuery) Sorted() bool { return q.Sort != "" }

// resettable reports whether the Reset link has something to reset.
func (q MachineQuery) resettable() bool { return q.Filtered() || q.Sorted() }

// SavedViewRow is one of the user's saved views.
type SavedViewRow struct {
	ID    int64
	Name  string
	Query string // canonical, without "?"
	// Current marks the view matching the list on screen.
	Current   bool
	CreatedAt time.Time
}

// URL is the view's link (shareable).
func (r SavedViewRow) URL() string {
	if r.Query == "" {
		return "/machines"
	}
	return "/machines?" + r.Query
}

func (r SavedViewRow) deleteURL() string {
	return "/machines/views/" + strconv.FormatInt(r.ID, 10) + "/delete"
}

// SavedViewForm is the save-view form's state.
type SavedViewForm struct {
	Name  string
	Error string
	// Saved names the view just saved (a status message).
	Saved string
	// LoadError says the views could not be read.
	LoadError string
}

// SavedViewsView is the saved-views section alone (the htmx answer of
// saving or deleting a view).
type SavedViewsView struct {
	Query MachineQuery
	Views []SavedViewRow
	Form  SavedViewForm
}

func (v FleetView) savedViews() SavedViewsView {
	return SavedViewsView{Query: v.Query, Views: v.Views, Form: v.ViewForm}
}

// selectionKey names the user's bulk selection in sessionStorage, so two
// accounts in one browser never share ticks.
func selectionKey(p Page) string {
	if p.User == nil {
		return "fleet-selection"
	}
	return "fleet-selection:" + url.QueryEscape(strings.ToLower(p.User.Email))
}

func fleetFieldErr(errs map[string]string, name string) string {
	if errs == nil {
		return ""
	}
	return errs[name]
}

// queryHidden is the list's query (filter, page size, sort) as hidden
// fields, in key order.
func queryHidden(q MachineQuery) []HiddenField {
	v := q.values()
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]HiddenField, 0, len(keys))
	for _, k := range keys {
		out = append(out, HiddenField{Name: k, Value: v.Get(k)})
	}
	return out
}

func matchingLabel(count int) string {
	if count <= 0 {
		return "All machines matching the filter (every page)"
	}
	return "All " + plural(count, "machine", "machines") + " matching the filter (every page)"
}

// rowRev is a short digest of what a fleet row shows: the quiet refresh
// replaces a row only when it changed, so ticks and focus stay put.
func rowRev(m FleetRow) string {
	// The bytes of "%s|%s|…" over the fields, appended without fmt (this
	// runs for every row of every fleet page).
	b := make([]byte, 0, 256)
	for _, f := range []string{m.ID, m.Name, m.Status, m.UserName, m.UserEmail, m.Region, m.MachineType} {
		b = append(append(b, f...), '|')
	}
	b = append(strconv.AppendInt(b, m.RemainingMinutes, 10), '|')
	if m.LastSessionAt != nil {
		b = m.LastSessionAt.UTC().AppendFormat(b, time.RFC3339Nano)
	}
	b = append(strconv.AppendBool(append(b, '|'), m.Selectable), '|')
	b = append(strconv.AppendInt(b, int64(m.AutoStopSeconds), 10), '|')
	b = append(append(append(b, m.TaskUID...), '|'), m.ImageStatus...)
	h := fnv.New64a()
	_, _ = h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}
