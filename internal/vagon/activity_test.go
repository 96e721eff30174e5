package vagon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUserActionLog_bothShapes(t *testing.T) {
	at := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		item string
		want UserActionLog
	}{
		{"docs flat", `{"id":7,"action_type":"machine_started","user_id":3,"user_email":"a@x.com","machine_id":101,"metadata":{"machine_name":"Render 1"},"created_at":"2026-04-01T10:00:00.000Z"}`,
			UserActionLog{ID: "7", ActionType: "machine_started", UserID: "3", UserEmail: "a@x.com", MachineID: "101", MachineName: "Render 1", CreatedAt: at}},
		{"client jsonapi", `{"id":"7","type":"user_action_log","attributes":{"action_type":"machine_started","user_id":"3","user_email":"a@x.com","organization_machine_id":101,"machine_name":"Render 1","metadata":{},"created_at":"2026-04-01T10:00:00"}}`,
			UserActionLog{ID: "7", ActionType: "machine_started", UserID: "3", UserEmail: "a@x.com", MachineID: "101", MachineName: "Render 1", CreatedAt: at}},
		{"null machine, metadata not an object", `{"id":8,"action_type":"user_login","user_email":"b@x.com","machine_id":null,"metadata":"oops","created_at":"2026-04-01T12:00:00+02:00"}`,
			UserActionLog{ID: "8", ActionType: "user_login", UserEmail: "b@x.com", CreatedAt: at}},
		{"no id, unknown action", `{"action_type":"weird_new_thing","created_at":"2026-04-01T10:00:00Z"}`,
			UserActionLog{ActionType: "weird_new_thing", CreatedAt: at}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got UserActionLog
			if err := json.Unmarshal([]byte(tc.item), &got); err != nil {
				t.Fatal(err)
			}
			if got.ID != tc.want.ID || got.ActionType != tc.want.ActionType || got.UserID != tc.want.UserID || got.UserEmail != tc.want.UserEmail ||
				got.MachineID != tc.want.MachineID || got.MachineName != tc.want.MachineName || !got.CreatedAt.Equal(tc.want.CreatedAt) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			if !json.Valid(got.Metadata) || got.Metadata[0] != '{' {
				t.Errorf("metadata %s, want an object", got.Metadata)
			}
			if string(got.Raw) != tc.item {
				t.Errorf("raw %s", got.Raw)
			}
		})
	}
}

func TestUserActionLog_keyIsShapeIndependent(t *testing.T) {
	flat := `{"action_type":"file_uploaded","user_email":"a@x.com","machine_id":5,"metadata":{"b":1,"a":"x"},"created_at":"2026-04-01T10:00:00Z"}`
	api := `{"type":"user_action_log","attributes":{"action_type":"file_uploaded","user_email":"a@x.com","organization_machine_id":"5","metadata":{"a":"x","b":1},"created_at":"2026-04-01T10:00:00.000Z"}}`
	other := strings.Replace(flat, `"b":1`, `"b":2`, 1)
	var a, b, c UserActionLog
	for _, p := range []struct {
		s string
		d *UserActionLog
	}{{flat, &a}, {api, &b}, {other, &c}} {
		if err := json.Unmarshal([]byte(p.s), p.d); err != nil {
			t.Fatal(err)
		}
	}
	if a.Key() != b.Key() || !strings.HasPrefix(a.Key(), "h:") {
		t.Errorf("keys differ across shapes: %s vs %s", a.Key(), b.Key())
	}
	if a.Key() == c.Key() {
		t.Error("different metadata, same key")
	}
	if k := (UserActionLog{ID: "9"}).Key(); k != "id:9" {
		t.Errorf("key with id: %s", k)
	}
}

func TestListUserActionLogs_malformed(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"no logs", `{"count":0,"client_code":200}`, "no logs array"},
		{"logs not array", `{"logs":{"a":1},"client_code":200}`, "logs is not an array"},
		{"item not object", `{"logs":[1],"client_code":200}`, "not a JSON object"},
		{"bad time", `{"logs":[{"id":1,"created_at":"yesterday"}],"client_code":200}`, "not an ISO 8601 time"},
		{"bad id", `{"logs":[{"id":1.5}],"client_code":200}`, "id: want a string or an integer"},
		{"attributes not object", `{"logs":[{"id":1,"attributes":[1]}],"client_code":200}`, "attributes is not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, tc.body) })
			_, err := c.ListUserActionLogs(context.Background(), UserActionLogOptions{From: time.Now().Add(-time.Hour), To: time.Now()})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "vagon: ") {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {})
	if _, err := c.ListUserActionLogs(context.Background(), UserActionLogOptions{From: time.Now(), To: time.Now().Add(-time.Hour)}); err == nil || s.count() != 0 {
		t.Fatalf("to before from: err %v, %d calls", err, s.count())
	}
}

