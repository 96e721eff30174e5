package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

func TestParseTimeLeft(t *testing.T) {
	tests := []struct {
		in   string
		want int
		bad  bool
	}{
		{in: "120", want: 120}, // minutes, as the URL always had it
		{in: "0", want: 0},
		{in: "2 h", want: 120},
		{in: "2h", want: 120},
		{in: "90 min", want: 90},
		{in: "90m", want: 90},
		{in: "77 h 50 min", want: 4670}, // as the column shows it
		{in: "77h 50m", want: 4670},
		{in: "77h50", want: 4670},
		{in: "1.5 h", want: 90},
		{in: "1,5 hours", want: 90},
		{in: " 3 HOURS ", want: 180},
		{in: "", bad: true},
		{in: "-5", bad: true},
		{in: "h", bad: true},
		{in: "2 days", bad: true},
		{in: "30 min 2 h", bad: true},
		{in: "2 h 3 h", bad: true},
		{in: "10 min 5", bad: true},
		{in: "999999999 h", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTimeLeft(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("parseTimeLeft(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseTimeLeft(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func rowIDsOf(doc *goquery.Document) []string {
	var ids []string
	doc.Find(testID("machine-row")).Each(func(_ int, s *goquery.Selection) {
		ids = append(ids, s.AttrOr("data-machine-id", ""))
	})
	return ids
}

// TestMachinesList_timeLeftInHoursAndMinutes: the filter takes what the
// column shows, the URL keeps minutes, the field shows h/min back.
func TestMachinesList_timeLeftInHoursAndMinutes(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	c := f.clients[fleet.RoleViewer]
	// The form sends what was typed: a plain GET moves to minutes.
	resp, _ := c.Get(t, "/machines?q=&status=&assigned=&has_session_data=&time_left=2+h+30+min")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/machines?time_left=150" {
		t.Fatalf("status %d location %q, want 303 to /machines?time_left=150", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, doc := c.Get(t, "/machines?time_left=150")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := doc.Find(testID("machines-time-left")).AttrOr("value", ""); got != "2 h 30 min" {
		t.Errorf("time left field shows %q, want 2 h 30 min", got)
	}
	for _, id := range rowIDsOf(doc) {
		if m := f.machine(t, id); m.Attributes.RemainingUsage < 150 {
			t.Errorf("machine %s with %d min left passes a 150 min filter", id, m.Attributes.RemainingUsage)
		}
	}
	// A bad value is answered next to the field.
	resp, doc = c.Get(t, "/machines?time_left=soon")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad time left: status %d", resp.StatusCode)
	}
	if e := doc.Find(testID("machines-time-left-error")).Text(); !strings.Contains(e, `"2 h"`) {
		t.Errorf("field error %q", e)
	}
	if got := doc.Find(testID("machines-time-left")).AttrOr("value", ""); got != "soon" {
		t.Errorf("the field lost what was typed: %q", got)
	}
}

// TestMachinesList_canonicalURL: empty parameters are dropped by a redirect
// for plain GETs, and fragments carry the canonical URL to push plus the
// out-of-band parts that follow the query (Reset, CSV link, bulk filter).
func TestMachinesList_canonicalURL(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	c := f.clients[fleet.RoleOperator]
	resp, _ := c.Get(t, "/machines?q=a&status=&assigned=&time_left=&has_session_data=&page=1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/machines?q=a" {
		t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = c.Get(t, "/machines?q=a")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("canonical URL: status %d (a redirect loop?)", resp.StatusCode)
	}

	req, _ := http.NewRequest(http.MethodGet, c.base+"/machines?q=a&status=off&assigned=&time_left=1+h&has_session_data=", nil)
	req.Header.Set("HX-Request", "true")
	resp, doc := c.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fragment: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("HX-Push-Url"); got != "/machines?q=a&status=off&time_left=60" {
		t.Errorf("HX-Push-Url %q", got)
	}
	reset := doc.Find("#filter-reset")
	if reset.AttrOr("hx-swap-oob", "") != "true" || reset.Find(testID("machines-filter-reset")).Length() != 1 {
		t.Errorf("the fragment does not bring the Reset link back: %s", reset.Text())
	}
	if got := doc.Find("#machines-csv").AttrOr("href", ""); got != "/machines.csv?q=a&status=off&time_left=60" {
		t.Errorf("out-of-band CSV link %q", got)
	}
	bulk := doc.Find("#bulk-filter")
	if bulk.AttrOr("hx-swap-oob", "") != "true" || bulk.Find(`input[name="time_left"]`).AttrOr("value", "") != "60" {
		t.Errorf("out-of-band bulk filter: %v", bulk.Length())
	}
	// Without a filter the fragment's Reset is empty.
	req, _ = http.NewRequest(http.MethodGet, c.base+"/machines", nil)
	req.Header.Set("HX-Request", "true")
	_, doc = c.Do(t, req)
	if n := doc.Find("#filter-reset " + testID("machines-filter-reset")).Length(); n != 0 {
		t.Errorf("Reset shown with nothing to reset")
	}
}

// TestMachinesList_sortedAcrossPages: the API cannot sort, so the whole
// filtered list is sorted on the server and then paged; each page follows
// the previous one, and the whole list costs one walk of the API per TTL.
func TestMachinesList_sortedAcrossPages(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, withSim(func(o *vagonsim.Options) { o.Machines = 35 }))
	c := app.Login(t, "sorter@example.com", app.CreateUser(t, "sorter@example.com", fleet.RoleViewer))

	all := slices.Clone(app.Sim.MachineIDs())
	remaining := map[string]int64{}
	for _, id := range all {
		m, _ := app.Sim.Machine(id)
		remaining[id] = m.Attributes.RemainingUsage
	}
	var got []string
	app.Sim.ResetCounts()
	for page := 1; page <= 4; page++ {
		path := "/machines?dir=desc&per_page=10&sort=time_left"
		if page > 1 {
			path += "&page=" + strconv.Itoa(page)
		}
		resp, doc := c.Get(t, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: status %d", page, resp.StatusCode)
		}
		got = append(got, rowIDsOf(doc)...)
		th := doc.Find(testID("sort-time_left"))
		if th.AttrOr("aria-sort", "") != "descending" {
			t.Errorf("page %d: time left header aria-sort %q", page, th.AttrOr("aria-sort", ""))
		}
		// The header now sorts the other way.
		if href := th.Find("a").AttrOr("href", ""); !strings.Contains(href, "dir=asc") || !strings.Contains(href, "sort=time_left") {
			t.Errorf("header link %q", href)
		}
		next := doc.Find(`a`+testID("page-next")).AttrOr("href", "")
		if page < 4 && !strings.Contains(next, "sort=time_left") {
			t.Errorf("page %d: next link %q loses the sort", page, next)
		}
		if page == 4 && next != "" {
			t.Errorf("a next link after the last page: %q", next)
		}
	}
	if len(got) != 35 {
		t.Fatalf("4 pages listed %d machines, want 35: %v", len(got), got)
	}
	for i := 1; i < len(got); i++ {
		if remaining[got[i-1]] < remaining[got[i]] {
			t.Fatalf("not sorted by time left, descending, at %d: %s (%d) before %s (%d)", i, got[i-1], remaining[got[i-1]], got[i], remaining[got[i]])
		}
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("machine %s on two pages", id)
		}
		seen[id] = true
	}
	if n := app.Sim.Count("GET /machines"); n != 1 {
		t.Errorf("4 sorted pages cost %d API calls, want 1 (35 machines in one page of 100, then the cache)", n)
	}

	// By name, ascending, then a bad sort is answered as a filter error.
	_, doc := c.Get(t, "/machines?sort=name&dir=asc&per_page=100")
	var names []string
	doc.Find(testID("machine-name")).Each(func(_ int, s *goquery.Selection) { names = append(names, strings.ToLower(s.Text())) })
	if !slices.IsSorted(names) || len(names) != 35 {
		t.Errorf("names not sorted: %v", names)
	}
	resp, doc := c.Get(t, "/machines?sort=price")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find(testID("machines-error")).Text(), "sort must be one of") {
		t.Errorf("bad sort: status %d, %q", resp.StatusCode, doc.Find(testID("machines-error")).Text())
	}
}

func TestSortMachines_missingLast(t *testing.T) {
	named := func(id, user string) vagon.Machine {
		m := vagon.Machine{ID: vagon.ID(id)}
		if user != "" {
			m.Attributes.User = &vagon.User{}
			m.Attributes.User.Attributes.Name = user
		}
		return m
	}
	for _, desc := range []bool{false, true} {
		ms := []vagon.Machine{named("3", ""), named("2", "bea"), named("10", "ann"), named("1", "")}
		sortMachines(ms, "user", desc)
		var ids []string
		for _, m := range ms {
			ids = append(ids, string(m.ID))
		}
		want := []string{"10", "2", "1", "3"}
		if desc {
			want = []string{"2", "10", "1", "3"}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("desc=%v: %v, want %v (unassigned last, ties by id)", desc, ids, want)
		}
	}
}

// TestSavedViews_saveListDelete: a user keeps a named filter+sort, sees it
// as a link with its URL, names are checked, and only the owner deletes.
func TestSavedViews_saveListDelete(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	c := f.clients[fleet.RoleViewer]
	c.CSRFFrom(t, "/machines")
	form := url.Values{"name": {"Low on time"}, "q": {""}, "time_left": {"1 h"}, "sort": {"time_left"}, "dir": {"asc"}}

	resp, doc := c.PostHTMX(t, "/machines/views", form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("save: status %d: %s", resp.StatusCode, doc.Text())
	}
	link := doc.Find(testID("saved-view-link"))
	if link.Length() != 1 || link.Text() != "Low on time" || link.AttrOr("href", "") != "/machines?dir=asc&sort=time_left&time_left=60" {
		t.Fatalf("saved view link %q → %q", link.Text(), link.AttrOr("href", ""))
	}
	if !strings.Contains(doc.Find(testID("saved-view-status")).Text(), "Low on time") {
		t.Errorf("no saved status: %q", doc.Find(testID("saved-view-status")).Text())
	}
	// It is listed on the fleet page, marked current on its own URL.
	_, doc = c.Get(t, "/machines?dir=asc&sort=time_left&time_left=60")
	if l := doc.Find(testID("saved-view-link")); l.Length() != 1 || l.AttrOr("aria-current", "") != "true" {
		t.Errorf("on the fleet page: %d links, current %q", l.Length(), l.AttrOr("aria-current", ""))
	}

	for _, tt := range []struct{ name, want string }{
		{"low ON time", "already have a view named"},
		{"   ", "Give the view a name."},
		{strings.Repeat("é", 81), "at most 80 characters"},
	} {
		bad := cloneValues(form)
		bad.Set("name", tt.name)
		resp, doc := c.PostHTMX(t, "/machines/views", bad)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find(testID("saved-view-error")).Text(), tt.want) {
			t.Errorf("name %q: status %d, error %q", tt.name, resp.StatusCode, doc.Find(testID("saved-view-error")).Text())
		}
		if doc.Find(testID("saved-view-name")).AttrOr("aria-invalid", "") != "true" {
			t.Errorf("name %q: the field is not marked invalid", tt.name)
		}
	}
	// Without htmx: the error next to the field on the fleet page; success
	// goes to the view's URL.
	bad := cloneValues(form)
	bad.Set("name", "")
	resp, doc = c.PostForm(t, "/machines/views", bad)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(testID("machines-results")).Length() != 1 || doc.Find(testID("saved-view-error")).Length() != 1 {
		t.Errorf("plain post with an empty name: status %d", resp.StatusCode)
	}
	ok := url.Values{"name": {"Ready ones"}, "status": {"ready"}}
	resp, _ = c.PostForm(t, "/machines/views", ok)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/machines?status=ready" {
		t.Errorf("plain save: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Another user sees none of them and cannot delete them.
	_, doc = c.Get(t, "/machines")
	id := doc.Find(testID("saved-view")).First().AttrOr("data-view-id", "")
	other := f.clients[fleet.RoleAdmin]
	other.CSRFFrom(t, "/machines")
	_, odoc := other.Get(t, "/machines")
	if n := odoc.Find(testID("saved-view")).Length(); n != 0 {
		t.Errorf("another user sees %d views", n)
	}
	resp, _ = other.PostHTMX(t, "/machines/views/"+id+"/delete", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleting another's view: status %d", resp.StatusCode)
	}
	resp, doc = c.PostHTMX(t, "/machines/views/"+id+"/delete", nil)
	if resp.StatusCode != http.StatusOK || doc.Find(testID("saved-view")).Length() != 1 {
		t.Errorf("delete: status %d, %d views left, want 1", resp.StatusCode, doc.Find(testID("saved-view")).Length())
	}
}
