package db_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestCountLoginAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	// A fixed instant in a zone other than the connection's, to catch zone bugs.
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("UTC+9", 9*3600))

	type attempt struct {
		email, addr string
		at          time.Duration // after t0
	}
	many := func(n int, f func(i int) attempt) []attempt {
		var out []attempt
		for i := range n {
			out = append(out, f(i))
		}
		return out
	}
	type want struct {
		allowed      bool
		retryAfter   time.Duration
		firstRefusal bool
	}
	tests := []struct {
		name   string
		before []attempt
		clear  bool // the last attempt of before signed in
		check  attempt
		want   want
	}{
		{
			name:   "the fifth attempt for an email is checked",
			before: many(4, func(i int) attempt { return attempt{"a@x", "10.0.0.1", time.Duration(i) * time.Second} }),
			check:  attempt{"a@x", "10.0.0.1", 4 * time.Second},
			want:   want{allowed: true},
		},
		{
			name:   "the sixth is refused until the window from the first ends",
			before: many(5, func(i int) attempt { return attempt{"a@x", "10.0.0.1", time.Duration(i) * time.Second} }),
			check:  attempt{"A@X", "10.0.0.2", 5 * time.Second},
			want:   want{retryAfter: db.ThrottleWindow - 5*time.Second, firstRefusal: true},
		},
		{
			name:   "the seventh is refused and is not the first refusal",
			before: many(6, func(i int) attempt { return attempt{"a@x", "10.0.0.1", time.Duration(i) * time.Second} }),
			check:  attempt{"a@x", "10.0.0.1", 10 * time.Second},
			want:   want{retryAfter: db.ThrottleWindow - 10*time.Second},
		},
		{
			name:   "a new window starts afresh",
			before: many(9, func(i int) attempt { return attempt{"a@x", "10.0.0.1", time.Duration(i) * time.Second} }),
			check:  attempt{"a@x", "10.0.0.1", db.ThrottleWindow},
			want:   want{allowed: true},
		},
		{
			name:   "another email from the same address is checked",
			before: many(5, func(i int) attempt { return attempt{"a@x", "10.0.0.1", time.Duration(i) * time.Second} }),
			check:  attempt{"b@x", "10.0.0.1", 5 * time.Second},
			want:   want{allowed: true},
		},
		{
			name: "an address gets a hundred attempts across emails",
			before: many(db.AddrAttemptsPerWindow-1, func(i int) attempt {
				return attempt{fmt.Sprintf("u%d@x", i), "10.0.0.1", time.Duration(i) * time.Millisecond}
			}),
			check: attempt{"z@x", "10.0.0.1", time.Second},
			want:  want{allowed: true},
		},
		{
			name: "and not one more",
			before: many(db.AddrAttemptsPerWindow, func(i int) attempt {
				return attempt{fmt.Sprintf("u%d@x", i), "10.0.0.1", time.Duration(i) * time.Millisecond}
			}),
			check: attempt{"z@x", "10.0.0.1", time.Second},
			want:  want{retryAfter: db.ThrottleWindow - time.Second, firstRefusal: true},
		},
		{
			name:   "success clears the email",
			before: many(5, func(i int) attempt { return attempt{"a@x", "10.0.0.1", time.Duration(i) * time.Second} }),
			clear:  true,
			check:  attempt{"a@x", "10.0.0.1", 5 * time.Second},
			want:   want{allowed: true},
		},
		{
			name: "a success gives the address its attempt back",
			before: many(db.AddrAttemptsPerWindow, func(i int) attempt {
				return attempt{fmt.Sprintf("u%d@x", i), "10.0.0.1", time.Duration(i) * time.Millisecond}
			}),
			clear: true,
			check: attempt{"z@x", "10.0.0.1", time.Second},
			want:  want{allowed: true},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case gets its own emails and addresses by suffix, so the
			// cases share one database without seeing each other.
			tag := func(s string) string { return fmt.Sprintf("%s#%d", s, i) }
			var last db.LoginAttempt
			for _, a := range tt.before {
				var err error
				if last, err = s.CountLoginAttempt(ctx, tag(a.email), tag(a.addr), t0.Add(a.at)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.clear {
				a := tt.before[len(tt.before)-1]
				if err := s.ClearLoginAttempts(ctx, tag(a.email), tag(a.addr), last); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.CountLoginAttempt(ctx, tag(tt.check.email), tag(tt.check.addr), t0.Add(tt.check.at))
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed != tt.want.allowed || got.RetryAfter != tt.want.retryAfter || got.FirstRefusal != tt.want.firstRefusal {
				t.Errorf("CountLoginAttempt = %+v, want allowed=%v retryAfter=%v firstRefusal=%v", got, tt.want.allowed, tt.want.retryAfter, tt.want.firstRefusal)
			}
		})
	}
}

// TestCountLoginAttempt_concurrent: however many attempts arrive at once,
// exactly the limit is allowed, and exactly one is the first refusal.
func TestCountLoginAttempt_concurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	now := time.Now()
	const n = 40
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		allowed, firstRef int
		start             = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, err := s.CountLoginAttempt(ctx, "victim@example.com", fmt.Sprintf("10.0.0.%d", i), now)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if a.Allowed {
				allowed++
			}
			if a.FirstRefusal {
				firstRef++
			}
		}()
	}
	close(start)
	wg.Wait()
	if allowed != db.EmailAttemptsPerWindow || firstRef != 1 {
		t.Errorf("%d concurrent attempts: %d allowed, %d first refusals; want %d and 1", n, allowed, firstRef, db.EmailAttemptsPerWindow)
	}
}
