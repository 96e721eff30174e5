package main

import (
	"context"
	"regexp"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

// `dashboard sync` runs every import once: the sessions, then the activity
// log, whose entries are stored.
func TestRun_syncRunsEveryImport(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": url, "DEMO_MACHINES": "4", "LOG_FORMAT": "json"}
	activity := regexp.MustCompile(`(?m)^activity import: \S+ to \S+, \d+ entries read in \d+ calls, (\d+) new, in `)
	out, _, err := runCmd(t, env, "", "sync")
	if err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	m := activity.FindStringSubmatch(out)
	if !regexp.MustCompile(`(?m)^sync pass \d+: 4 machines`).MatchString(out) || m == nil || m[1] == "0" {
		t.Fatalf("sync printed %q", out)
	}
	store, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if n, err := store.CountActivity(context.Background()); err != nil || n == 0 {
		t.Fatalf("%d activity rows, %v", n, err)
	}
}
