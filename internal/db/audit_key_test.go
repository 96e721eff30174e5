package db_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// ownerRewrite plays the role that owns audit_events: it turns the
// insert-only trigger off, lets edit change the rows, recomputes the plain
// SHA-256 chain from row from onward (labelling it sha256, or keeping the
// label when keepAlg), and turns the trigger back on. It needs no superuser:
// owning the table is enough.
func ownerRewrite(t *testing.T, ctx context.Context, ownerURL string, from int64, keepAlg bool, edit string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owner, me string
	if err := conn.QueryRow(ctx, `SELECT tableowner, current_user FROM pg_tables WHERE tablename = 'audit_events'`).Scan(&owner, &me); err != nil {
		t.Fatal(err)
	}
	if owner != me {
		t.Fatalf("connected as %s, but %s owns audit_events", me, owner)
	}
	store, err := db.Open(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`ALTER TABLE audit_events DISABLE TRIGGER USER`)
	defer exec(`ALTER TABLE audit_events ENABLE TRIGGER USER`)
	if edit != "" {
		exec(edit)
	}
	var rows []db.AuditEvent
	if err := store.StreamAudit(ctx, db.AuditFilter{}, func(ev db.AuditEvent) error { rows = append(rows, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	prev := make([]byte, 32)
	for i := len(rows) - 1; i >= 0; i-- { // oldest first
		ev := rows[i]
		if ev.ID < from {
			prev = ev.Hash
			continue
		}
		h := db.PlainAuditHash(prev, &ev)
		alg := db.HashSHA256
		if keepAlg {
			alg = ev.HashAlg
		}
		exec(`UPDATE audit_events SET prev_hash = $1, hash = $2, hash_alg = $3 WHERE id = $4`, prev, h, alg, ev.ID)
		prev = h
	}
}

// TestVerifyAudit_keyCatchesOwnerRewrite: with AUDIT_KEY the chain is an
// HMAC the database cannot compute, so an owner who edits a row and
// recomputes the plain chain is caught by a verifier holding the key, while
// older plain rows (written before the key) still verify.
func TestVerifyAudit_keyCatchesOwnerRewrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, keepAlg := range []bool{false, true} {
		t.Run(fmt.Sprint("keep hash_alg=", keepAlg), func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t)
			plain, err := db.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			keyed, err := db.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer keyed.Close()
			keyed.SetAuditKey([]byte(strings.Repeat("k", 32)))
			insert := func(s *db.Store, msg string) *db.AuditEvent {
				ev := &db.AuditEvent{ActorEmail: "a@x", ActorRole: "admin", Action: "machine.reset", MachineID: "m", Outcome: db.OutcomeSucceeded, Message: msg}
				if _, err := s.InsertAudit(ctx, ev); err != nil {
					t.Fatal(err)
				}
				return ev
			}
			var ids []int64
			for i := range 3 { // written before AUDIT_KEY was set
				if ev := insert(plain, fmt.Sprint("old ", i)); ev.HashAlg != db.HashSHA256 {
					t.Fatalf("unkeyed row has hash_alg %q", ev.HashAlg)
				} else {
					ids = append(ids, ev.ID)
				}
			}
			for i := range 5 {
				ev := insert(keyed, fmt.Sprint("new ", i))
				if ev.HashAlg != db.HashHMACSHA256 {
					t.Fatalf("keyed row has hash_alg %q", ev.HashAlg)
				}
				ids = append(ids, ev.ID)
			}
			v, err := keyed.VerifyAuditChain(ctx)
			if err != nil || v.BadID != 0 || v.Rows != 8 || v.Keyed != 5 || v.HeadID != ids[7] {
				t.Fatalf("intact mixed chain: %+v, %v", v, err)
			}
			if _, err := plain.VerifyAuditChain(ctx); !errors.Is(err, db.ErrAuditKeyNeeded) {
				t.Fatalf("verify of keyed rows without the key: %v, want ErrAuditKeyNeeded", err)
			}
			// A wrong key is not the key.
			wrong, err := db.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer wrong.Close()
			wrong.SetAuditKey([]byte(strings.Repeat("w", 32)))
			if v, err := wrong.VerifyAuditChain(ctx); err != nil || v.BadID != ids[3] {
				t.Fatalf("wrong key: %+v, %v; want the first keyed row %d", v, err, ids[3])
			}

			target := ids[5]
			ownerRewrite(t, ctx, url, target, keepAlg, fmt.Sprintf(`UPDATE audit_events SET message = 'nothing happened' WHERE id = %d`, target))
			v, err = keyed.VerifyAuditChain(ctx)
			if err != nil || v.BadID != target {
				t.Fatalf("after the owner's rewrite: %+v, %v; want bad row %d", v, err, target)
			}
			if v.Reason == "" {
				t.Error("no reason given")
			}
			// The old, plain part of the chain is still fine.
			if v.Rows != 5 {
				t.Errorf("%d rows verified before the break, want 5", v.Rows)
			}
		})
	}
}

// TestCheckpoints_catchFullPlainRewrite: an owner who rewrites every row as
// plain sha256 makes a chain that verifies on its own, but not against a
// checkpoint taken before.
func TestCheckpoints_catchFullPlainRewrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	key := bytes.Repeat([]byte{9}, 32)
	s, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetAuditKey(key)
	for i := range 3 {
		if _, err := s.InsertAudit(ctx, &db.AuditEvent{ActorEmail: "a@x", ActorRole: "admin", Action: "machine.stop", Outcome: db.OutcomeSucceeded, Message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "cp")
	if _, err := fleet.NewCheckpointer(s, key, file, slog.New(slog.DiscardHandler)).Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	ownerRewrite(t, ctx, url, 0, false, `UPDATE audit_events SET message = 'edited' WHERE id = (SELECT min(id) FROM audit_events)`)
	if v, err := s.VerifyAuditChain(ctx); err != nil || v.BadID != 0 || v.Keyed != 0 {
		t.Fatalf("the rewritten plain chain should verify alone: %+v, %v", v, err)
	}
	data, _ := os.ReadFile(file)
	if _, err := fleet.VerifyCheckpoints(ctx, s, key, bytes.NewReader(data)); !errors.Is(err, fleet.ErrCheckpointMismatch) || !strings.Contains(err.Error(), "rewritten") {
		t.Fatalf("full rewrite: %v", err)
	}
}
