package vagonsim

import (
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// LogShape is how GET /user-action-logs writes its entries (and the
// archived endpoint its links): the docs and Vagon's example client differ.
type LogShape int

// The shapes.
const (
	// LogShapeFlat is the docs' shape: flat fields, machine_id; archived
	// download_urls are URL strings.
	LogShapeFlat LogShape = iota
	// LogShapeJSONAPI is the example client's: {id, type, attributes{…}},
	// organization_machine_id; archived download_urls are objects.
	LogShapeJSONAPI
	// LogShapeMixed alternates the two, entry by entry (by id parity).
	LogShapeMixed
)

// APIUserEmail is the actor of the activity the API's own calls cause (the
// organization's API key acts as its owner).
const APIUserEmail = "api-owner@example.com"

// apiUserID is APIUserEmail's user id.
const apiUserID = 1

// DefaultActivityWindow is how far back seeded activity reaches.
const DefaultActivityWindow = 30 * 24 * time.Hour

// activity is one entry of the simulator's activity log.
type activity struct {
	id          int64
	at          time.Time
	action      string
	userID      int64
	email       string
	machineID   int64 // 0: not about a machine
	machineName string
	meta        map[string]any
}

// logAction records what an API call did to m at now. The caller holds s.mu.
func (s *Sim) logAction(now time.Time, action string, m *machine, meta map[string]any) {
	if meta == nil {
		meta = map[string]any{}
	}
	a := activity{id: s.nextAct, at: now, action: action, userID: apiUserID, email: APIUserEmail, meta: meta}
	s.nextAct++
	if m != nil {
		a.machineID, a.machineName = m.id, m.name
		meta["machine_name"] = m.name
	}
	// Kept in time order; the clock only moves forward, so this is an append
	// but for a clock set back by a test.
	i := sort.Search(len(s.actLog), func(i int) bool { return s.actLog[i].at.After(now) })
	s.actLog = append(s.actLog, activity{})
	copy(s.actLog[i+1:], s.actLog[i:])
	s.actLog[i] = a
}

// seededAccessIDs is the first access id of the seeded links, far above
// those the API hands out.
const seededAccessIDs = 900000

var fileNames = []string{"scene.blend", "render_0412.exr", "brief.pdf", "assets.zip", "cut_v3.prproj", "textures", "notes.txt", "plan.dwg"}

// seedActivity generates opts.ActivityLogs entries (5 per machine when 0,
// none when negative) spread over the last opts.ActivityWindow: logins,
// file events, machine starts and stops, and access links made outside
// the dashboard (access id and minutes in the metadata). It draws from its own
// generator, so the fleet is the same with or without it.
func (s *Sim) seedActivity(opts Options) {
	n := opts.ActivityLogs
	if n == 0 {
		n = 5 * len(s.order)
	}
	if n <= 0 {
		return
	}
	window := opts.ActivityWindow
	if window <= 0 {
		window = DefaultActivityWindow
	}
	r := mrand.New(mrand.NewPCG(opts.Seed, 0xac7))
	now := s.now()
	type actor struct {
		id    int64
		email string
	}
	var actors []actor
	for _, id := range s.order {
		if u := s.machines[id].user; u != nil {
			actors = append(actors, actor{int64(1000 + len(actors)), u.email})
		}
	}
	for len(actors) < 5 {
		email := strings.ToLower(pick(r, firstNames) + "." + pick(r, lastNames) + "@" + pick(r, domains))
		actors = append(actors, actor{int64(1000 + len(actors)), email})
	}
	entries := make([]activity, n)
	for i := range entries {
		who := pick(r, actors)
		a := activity{
			at:     now.Add(-time.Duration(r.Int64N(int64(window)))).Truncate(time.Millisecond),
			userID: who.id, email: who.email, meta: map[string]any{},
		}
		roll := r.IntN(10)
		var m *machine
		if len(s.order) > 0 && roll >= 3 {
			m = s.machines[s.order[r.IntN(len(s.order))]]
		}
		switch {
		case roll < 3 || m == nil:
			a.action = vagon.ActionUserLogin
			a.meta["ip"] = fmt.Sprintf("198.51.100.%d", 1+r.IntN(254))
		case roll < 7:
			a.action = pick(r, []string{vagon.ActionFileUploaded, vagon.ActionFileDownloaded, vagon.ActionFileDeleted, vagon.ActionFolderCreated})
			a.meta["file_name"] = pick(r, fileNames)
			a.meta["size"] = r.Int64N(2 << 30)
		default:
			a.action = pick(r, []string{vagon.ActionMachineStarted, vagon.ActionMachineStopped, vagon.ActionExternalAccessCreated})
			if a.action == vagon.ActionExternalAccessCreated {
				// A link someone made outside the dashboard, as the API
				// logs its own (handlers.go): the access id and minutes.
				a.meta["access_id"] = strconv.Itoa(seededAccessIDs + i)
				a.meta["expires_in_minutes"] = pick(r, []int{60, 480, 1440, 10080})
			}
		}
		if m != nil && a.action != vagon.ActionUserLogin {
			a.machineID, a.machineName = m.id, m.name
			a.meta["machine_name"] = m.name
		}
		entries[i] = a
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at.Before(entries[j].at) })
	for i := range entries {
		entries[i].id = s.nextAct
		s.nextAct++
	}
	s.actLog = append(entries, s.actLog...)
}

