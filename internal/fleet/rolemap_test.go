package fleet

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRoleMap(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []RoleMapEntry
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"one", "it-admins=admin", []RoleMapEntry{{"it-admins", "admin"}}, ""},
		{"spaces and empty entries", " it = operator , ,desk=helpdesk,", []RoleMapEntry{{"it", "operator"}, {"desk", "helpdesk"}}, ""},
		{"path group", "/it/admins=admin", []RoleMapEntry{{"/it/admins", "admin"}}, ""},
		{"a comma splits entries", "cn=admins,ou=it=admin", nil, `unknown role "admins"`},
		{"ldap dn group", "cn=admins;ou=it=admin", []RoleMapEntry{{"cn=admins;ou=it", "admin"}}, ""},
		{"object id", "3f1b2c4d-0000-4000-8000-000000000001=viewer", []RoleMapEntry{{"3f1b2c4d-0000-4000-8000-000000000001", "viewer"}}, ""},
		{"same entry twice", "a=viewer,a=viewer", []RoleMapEntry{{"a", "viewer"}}, ""},
		{"unknown role", "it=root", nil, `unknown role "root"`},
		{"role in capitals", "it=Admin", nil, `unknown role "Admin"`},
		{"no =", "it-admins", nil, "not group=role"},
		{"no group", "=admin", nil, "no group"},
		{"no role", "it=", nil, `unknown role ""`},
		{"mapped twice", "a=viewer,a=admin", nil, "mapped twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseRoleMap(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Entries(); !slices.Equal(got, tt.want) {
				t.Errorf("entries %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoleMap_Resolve(t *testing.T) {
	m, err := ParseRoleMap("viewers=viewer,desk=helpdesk,it=operator,it-leads=admin,also-desk=helpdesk")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		groups      []string
		def         string
		wantRole    string
		wantMatched []string
		wantOK      bool
	}{
		{"one group", []string{"desk"}, "", "helpdesk", []string{"desk"}, true},
		{"highest wins", []string{"viewers", "it-leads", "desk"}, "", "admin", []string{"viewers", "desk", "it-leads"}, true},
		{"highest wins whatever the order", []string{"it", "viewers"}, "", "operator", []string{"viewers", "it"}, true},
		{"unmapped groups ignored", []string{"sales", "desk"}, "", "helpdesk", []string{"desk"}, true},
		{"two groups same role", []string{"desk", "also-desk"}, "", "helpdesk", []string{"desk", "also-desk"}, true},
		{"no match, no default: refused", []string{"sales"}, "", "", nil, false},
		{"no groups, no default: refused", nil, "", "", nil, false},
		{"no match: default", []string{"sales"}, "viewer", "viewer", nil, true},
		{"match beats a higher default", []string{"viewers"}, "operator", "viewer", []string{"viewers"}, true},
		{"unknown default is no default", []string{"sales"}, "root", "", nil, false},
		{"case matters", []string{"DESK"}, "", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			role, matched, ok := m.Resolve(tt.groups, tt.def)
			if role != tt.wantRole || ok != tt.wantOK || !slices.Equal(matched, tt.wantMatched) {
				t.Errorf("Resolve(%v, %q) = %q, %v, %v; want %q, %v, %v", tt.groups, tt.def, role, matched, ok, tt.wantRole, tt.wantMatched, tt.wantOK)
			}
		})
	}
	var empty RoleMap
	if role, _, ok := empty.Resolve([]string{"x"}, "helpdesk"); !ok || role != "helpdesk" {
		t.Errorf("empty map with default: %q %v", role, ok)
	}
}