func TestListUserActionLogs_query(t *testing.T) {
	c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, `{"logs":[],"count":7586,"start_date":"2026-04-01T00:00:00.000Z","client_code":200}`)
	})
	from := time.Date(2026, 4, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))
	l, err := c.ListUserActionLogs(context.Background(), UserActionLogOptions{From: from, To: from.Add(time.Hour), ActionType: "user_login", MachineID: "12", UserEmail: "a@x.com"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Count != 7586 || len(l.Logs) != 0 || l.StartDate != "2026-04-01T00:00:00.000Z" {
		t.Fatalf("%+v", l)
	}
	q := s.reqs[0].query
	for _, want := range []string{"start_date=2026-03-31T23%3A00%3A00Z", "end_date=2026-04-01T00%3A00%3A00Z", "action_type=user_login", "organization_machine_id=12", "user_email=a%40x.com"} {
		if !strings.Contains(q, want) {
			t.Errorf("query %s lacks %s", q, want)
		}
	}
	if s.reqs[0].path != testBase+"/user-action-logs" {
		t.Errorf("path %s", s.reqs[0].path)
	}
}

// logServer answers GET /user-action-logs from entries (one per second from
// base), at most UserActionLogLimit per reply, inclusive bounds, with count
// set to the full number in range.
func logServer(t *testing.T, base time.Time, n int) (*Client, *stub) {
	return newStub(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		from, _ := ParseAPITime(r.URL.Query().Get("start_date"))
		to, _ := ParseAPITime(r.URL.Query().Get("end_date"))
		var items []string
		total := 0
		for i := range n {
			at := base.Add(time.Duration(i) * time.Second)
			if at.Before(from) || at.After(to) {
				continue
			}
			total++
			if len(items) < UserActionLogLimit {
				items = append(items, fmt.Sprintf(`{"id":%d,"action_type":"user_login","created_at":%q}`, i, at.Format(time.RFC3339)))
			}
		}
		writeJSON(w, 200, fmt.Sprintf(`{"logs":[%s],"count":%d,"client_code":200}`, strings.Join(items, ","), total))
	})
}

func TestWalkUserActionLogs_splitsFullReplies(t *testing.T) {
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		n         int
		width     time.Duration
		minCalls  int
		truncated bool
	}{
		{"under the cap: one call", 999, time.Hour, 1, false},
		{"exactly 1000 forces a split", 1000, time.Hour, 2, false},
		{"many thousands", 5500, 2 * time.Hour, 6, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := logServer(t, base, tc.n)
			logs, st, err := c.ListAllUserActionLogs(context.Background(), UserActionLogOptions{From: base, To: base.Add(tc.width)}, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if len(logs) != tc.n {
				t.Fatalf("%d entries, want %d (stats %+v)", len(logs), tc.n, st)
			}
			for i, l := range logs {
				if l.ID != ID(fmt.Sprint(i)) {
					t.Fatalf("entry %d is %s: not deduplicated or not in order", i, l.ID)
				}
			}
			if st.Calls < tc.minCalls || st.Calls != s.count() || (st.Truncated > 0) != tc.truncated {
				t.Errorf("stats %+v, %d requests", st, s.count())
			}
		})
	}
}

func TestWalkUserActionLogs_truncatedAtMinWidth(t *testing.T) {
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	// 1000 entries in every second: no split can get under the cap.
	c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		items := make([]string, UserActionLogLimit)
		for i := range items {
			items[i] = fmt.Sprintf(`{"id":"%s-%d","action_type":"file_uploaded"}`, r.URL.Query().Get("start_date"), i)
		}
		writeJSON(w, 200, `{"logs":[`+strings.Join(items, ",")+`],"client_code":200}`)
	})
	st, err := c.WalkUserActionLogs(context.Background(), UserActionLogOptions{From: base, To: base.Add(4 * time.Second)}, time.Second, func([]UserActionLog) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Truncated != 4 || st.Calls != 7 {
		t.Fatalf("stats %+v, want 4 truncated windows in 7 calls", st)
	}
}