// SetLogShape changes the shape later replies of the activity endpoints use.
func (s *Sim) SetLogShape(shape LogShape) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logShape = shape
}

// ActivityCount is the number of entries in the simulator's activity log,
// archived ones included.
func (s *Sim) ActivityCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.actLog)
}

// ActivityRange is the time of the oldest and the newest entry.
func (s *Sim) ActivityRange() (oldest, newest time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.actLog) == 0 {
		return
	}
	return s.actLog[0].at, s.actLog[len(s.actLog)-1].at
}

// parseDate reads a start_date/end_date: RFC 3339, a zoneless ISO time
// (UTC) or a plain date.
func parseDate(c *call, name string) (time.Time, *apiError) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, errf(400, name+" is required")
	}
	t, err := vagon.ParseAPITime(v)
	if err != nil {
		return time.Time{}, errf(400, name+" must be an ISO 8601 date-time")
	}
	return t, nil
}

// dateRange reads start_date and end_date, end after start.
func dateRange(c *call) (from, to time.Time, e *apiError) {
	if from, e = parseDate(c, "start_date"); e != nil {
		return
	}
	if to, e = parseDate(c, "end_date"); e != nil {
		return
	}
	if !to.After(from) {
		e = errf(400, "end date must be after start date")
	}
	return
}

type flatLog struct {
	ID         int64          `json:"id"`
	ActionType string         `json:"action_type"`
	UserID     int64          `json:"user_id"`
	UserEmail  string         `json:"user_email"`
	MachineID  *int64         `json:"machine_id"`
	Metadata   map[string]any `json:"metadata"`
	CreatedAt  string         `json:"created_at"`
}

type apiLogAttrs struct {
	ID                    int64          `json:"id"`
	ActionType            string         `json:"action_type"`
	UserID                int64          `json:"user_id"`
	UserEmail             string         `json:"user_email"`
	OrganizationMachineID *int64         `json:"organization_machine_id"`
	MachineName           string         `json:"machine_name,omitempty"`
	Metadata              map[string]any `json:"metadata"`
	CreatedAt             string         `json:"created_at"`
}

type apiLog struct {
	ID         string      `json:"id"`
	Type       string      `json:"type"`
	Attributes apiLogAttrs `json:"attributes"`
}

// wire is the entry in the shape asked for.
func (a activity) wire(shape LogShape) any {
	var mid *int64
	if a.machineID != 0 {
		v := a.machineID
		mid = &v
	}
	at := a.at.UTC().Format("2006-01-02T15:04:05.000Z")
	if shape == LogShapeJSONAPI || (shape == LogShapeMixed && a.id%2 == 1) {
		return apiLog{ID: strconv.FormatInt(a.id, 10), Type: "user_action_log", Attributes: apiLogAttrs{
			ID: a.id, ActionType: a.action, UserID: a.userID, UserEmail: a.email, OrganizationMachineID: mid,
			MachineName: a.machineName, Metadata: a.meta, CreatedAt: at}}
	}
	return flatLog{ID: a.id, ActionType: a.action, UserID: a.userID, UserEmail: a.email, MachineID: mid, Metadata: a.meta, CreatedAt: at}
}

type logsReply struct {
	Logs      []any  `json:"logs"`
	Count     int    `json:"count"`
	StartDate string `json:"start_date"`
	EndDate   string `json:"end_date"`
	Notes     string `json:"notes"`
	vagon.Envelope
}

