package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func intp(n int) *int { return &n }

func TestDBTest_timeZone(t *testing.T) {
	t.Parallel()
	s := dbtest.Store(t)
	var tz string
	if err := s.Pool().QueryRow(context.Background(), `SHOW TimeZone`).Scan(&tz); err != nil {
		t.Fatal(err)
	}
	if tz != dbtest.TimeZone {
		t.Fatalf("session time zone %q, want %q", tz, dbtest.TimeZone)
	}
}

func TestInsertAudit_roundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)

	at := time.Date(2026, 2, 14, 23, 59, 59, 123456789, time.FixedZone("X", -3*3600))
	tests := []struct {
		name string
		ev   db.AuditEvent
	}{
		{"full", db.AuditEvent{
			At: at, ActorEmail: "ann@example.com", ActorRole: "admin", Action: "machine.stop",
			MachineID: "m-1", Params: json.RawMessage(`{"z": 1, "a": [true, null], "gracefully":  "true", "n": 1e2, "u": "\u00e9"}`),
			Outcome: db.OutcomeFailed, ErrorCode: intp(409), Message: "machine is not running",
			RemoteAddr: "192.0.2.1", UserAgent: "Mozilla/5.0", RequestID: "req-1",
		}},
		{"minimal, database clock", db.AuditEvent{
			ActorEmail: "bob@example.com", ActorRole: "viewer", Action: "auth.login", Outcome: db.OutcomeSucceeded,
		}},
		{"error code zero is not null", db.AuditEvent{
			ActorEmail: "bob@example.com", ActorRole: "viewer", Action: "auth.login", Outcome: db.OutcomeDenied, ErrorCode: intp(0),
		}},
	}
	var prev []byte = make([]byte, 32)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			id, err := s.InsertAudit(ctx, &ev)
			if err != nil {
				t.Fatal(err)
			}
			if id == 0 || ev.ID != id || len(ev.Hash) != 32 || !slices.Equal(ev.PrevHash, prev) {
				t.Fatalf("after insert: id %d, %+v", id, ev)
			}
			prev = ev.Hash
			if !tt.ev.At.IsZero() && !ev.At.Equal(tt.ev.At.Truncate(time.Microsecond)) {
				t.Fatalf("at = %v, want %v", ev.At, tt.ev.At)
			}
			if tt.ev.At.IsZero() && time.Since(ev.At).Abs() > time.Minute {
				t.Fatalf("database clock at = %v, not now", ev.At)
			}
			got, _, err := s.ListAudit(ctx, db.AuditFilter{BeforeID: id + 1, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("read back %d rows", len(got))
			}
			r := got[0]
			if r.ID != ev.ID || !r.At.Equal(ev.At) || r.ActorEmail != ev.ActorEmail || r.MachineID != ev.MachineID ||
				string(r.Params) != string(ev.Params) || r.Outcome != ev.Outcome || !slices.Equal(r.Hash, ev.Hash) ||
				(r.ErrorCode == nil) != (ev.ErrorCode == nil) || r.Message != ev.Message || r.RequestID != ev.RequestID {
				t.Fatalf("read back\n %+v\nwant\n %+v", r, ev)
			}
		})
	}
	if bad, err := s.VerifyAudit(ctx); err != nil || bad != 0 {
		t.Fatalf("VerifyAudit = %d, %v", bad, err)
	}
	id, head, err := s.AuditHead(ctx)
	if err != nil || id == 0 || !slices.Equal(head, prev) {
		t.Fatalf("AuditHead = %d, %x, %v", id, head, err)
	}

	invalid := []struct {
		name string
		ev   db.AuditEvent
	}{
		{"unknown outcome", db.AuditEvent{ActorEmail: "a", ActorRole: "admin", Action: "x", Outcome: "maybe"}},
		{"params not JSON", db.AuditEvent{ActorEmail: "a", ActorRole: "admin", Action: "x", Outcome: "started", Params: json.RawMessage(`{`)}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.InsertAudit(ctx, &tt.ev); err == nil {
				t.Fatal("insert succeeded")
			}
		})
	}
	if bad, err := s.VerifyAudit(ctx); err != nil || bad != 0 {
		t.Fatalf("VerifyAudit after failed inserts = %d, %v", bad, err)
	}
}

