package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// TestRun_auditVerifyKeyAndCheckpoints: with AUDIT_KEY, verify checks the
// keyed chain, prints the head, and compares the log with the checkpoint
// file (-checkpoints, defaulting to AUDIT_CHECKPOINT_FILE): rows deleted
// from the end make it fail.
func TestRun_auditVerifyKeyAndCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	keyHex := strings.Repeat("5a", 32)
	key, _ := hex.DecodeString(keyHex)
	file := filepath.Join(t.TempDir(), "audit-checkpoints.jsonl")
	env := map[string]string{"DATABASE_URL": dbURL, "AUDIT_KEY": keyHex, "AUDIT_CHECKPOINT_FILE": file}
	s, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetAuditKey(key)
	for i := range 4 {
		if _, err := s.InsertAudit(ctx, &db.AuditEvent{ActorEmail: "ann@example.com", ActorRole: "admin", Action: "machine.start",
			MachineID: fmt.Sprint(100 + i), Outcome: db.OutcomeSucceeded}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := fleet.NewCheckpointer(s, key, file, slog.New(slog.DiscardHandler)).Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "verify", "-checkpoints", file}} {
		out, _, err := runCmd(t, env, "", args...)
		if err != nil || !strings.Contains(out, "audit log intact: 4 rows chained (4 keyed") ||
			!strings.Contains(out, fmt.Sprintf("head: row %d hash %s", cp.ID, cp.Hash)) || !strings.Contains(out, "checkpoints: 1 match") {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	// Without the key, keyed rows cannot be checked: say so, fail.
	if _, _, err := runCmd(t, map[string]string{"DATABASE_URL": dbURL}, "", "audit", "verify"); err == nil || !strings.Contains(err.Error(), "AUDIT_KEY") {
		t.Fatalf("no key: %v", err)
	}
	admin, err := pgx.Connect(ctx, dbtest.AsAdmin(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`,
		fmt.Sprintf(`DELETE FROM audit_events WHERE id = %d`, cp.ID),
		`ALTER TABLE audit_events ENABLE TRIGGER USER`} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err = runCmd(t, env, "", "audit", "verify")
	if err == nil || !strings.Contains(err.Error(), "deleted from its end") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("after deleting the last row: %v", err)
	}
}
