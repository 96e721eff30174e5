package web

import (
	"net/http"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// routeAllows is the route table's answer for role: the rule allowed
// applies to the signed-in user. It fails the test when the route is gone,
// so a control is never checked against a route that does not exist.
func routeAllows(t *testing.T, s *Server, role, method, path string) bool {
	t.Helper()
	for _, r := range s.Routes() {
		if r.Method == method && r.Path == path {
			return r.MinRole == Public || fleet.RoleAtLeast(role, r.MinRole)
		}
	}
	t.Fatalf("no route %s %s", method, path)
	return false
}

// TestMachinePage_controlsFollowRoutes: for every role, each control of the
// machine page shows exactly when the route its form posts to (or its link
// leads to) would allow that role, so a button is never offered that is
// then refused, nor hidden from a role that may use it.
func TestMachinePage_controlsFollowRoutes(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	id := f.app.MachineID(t)
	f.setStatus(t, id, vagon.StatusOff)
	// A task other than the default Outputs one, so a delete button can show.
	if _, err := f.app.API.ActivateTask(t.Context(), id, "canx-controls"); err != nil {
		t.Fatal(err)
	}
	controls := []struct {
		path   string // POST route of the control
		testID string
	}{
		{"/machines/:id/start", "action-start"},
		{"/machines/:id/stop", "action-stop"},
		{"/machines/:id/reset", "action-reset"},
		{"/machines/:id/reset", "reset-form"},
		{"/machines/:id/access", "action-access"},
		{"/machines/:id/access", "access-form"},
		{"/machines/:id/permissions", "permissions-submit"},
		{"/machines/:id/machine-type", "performance-submit"},
		{"/machines/:id/settings", "settings-form"},
		{"/machines/:id/tasks", "task-form"},
		{"/machines/:id/tasks/:task_id/delete", "task-delete"},
	}
	for _, role := range fleet.Roles {
		t.Run(role, func(t *testing.T) {
			resp, doc := f.clients[role].Get(t, "/machines/"+id)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			any := false
			for _, ct := range controls {
				want := routeAllows(t, f.app.Server, role, http.MethodPost, ct.path)
				any = any || want
				if got := doc.Find(testID(ct.testID)).Length() > 0; got != want {
					t.Errorf("%s shown = %v, but POST %s allowed = %v", ct.testID, got, ct.path, want)
				}
			}
			// The read-only note shows when no overview action is allowed.
			if got := doc.Find(testID("actions-readonly")).Length() > 0; got == any {
				t.Errorf("actions-readonly shown = %v with some action allowed = %v", got, any)
			}
		})
	}
}

// TestPages_navAndBulkFollowRoutes: the nav's Users and Jobs links and the
// fleet list's bulk form show exactly when their routes allow the role;
// the audit link names what the audit page shows the role.
func TestPages_navAndBulkFollowRoutes(t *testing.T) {
	t.Parallel()
	f := newMachineFixture(t)
	for _, role := range fleet.Roles {
		t.Run(role, func(t *testing.T) {
			resp, doc := f.clients[role].Get(t, "/machines")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for _, ct := range []struct{ method, path, testID string }{
				{http.MethodGet, "/users", "nav-users"},
				{http.MethodGet, "/jobs", "nav-jobs"},
				{http.MethodPost, "/bulk", "bulk-form"},
				{http.MethodPost, "/machines", "create-machines-link"},
			} {
				want := routeAllows(t, f.app.Server, role, ct.method, ct.path)
				if got := doc.Find(testID(ct.testID)).Length() > 0; got != want {
					t.Errorf("%s shown = %v, but %s %s allowed = %v", ct.testID, got, ct.method, ct.path, want)
				}
			}
			wantAudit := "My activity"
			if role == fleet.RoleAdmin {
				wantAudit = "Audit"
			}
			if got := doc.Find(testID("nav-audit")).Text(); got != wantAudit {
				t.Errorf("audit link %q, want %q", got, wantAudit)
			}
		})
	}
}
