package db_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestClaimConfirmToken_concurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	for _, n := range []int{3, 10} {
		token := "tok-" + string(rune('a'+n))
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.ClaimConfirmToken(ctx, "machine.create", token, "admin@example.com")
			}()
		}
		wg.Wait()
		won, used := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, db.ErrConfirmUsed):
				used++
			default:
				t.Fatalf("%d claims: %v", n, err)
			}
		}
		if won != 1 || used != n-1 {
			t.Fatalf("%d concurrent claims: %d won, %d refused; want 1 and %d", n, won, used, n-1)
		}
	}
}

func TestClaimConfirmToken_finishAndScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	if _, err := s.ClaimConfirmToken(ctx, "machine.create", "t1", "a@example.com"); err != nil {
		t.Fatal(err)
	}
	// Claimed, not finished: the second claim sees it in progress.
	prev, err := s.ClaimConfirmToken(ctx, "machine.create", "t1", "a@example.com")
	if !errors.Is(err, db.ErrConfirmUsed) || prev == nil || prev.FinishedAt != nil || prev.ActorEmail != "a@example.com" {
		t.Fatalf("second claim: %+v, %v", prev, err)
	}
	if err := s.FinishConfirmToken(ctx, "machine.create", "t1", []string{"101", "102"}); err != nil {
		t.Fatal(err)
	}
	prev, err = s.ClaimConfirmToken(ctx, "machine.create", "t1", "b@example.com")
	if !errors.Is(err, db.ErrConfirmUsed) || prev.FinishedAt == nil || !slices.Equal(prev.Refs, []string{"101", "102"}) {
		t.Fatalf("after finish: %+v, %v", prev, err)
	}
	// Finishing twice, or a token never claimed, is an error.
	if err := s.FinishConfirmToken(ctx, "machine.create", "t1", nil); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("finish twice: %v", err)
	}
	if err := s.FinishConfirmToken(ctx, "machine.create", "never", nil); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("finish unclaimed: %v", err)
	}
	// A released claim can be made again; a finished one can't be released.
	if _, err := s.ClaimConfirmToken(ctx, "machine.create", "t2", "a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseConfirmToken(ctx, "machine.create", "t2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimConfirmToken(ctx, "machine.create", "t2", "a@example.com"); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if err := s.ReleaseConfirmToken(ctx, "machine.create", "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimConfirmToken(ctx, "machine.create", "t1", "a@example.com"); !errors.Is(err, db.ErrConfirmUsed) {
		t.Fatalf("finished claim released: %v", err)
	}
	// The same token under another purpose is another confirmation.
	if _, err := s.ClaimConfirmToken(ctx, "bulk.run", "t1", "a@example.com"); err != nil {
		t.Fatalf("other purpose: %v", err)
	}
	if _, err := s.ClaimConfirmToken(ctx, "machine.create", "", "a@example.com"); err == nil {
		t.Fatal("empty token claimed")
	}
}
