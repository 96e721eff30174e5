package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// TestCheckpoints_catchTailDeletionAndRewrite: signed checkpoints appended
// to a file (and logged) let a reader notice rows deleted from the end of
// the log, which the chain alone cannot show, and a chain rewritten from the
// start; a checkpoint edited to match is refused by its signature.
func TestCheckpoints_catchTailDeletionAndRewrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	key := bytes.Repeat([]byte{7}, 32)
	s, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetAuditKey(key)
	insert := func(n int) {
		for i := range n {
			if _, err := s.InsertAudit(ctx, &db.AuditEvent{ActorEmail: "a@x", ActorRole: "admin", Action: "machine.start", Outcome: db.OutcomeSucceeded, Message: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "checkpoints")
	var logBuf bytes.Buffer
	cp := fleet.NewCheckpointer(s, key, file, slog.New(slog.NewJSONHandler(&logBuf, nil)))
	insert(4)
	first, err := cp.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Checkpoint(ctx); err != nil { // unchanged head: not repeated
		t.Fatal(err)
	}
	insert(3)
	last, err := cp.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	if n := strings.Count(string(data), "\n"); n != 2 || last.ID != first.ID+3 || last.Sig == "" {
		t.Fatalf("checkpoint file %q (first %+v, last %+v)", data, first, last)
	}
	if !strings.Contains(logBuf.String(), `"msg":"audit checkpoint"`) || !strings.Contains(logBuf.String(), last.Hash) {
		t.Errorf("log lacks the checkpoint: %s", logBuf.String())
	}
	verify := func(content []byte) (fleet.CheckpointReport, error) {
		return fleet.VerifyCheckpoints(ctx, s, key, bytes.NewReader(content))
	}
	if rep, err := verify(data); err != nil || rep.Checked != 2 || rep.Latest.ID != last.ID {
		t.Fatalf("intact: %+v, %v", rep, err)
	}
	// The chain alone cannot tell that the last two rows were removed.
	admin, err := pgx.Connect(ctx, dbtest.AsAdmin(t, url))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`,
		fmt.Sprintf(`DELETE FROM audit_events WHERE id > %d`, last.ID-2),
		`ALTER TABLE audit_events ENABLE TRIGGER USER`} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.VerifyAuditChain(ctx); err != nil || v.BadID != 0 {
		t.Fatalf("the truncated chain should still chain: %+v, %v", v, err)
	}
	_, err = verify(data)
	if !errors.Is(err, fleet.ErrCheckpointMismatch) || !strings.Contains(err.Error(), "deleted from its end") {
		t.Fatalf("after deleting the last rows: %v", err)
	}
	// Editing the checkpoint to the new head does not help: its signature
	// no longer matches.
	head, hash, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var forged fleet.Checkpoint
	_ = json.Unmarshal([]byte(lines[1]), &forged)
	forged.ID, forged.Hash = head, fmt.Sprintf("%x", hash)
	b, _ := json.Marshal(forged)
	_, err = verify([]byte(lines[0] + "\n" + string(b) + "\n"))
	if !errors.Is(err, fleet.ErrCheckpointMismatch) || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("forged checkpoint: %v", err)
	}
	// Without the key, the same file is not accepted as signed.
	if rep, err := fleet.VerifyCheckpoints(ctx, s, nil, bytes.NewReader([]byte(lines[0]+"\n"))); err != nil || rep.Unsigned != 1 {
		t.Fatalf("no key: %+v, %v", rep, err)
	}
}

// TestCheckpointer_Run_atStartAndShutdown: serve's checkpointer publishes
// the head when it starts and once more when it stops, so the last rows of
// a process are covered.
func TestCheckpointer_Run_atStartAndShutdown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	key := bytes.Repeat([]byte{3}, 32)
	s.SetAuditKey(key)
	file := filepath.Join(t.TempDir(), "cp")
	cp := fleet.NewCheckpointer(s, key, file, slog.New(slog.DiscardHandler))
	if _, err := s.InsertAudit(ctx, &db.AuditEvent{ActorEmail: "a@x", ActorRole: "admin", Action: "auth.login", Outcome: db.OutcomeSucceeded}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); cp.Run(rctx, time.Hour) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(file); strings.Count(string(b), "\n") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.InsertAudit(ctx, &db.AuditEvent{ActorEmail: "a@x", ActorRole: "admin", Action: "auth.logout", Outcome: db.OutcomeSucceeded}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	b, _ := os.ReadFile(file)
	if strings.Count(string(b), "\n") != 2 {
		t.Fatalf("checkpoint file after shutdown: %q", b)
	}
	rep, err := fleet.VerifyCheckpoints(ctx, s, key, bytes.NewReader(b))
	if err != nil || rep.Checked != 2 || rep.Latest.ID != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
}
