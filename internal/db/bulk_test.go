package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestBulkOp_lifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	op := &db.BulkOp{Action: "stop", Params: json.RawMessage(`{"gracefully":true}`), ActorEmail: "op@example.com", ActorRole: "operator", Concurrency: 4}
	id, err := s.CreateBulkOp(ctx, op, []string{"12", "10", "11"}, map[string]string{"10": "Computer #10"}, nil)
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
	r, err := s.StartBulkOp(ctx, id)
	if err != nil || r != 1 {
		t.Fatalf("start: runner %d, %v", r, err)
	}
	n, err := s.BeginBulkItem(ctx, id, "12", r, db.ItemPending, 0)
	if err != nil || n != 1 {
		t.Fatalf("begin: %d, %v", n, err)
	}
	if n, err := s.BeginBulkItem(ctx, id, "12", r, db.ItemRunning, 1); err != nil || n != 2 {
		t.Fatalf("second begin: attempts %d, %v", n, err)
	}
	if _, err := s.BeginBulkItem(ctx, id, "999", r, db.ItemPending, 0); !errors.Is(err, db.ErrBulkFenced) {
		t.Fatalf("begin unknown item: %v", err)
	}
	code := 4204
	if err := s.SetBulkItemResult(ctx, id, "12", r, db.ItemSkipped, "not running", &code); err != nil {
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
	if _, err := s.StartBulkOp(ctx, id); !errors.Is(err, db.ErrBulkFenced) {
		t.Fatalf("start of a finished op: %v", err)
	}
	if _, err := s.BulkOp(ctx, id+100); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("missing op: %v", err)
	}
	if _, err := s.CreateBulkOp(ctx, op, nil, nil, nil); err == nil {
		t.Fatal("an operation without machines was stored")
	}
}

func TestCreateBulkOp_inTxRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	op := &db.BulkOp{Action: "start", ActorEmail: "op@example.com", ActorRole: "operator"}
	boom := errors.New("queue refused")
	var seen int64
	_, err := s.CreateBulkOp(ctx, op, []string{"1", "2"}, nil, func(ctx context.Context, tx pgx.Tx, id int64) error {
		seen = id
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM bulk_items WHERE op_id = $1`, id).Scan(&n); err != nil || n != 2 {
			t.Errorf("items inside the transaction: %d, %v", n, err)
		}
		return boom
	})
	if !errors.Is(err, boom) || seen == 0 {
		t.Fatalf("err = %v, id seen %d", err, seen)
	}
	if _, err := s.BulkOp(ctx, seen); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("operation kept after the hook failed: %v", err)
	}
}

func TestCancelBulkOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	op := &db.BulkOp{Action: "start", ActorEmail: "op@example.com", ActorRole: "operator"}
	id, err := s.CreateBulkOp(ctx, op, []string{"1", "2", "3"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.StartBulkOp(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginBulkItem(ctx, id, "1", r, db.ItemPending, 0); err != nil { // in flight
		t.Fatal(err)
	}
	if err := s.SetBulkItemResult(ctx, id, "2", r, db.ItemDone, "Started.", nil); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.BulkOpCancelled(ctx, id); c {
		t.Fatal("cancelled before Cancel")
	}
	ok, err := s.CancelBulkOp(ctx, id, "admin@example.com")
	if err != nil || !ok {
		t.Fatalf("cancel: %v, %v", ok, err)
	}
	if ok, err := s.CancelBulkOp(ctx, id, "other@example.com"); err != nil || ok {
		t.Fatalf("second cancel took: %v, %v", ok, err)
	}
	got, _ := s.BulkOp(ctx, id)
	if !got.Cancelled() || *got.CancelledBy != "admin@example.com" || got.CancelledAt == nil {
		t.Fatalf("op = %+v", got)
	}
	if c, _ := s.BulkOpCancelled(ctx, id); !c {
		t.Fatal("BulkOpCancelled = false")
	}
	items, _ := s.BulkItems(ctx, id)
	want := []string{db.ItemRunning, db.ItemDone, db.ItemSkipped}
	for i, it := range items {
		if it.State != want[i] {
			t.Fatalf("item %s: %s, want %s", it.MachineID, it.State, want[i])
		}
	}
	if items[2].Message != "Cancelled by admin@example.com." {
		t.Fatalf("message %q", items[2].Message)
	}
	if _, err := s.CancelBulkOp(ctx, id+99, "x"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("missing op: %v", err)
	}
	// A finished operation is not cancelled.
	id2, _ := s.CreateBulkOp(ctx, op, []string{"4"}, nil, nil)
	_, _ = s.FinishBulkOp(ctx, id2, db.BulkSucceeded)
	if ok, err := s.CancelBulkOp(ctx, id2, "x"); err != nil || ok {
		t.Fatalf("finished op cancelled: %v, %v", ok, err)
	}
}

// TestBulkItem_fencing: once a newer runner started on an operation, the
// older one can neither begin an item nor record a result, and a claim
// that names a state or attempt count the item no longer has changes
// nothing; so two runners never both begin one item's call.
func TestBulkItem_fencing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	op := &db.BulkOp{Action: "start", ActorEmail: "op@example.com", ActorRole: "operator"}
	id, err := s.CreateBulkOp(ctx, op, []string{"1", "2", "3"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.StartBulkOp(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginBulkItem(ctx, id, "1", old, db.ItemPending, 0); err != nil {
		t.Fatal(err)
	}
	cur, err := s.StartBulkOp(ctx, id) // a rescued job's new attempt
	if err != nil || cur != old+1 {
		t.Fatalf("second start: %d, %v", cur, err)
	}
	if _, err := s.BeginBulkItem(ctx, id, "2", old, db.ItemPending, 0); !errors.Is(err, db.ErrBulkFenced) {
		t.Fatalf("old runner began an item: %v", err)
	}
	if err := s.SetBulkItemResult(ctx, id, "1", old, db.ItemDone, "late", nil); !errors.Is(err, db.ErrBulkFenced) {
		t.Fatalf("old runner recorded a result: %v", err)
	}
	// The new runner read item 1 as running once; a claim as pending, or
	// with another count, is refused.
	if _, err := s.BeginBulkItem(ctx, id, "1", cur, db.ItemPending, 0); !errors.Is(err, db.ErrBulkFenced) {
		t.Fatalf("claim with a stale state: %v", err)
	}
	if _, err := s.BeginBulkItem(ctx, id, "1", cur, db.ItemRunning, 2); !errors.Is(err, db.ErrBulkFenced) {
		t.Fatalf("claim with a stale count: %v", err)
	}
	if n, err := s.BeginBulkItem(ctx, id, "1", cur, db.ItemRunning, 1); err != nil || n != 2 {
		t.Fatalf("retry claim: %d, %v", n, err)
	}
	if _, err := s.BeginBulkItem(ctx, id, "1", cur, db.ItemRunning, 1); !errors.Is(err, db.ErrBulkFenced) {
		t.Fatalf("the same claim twice: %v", err)
	}
	items, _ := s.BulkItems(ctx, id)
	if items[0].State != db.ItemRunning || items[0].Attempts != 2 || items[0].Runner != cur || items[1].State != db.ItemPending {
		t.Fatalf("items = %+v", items)
	}
	// Concurrent claims of one pending item by the current runner: one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.BeginBulkItem(ctx, id, "3", cur, db.ItemPending, 0); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, db.ErrBulkFenced) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d claims of one item succeeded, want 1", wins.Load())
	}
}
