package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestBulkOp_lifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	op := &db.BulkOp{Action: "stop", Params: json.RawMessage(`{"gracefully":true}`), ActorEmail: "op@example.com", ActorRole: "operator", Concurrency: 4}
	id, err := s.CreateBulkOp(ctx, op, []string{"12", "10", "11"}, map[string]string{"10": "Computer #10"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.BulkOp(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != db.BulkQueued || got.Action != "stop" || got.Concurrency != 4 || got.StartedAt != nil || got.Finished() {
		t.Fatalf("new op = %+v", got)
	}
	items, err := s.BulkItems(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[0].MachineID != "12" || items[1].MachineName != "Computer #10" || items[2].State != db.ItemPending {
		t.Fatalf("items = %+v", items)
	}
	if ids, err := s.UnfinishedBulkOps(ctx); err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("unfinished = %v, %v", ids, err)
	}
	if err := s.StartBulkOp(ctx, id); err != nil {
		t.Fatal(err)
	}
	n, err := s.BeginBulkItem(ctx, id, "12")
	if err != nil || n != 1 {
		t.Fatalf("begin: %d, %v", n, err)
	}
	if n, _ := s.BeginBulkItem(ctx, id, "12"); n != 2 {
		t.Fatalf("second begin: attempts %d", n)
	}
	if _, err := s.BeginBulkItem(ctx, id, "999"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("begin unknown item: %v", err)
	}
	code := 4204
	if err := s.SetBulkItemResult(ctx, id, "12", db.ItemSkipped, "not running", &code); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBulkItemName(ctx, id, "11", "Computer #11"); err != nil {
		t.Fatal(err)
	}
	items, _ = s.BulkItems(ctx, id)
	if items[0].State != db.ItemSkipped || items[0].ClientCode == nil || *items[0].ClientCode != 4204 || items[2].MachineName != "Computer #11" {
		t.Fatalf("items after updates = %+v", items)
	}
	if ok, err := s.FinishBulkOp(ctx, id, db.BulkSucceeded); err != nil || !ok {
		t.Fatalf("finish: %v %v", ok, err)
	}
	if ok, _ := s.FinishBulkOp(ctx, id, db.BulkFailed); ok {
		t.Fatal("finished twice")
	}
	got, _ = s.BulkOp(ctx, id)
	if !got.Finished() || got.StartedAt == nil || got.FinishedAt == nil || got.Status != db.BulkSucceeded {
		t.Fatalf("finished op = %+v", got)
	}
	if ids, _ := s.UnfinishedBulkOps(ctx); len(ids) != 0 {
		t.Fatalf("unfinished after finish = %v", ids)
	}
	if _, err := s.BulkOp(ctx, id+100); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("missing op: %v", err)
	}
	if _, err := s.CreateBulkOp(ctx, op, nil, nil); err == nil {
		t.Fatal("an operation without machines was stored")
	}
}

func TestTryLockBulkOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	a, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	unlock, ok, err := a.TryLockBulkOp(ctx, 7)
	if err != nil || !ok {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if _, ok, err := b.TryLockBulkOp(ctx, 7); err != nil || ok {
		t.Fatalf("second replica took a held lock: %v %v", ok, err)
	}
	// Another operation is not blocked.
	u8, ok, err := b.TryLockBulkOp(ctx, 8)
	if err != nil || !ok {
		t.Fatalf("other op: %v %v", ok, err)
	}
	u8()
	unlock()
	unlock()
	u, ok, err := b.TryLockBulkOp(ctx, 7)
	if err != nil || !ok {
		t.Fatalf("after unlock: %v %v", ok, err)
	}
	u()
	if st := b.Pool().Stat(); st.AcquiredConns() != 0 {
		t.Fatalf("connections still acquired: %d", st.AcquiredConns())
	}
}
