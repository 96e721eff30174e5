package archtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The vocabulary rule (issue 10, "one vocabulary home"): roles, permission
// keys and labels, action names and error words live once, in
// internal/fleet. Templates get Can flags computed from the route table and
// hold no role rule of their own. These tests read the source to keep it so.

// root is the module's root, from this package's directory.
const root = "../.."

// sources returns the files under dir (relative to root) whose names end
// in one of exts, without tests and generated templ code.
func sources(t *testing.T, dir string, exts ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() || strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, "_templ.go") {
			return nil
		}
		for _, ext := range exts {
			if strings.HasSuffix(name, ext) {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(root, path)
				out[filepath.ToSlash(rel)] = string(b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no %v files under %s", exts, dir)
	}
	return out
}

var (
	roleWord = `"(viewer|helpdesk|operator|admin)"`
	// roleCompare is a comparison with a role name as a literal.
	roleCompare = regexp.MustCompile(`(==|!=)\s*` + roleWord + `|` + roleWord + `\s*(==|!=)`)
	// roleCheck is a role check of the old views API (u.Can(min),
	// RoleRank) or one of views' own role constants.
	roleCheck = regexp.MustCompile(`\.Can\(|\bRoleRank\b|\bRoleAtLeast\b|\bRole(Viewer|Helpdesk|Operator|Admin)\b`)
	// roleLiteral is a role name as a string literal.
	roleLiteral = regexp.MustCompile(roleWord)
	// permKey is one of the seven API permission keys as a literal.
	permKey = regexp.MustCompile(`"(public_internet_access|can_download_from_vagon_workstation|can_upload_to_workstation|analytics_collection_enabled|clipboard_enabled|screen_recording_enabled|input_recording_enabled)"`)
)

func lineOf(src string, i int) int { return strings.Count(src[:i], "\n") + 1 }

// TestViews_noRoleRules: no template or view model checks a role; the
// web layer passes Can flags (and the role list, where a select needs it).
func TestViews_noRoleRules(t *testing.T) {
	for path, src := range sources(t, "internal/views", ".templ", ".go") {
		for _, re := range []*regexp.Regexp{roleCheck, roleCompare} {
			for _, loc := range re.FindAllStringIndex(src, -1) {
				t.Errorf("%s:%d: %q: a role rule in views; pass a Can flag computed from the route table instead", path, lineOf(src, loc[0]), src[loc[0]:loc[1]])
			}
		}
	}
}

// TestWeb_noRoleLiterals: handlers name roles by fleet's constants.
func TestWeb_noRoleLiterals(t *testing.T) {
	for _, dir := range []string{"internal/web", "cmd"} {
		for path, src := range sources(t, dir, ".go") {
			for _, loc := range roleLiteral.FindAllStringIndex(src, -1) {
				t.Errorf("%s:%d: %s: use fleet.Role* / fleet.Roles", path, lineOf(src, loc[0]), src[loc[0]:loc[1]])
			}
		}
	}
}

// TestPermissionKeys_oneHome: the permission keys are spelled only in
// vagon (the wire names) and fleet (the labels); everything else ranges
// over fleet.Permissions.
func TestPermissionKeys_oneHome(t *testing.T) {
	for _, dir := range []string{"internal/web", "internal/views", "internal/db", "cmd"} {
		for path, src := range sources(t, dir, ".go", ".templ") {
			for _, loc := range permKey.FindAllStringIndex(src, -1) {
				t.Errorf("%s:%d: %s: use fleet.Permissions (or vagon.Perm*)", path, lineOf(src, loc[0]), src[loc[0]:loc[1]])
			}
		}
	}
}
