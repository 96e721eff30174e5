// Package archtest holds the test that keeps the dependency rules of
// STYLE.md point 1: cmd wires; web imports views, fleet, vagon, db; views
// imports only templ and the standard library; vagon only the standard
// library; vagonsim may import vagon; db only pgx and goose (for the
// embedded migrations); nothing imports web; fleet imports neither web nor
// views; only cmd/dashboard imports internal/jobs, and only jobs and the
// command import River. It has no code of its own and sits below nothing.
package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/vagon-dashboard/dashboard"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// list runs go list -deps -json over the module's packages (test files
// excluded: a test may import what it checks against) and returns them by
// import path, dependencies included.
func list(t *testing.T) map[string]pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps", mod+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// std reports whether path is in the standard library (its first element
// has no dot).
func std(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

func TestDependencyRules(t *testing.T) {
	pkgs := list(t)
	in := func(name string) pkg {
		p, ok := pkgs[mod+"/internal/"+name]
		if !ok {
			t.Fatalf("package internal/%s not found", name)
		}
		return p
	}
	rules := []struct {
		pkg string
		// deps: every package in the transitive closure must pass allowed.
		deps    bool
		allowed func(string) bool
		rule    string
	}{
		{"vagon", true, std, "vagon imports only the standard library"},
		{"vagon/vagonsim", true, func(p string) bool { return std(p) || p == mod+"/internal/vagon" },
			"vagonsim imports only the standard library and vagon's wire types"},
		{"views", true, func(p string) bool {
			return std(p) || under(p, "github.com/a-h/templ") || under(p, mod+"/internal/views")
		},
			"views imports only templ, the standard library and its own packages"},
		{"db", false, func(p string) bool {
			return std(p) || under(p, "github.com/jackc/pgx/v5") || under(p, "github.com/pressly/goose/v3") || p == mod+"/migrations"
		}, "db imports only pgx, goose and the embedded migrations"},
		{"fleet", true, func(p string) bool { return !under(p, mod+"/internal/web") && !under(p, mod+"/internal/views") },
			"fleet imports neither web nor views"},
		{"web", false, webAllowed,
			"web imports the standard library, echo, gorilla, templ, prometheus, golang.org/x and the module's views, fleet, vagon, db, csvsafe, passwd, config, oidc and static (never pgx, River or jobs)"},
		{"oidc", false, func(p string) bool {
			return std(p) || under(p, "github.com/coreos/go-oidc/v3") || under(p, "golang.org/x/oauth2")
		}, "oidc imports only the standard library, go-oidc and x/oauth2 (no hand-rolled JOSE, nothing of the app)"},
	}
	for _, r := range rules {
		p := in(r.pkg)
		check := p.Imports
		if r.deps {
			check = p.Deps
		}
		for _, d := range check {
			if !r.allowed(d) {
				t.Errorf("%s: internal/%s depends on %s", r.rule, r.pkg, d)
			}
		}
	}
	// Only the command that wires it imports internal/jobs, and only jobs
	// (and the command) import River: web and fleet reach the queue
	// through fleet's interfaces. Test files are not listed, so tests may.
	for path, p := range pkgs {
		if !under(path, mod) || path == mod+"/cmd/dashboard" {
			continue
		}
		for _, d := range p.Imports {
			if under(d, mod+"/internal/jobs") {
				t.Errorf("%s imports %s: only cmd/dashboard imports jobs", path, d)
			}
			if under(d, "github.com/riverqueue") && !under(path, mod+"/internal/jobs") {
				t.Errorf("%s imports %s: only internal/jobs (and cmd/dashboard) import River", path, d)
			}
		}
	}
	// The test identity provider (zitadel's OP) is for tests only: the
	// binary holds neither oidctest nor zitadel.
	for _, d := range pkgs[mod+"/cmd/dashboard"].Deps {
		if under(d, mod+"/internal/oidc/oidctest") || under(d, "github.com/zitadel") {
			t.Errorf("cmd/dashboard depends on %s: the test identity provider must stay out of the binary", d)
		}
	}
	// Nothing imports web but the command that wires it.
	for path, p := range pkgs {
		if !under(path, mod) || path == mod+"/cmd/dashboard" || under(path, mod+"/internal/web") {
			continue
		}
		for _, d := range p.Imports {
			if under(d, mod+"/internal/web") {
				t.Errorf("%s imports %s: nothing imports web", path, d)
			}
		}
	}
}

// webAllowed is what internal/web may import directly.
func webAllowed(p string) bool {
	if std(p) {
		return true
	}
	for _, prefix := range []string{
		"github.com/labstack/echo/v4", "github.com/gorilla", "github.com/a-h/templ",
		"github.com/prometheus/client_golang", "golang.org/x",
		mod + "/internal/views", mod + "/internal/fleet", mod + "/internal/vagon", mod + "/internal/db",
		mod + "/internal/csvsafe", mod + "/internal/passwd", mod + "/internal/config", mod + "/internal/oidc", mod + "/static",
	} {
		if under(p, prefix) {
			return true
		}
	}
	return false
}
