package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// TestService_actions_stateRules: each action's state rule skips or
// refuses without a call to Vagon; with the machine given no row is
// written, read inside the call the row records the skip or refusal.
func TestService_actions_stateRules(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 4)
	ctx := context.Background()
	id := e.sim.MachineIDs()[0]
	read := func(t *testing.T, st vagon.Status) *vagon.Machine {
		t.Helper()
		if err := e.sim.SetStatus(id, st); err != nil {
			t.Fatal(err)
		}
		e.svc.Invalidate(vagon.ID(id))
		m, _ := e.sim.Machine(id)
		return &m
	}
	cases := []struct {
		name    string
		status  vagon.Status
		given   bool
		do      func(m *vagon.Machine) (*fleet.ActionResult, error)
		action  string
		refused bool
		reason  string
	}{
		{"start running, given", vagon.StatusReady, true, func(m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.Start(ctx, e.actor, id, fleet.StartInput{Machine: m})
		}, fleet.ActMachineStart, false, "Already running."},
		{"start running, read", vagon.StatusReady, false, func(m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.Start(ctx, e.actor, id, fleet.StartInput{})
		}, fleet.ActMachineStart, false, "Already running."},
		{"stop off", vagon.StatusOff, true, func(m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.Stop(ctx, e.actor, id, fleet.StopInput{Machine: m, Gracefully: true})
		}, fleet.ActMachineStop, false, "Already off."},
		{"stop creating, read", vagon.StatusCreating, false, func(m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.Stop(ctx, e.actor, id, fleet.StopInput{})
		}, fleet.ActMachineStop, true, "Not running (creating), so there is nothing to stop."},
		{"reset running", vagon.StatusReady, true, func(m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.Reset(ctx, e.actor, id, fleet.ResetInput{Machine: m})
		}, fleet.ActMachineReset, true, "Stop the machine to reset it."},
		{"performance running, read", vagon.StatusReady, false, func(m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.SetPerformance(ctx, e.actor, id, fleet.PerformanceInput{MachineTypeID: "2"})
		}, fleet.ActMachinePerformance, true, "Stop the machine to change its performance."},
		{"task on a starting machine", vagon.StatusTurningOn, true, func(m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.ActivateTask(ctx, e.actor, id, fleet.ActivateTaskInput{Machine: m, UID: "render"})
		}, fleet.ActTaskActivate, true, "The machine must be off to change its tasks; it is turning on now. Nothing was sent to Vagon."},
		{"delete the Outputs task", vagon.StatusOff, true, func(m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.DeleteTask(ctx, e.actor, id, fleet.DeleteTaskInput{Machine: m, TaskID: "1", UID: vagon.OutputsTaskUID})
		}, fleet.ActTaskDelete, true, "The default Outputs task can't be deleted. Nothing was sent to Vagon."},
		{"permissions as chosen", vagon.StatusOff, true, func(m *vagon.Machine) (*fleet.ActionResult, error) {
			cur := m.Attributes.Permissions.AsMap()
			return e.svc.SetPermissions(ctx, e.actor, id, fleet.PermissionsInput{Machine: m, Set: map[string]bool{vagon.PermClipboard: cur[vagon.PermClipboard]}})
		}, fleet.ActMachinePermissions, false, "Permissions already as chosen."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := read(t, tc.status)
			rowsBefore := len(auditRows(t, e.store, tc.action))
			writes := e.sim.Total() - e.sim.Count("GET /machines")
			res, err := tc.do(m)
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if res.Status != fleet.ActionSkipped || res.Refused != tc.refused || res.Message != tc.reason {
				t.Fatalf("result %+v, want skipped (refused %v) %q", res, tc.refused, tc.reason)
			}
			if got := e.sim.Total() - e.sim.Count("GET /machines"); got != writes {
				t.Fatalf("%d calls other than reads reached Vagon", got-writes)
			}
			rows := auditRows(t, e.store, tc.action)[rowsBefore:]
			switch {
			case tc.given && len(rows) != 0:
				t.Fatalf("rows %+v, want none when the rule is checked before the started row", rows)
			case !tc.given && len(rows) != 2:
				t.Fatalf("rows %+v, want started and its outcome", rows)
			case !tc.given && tc.refused && (rows[1].Outcome != db.OutcomeFailed || rows[1].Message != tc.reason):
				t.Fatalf("outcome row %s %q", rows[1].Outcome, rows[1].Message)
			case !tc.given && !tc.refused && (rows[1].Outcome != db.OutcomeSucceeded || !strings.Contains(string(rows[1].Params), tc.reason)):
				t.Fatalf("outcome row %s %s", rows[1].Outcome, rows[1].Params)
			}
		})
	}
}

