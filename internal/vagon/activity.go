package vagon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// UserActionLogLimit is the most entries GET /user-action-logs returns in one
// reply. The API has no paging: a reply this full may have been cut short.
const UserActionLogLimit = 1000

// UserActionLogRetention is how far back GET /user-action-logs serves;
// older entries are archived (ArchivedLogDownloadURLs).
const UserActionLogRetention = 30 * 24 * time.Hour

// The documented action_type values. Unknown ones are kept as they come.
const (
	ActionMachineStarted        = "machine_started"
	ActionMachineStopped        = "machine_stopped"
	ActionMachineReset          = "machine_reset"
	ActionMachineTypeChanged    = "machine_type_changed"
	ActionExternalAccessCreated = "machine_external_access_created"
	ActionMachineCreated        = "machine_created"
	ActionFileDownloaded        = "file_downloaded"
	ActionFileUploaded          = "file_uploaded"
	ActionFileDeleted           = "file_deleted"
	ActionFolderCreated         = "folder_created"
	ActionUserLogin             = "user_login"
)

// UserActionLogOptions filter GET /user-action-logs. From and To are
// required, To after From.
type UserActionLogOptions struct {
	From, To   time.Time
	ActionType string // one action_type; empty: all
	UserEmail  string // the acting user; empty: all
	MachineID  string // organization_machine_id; empty: all
}

func (o UserActionLogOptions) values() (url.Values, error) {
	if o.From.IsZero() || o.To.IsZero() {
		return nil, errorf("user action logs: from and to are required")
	}
	if !o.To.After(o.From) {
		return nil, errorf("user action logs: to must be after from")
	}
	v := url.Values{}
	v.Set("start_date", o.From.UTC().Format(time.RFC3339Nano))
	v.Set("end_date", o.To.UTC().Format(time.RFC3339Nano))
	if o.ActionType != "" {
		v.Set("action_type", o.ActionType)
	}
	if o.UserEmail != "" {
		v.Set("user_email", o.UserEmail)
	}
	if o.MachineID != "" {
		v.Set("organization_machine_id", o.MachineID)
	}
	return v, nil
}

// UserActionLog is one activity entry, read from either shape the API is
// known in: flat fields (the docs) or a JSON:API resource with attributes
// (Vagon's example client). Fields absent from the reply are zero.
type UserActionLog struct {
	ID          ID // empty when the entry carried none
	ActionType  string
	UserID      ID
	UserEmail   string
	MachineID   ID // machine_id (docs) or organization_machine_id (client); empty when none
	MachineName string
	CreatedAt   time.Time // zero when the entry carried none
	// Metadata is the entry's metadata object; {} when it was missing,
	// null or not an object.
	Metadata json.RawMessage
	// Raw is the entry exactly as it came.
	Raw json.RawMessage
}

// UnmarshalJSON reads an entry of either shape: x.attributes.f, falling
// back to x.f.
func (l *UserActionLog) UnmarshalJSON(b []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		return errorf("user action log: an entry is not a JSON object")
	}
	attrs := map[string]json.RawMessage{}
	if raw, ok := top["attributes"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &attrs); err != nil || attrs == nil {
			return errorf("user action log: attributes is not a JSON object")
		}
	}
	get := func(names ...string) json.RawMessage {
		for _, n := range names {
			if v, ok := attrs[n]; ok && !isNull(v) {
				return v
			}
		}
		for _, n := range names {
			if v, ok := top[n]; ok && !isNull(v) {
				return v
			}
		}
		return nil
	}
	*l = UserActionLog{Raw: append(json.RawMessage(nil), b...)}
	var err error
	ids := []struct {
		dst   *ID
		names []string
	}{
		{&l.ID, []string{"id"}},
		{&l.UserID, []string{"user_id"}},
		{&l.MachineID, []string{"machine_id", "organization_machine_id"}},
	}
	for _, f := range ids {
		if raw := get(f.names...); raw != nil {
			if err = f.dst.UnmarshalJSON(raw); err != nil {
				return errorf("user action log: %s: want a string or an integer", f.names[0])
			}
		}
	}
	strs := []struct {
		dst  *string
		name string
	}{{&l.ActionType, "action_type"}, {&l.UserEmail, "user_email"}, {&l.MachineName, "machine_name"}}
	for _, f := range strs {
		if raw := get(f.name); raw != nil {
			if err := json.Unmarshal(raw, f.dst); err != nil {
				return errorf("user action log: %s: want a string", f.name)
			}
		}
	}
	l.Metadata = json.RawMessage(`{}`)
	if raw := get("metadata"); raw != nil && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			l.Metadata = append(json.RawMessage(nil), raw...)
			if l.MachineName == "" {
				if v, ok := m["machine_name"]; ok {
					_ = json.Unmarshal(v, &l.MachineName)
				}
			}
		}
	}
	if raw := get("created_at"); raw != nil {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return errorf("user action log: created_at: want a string")
		}
		if l.CreatedAt, err = ParseAPITime(s); err != nil {
			return errorf("user action log: created_at %.40q: not an ISO 8601 time", s)
		}
	}
	return nil
}

