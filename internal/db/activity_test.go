package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestInsertActivity(t *testing.T) {
	ctx := context.Background()
	s := dbtest.Store(t)
	base := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	if _, ok, err := s.LatestActivityAt(ctx); err != nil || ok {
		t.Fatalf("empty table: ok %v, err %v", ok, err)
	}
	mk := func(i int, details string) db.ActivityEntry {
		e := db.ActivityEntry{ID: fmt.Sprintf("id:%d", i), At: base.Add(time.Duration(i) * time.Minute), ActorEmail: "a@x.com",
			ActionType: "machine_started", MachineName: "M", Details: json.RawMessage(details)}
		if i%2 == 0 {
			e.MachineID = ptr(fmt.Sprint(100 + i))
		}
		return e
	}
	var batch []db.ActivityEntry
	for i := range 2500 { // more than one statement's chunk
		batch = append(batch, mk(i, `{"metadata":{"n":1}}`))
	}
	n, err := s.InsertActivity(ctx, batch, base)
	if err != nil || n != 2500 {
		t.Fatalf("first insert: %d, %v", n, err)
	}
	// An overlapping range again, plus two new ones and odd details.
	again := append(batch[2000:], mk(2500, `not json`), mk(2501, `[1,2]`), mk(2502, `{"s":"a\u0000b"}`))
	n, err = s.InsertActivity(ctx, again, base.Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("re-insert: %d new, %v; want 3", n, err)
	}
	if c, _ := s.CountActivity(ctx); c != 2503 {
		t.Fatalf("%d rows", c)
	}
	latest, ok, err := s.LatestActivityAt(ctx)
	if err != nil || !ok || !latest.Equal(base.Add(2502*time.Minute)) {
		t.Fatalf("latest %v %v %v", latest, ok, err)
	}
	got, err := s.ListActivity(ctx, db.ActivityFilter{From: base.Add(2500 * time.Minute), Limit: 10})
	if err != nil || len(got) != 3 {
		t.Fatalf("list: %d, %v", len(got), err)
	}
	if got[0].ID != "id:2502" || string(got[1].Details) != "{}" || string(got[2].Details) != "{}" || !got[2].ImportedAt.Equal(base.Add(time.Hour)) {
		t.Errorf("rows %+v", got)
	}
	if m, _ := s.ListActivity(ctx, db.ActivityFilter{MachineID: "104"}); len(m) != 1 || *m[0].MachineID != "104" {
		t.Errorf("by machine: %+v", m)
	}
	if _, err := s.InsertActivity(ctx, []db.ActivityEntry{{At: base}}, base); err == nil {
		t.Error("an entry without id was accepted")
	}
}