func TestAudit_insertOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	ev := db.AuditEvent{ActorEmail: "a@x", ActorRole: "admin", Action: "user.create", Outcome: db.OutcomeSucceeded}
	id, err := s.InsertAudit(ctx, &ev)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, sql string }{
		{"update", `UPDATE audit_events SET message = 'changed' WHERE id = $1`},
		{"delete", `DELETE FROM audit_events WHERE id = $1`},
		{"truncate", `TRUNCATE audit_events`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []any
			if strings.Contains(tt.sql, "$1") {
				args = append(args, id)
			}
			// The application's own connection (owner of the table).
			_, err := s.Pool().Exec(ctx, tt.sql, args...)
			if err == nil || !strings.Contains(err.Error(), "insert-only") {
				t.Fatalf("err = %v, want insert-only refusal", err)
			}
		})
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE message = ''`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("row changed or gone: count %d, %v", n, err)
	}
}

func TestInsertAudit_concurrentChainIsLinear(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ev := db.AuditEvent{
				ActorEmail: fmt.Sprintf("user%d@x", i), ActorRole: "operator", Action: "machine.start",
				MachineID: fmt.Sprint(i), Params: json.RawMessage(fmt.Sprintf(`{"i": %d}`, i)), Outcome: db.OutcomeStarted,
			}
			if _, err := s.InsertAudit(ctx, &ev); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var rows, distinctPrev int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*), count(DISTINCT prev_hash) FROM audit_events`).Scan(&rows, &distinctPrev); err != nil {
		t.Fatal(err)
	}
	if rows != n || distinctPrev != n {
		t.Fatalf("%d rows with %d distinct prev_hash: chain forked", rows, distinctPrev)
	}
	if bad, err := s.VerifyAudit(ctx); err != nil || bad != 0 {
		t.Fatalf("VerifyAudit = %d, %v", bad, err)
	}
}

func TestVerifyAudit_tamper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	s, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// More rows than one VerifyAudit batch, so the walk crosses batches.
	const n = 1203
	var ids []int64
	for i := range n {
		ev := db.AuditEvent{ActorEmail: "a@x", ActorRole: "admin", Action: "machine.reset",
			MachineID: "m", Outcome: db.OutcomeSucceeded, Message: fmt.Sprint("row ", i), Params: json.RawMessage(`{"k": [1, 2]}`)}
		id, err := s.InsertAudit(ctx, &ev)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if bad, err := s.VerifyAudit(ctx); err != nil || bad != 0 {
		t.Fatalf("intact chain: VerifyAudit = %d, %v", bad, err)
	}

	admin, err := pgx.Connect(ctx, dbtest.AsAdmin(t, url))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// As superuser, bypass the triggers for this session only.
	tamper := func(sql string, args ...any) {
		t.Helper()
		err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sql, args...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name   string
		sql    string
		target int64
	}{
		{"message edited", `UPDATE audit_events SET message = 'nothing happened' WHERE id = $1`, ids[700]},
		{"params edited", `UPDATE audit_events SET params = '{"k": [1, 3]}' WHERE id = $1`, ids[400]},
		{"row deleted: the next row is named", `DELETE FROM audit_events WHERE id = $1`, ids[100]},
		{"outcome edited", `UPDATE audit_events SET outcome = 'denied' WHERE id = $1`, ids[3]},
		{"first row's time edited", `UPDATE audit_events SET at = at + interval '1 microsecond' WHERE id = $1`, ids[0]},
	}
	// Each tamper is earlier in the chain than the previous one, so VerifyAudit
	// must name the newest tampering each time.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tamper(tt.sql, tt.target)
			want := tt.target
			if strings.HasPrefix(tt.sql, "DELETE") {
				want = tt.target + 1
			}
			bad, err := s.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if bad != want {
				t.Fatalf("VerifyAudit = %d, want %d", bad, want)
			}
		})
	}
	// The triggers are back for everyone else.
	if _, err := admin.Exec(ctx, `UPDATE audit_events SET message = 'x' WHERE id = $1`, ids[5]); err == nil {
		t.Fatal("update succeeded after tampering session ended")
	}
}

func TestListAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)

	base := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	actors := []string{"ann@x", "bob@x", "cid@x"}
	actions := []string{"machine.start", "machine.stop", "auth.login"}
	outcomes := []string{db.OutcomeStarted, db.OutcomeSucceeded, db.OutcomeFailed, db.OutcomeDenied}
	var all []db.AuditEvent
	for i := range 120 {
		ev := db.AuditEvent{
			At:         base.Add(time.Duration(i) * time.Hour),
			ActorEmail: actors[i%3], ActorRole: "admin", Action: actions[(i/3)%len(actions)],
			Outcome: outcomes[i%4], Message: fmt.Sprint(i),
		}
		if i%5 != 0 {
			ev.MachineID = fmt.Sprintf("m-%d", i%5)
		}
		if _, err := s.InsertAudit(ctx, &ev); err != nil {
			t.Fatal(err)
		}
		all = append(all, ev)
	}
	slices.Reverse(all) // newest first, like the queries

	sp, _ := time.LoadLocation(dbtest.TimeZone)
	tests := []struct {
		name  string
		f     db.AuditFilter
		match func(db.AuditEvent) bool
	}{
		{"everything", db.AuditFilter{}, func(db.AuditEvent) bool { return true }},
		{"actor", db.AuditFilter{ActorEmail: "bob@x"}, func(e db.AuditEvent) bool { return e.ActorEmail == "bob@x" }},
		{"action", db.AuditFilter{Action: "auth.login"}, func(e db.AuditEvent) bool { return e.Action == "auth.login" }},
		{"machine", db.AuditFilter{MachineID: "m-2"}, func(e db.AuditEvent) bool { return e.MachineID == "m-2" }},
		{"outcome", db.AuditFilter{Outcome: db.OutcomeDenied}, func(e db.AuditEvent) bool { return e.Outcome == db.OutcomeDenied }},
		{"time range, end exclusive, other zone", db.AuditFilter{
			From: base.Add(10 * time.Hour).In(sp), To: base.Add(50 * time.Hour).In(sp),
		}, func(e db.AuditEvent) bool {
			return !e.At.Before(base.Add(10*time.Hour)) && e.At.Before(base.Add(50*time.Hour))
		}},
		{"combined", db.AuditFilter{ActorEmail: "ann@x", Outcome: db.OutcomeStarted, From: base.Add(24 * time.Hour)},
			func(e db.AuditEvent) bool {
				return e.ActorEmail == "ann@x" && e.Outcome == db.OutcomeStarted && !e.At.Before(base.Add(24*time.Hour))
			}},
		{"no match", db.AuditFilter{ActorEmail: "nobody@x"}, func(db.AuditEvent) bool { return false }},
	}
	for _, tt := range tests {
		for _, limit := range []int{7, 50, 1000} {
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				var want []int64
				for _, e := range all {
					if tt.match(e) {
						want = append(want, e.ID)
					}
				}
				// Walk all pages with the keyset cursor.
				var got []int64
				f := tt.f
				f.Limit = limit
				for pages := 0; ; pages++ {
					if pages > 200 {
						t.Fatal("paging does not end")
					}
					page, next, err := s.ListAudit(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > limit {
						t.Fatalf("page of %d rows, limit %d", len(page), limit)
					}
					for _, e := range page {
						got = append(got, e.ID)
					}
					if next == 0 {
						break
					}
					if len(page) != limit || next != page[len(page)-1].ID {
						t.Fatalf("next %d after a page of %d", next, len(page))
					}
					f.BeforeID = next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("paged ids\n %v\nwant\n %v", got, want)
				}

				var streamed []int64
				err := s.StreamAudit(ctx, tt.f, func(e db.AuditEvent) error {
					streamed = append(streamed, e.ID)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(streamed, want) {
					t.Fatalf("streamed ids\n %v\nwant\n %v", streamed, want)
				}
			})
		}
	}

	t.Run("default limit", func(t *testing.T) {
		page, next, err := s.ListAudit(ctx, db.AuditFilter{})
		if err != nil || len(page) != db.DefaultAuditLimit || next != page[len(page)-1].ID {
			t.Fatalf("%d rows, next %d, %v", len(page), next, err)
		}
	})
	t.Run("stream stops at the callback's error", func(t *testing.T) {
		stop := fmt.Errorf("enough")
		calls := 0
		err := s.StreamAudit(ctx, db.AuditFilter{}, func(db.AuditEvent) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		if err != stop || calls != 3 {
			t.Fatalf("err %v after %d calls", err, calls)
		}
	})
}

func TestStreamAudit_crossesBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	const n = 1100 // more than two internal batches
	for i := range n {
		ev := db.AuditEvent{ActorEmail: "a@x", ActorRole: "admin", Action: "auth.login", Outcome: db.OutcomeSucceeded}
		if i%2 == 0 {
			ev.Outcome = db.OutcomeFailed
		}
		if _, err := s.InsertAudit(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []db.AuditFilter{{}, {Outcome: db.OutcomeFailed}} {
		var ids []int64
		if err := s.StreamAudit(ctx, f, func(e db.AuditEvent) error { ids = append(ids, e.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		want := n
		if f.Outcome != "" {
			want = n / 2
		}
		if len(ids) != want || !slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }) {
			t.Fatalf("filter %+v: %d rows (want %d), sorted newest first: %v", f, len(ids), want,
				slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }))
		}
	}
}

func BenchmarkInsertAudit(b *testing.B) {
	ctx := context.Background()
	s := dbtest.Store(b)
	ev := db.AuditEvent{ActorEmail: "ann@example.com", ActorRole: "operator", Action: "machine.start",
		MachineID: "12345", Params: json.RawMessage(`{"machine_id": "12345", "note": "ticket 42"}`),
		Outcome: db.OutcomeStarted, RemoteAddr: "192.0.2.1", UserAgent: "Mozilla/5.0", RequestID: "r"}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			e := ev
			if _, err := s.InsertAudit(ctx, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e := ev
				if _, err := s.InsertAudit(ctx, &e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