func isNull(b json.RawMessage) bool { return string(bytes.TrimSpace(b)) == "null" }

// ParseAPITime reads an ISO 8601 time the API or its example client writes:
// RFC 3339 with or without fractions, or without a zone (taken as UTC, as
// Python's isoformat() writes), or a plain date.
func ParseAPITime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("vagon: not an ISO 8601 time")
}

// Key is the entry's identity for deduplication: "id:" and Vagon's id when
// it has one, else "h:" and a SHA-256 of its content (action, actor,
// machine, time and metadata, with metadata's keys in order), so the same
// entry read twice, in either shape, has the same key.
func (l UserActionLog) Key() string {
	if l.ID != "" {
		return "id:" + string(l.ID)
	}
	var meta any
	_ = json.Unmarshal(l.Metadata, &meta)
	canon, _ := json.Marshal(meta) // map keys sorted
	h := sha256.New()
	for _, p := range []string{l.ActionType, string(l.UserID), l.UserEmail, string(l.MachineID), l.CreatedAt.UTC().Format(time.RFC3339Nano), string(canon)} {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return "h:" + hex.EncodeToString(h.Sum(nil))
}

// UserActionLogList is one reply of GET /user-action-logs.
type UserActionLogList struct {
	Logs []UserActionLog
	// Count is the reply's count: the docs call it the total, the example
	// client the number returned. Do not assume it equals len(Logs).
	Count     int
	StartDate string
	EndDate   string
	Envelope
}

// Full reports whether the reply holds UserActionLogLimit entries or more,
// so it may have been cut short.
func (l *UserActionLogList) Full() bool { return len(l.Logs) >= UserActionLogLimit }

// UnmarshalJSON requires a logs array; count may be a number or absent.
func (l *UserActionLogList) UnmarshalJSON(b []byte) error {
	var w struct {
		Logs      *json.RawMessage `json:"logs"`
		Count     json.RawMessage  `json:"count"`
		StartDate any              `json:"start_date"`
		EndDate   any              `json:"end_date"`
		Envelope
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return errorf("user action logs: reply is not the expected JSON object")
	}
	if w.Logs == nil || isNull(*w.Logs) {
		return errorf("user action logs: reply has no logs array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(*w.Logs, &items); err != nil {
		return errorf("user action logs: logs is not an array")
	}
	*l = UserActionLogList{Envelope: w.Envelope, Logs: make([]UserActionLog, len(items))}
	for i, it := range items {
		if err := l.Logs[i].UnmarshalJSON(it); err != nil {
			return fmt.Errorf("%w (entry %d)", err, i)
		}
	}
	if len(w.Count) > 0 && !isNull(w.Count) {
		var n json.Number
		if err := json.Unmarshal(w.Count, &n); err == nil {
			if v, err := n.Int64(); err == nil {
				l.Count = int(v)
			}
		}
	}
	l.StartDate, _ = w.StartDate.(string)
	l.EndDate, _ = w.EndDate.(string)
	return nil
}

// ListUserActionLogs returns one reply of the activity log between
// opts.From and opts.To: at most UserActionLogLimit entries, the last 30
// days only, no paging (see WalkUserActionLogs for a whole range).
//
// API: GET /user-action-logs
func (c *Client) ListUserActionLogs(ctx context.Context, opts UserActionLogOptions) (*UserActionLogList, error) {
	q, err := opts.values()
	if err != nil {
		return nil, err
	}
	out := new(UserActionLogList)
	if err := c.do(ctx, request{method: http.MethodGet, endpoint: "GET /user-action-logs", path: "/user-action-logs", query: q}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DefaultLogMinSplit is the narrowest window WalkUserActionLogs splits.
const DefaultLogMinSplit = time.Second

// WalkStats says what a WalkUserActionLogs made.
type WalkStats struct {
	Calls   int // GET /user-action-logs calls
	Entries int // entries handed to fn, before deduplication
	// Truncated counts windows that were still full at the narrowest
	// width: entries may be missing there.
	Truncated int
}

// WalkUserActionLogs reads every entry between opts.From and opts.To,
// working around the 1000-entry cap: a full reply's window is split (in as
// many pieces as the reply's count suggests, at least halves) and each
// piece read again, down to minSplit (DefaultLogMinSplit when <= 0).
// fn gets each final window's entries, windows in ascending time order;
// neighbouring windows share their boundary instant, so an entry may come
// twice: deduplicate on Key (ListAllUserActionLogs does). fn's error stops
// the walk and is returned.
//
// API: GET /user-action-logs (repeated)
func (c *Client) WalkUserActionLogs(ctx context.Context, opts UserActionLogOptions, minSplit time.Duration, fn func([]UserActionLog) error) (WalkStats, error) {
	if minSplit <= 0 {
		minSplit = DefaultLogMinSplit
	}
	var st WalkStats
	var walk func(from, to time.Time) error
	walk = func(from, to time.Time) error {
		o := opts
		o.From, o.To = from, to
		list, err := c.ListUserActionLogs(ctx, o)
		st.Calls++
		if err != nil {
			return err
		}
		width := to.Sub(from)
		if !list.Full() || width <= minSplit {
			if list.Full() {
				st.Truncated++
			}
			st.Entries += len(list.Logs)
			return fn(list.Logs)
		}
		pieces := 2
		if list.Count > UserActionLogLimit {
			// A hint only: a piece that is still full splits again.
			pieces = min(64, list.Count/(UserActionLogLimit*4/5)+1)
		}
		step := width / time.Duration(pieces)
		if step < minSplit {
			step = minSplit
		}
		for lo := from; lo.Before(to); lo = lo.Add(step) {
			hi := lo.Add(step)
			if to.Sub(hi) < step/2 || hi.After(to) {
				hi = to
			}
			if err := walk(lo, hi); err != nil {
				return err
			}
			if hi.Equal(to) {
				break
			}
		}
		return nil
	}
	err := walk(opts.From, opts.To)
	return st, err
}

// ListAllUserActionLogs collects every entry between opts.From and
// opts.To (WalkUserActionLogs), deduplicated on Key, oldest first.
//
// API: GET /user-action-logs (repeated)
func (c *Client) ListAllUserActionLogs(ctx context.Context, opts UserActionLogOptions, minSplit time.Duration) ([]UserActionLog, WalkStats, error) {
	seen := map[string]bool{}
	var all []UserActionLog
	st, err := c.WalkUserActionLogs(ctx, opts, minSplit, func(logs []UserActionLog) error {
		for _, l := range logs {
			if k := l.Key(); !seen[k] {
				seen[k] = true
				all = append(all, l)
			}
		}
		return nil
	})
	if err != nil {
		return nil, st, err
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].CreatedAt.Before(all[j].CreatedAt) })
	return all, st, nil
}

// ArchivedLogOptions ask GET /user-action-logs/archived-download-urls for
// the archives between From and To (both older than 30 days).
type ArchivedLogOptions struct {
	From, To time.Time
	// ExpiresIn is how long the links stay valid; sent in whole SECONDS
	// (unlike an access link's minutes). Zero: the API's default, 600 s.
	ExpiresIn time.Duration
}

// ArchivedLogFile is one archive download link. URL is a bearer credential
// (a presigned link): never log, store or show it in an error; String
// withholds it.
type ArchivedLogFile struct {
	URL       string
	Date      string        // from the object shape; empty otherwise
	S3Path    string        // from the object shape; empty otherwise
	ExpiresIn time.Duration // from the object shape (seconds); 0 otherwise
}

// String describes the file without its link.
func (f ArchivedLogFile) String() string {
	return fmt.Sprintf("archived log %s (link withheld)", f.Date)
}

// GoString withholds the link from %#v too.
func (f ArchivedLogFile) GoString() string { return f.String() }

// UnmarshalJSON accepts a URL string (the docs) or an object
// {download_url, date, s3_path, expires_in} (the example client). Its
// errors never quote the input.
func (f *ArchivedLogFile) UnmarshalJSON(b []byte) error {
	*f = ArchivedLogFile{}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		if json.Unmarshal(b, &f.URL) != nil {
			return errorf("archived logs: a download url is not a string")
		}
		return nil
	}
	var o struct {
		DownloadURL *string         `json:"download_url"`
		URL         *string         `json:"url"`
		Date        any             `json:"date"`
		S3Path      string          `json:"s3_path"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if json.Unmarshal(b, &o) != nil {
		return errorf("archived logs: a download_urls item is neither a string nor an object")
	}
	switch {
	case o.DownloadURL != nil:
		f.URL = *o.DownloadURL
	case o.URL != nil:
		f.URL = *o.URL
	}
	if f.URL == "" {
		return errorf("archived logs: a download_urls item has no download_url")
	}
	f.Date, _ = o.Date.(string)
	f.S3Path = o.S3Path
	var n json.Number
	if len(o.ExpiresIn) > 0 && json.Unmarshal(o.ExpiresIn, &n) == nil {
		if v, err := n.Int64(); err == nil && v > 0 {
			f.ExpiresIn = time.Duration(v) * time.Second
		}
	}
	return nil
}

// ArchivedLogURLs is the reply of GET /user-action-logs/archived-download-urls.
type ArchivedLogURLs struct {
	Files     []ArchivedLogFile `json:"download_urls"`
	Count     int               `json:"count"`
	StartDate string            `json:"start_date"`
	EndDate   string            `json:"end_date"`
	Envelope
}

// ArchivedLogDownloadURLs returns time-limited download links for the
// archived activity logs between opts.From and opts.To. The links are bearer
// credentials: the request is sensitive, so no part of the reply reaches an
// error.
//
// API: GET /user-action-logs/archived-download-urls
func (c *Client) ArchivedLogDownloadURLs(ctx context.Context, opts ArchivedLogOptions) (*ArchivedLogURLs, error) {
	if opts.From.IsZero() || opts.To.IsZero() {
		return nil, errorf("archived logs: from and to are required")
	}
	if opts.To.Before(opts.From) {
		return nil, errorf("archived logs: to is before from")
	}
	q := url.Values{}
	q.Set("start_date", opts.From.UTC().Format(time.RFC3339Nano))
	q.Set("end_date", opts.To.UTC().Format(time.RFC3339Nano))
	if opts.ExpiresIn > 0 {
		q.Set("expires_in", strconv.FormatInt(int64((opts.ExpiresIn+time.Second-1)/time.Second), 10))
	}
	out := new(ArchivedLogURLs)
	err := c.do(ctx, request{method: http.MethodGet, endpoint: "GET /user-action-logs/archived-download-urls",
		path: "/user-action-logs/archived-download-urls", query: q, sensitive: true}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PermissionField is one permission key machines accept, with its default.
type PermissionField struct {
	Name    string
	Type    string // "boolean" where known; empty when the reply gave none
	Default bool
}

// ErrEndpointMissing is wrapped by the error of a call to an endpoint the
// API answered 404 for as a whole (not a missing object): the account's API
// does not have it. Callers fall back (IsEndpointMissing).
var ErrEndpointMissing = errors.New("vagon: the API does not have this endpoint")

// IsEndpointMissing reports an error wrapping ErrEndpointMissing.
func IsEndpointMissing(err error) bool { return errors.Is(err, ErrEndpointMissing) }

// KnownPermissionFields are the seven documented keys with their
// documented defaults: the fallback when GET /machines/permission-fields is
// missing.
func KnownPermissionFields() []PermissionField {
	d := DefaultPermissions().AsMap()
	out := make([]PermissionField, len(PermissionKeys))
	for i, k := range PermissionKeys {
		out[i] = PermissionField{Name: k, Type: "boolean", Default: d[k]}
	}
	return out
}

// ListPermissionFields returns the permission keys the API accepts. A 404
// is reported wrapping ErrEndpointMissing (the endpoint is known only from
// Vagon's example client), so a caller can fall back to
// KnownPermissionFields. Items are read tolerantly: a bare string is a
// name; default may be a boolean or "true"/"false"; nameless items are
// skipped.
//
// API: GET /machines/permission-fields
func (c *Client) ListPermissionFields(ctx context.Context) ([]PermissionField, error) {
	var w struct {
		Fields *[]json.RawMessage `json:"permission_fields"`
	}
	err := c.do(ctx, request{method: http.MethodGet, endpoint: "GET /machines/permission-fields", path: "/machines/permission-fields"}, &w)
	if err != nil {
		if e, ok := AsError(err); ok && e.HTTPStatus == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %w", ErrEndpointMissing, err)
		}
		return nil, err
	}
	if w.Fields == nil {
		return nil, errorf("GET /machines/permission-fields: reply has no permission_fields array")
	}
	out := make([]PermissionField, 0, len(*w.Fields))
	for i, raw := range *w.Fields {
		var name string
		if json.Unmarshal(raw, &name) == nil {
			if name != "" {
				out = append(out, PermissionField{Name: name, Type: "boolean"})
			}
			continue
		}
		var o struct {
			Name    string `json:"name"`
			Type    string `json:"type"`
			Default any    `json:"default"`
		}
		if json.Unmarshal(raw, &o) != nil {
			return nil, errorf("GET /machines/permission-fields: item %d is neither an object nor a name", i)
		}
		if o.Name == "" {
			continue
		}
		f := PermissionField{Name: o.Name, Type: o.Type}
		switch d := o.Default.(type) {
		case bool:
			f.Default = d
		case string:
			f.Default, _ = strconv.ParseBool(d)
		}
		out = append(out, f)
	}
	return out, nil
}
