package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/db/dbtest"
)

func TestThrottleDelay(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {1, 0}, {4, 0},
		{5, 30 * time.Second},
		{6, time.Minute},
		{7, 2 * time.Minute},
		{8, 4 * time.Minute},
		{9, 8 * time.Minute},
		{10, 15 * time.Minute},
		{11, 15 * time.Minute},
		{1000, 15 * time.Minute},
	}
	for _, tt := range tests {
		if got := db.ThrottleDelay(tt.failures); got != tt.want {
			t.Errorf("ThrottleDelay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.Store(t)
	// A fixed instant in a zone other than the connection's, to catch zone bugs.
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("UTC+9", 9*3600))

	type failure struct {
		email, addr string
		at          time.Duration // after t0
	}
	type check struct {
		email, addr string
		at          time.Duration
		want        time.Duration
	}
	fails := func(email, addr string, n int, every time.Duration) []failure {
		var out []failure
		for i := range n {
			out = append(out, failure{email, addr, time.Duration(i) * every})
		}
		return out
	}
	tests := []struct {
		name     string
		failures []failure
		clear    *failure // a successful sign-in, at its time
		checks   []check
	}{
		{
			name:     "four failures are free",
			failures: fails("a@x", "10.0.0.1", 4, time.Second),
			checks:   []check{{"a@x", "10.0.0.1", 4 * time.Second, 0}},
		},
		{
			name:     "fifth failure costs 30s from the last failure",
			failures: fails("a@x", "10.0.0.1", 5, time.Second),
			checks: []check{
				{"a@x", "10.0.0.1", 4 * time.Second, 30 * time.Second},
				{"a@x", "10.0.0.1", 14 * time.Second, 20 * time.Second},
				{"a@x", "10.0.0.1", 34 * time.Second, 0},
				{"A@X", "10.0.0.1", 14 * time.Second, 20 * time.Second},
			},
		},
		{
			name:     "per email, whatever the address",
			failures: []failure{{"a@x", "1.1.1.1", 0}, {"a@x", "2.2.2.2", 1 * time.Second}, {"a@x", "3.3.3.3", 2 * time.Second}, {"a@x", "4.4.4.4", 3 * time.Second}, {"a@x", "5.5.5.5", 4 * time.Second}},
			checks: []check{
				{"a@x", "9.9.9.9", 4 * time.Second, 30 * time.Second},
				{"b@x", "9.9.9.9", 4 * time.Second, 0},
			},
		},
		{
			name:     "per address, whatever the email",
			failures: []failure{{"a@x", "1.1.1.1", 0}, {"b@x", "1.1.1.1", time.Second}, {"c@x", "1.1.1.1", 2 * time.Second}, {"d@x", "1.1.1.1", 3 * time.Second}, {"e@x", "1.1.1.1", 4 * time.Second}},
			checks: []check{
				{"z@x", "1.1.1.1", 4 * time.Second, 30 * time.Second},
				{"z@x", "1.1.1.2", 4 * time.Second, 0},
			},
		},
		{
			name:     "doubles and caps",
			failures: fails("a@x", "10.0.0.1", 12, 10*time.Second),
			checks: []check{
				{"a@x", "10.0.0.1", 110 * time.Second, 15 * time.Minute},
			},
		},
		{
			name:     "seventh failure waits two minutes",
			failures: fails("a@x", "10.0.0.1", 7, time.Second),
			checks:   []check{{"a@x", "10.0.0.1", 6 * time.Second, 2 * time.Minute}},
		},
		{
			name:     "old failures leave the window",
			failures: fails("a@x", "10.0.0.1", 5, time.Second),
			checks: []check{
				// At 15m03s the first failure (at 0s) is out of the window: 4 left.
				{"a@x", "10.0.0.1", 15*time.Minute + 3*time.Second, 0},
			},
		},
		{
			name:     "success clears the email, not the address's failures against others",
			failures: append(fails("a@x", "1.1.1.1", 5, time.Second), fails("b@x", "1.1.1.1", 5, time.Second)...),
			clear:    &failure{"a@x", "1.1.1.1", 5 * time.Second},
			checks: []check{
				{"a@x", "2.2.2.2", 5 * time.Second, 0},
				{"c@x", "1.1.1.1", 5 * time.Second, 29 * time.Second},
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case gets its own emails and addresses by suffix, so the
			// cases share one database without seeing each other.
			tag := func(s string) string { return s + "#" + string(rune('a'+i)) }
			for _, f := range tt.failures {
				if err := s.RecordLoginFailure(ctx, tag(f.email), tag(f.addr), t0.Add(f.at)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.clear != nil {
				if err := s.ClearLoginFailures(ctx, tag(tt.clear.email), tag(tt.clear.addr)); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range tt.checks {
				got, err := s.LoginThrottle(ctx, tag(c.email), tag(c.addr), t0.Add(c.at))
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("LoginThrottle(%s, %s, t0+%v) = %v, want %v", c.email, c.addr, c.at, got, c.want)
				}
			}
		})
	}
}
