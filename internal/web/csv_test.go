package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/csvsafe"
	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// formulaNames are machine and user names a spreadsheet would run as a
// formula unless defused: whitespace, a newline or a full-width form before
// the formula character.
var formulaNames = []string{" =cmd|' /C calc'!A0", "\n=cmd", "＝cmd", "\t+cmd", "\u3000＠cmd", " -cmd+1", "\r\n@cmd", "﹦cmd"}

// TestCSVExports_defuseFormulas: every CSV export route, fed machine names,
// user names and emails and an audit message that start with a formula
// after whitespace or in full-width form, writes no cell a spreadsheet
// would read as a formula (csvsafe.Cell leaves every cell as it is), and
// the hostile names do come out, defused.
func TestCSVExports_defuseFormulas(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	ctx := context.Background()
	for i, id := range app.Sim.MachineIDs() {
		if err := app.Sim.SetMachineName(id, formulaNames[i%len(formulaNames)]); err != nil {
			t.Fatal(err)
		}
	}
	reportSync(t, app)
	// Who had each machine, as the sync stored it: now, and when each
	// session ran (the user report counts sessions for the latter).
	if _, err := app.Store.Pool().Exec(ctx, `UPDATE machines_latest SET user_email = $1 || machine_id || '@example.com', user_name = $2 || machine_id`, " =", "＝"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Store.Pool().Exec(ctx, `UPDATE machine_sessions SET user_email = $1 || machine_id || '@example.com'`, " ="); err != nil {
		t.Fatal(err)
	}
	if err := fleet.NewAuditor(app.Store).Record(ctx, fleet.Actor{Email: "admin@example.com", Role: fleet.RoleAdmin}, fleet.ActMachineStart, " =cmd", db.OutcomeFailed, fleet.Params{"note": "\n=cmd"}, nil, "\u3000＝cmd"); err != nil {
		t.Fatal(err)
	}
	// Every machine idle for at least a day.
	app.Clock.Advance(3 * 24 * time.Hour)
	c := reportClient(t, app, fleet.RoleAdmin)

	for _, path := range []string{
		"/machines.csv",
		"/reports/usage.csv?preset=last_90_days&group=machine",
		"/reports/usage.csv?preset=last_90_days&group=user",
		"/reports/idle.csv?days=1",
		"/reports/low-remaining.csv?below_hours=100000",
		"/reports/top-users.csv?preset=last_90_days",
		"/audit.csv",
	} {
		t.Run(path, func(t *testing.T) {
			recs := getCSV(t, c, path)
			defused := 0
			for i, rec := range recs[1:] {
				for j, cell := range rec {
					if csvsafe.Cell(cell) != cell {
						t.Errorf("row %d column %s: %q would run as a formula", i+1, recs[0][j], cell)
					}
					if strings.HasPrefix(cell, "'") && strings.Contains(cell, "cmd") || strings.HasPrefix(cell, "' =") || strings.HasPrefix(cell, "'＝") {
						defused++
					}
				}
			}
			if defused == 0 {
				t.Errorf("no defused hostile cell among %d rows: the test data did not reach the export", len(recs)-1)
			}
		})
	}
}
