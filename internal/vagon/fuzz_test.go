package vagon

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzDecodeMachineList decodes arbitrary bytes as a machines page: it must
// never panic, and a page that decodes must re-encode.
func FuzzDecodeMachineList(f *testing.F) {
	f.Add([]byte(`{"machines":[{"id":"100","type":"machine","attributes":{"name":"Computer #100","friendly_status":"off","user":null,"task":{"id":42,"uid":"A","created_at":"2026-04-20T09:15:00Z"}}}],"count":1,"page":1,"next_page":null,"client_code":200}`))
	f.Add([]byte(`{"machines":[{"id":7,"attributes":{"friendly_status":"hibernating","last_session_start_at":null,"assigned_image_id":null}}],"next_page":2}`))
	f.Add([]byte(`{"machines":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l MachineList
		if err := json.Unmarshal(data, &l); err != nil {
			return
		}
		for _, m := range l.Machines {
			_ = m.Attributes.FriendlyStatus.Transitional()
			_ = m.Attributes.Permissions.AsMap()
		}
		if _, err := json.Marshal(l); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

// FuzzDecodeSessionsAndTasks covers the other list shapes.
func FuzzDecodeSessionsAndTasks(f *testing.F) {
	f.Add([]byte(`{"sessions":[{"id":"2000","type":"machine_session","attributes":{"start_at":"2026-01-23T11:02:41.902Z","end_at":null,"duration":6}}]}`))
	f.Add([]byte(`{"tasks":[{"id":18,"type":"task","attributes":{"uid":"Outputs","status":"active","folder_size":713,"created_at":"2025-12-02T09:50:37.244Z"}}],"next_page":null}`))
	f.Add([]byte(`{"task":{"id":"22"},"result":"created"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Sessions
		_ = json.Unmarshal(data, &s)
		var tl TaskList
		_ = json.Unmarshal(data, &tl)
		var tr TaskResult
		_ = json.Unmarshal(data, &tr)
		var al AccessLink
		_ = json.Unmarshal(data, &al)
	})
}

// FuzzCheckResponse feeds arbitrary statuses and bodies to the error path:
// never a panic, always a one-line message, never an error for a plain success.
func FuzzCheckResponse(f *testing.F) {
	f.Add(200, []byte(`{"client_code":200,"message":"OK"}`))
	f.Add(422, []byte(`{"client_code":4204,"message":"Machine is not running"}`))
	f.Add(502, []byte("<html>502 Bad Gateway</html>"))
	f.Add(504, []byte(""))
	f.Add(200, []byte(`{"client_code":"x"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		err := checkResponse("GET", "GET /machines", resp, body)
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("status %d accepted", status)
			}
			return
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}

func BenchmarkDecodeMachinePage100(b *testing.B) {
	one := `{"id":"100","type":"machine","attributes":{"name":"Computer #100","last_session_start_at":"2026-01-23T11:02:41.902Z","auto_stop_threshold":900,"file_storage_size":25,"disk_size":75,"network_credit":10233505675,"assigned_image_id":990,"assigned_image_name":"Template #990","region":"dublin","machine_type":"Planet","remaining_usage":1200,"deposited_usage":0,"friendly_status":"off","user":{"id":"f1592625-edd0-48df-9bc0-de14910ec936","type":"user","attributes":{"email":"user@vagon.io","name":"Computer User"}},"permissions":{"public_internet_access":true,"can_download_from_vagon_workstation":true,"can_upload_to_workstation":true,"analytics_collection_enabled":true,"clipboard_enabled":true,"screen_recording_enabled":true,"input_recording_enabled":true},"usage_source":"machine","task":{"id":42,"uid":"Project-Alpha","created_at":"2026-04-20T09:15:00Z"},"latest_image_status":"ready"}}`
	body := []byte(`{"machines":[` + strings.TrimSuffix(strings.Repeat(one+",", 100), ",") + `],"count":100,"page":1,"next_page":null,"client_code":200,"message":"OK"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var l MachineList
		if err := json.Unmarshal(body, &l); err != nil {
			b.Fatal(err)
		}
	}
}
