package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Every action INTERFACES.md names must be declared, and no key may be both
// recorded and secret.
func TestSpecs_declareEveryAction(t *testing.T) {
	contract := []string{"machine.create", "machine.update", "machine.start", "machine.stop", "machine.reset",
		"machine.permissions", "machine.performance", "machine.access_link", "task.activate", "task.delete",
		"user.create", "user.update", "auth.login", "auth.login_failed", "auth.logout"}
	for _, a := range contract {
		if _, ok := fleet.Specs[a]; !ok {
			t.Errorf("action %s is not declared in fleet.Specs", a)
		}
	}
	for name, spec := range fleet.Specs {
		for _, k := range spec.Record {
			if slices.Contains(spec.Secret, k) {
				t.Errorf("%s: %q is both recorded and secret", name, k)
			}
			if strings.Contains(k, "password") || k == "connection_link" {
				t.Errorf("%s records %q, which is a secret", name, k)
			}
		}
	}
}

// Every declared action has a label in words, distinct from the others, so
// the audit page never shows a bare machine.start.
func TestActionLabel(t *testing.T) {
	seen := map[string]string{}
	for name := range fleet.Specs {
		l := fleet.ActionLabel(name)
		if l == name || l == "" {
			t.Errorf("action %s has no label", name)
		}
		if other, dup := seen[l]; dup {
			t.Errorf("actions %s and %s share the label %q", name, other, l)
		}
		seen[l] = name
	}
	if got := fleet.ActionLabel(fleet.ActMachineStart); got != "Start machine" {
		t.Errorf("machine.start = %q", got)
	}
	if got := fleet.ActionLabel("no.such"); got != "no.such" {
		t.Errorf("unknown action = %q, want it unchanged", got)
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		action string
		in     fleet.Params
		want   string
	}{
		{fleet.ActMachineAccessLink, fleet.Params{"expires_in": 60, "connection_link": "https://app.vagon.io/team/session/x", "fingerprint": "abc", "junk": 1}, `{"expires_in":60,"fingerprint":"abc"}`},
		{fleet.ActUserCreate, fleet.Params{"email": "a@b.c", "password": "hunter2hunter2", "role": "viewer"}, `{"email":"a@b.c","role":"viewer"}`},
		{fleet.ActMachineReset, fleet.Params{"remove_files": true, "confirm": "Computer #1"}, `{"remove_files":true}`},
		{fleet.ActMachineStart, nil, `{}`},
	}
	for _, tt := range tests {
		if got := string(fleet.Filter(tt.action, tt.in)); got != tt.want {
			t.Errorf("Filter(%s) = %s, want %s", tt.action, got, tt.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Filter of an undeclared action did not panic")
		}
	}()
	fleet.Filter("machine.explode", nil)
}

func TestAuditor_Do(t *testing.T) {
	store := dbtest.Store(t)
	a := fleet.NewAuditor(store)
	ctx := context.Background()
	actor := fleet.Actor{Email: "op@x.io", Role: "operator", RemoteAddr: "127.0.0.1", RequestID: "r1"}

	// Success: started then succeeded; params added by the call are recorded.
	err := a.Do(ctx, actor, fleet.ActMachineAccessLink, "12", fleet.Params{"expires_in": 60}, func(ctx context.Context, p fleet.Params) error {
		p["fingerprint"] = "0123456789ab"
		p["connection_link"] = "https://secret"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// API failure: failed with the client_code and message.
	apiErr := &vagon.Error{Endpoint: "POST /machines/{id}/stop", HTTPStatus: 422, Code: 4204, Message: "Machine is not running"}
	err = a.Do(ctx, actor, fleet.ActMachineStop, "12", fleet.Params{"gracefully": true}, func(context.Context, fleet.Params) error { return apiErr })
	if !errors.Is(err, apiErr) {
		t.Fatalf("err = %v", err)
	}
	rows, _, err := store.ListAudit(ctx, db.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(rows)
	type row struct{ action, outcome, machine, msg string }
	var got []row
	for _, r := range rows {
		got = append(got, row{r.Action, r.Outcome, r.MachineID, r.Message})
		if strings.Contains(string(r.Params), "secret") {
			t.Errorf("row %d stores a secret: %s", r.ID, r.Params)
		}
	}
	want := []row{
		{"machine.access_link", "started", "12", ""},
		{"machine.access_link", "succeeded", "12", "OK"},
		{"machine.stop", "started", "12", ""},
		{"machine.stop", "failed", "12", "Machine is not running"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rows = %+v", got)
	}
	var p map[string]any
	_ = json.Unmarshal(rows[1].Params, &p)
	if p["fingerprint"] != "0123456789ab" || rows[3].ErrorCode == nil || *rows[3].ErrorCode != 4204 {
		t.Fatalf("params %v code %v", p, rows[3].ErrorCode)
	}
}

// When the started row can't be written, the call is never made.
func TestAuditor_Do_failsClosed(t *testing.T) {
	store := dbtest.Store(t)
	a := fleet.NewAuditor(store)
	store.Close()
	called := false
	err := a.Do(context.Background(), fleet.Actor{Email: "a@b.c", Role: "admin"}, fleet.ActMachineStart, "1", nil,
		func(context.Context, fleet.Params) error { called = true; return nil })
	if !errors.Is(err, fleet.ErrAuditUnavailable) || called {
		t.Fatalf("err = %v, called = %v", err, called)
	}
}