// TestService_actions_paramsShapeOneForBulkAndPage: the same change made
// with a bulk origin and without one records the same params, but for
// bulk_op_id; the page's and bulk's rows can't drift apart again.
func TestService_actions_paramsShapeOneForBulkAndPage(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 4)
	ctx := context.Background()
	ids := e.machines(t, 2, vagon.StatusOff)
	for _, id := range ids {
		var u vagon.PermissionsUpdate
		u.Set(vagon.PermClipboard, false)
		u.Set(vagon.PermScreenRecording, false)
		if err := e.api.UpdatePermissions(ctx, id, u); err != nil {
			t.Fatal(err)
		}
		// Same state everywhere else, so the two params compare.
		src := e.sim.MachineIDs()[0]
		m, _ := e.sim.Machine(src)
		var all vagon.PermissionsUpdate
		for k, v := range m.Attributes.Permissions.AsMap() {
			if k != vagon.PermClipboard && k != vagon.PermScreenRecording {
				all.Set(k, v)
			}
		}
		if err := e.api.UpdatePermissions(ctx, id, all); err != nil {
			t.Fatal(err)
		}
	}
	n := 900
	type call func(id string, via fleet.Origin, m *vagon.Machine) (*fleet.ActionResult, error)
	cases := []struct {
		name, action string
		do           call
	}{
		{"permissions", fleet.ActMachinePermissions, func(id string, via fleet.Origin, m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.SetPermissions(ctx, e.actor, id, fleet.PermissionsInput{Via: via, Machine: m, Set: map[string]bool{vagon.PermClipboard: true}})
		}},
		{"settings", fleet.ActMachineUpdate, func(id string, via fleet.Origin, m *vagon.Machine) (*fleet.ActionResult, error) {
			return e.svc.UpdateSettings(ctx, e.actor, id, fleet.SettingsInput{Via: via, Machine: m, AutoStopThreshold: &n})
		}},
		{"stop", fleet.ActMachineStop, func(id string, via fleet.Origin, m *vagon.Machine) (*fleet.ActionResult, error) {
			if err := e.sim.SetStatus(id, vagon.StatusReady); err != nil {
				t.Fatal(err)
			}
			mm, _ := e.sim.Machine(id)
			return e.svc.Stop(ctx, e.actor, id, fleet.StopInput{Via: via, Machine: &mm, Gracefully: true})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var params []map[string]any
			for i, via := range []fleet.Origin{{BulkOpID: 7}, {}} {
				zero, src := 0, vagon.UsageSourceTeamBalance
				if _, err := e.api.UpdateMachine(ctx, ids[i], &vagon.UpdateMachineRequest{AutoStopThreshold: &zero, UsageSource: &src}); err != nil {
					t.Fatal(err)
				}
				m, _ := e.sim.Machine(ids[i])
				res, err := tc.do(ids[i], via, &m)
				if err != nil || res.Status != fleet.ActionDone {
					t.Fatalf("%+v %v", res, err)
				}
				rows := auditRows(t, e.store, tc.action)
				var p map[string]any
				if err := json.Unmarshal(rows[len(rows)-1].Params, &p); err != nil {
					t.Fatal(err)
				}
				params = append(params, p)
			}
			if params[0]["bulk_op_id"] != float64(7) {
				t.Fatalf("bulk params %v lack bulk_op_id", params[0])
			}
			delete(params[0], "bulk_op_id")
			if !reflect.DeepEqual(params[0], params[1]) {
				t.Fatalf("params differ:\nbulk %v\npage %v", params[0], params[1])
			}
			if tc.action == fleet.ActMachinePermissions {
				before, _ := params[1]["before"].(map[string]any)
				after, _ := params[1]["after"].(map[string]any)
				if len(before) != 7 || len(after) != 7 || before[vagon.PermClipboard] != false || after[vagon.PermClipboard] != true {
					t.Fatalf("permissions params %v", params[1])
				}
			}
		})
	}
}

// TestService_Start_unknownOutcome: a start answered by a gateway 504 is
// unknown (not failed), recorded so, and sent once.
func TestService_Start_unknownOutcome(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 3)
	id := e.machines(t, 1, vagon.StatusOff)[0]
	e.sim.Enqueue("POST /machines/{id}/start", 1, vagonsim.GatewayError(504, false))
	res, err := e.svc.Start(context.Background(), e.actor, id, fleet.StartInput{Via: fleet.Origin{ScheduleID: 3, ScheduleRunID: 9}})
	var unknown *fleet.UnknownOutcomeError
	if !errors.As(err, &unknown) || res.Status != fleet.ActionUnknown || res.Message != fleet.UnknownOutcomeText(fleet.ActMachineStart) {
		t.Fatalf("%+v %v", res, err)
	}
	if n := e.sim.Count("POST /machines/{id}/start"); n != 1 {
		t.Fatalf("start sent %d times", n)
	}
	rows := auditRows(t, e.store, fleet.ActMachineStart)
	last := rows[len(rows)-1]
	if last.Outcome != db.OutcomeUnknown || !strings.Contains(string(last.Params), `"schedule_run_id": 9`) || !strings.Contains(string(last.Params), `"schedule_id": 3`) {
		t.Fatalf("row %s %s", last.Outcome, last.Params)
	}
}