// listUserActionLogs serves GET /user-action-logs: the entries between
// start_date and end_date (inclusive) of the last 30 days, newest first, at
// most 1000; count is all that matched.
func (s *Sim) listUserActionLogs(c *call) (any, *apiError) {
	from, to, e := dateRange(c)
	if e != nil {
		return nil, e
	}
	q := c.r.URL.Query()
	var machineID int64
	if v := q.Get("organization_machine_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, errf(400, "organization_machine_id must be an integer")
		}
		machineID = n
	}
	action, email := q.Get("action_type"), q.Get("user_email")
	if oldest := c.now.Add(-vagon.UserActionLogRetention); from.Before(oldest) {
		from = oldest
	}
	lo := sort.Search(len(s.actLog), func(i int) bool { return !s.actLog[i].at.Before(from) })
	hi := sort.Search(len(s.actLog), func(i int) bool { return s.actLog[i].at.After(to) })
	out := logsReply{Logs: []any{}, StartDate: from.UTC().Format("2006-01-02T15:04:05.000Z"), EndDate: to.UTC().Format("2006-01-02T15:04:05.000Z"),
		Notes: "Logs older than 30 days are archived", Envelope: envelope(c.now)}
	for i := hi - 1; i >= lo; i-- {
		a := s.actLog[i]
		if (action != "" && a.action != action) || (email != "" && !strings.EqualFold(a.email, email)) || (machineID != 0 && a.machineID != machineID) {
			continue
		}
		out.Count++
		if len(out.Logs) < vagon.UserActionLogLimit {
			out.Logs = append(out.Logs, a.wire(s.logShape))
		}
	}
	return out, nil
}

type archivedObject struct {
	Date        string `json:"date"`
	S3Path      string `json:"s3_path"`
	DownloadURL string `json:"download_url"`
	ExpiresIn   int64  `json:"expires_in"`
}

type archivedReply struct {
	DownloadURLs []any  `json:"download_urls"`
	Count        int    `json:"count"`
	StartDate    string `json:"start_date"`
	EndDate      string `json:"end_date"`
	vagon.Envelope
}

// maxArchiveDays bounds the links of one archived-logs reply.
const maxArchiveDays = 400

// archivedLogURLs serves GET /user-action-logs/archived-download-urls: one
// presigned-looking link per UTC day of the range, both ends older than 30
// days; expires_in in seconds (default 600).
func (s *Sim) archivedLogURLs(c *call) (any, *apiError) {
	from, to, e := dateRange(c)
	if e != nil {
		return nil, e
	}
	if cut := c.now.Add(-vagon.UserActionLogRetention); from.After(cut) || to.After(cut) {
		return nil, errf(400, "this endpoint is for archived logs only: both dates must be older than 30 days")
	}
	expires, e := queryInt(c, "expires_in", 600, 1)
	if e != nil {
		return nil, e
	}
	if expires > 7*24*3600 {
		return nil, errf(400, "expires_in must be at most 604800 seconds")
	}
	out := archivedReply{DownloadURLs: []any{}, StartDate: from.UTC().Format("2006-01-02T15:04:05.000Z"), EndDate: to.UTC().Format("2006-01-02T15:04:05.000Z"), Envelope: envelope(c.now)}
	for d := from.UTC().Truncate(24 * time.Hour); !d.After(to) && len(out.DownloadURLs) < maxArchiveDays; d = d.Add(24 * time.Hour) {
		day := d.Format("2006-01-02")
		path := "archived/" + day + ".jsonl.gz"
		link := "https://vagon-archive.s3.example.com/" + path + "?X-Amz-Expires=" + strconv.Itoa(expires) + "&X-Amz-Signature=" + url.QueryEscape(randomHex(16))
		if s.logShape == LogShapeFlat {
			out.DownloadURLs = append(out.DownloadURLs, link)
		} else {
			out.DownloadURLs = append(out.DownloadURLs, archivedObject{Date: day, S3Path: path, DownloadURL: link, ExpiresIn: int64(expires)})
		}
	}
	out.Count = len(out.DownloadURLs)
	return out, nil
}

type permissionField struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Default bool   `json:"default"`
}

// listPermissionFields serves GET /machines/permission-fields (the example
// client's shape), or answers 404 when Options.NoPermissionFields is set,
// as an API without the endpoint would.
func (s *Sim) listPermissionFields(c *call) (any, *apiError) {
	if s.noPermFields {
		return nil, errf(404, "no such endpoint")
	}
	out := struct {
		Fields []permissionField `json:"permission_fields"`
		vagon.Envelope
	}{Envelope: envelope(c.now)}
	fields := s.permFields
	if fields == nil {
		fields = vagon.KnownPermissionFields()
	}
	for _, f := range fields {
		out.Fields = append(out.Fields, permissionField{Name: f.Name, Type: f.Type, Default: f.Default})
	}
	return out, nil
}
