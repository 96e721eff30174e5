package web

// Issue 8.16 asks for one defusing function used by every export.
// TestCSVExports_defuseFormulas feeds hostile text to the exports the issue
// named (and the reports and audit log); these cover the exports added
// since (access links, jobs), and make a new CSV route name its test.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/csvsafe"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// csvDefuseTests names, for every CSV route of the table, the test that
// feeds it text a spreadsheet would run as a formula and checks it comes
// out defused, or why it has none.
var csvDefuseTests = map[string]string{
	"/machines.csv":              "TestCSVExports_defuseFormulas",
	"/reports/usage.csv":         "TestCSVExports_defuseFormulas",
	"/reports/idle.csv":          "TestCSVExports_defuseFormulas",
	"/reports/low-remaining.csv": "TestCSVExports_defuseFormulas",
	"/reports/top-users.csv":     "TestCSVExports_defuseFormulas",
	"/audit.csv":                 "TestCSVExports_defuseFormulas",
	"/activity.csv":              "TestActivity_rolesCSVAndParams",
	"/schedules.csv":             "TestSchedules_csv",
	"/schedules/:sid/runs.csv":   "TestSchedules_csv",
	"/access-links.csv":          "TestAccessLinksCSV_defused",
	"/jobs.csv":                  "TestJobCSVRecord_defused",
	"/reports/org-usage.csv":     "none needed: a date and an integer per row, no text anyone types (still through writeCSV)",
}

// TestCSVRoutes_haveDefuseTests: every GET route whose path ends in .csv
// is listed above, and the list names no route that is gone.
func TestCSVRoutes_haveDefuseTests(t *testing.T) {
	t.Parallel()
	s := &Server{}
	seen := map[string]bool{}
	for _, r := range s.buildRoutes() {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.Path, ".csv") {
			continue
		}
		seen[r.Path] = true
		if csvDefuseTests[r.Path] == "" {
			t.Errorf("CSV route %s has no formula-defusing test: add one and list it in csvDefuseTests", r.Path)
		}
	}
	for p := range csvDefuseTests {
		if !seen[p] {
			t.Errorf("csvDefuseTests lists %s, which is not a CSV route", p)
		}
	}
}

// TestJobCSVRecord_defused: a job's kind, arguments and last error that
// start with a formula (after a newline or in full-width form) leave the
// jobs export as text.
func TestJobCSVRecord_defused(t *testing.T) {
	t.Parallel()
	j := fleet.JobRow{ID: 7, Kind: "=cmd|' /C calc'!A0", State: "retryable", Queue: "default", Attempt: 1, MaxAttempts: 5,
		CreatedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Args: "\n=HYPERLINK(\"http://evil.example\")",
		Errors: []fleet.JobError{{Attempt: 1, Message: "＝cmd: machine \u3000@SUM(A1) refused"}}}
	rec := jobCSVRecord(j)
	defused := 0
	for i, cell := range rec {
		if csvsafe.Cell(cell) != cell {
			t.Errorf("cell %d %q would run as a formula", i, cell)
		}
		if strings.HasPrefix(cell, "'") {
			defused++
		}
	}
	if defused != 3 {
		t.Errorf("%d defused cells in %q, want 3 (kind, args, last error)", defused, rec)
	}
}

// TestAccessLinksCSV_defused: a machine name and notes that start with a
// formula (ASCII, full-width) come out of /access-links.csv defused. (A
// note is one line of text: control characters are refused at the form.)
func TestAccessLinksCSV_defused(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	id := app.MachineID(t)
	if err := app.Sim.SetMachineName(id, " =cmd|' /C calc'!A0"); err != nil {
		t.Fatal(err)
	}
	desk := reportClient(t, app, fleet.RoleHelpdesk)
	path := "/machines/" + id
	desk.CSRFFrom(t, path)
	for _, note := range []string{"=cmd|' /C calc'!A0", "＝HYPERLINK(1)", "@SUM(A1)"} {
		if resp, _ := desk.PostForm(t, path+"/access", url.Values{"expires_in": {"60"}, "note": {note}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("issue a link with note %q: status %d", note, resp.StatusCode)
		}
	}
	// The ledger names machines as Vagon's activity log does.
	if _, err := fleet.NewActivityImporter(app.API, app.Store, fleet.ActivityOptions{}).RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := getCSV(t, desk, "/access-links.csv?machine_id="+id)
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	ours := 0
	for i, rec := range recs[1:] {
		for j, cell := range rec {
			if csvsafe.Cell(cell) != cell {
				t.Errorf("row %d column %s: %q would run as a formula", i+1, recs[0][j], cell)
			}
		}
		if rec[col["source"]] != "dashboard" {
			continue
		}
		ours++
		if note := rec[col["note"]]; !strings.HasPrefix(note, "'") {
			t.Errorf("row %d: note %q not defused", i+1, note)
		}
		if name := rec[col["machine_name"]]; name != "' =cmd|' /C calc'!A0" {
			t.Errorf("row %d: machine name %q, want it defused", i+1, name)
		}
	}
	if ours != 3 {
		t.Errorf("%d dashboard links in the CSV, want 3: %q", ours, recs)
	}
}
