package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// TestMachinePage_permissionFields: the permissions form has a toggle per
// key GET /machines/permission-fields lists — the seven when the endpoint
// is missing — and a key the dashboard does not know is shown disabled,
// labelled from its name, and never sent.
func TestMachinePage_permissionFields(t *testing.T) {
	t.Parallel()
	listed := []vagon.PermissionField{
		{Name: vagon.PermClipboard, Type: "boolean"},
		{Name: vagon.PermScreenRecording, Type: "boolean"},
		{Name: "some_new_flag", Type: "boolean", Default: true},
	}
	for _, tc := range []struct {
		name     string
		sim      func(*vagonsim.Options)
		keys     []string // toggles in order
		readOnly []string
	}{
		{"endpoint missing: the seven", func(o *vagonsim.Options) { o.NoPermissionFields = true }, vagon.PermissionKeys, nil},
		{"the API's list", func(o *vagonsim.Options) { o.PermissionFields = listed },
			[]string{vagon.PermClipboard, vagon.PermScreenRecording, "some_new_flag"}, []string{"some_new_flag"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app := newTestApp(t, withSim(tc.sim))
			pw := app.CreateUser(t, "pf@example.com", fleet.RoleOperator)
			c := app.Login(t, "pf@example.com", pw)
			id := app.MachineID(t)
			resp, doc := c.Get(t, "/machines/"+id)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var got, disabled, named []string
			doc.Find(`[data-testid="permissions-form"] input[type="checkbox"]`).Each(func(_ int, s *goquery.Selection) {
				tid, _ := s.Attr("data-testid")
				key := tid[len("perm-"):]
				got = append(got, key)
				if _, ok := s.Attr("disabled"); ok {
					disabled = append(disabled, key)
				}
				if _, ok := s.Attr("name"); ok {
					named = append(named, key)
				}
			})
			if !slices.Equal(got, tc.keys) {
				t.Fatalf("toggles %v, want %v", got, tc.keys)
			}
			if !slices.Equal(disabled, tc.readOnly) {
				t.Errorf("disabled %v, want %v", disabled, tc.readOnly)
			}
			for _, k := range tc.readOnly {
				if slices.Contains(named, k) || doc.Find(`input[name="seen_`+k+`"]`).Length() != 0 {
					t.Errorf("%s is sent with the form", k)
				}
				if doc.Find(`[data-testid="perm-readonly-`+k+`"]`).Length() != 1 {
					t.Errorf("%s has no not-supported note", k)
				}
				if _, on := doc.Find(`[data-testid="perm-` + k + `"]`).Attr("checked"); !on {
					t.Errorf("%s not shown at its default (on)", k)
				}
			}
			if tc.readOnly != nil {
				if l := doc.Find(`[data-testid="section-permissions"]`).Text(); !strings.Contains(l, "Some new flag") {
					t.Errorf("no generic label in %q", l)
				}
			}
		})
	}
}

// TestSetPermissions_onlyListedKeys: the handler takes exactly the listed
// keys the dashboard knows; a key left out of the list, or unknown, in the
// form is ignored.
func TestSetPermissions_onlyListedKeys(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, withSim(func(o *vagonsim.Options) {
		o.PermissionFields = []vagon.PermissionField{{Name: vagon.PermClipboard, Type: "boolean"}, {Name: "some_new_flag", Type: "boolean"}}
	}))
	pw := app.CreateUser(t, "pf2@example.com", fleet.RoleOperator)
	c := app.Login(t, "pf2@example.com", pw)
	id := app.MachineID(t)
	m, _ := app.Sim.Machine(id)
	before := m.Attributes.Permissions.AsMap()
	// Flip the listed clipboard key; send screen recording (not listed)
	// flipped too, and the unknown key: only clipboard may change.
	form := url.Values{"some_new_flag": {"true"}}
	if !before[vagon.PermClipboard] {
		form.Set(vagon.PermClipboard, "true")
	}
	if !before[vagon.PermScreenRecording] {
		form.Set(vagon.PermScreenRecording, "true")
	}
	resp, _ := c.PostForm(t, "/machines/"+id+"/permissions", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", resp.StatusCode)
	}
	m, _ = app.Sim.Machine(id)
	after := m.Attributes.Permissions.AsMap()
	for k, was := range before {
		if changed := after[k] != was; changed != (k == vagon.PermClipboard) {
			t.Errorf("%s: %v → %v", k, was, after[k])
		}
	}
}
