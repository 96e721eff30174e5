package views_test

import (
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
	op := views.BulkOpView{ID: 3, Action: "stop", Status: "running", Summary: []string{"Stop gracefully"},
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
