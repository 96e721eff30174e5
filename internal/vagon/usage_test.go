package vagon

import (
	"net/http"
	"strings"
	"testing"
)

func TestClient_GetUsage(t *testing.T) {
	tests := []struct {
		name, body  string
		wantMinutes int64
		wantType    string
		wantErr     string
	}{
		{name: "documented", body: `{"usage_minutes":2669,"machine_type":"Planet","client_code":200,"message":"OK","timestamp":"2026-02-04T13:26:14Z"}`, wantMinutes: 2669, wantType: "Planet"},
		{name: "numeric string", body: `{"usage_minutes":" 120 ","machine_type":"Sun","client_code":200}`, wantMinutes: 120, wantType: "Sun"},
		{name: "float", body: `{"usage_minutes":59.9,"client_code":200}`, wantMinutes: 59},
		{name: "no machine type", body: `{"usage_minutes":0,"machine_type":null,"client_code":200}`, wantMinutes: 0},
		{name: "machine type not a string", body: `{"usage_minutes":7,"machine_type":3,"client_code":200}`, wantMinutes: 7},
		{name: "missing minutes", body: `{"machine_type":"Planet","client_code":200}`, wantErr: "usage_minutes is missing"},
		{name: "null minutes", body: `{"usage_minutes":null,"client_code":200}`, wantErr: "usage_minutes is missing"},
		{name: "minutes not a number", body: `{"usage_minutes":"lots","client_code":200}`, wantErr: "want a number of minutes"},
		{name: "minutes an object", body: `{"usage_minutes":{"a":1},"client_code":200}`, wantErr: "want a number of minutes"},
		{name: "not JSON", body: `<html>oops</html>`, wantErr: "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeJSON(w, 200, tt.body)
			})
			u, err := c.GetUsage(t.Context())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q (usage %+v)", err, tt.wantErr, u)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Minutes != tt.wantMinutes || u.MachineType != tt.wantType {
				t.Fatalf("usage = %+v, want %d %q", u, tt.wantMinutes, tt.wantType)
			}
			if r := s.reqs[0]; r.method != "GET" || r.path != testBase+"/usage" || r.auth == "" {
				t.Fatalf("request %s %s auth %q", r.method, r.path, r.auth)
			}
		})
	}
}

func TestClient_GetUsage_apiError(t *testing.T) {
	c, _ := newStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 403, `{"client_code":4710,"message":"Permission required"}`)
	})
	_, err := c.GetUsage(t.Context())
	if CodeOf(err) != 4710 {
		t.Fatalf("err = %v, code %d", err, CodeOf(err))
	}
}