// TestService_actions_failedAndAuditDown: an API refusal is failed with
// the one explanation and its client_code; with the audit log down nothing
// at all (not even a read) reaches Vagon.
func TestService_actions_failedAndAuditDown(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, 3)
	id := e.machines(t, 1, vagon.StatusOff)[0]
	e.sim.Enqueue("POST /machines/{id}/start", 1, vagonsim.APIError(vagon.CodeInsufficientBalance, "no money"))
	res, err := e.svc.Start(context.Background(), e.actor, id, fleet.StartInput{})
	if _, ok := vagon.AsError(err); !ok || res.Status != fleet.ActionFailed || res.ClientCode != vagon.CodeInsufficientBalance ||
		res.Message != fleet.ExplainAPIError(err) || !strings.Contains(res.Message, "(Vagon code 480: no money)") {
		t.Fatalf("%+v %v", res, err)
	}

	closed := e.open(t)
	closed.Close()
	down := fleet.NewService(e.api, closed, fleet.ServiceOptions{})
	total := e.sim.Total()
	m, _ := e.sim.Machine(id)
	for name, do := range map[string]func() (*fleet.ActionResult, error){
		"start": func() (*fleet.ActionResult, error) {
			return down.Start(context.Background(), e.actor, id, fleet.StartInput{})
		},
		"reset": func() (*fleet.ActionResult, error) {
			return down.Reset(context.Background(), e.actor, id, fleet.ResetInput{Machine: &m})
		},
		"access": func() (*fleet.ActionResult, error) {
			return down.IssueAccessLink(context.Background(), e.actor, id, fleet.AccessLinkInput{ExpiresIn: 5})
		},
		"create": func() (*fleet.ActionResult, error) {
			return down.Create(context.Background(), e.actor, fleet.CreateInput{Request: &vagon.CreateMachinesRequest{PlanID: 1, Quantity: 1}})
		},
	} {
		res, err := do()
		if !errors.Is(err, fleet.ErrAuditUnavailable) || res.Status != fleet.ActionFailed || res.Message != fleet.AuditUnavailableText {
			t.Errorf("%s: %+v %v", name, res, err)
		}
	}
	if got := e.sim.Total(); got != total {
		t.Fatalf("%d calls reached Vagon with the audit log down: %v", got-total, e.sim.Counts())
	}
}

// TestActConstants_haveSpecAndLabel walks every Act* constant of the
// package's source (so a new one can't be forgotten): each is declared in
// Specs, has a label, and records no key it also keeps secret.
func TestActConstants_haveSpecAndLabel(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	values := map[string]string{}
	for _, f := range pkgs["fleet"].Files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "Act") || strings.HasPrefix(n.Name, "Action") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Errorf("%s is not a string literal", n.Name)
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					names = append(names, n.Name)
					values[n.Name] = v
				}
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d Act* constants: %v", len(names), names)
	}
	seen := map[string]string{}
	for _, n := range names {
		v := values[n]
		if prev, dup := seen[v]; dup {
			t.Errorf("%s and %s are both %q", n, prev, v)
		}
		seen[v] = n
		spec, ok := fleet.Specs[v]
		if !ok {
			t.Errorf("%s (%s) has no Spec", n, v)
			continue
		}
		if fleet.ActionLabel(v) == v {
			t.Errorf("%s (%s) has no label", n, v)
		}
		for _, k := range spec.Record {
			if slices.Contains(spec.Secret, k) {
				t.Errorf("%s: %q is both recorded and secret", v, k)
			}
		}
	}
	if extra := slices.Collect(maps.Keys(fleet.Specs)); len(extra) != len(names) {
		t.Errorf("Specs declares %d actions, the source %d constants", len(extra), len(names))
	}
}

func TestValidMachineID(t *testing.T) {
	for id, want := range map[string]bool{
		"1": true, "100": true, "9223372036854775807": true,
		"": false, "0": false, "0100": false, "-1": false, "+1": false, "1e3": false, " 1": false,
		"9223372036854775808": false, "12345678901234567890": false, "١٢": false,
	} {
		if got := fleet.ValidMachineID(id); got != want {
			t.Errorf("ValidMachineID(%q) = %v, want %v", id, got, want)
		}
	}
}