func TestArchivedLogDownloadURLs_bothShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []ArchivedLogFile
	}{
		{"docs strings", `{"download_urls":["https://s3.example/a.csv?sig=SECRET1","https://s3.example/b.csv?sig=SECRET2"],"count":2,"client_code":200}`,
			[]ArchivedLogFile{{URL: "https://s3.example/a.csv?sig=SECRET1"}, {URL: "https://s3.example/b.csv?sig=SECRET2"}}},
		{"client objects", `{"download_urls":[{"date":"2026-01-01","s3_path":"logs/2026-01-01.jsonl.gz","download_url":"https://s3.example/x?sig=SECRET3","expires_in":3600}],"count":1,"client_code":200}`,
			[]ArchivedLogFile{{URL: "https://s3.example/x?sig=SECRET3", Date: "2026-01-01", S3Path: "logs/2026-01-01.jsonl.gz", ExpiresIn: time.Hour}}},
		{"mixed", `{"download_urls":["https://s3.example/a?sig=SECRET1",{"download_url":"https://s3.example/b?sig=SECRET2"}],"client_code":200}`,
			[]ArchivedLogFile{{URL: "https://s3.example/a?sig=SECRET1"}, {URL: "https://s3.example/b?sig=SECRET2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, tc.body) })
			from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			got, err := c.ArchivedLogDownloadURLs(context.Background(), ArchivedLogOptions{From: from, To: from.AddDate(0, 1, 0), ExpiresIn: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Files) != len(tc.want) {
				t.Fatalf("%d files", len(got.Files))
			}
			for i := range tc.want {
				if got.Files[i] != tc.want[i] {
					t.Errorf("file %d: %#v", i, got.Files[i])
				}
				if s := fmt.Sprintf("%v %+v %#v %s", got.Files[i], got.Files[i], got.Files[i], got.Files[i]); strings.Contains(s, "SECRET") {
					t.Errorf("formatting shows the link: %s", s)
				}
			}
			if !strings.Contains(s.reqs[0].query, "expires_in=3600") {
				t.Errorf("expires_in not in seconds: %s", s.reqs[0].query)
			}
		})
	}
}

func TestArchivedLogDownloadURLs_errorsWithholdLinks(t *testing.T) {
	tests := []struct{ name, body string }{
		{"object without url", `{"download_urls":[{"date":"SECRET-date"}],"client_code":200}`},
		{"number item", `{"download_urls":[42, "https://s3.example/a?sig=SECRET"],"client_code":200}`},
		{"broken json", `{"download_urls":["https://s3.example/a?sig=SECRET"`},
		{"bad code", `{"download_urls":["https://s3.example/a?sig=SECRET"],"client_code":500,"message":"https://s3.example/a?sig=SECRET"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, 200, tc.body) }, WithRetry(0, time.Millisecond))
			from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			_, err := c.ArchivedLogDownloadURLs(context.Background(), ArchivedLogOptions{From: from, To: from.AddDate(0, 1, 0)})
			if err == nil || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestListPermissionFields(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    []PermissionField
		missing bool
		errWord string
	}{
		{"client shape", 200, `{"permission_fields":[{"name":"clipboard_enabled","type":"boolean","default":true},{"name":"new_key","type":"boolean","default":false}],"client_code":200}`,
			[]PermissionField{{"clipboard_enabled", "boolean", true}, {"new_key", "boolean", false}}, false, ""},
		{"tolerant items", 200, `{"permission_fields":["public_internet_access",{"name":"x","default":"true"},{"type":"boolean"},{"name":"y"}],"client_code":200}`,
			[]PermissionField{{"public_internet_access", "boolean", false}, {"x", "", true}, {"y", "", false}}, false, ""},
		{"endpoint missing", 404, `{"client_code":404,"message":"Not found"}`, nil, true, ""},
		{"no array", 200, `{"fields":[],"client_code":200}`, nil, false, "no permission_fields array"},
		{"bad item", 200, `{"permission_fields":[[1]],"client_code":200}`, nil, false, "item 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) { writeJSON(w, tc.status, tc.body) })
			got, err := c.ListPermissionFields(context.Background())
			if IsEndpointMissing(err) != tc.missing {
				t.Fatalf("missing = %v, err %v", !tc.missing, err)
			}
			if tc.errWord != "" && (err == nil || !strings.Contains(err.Error(), tc.errWord)) {
				t.Fatalf("err %v, want %q", err, tc.errWord)
			}
			if tc.want != nil && fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if k := KnownPermissionFields(); len(k) != 7 || k[0].Name != PermPublicInternetAccess || !k[0].Default {
		t.Errorf("known fields %+v", k)
	}
}
