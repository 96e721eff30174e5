package views_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/views"
)

var spaces = regexp.MustCompile(`\s+`)

// TestTemplWhitespace (issue 9.17): text next to a component or an if block
// at a line break keeps its space ("submittedjust now" was the bug).
func TestTemplWhitespace(t *testing.T) {
	code := 4204
	op := views.BulkOpView{ID: 3, Action: "stop", ActionLabel: "Stop", Status: "running", Summary: []string{"Stop gracefully"},
		ActorEmail: "op@example.com", CreatedAt: t0, Total: 1,
		Items: []views.BulkItemRow{{MachineID: "12", MachineName: "m12", State: "failed", Message: "not running", ClientCode: &code}}}
	p := samplePage("operator")
	p.RequestID = "req-1"
	doc, _ := render(t, views.BulkOpPage(p, op))
	read := func(sel string) string {
		return strings.TrimSpace(spaces.ReplaceAllString(doc.Find(sel).First().Text(), " "))
	}
	for sel, want := range map[string]string{
		".page-header p.muted":              "By op@example.com, submitted " + views.FormatTime(t0) + " · Stop gracefully",
		`[data-testid="bulk-item-message"]`: "not running (code 4204)",
		"footer.footer":                     "Vagon Fleet · request req-1",
	} {
		if got := read(sel); got != want {
			t.Errorf("%s reads %q, want %q", sel, got, want)
		}
	}
}

var (
	attrLine  = regexp.MustCompile(`^[a-z][a-z-]*(=|\?=|$)`)
	notTextRe = regexp.MustCompile(`^(<|@|}|if |else|for |switch |case |default:|//|\{\{)`)
)

// templTextBeforeCall finds, in a .templ source, a text line directly
// followed by a component call: templ drops the white space at that line
// break, so the text runs into the component's ("submittedjust now").
// Writing { " " } at the end of the text line keeps the space.
func templTextBeforeCall(src string) []int {
	lines := strings.Split(src, "\n")
	var bad []int
	inTempl := false
	for i := 0; i+1 < len(lines); i++ {
		raw := lines[i]
		if strings.HasPrefix(raw, "templ ") {
			inTempl = true
			continue
		}
		if raw == "}" {
			inTempl = false
			continue
		}
		a, b := strings.TrimSpace(raw), strings.TrimSpace(lines[i+1])
		if !inTempl || a == "" || !strings.HasPrefix(b, "@") {
			continue
		}
		if notTextRe.MatchString(a) || attrLine.MatchString(a) || strings.HasSuffix(a, ">") ||
			strings.HasSuffix(a, "{") || strings.HasSuffix(a, `{ " " }`) || strings.HasSuffix(a, ` " }`) {
			continue
		}
		bad = append(bad, i+1)
	}
	return bad
}

// TestTemplSources_noTextRunsIntoAComponent checks every .templ file of
// the package for the whitespace bug of issue 9.17.
func TestTemplSources_noTextRunsIntoAComponent(t *testing.T) {
	if got := templTextBeforeCall("templ x() {\n\t<p>\n\t\tBy { a }, submitted\n\t\t@RelTime(t)\n\t</p>\n}\n"); len(got) != 1 || got[0] != 3 {
		t.Fatalf("the check misses the known bug: %v", got)
	}
	if got := templTextBeforeCall("templ x() {\n\t<p>\n\t\tsubmitted{ \" \" }\n\t\t@RelTime(t)\n\t</p>\n}\n"); len(got) != 0 {
		t.Fatalf("the check flags the fix: %v", got)
	}
	if got := templTextBeforeCall("templ x() {\n\t<p>\n\t\t{ \" is connected since \" }\n\t\t@RelTime(t)\n\t</p>\n}\n"); len(got) != 0 {
		t.Fatalf("the check flags a string that ends with its space: %v", got)
	}
	files, err := filepath.Glob("*.templ")
	if err != nil || len(files) == 0 {
		t.Fatalf("no .templ files: %v", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range templTextBeforeCall(string(src)) {
			t.Errorf("%s:%d: text runs into the next line's component; end the line with { \" \" }", f, n)
		}
	}
}
