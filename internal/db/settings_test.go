package db_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestGetOrCreateSetting_race(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)

	const n = 10
	var (
		wg    sync.WaitGroup
		calls atomic.Int32
		got   [n][]byte
		errs  [n]error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.GetOrCreateSetting(ctx, "session_key", func() ([]byte, error) {
				calls.Add(1)
				return fmt.Appendf(nil, "value from goroutine %d", i), nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("goroutine %d got %q, goroutine 0 got %q", i, got[i], got[0])
		}
	}
	t.Logf("generator ran %d times for %d callers", calls.Load(), n)

	// Later calls read the stored value and do not generate.
	v, err := s.GetOrCreateSetting(ctx, "session_key", func() ([]byte, error) {
		t.Fatal("generator called for an existing key")
		return nil, nil
	})
	if err != nil || !bytes.Equal(v, got[0]) {
		t.Fatalf("later call = %q, %v", v, err)
	}

	// A failing generator stores nothing.
	boom := errors.New("boom")
	if _, err := s.GetOrCreateSetting(ctx, "other", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	v, err = s.GetOrCreateSetting(ctx, "other", func() ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(v) != "ok" {
		t.Fatalf("after failed generator: %q, %v", v, err)
	}
}
