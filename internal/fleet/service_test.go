package fleet_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

func simClient(t *testing.T, o vagonsim.Options) (*vagonsim.Sim, *vagon.Client) {
	t.Helper()
	o.Key, o.Secret = "k", "s"
	sim := vagonsim.New(o)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := vagon.New(srv.URL+"/organization-management/v1", "k", "s")
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func TestService_ListMachines_coalescesAndCaches(t *testing.T) {
	sim, c := simClient(t, vagonsim.Options{Machines: 30, Seed: 3})
	sim.SetLatency(100*time.Millisecond, 100*time.Millisecond)
	now := time.Now()
	var mu sync.Mutex
	svc := fleet.NewService(c, nil, fleet.ServiceOptions{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.ListMachines(ctx, vagon.ListMachinesOptions{Q: "a", PerPage: 20}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := sim.Count("GET /machines"); n != 1 {
		t.Fatalf("100 concurrent identical lists made %d upstream calls, want 1", n)
	}
	// Cached within the TTL; a different query is a different call.
	_, _ = svc.ListMachines(ctx, vagon.ListMachinesOptions{Q: "a", PerPage: 20})
	_, _ = svc.ListMachines(ctx, vagon.ListMachinesOptions{Q: "b", PerPage: 20})
	if n := sim.Count("GET /machines"); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}
	// After the TTL the list is fetched again.
	mu.Lock()
	now = now.Add(fleet.DefaultListTTL + time.Second)
	mu.Unlock()
	_, _ = svc.ListMachines(ctx, vagon.ListMachinesOptions{Q: "a", PerPage: 20})
	if n := sim.Count("GET /machines"); n != 3 {
		t.Fatalf("calls = %d, want 3", n)
	}
}

func TestService_Invalidate(t *testing.T) {
	sim, c := simClient(t, vagonsim.Options{Machines: 10, Seed: 3})
	svc := fleet.NewService(c, nil, fleet.ServiceOptions{})
	ctx := context.Background()
	all, err := svc.ListMachines(ctx, vagon.ListMachinesOptions{PerPage: 5})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = svc.ListMachines(ctx, vagon.ListMachinesOptions{PerPage: 5, Page: 2})
	_, _ = svc.ListMachines(ctx, vagon.ListMachinesOptions{Status: "off", PerPage: 5})
	base := sim.Count("GET /machines")
	// Invalidating a machine of page 1 drops page 1 and every state-filtered
	// list, but keeps page 2.
	svc.Invalidate(all.Machines[0].ID)
	_, _ = svc.ListMachines(ctx, vagon.ListMachinesOptions{PerPage: 5})
	_, _ = svc.ListMachines(ctx, vagon.ListMachinesOptions{PerPage: 5, Page: 2})
	_, _ = svc.ListMachines(ctx, vagon.ListMachinesOptions{Status: "off", PerPage: 5})
	if n := sim.Count("GET /machines") - base; n != 2 {
		t.Fatalf("refetched %d lists, want 2 (page 1 and the status-filtered one)", n)
	}
}

func TestService_ListMachines_callerCancelDoesNotFailOthers(t *testing.T) {
	sim, c := simClient(t, vagonsim.Options{Machines: 5, Seed: 3})
	sim.SetLatency(150*time.Millisecond, 150*time.Millisecond)
	svc := fleet.NewService(c, nil, fleet.ServiceOptions{})
	ctx1, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := svc.ListMachines(context.Background(), vagon.ListMachinesOptions{})
		done <- err
	}()
	if _, err := svc.ListMachines(ctx1, vagon.ListMachinesOptions{}); err == nil {
		t.Fatal("cancelled caller got a result")
	}
	if err := <-done; err != nil {
		t.Fatalf("the other caller failed: %v", err)
	}
}

func TestService_ListAllMachines_walksPagesOnceAndCaches(t *testing.T) {
	sim, c := simClient(t, vagonsim.Options{Machines: 230, Seed: 5})
	svc := fleet.NewService(c, nil, fleet.ServiceOptions{})
	ctx := context.Background()
	l, err := svc.ListAllMachines(ctx, vagon.ListMachinesOptions{Page: 7, PerPage: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Machines) != 230 || l.Count != 230 {
		t.Fatalf("got %d machines (count %d), want all 230", len(l.Machines), l.Count)
	}
	seen := map[vagon.ID]bool{}
	for _, m := range l.Machines {
		if seen[m.ID] {
			t.Fatalf("machine %s listed twice", m.ID)
		}
		seen[m.ID] = true
	}
	if n := sim.Count("GET /machines"); n != 3 {
		t.Fatalf("walking 230 machines made %d calls, want 3 pages of 100", n)
	}
	// The same filter (any paging) is served from the cache.
	if _, err := svc.ListAllMachines(ctx, vagon.ListMachinesOptions{Page: 1, PerPage: 50}); err != nil {
		t.Fatal(err)
	}
	if n := sim.Count("GET /machines"); n != 3 {
		t.Fatalf("a cached whole list made calls: %d", n)
	}
	// An action invalidates it: a started machine may join any filter.
	svc.Invalidate(l.Machines[0].ID)
	if _, err := svc.ListAllMachines(ctx, vagon.ListMachinesOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := sim.Count("GET /machines"); n != 6 {
		t.Fatalf("after Invalidate: %d calls, want 6", n)
	}
}

func TestService_ListAllMachines_tooMany(t *testing.T) {
	_, c := simClient(t, vagonsim.Options{Machines: fleet.MaxAllMachines + 1, Seed: 5})
	svc := fleet.NewService(c, nil, fleet.ServiceOptions{})
	if _, err := svc.ListAllMachines(context.Background(), vagon.ListMachinesOptions{}); !errors.Is(err, fleet.ErrTooManyToList) {
		t.Fatalf("err = %v, want ErrTooManyToList", err)
	}
}

// A list read in the last fifth of its TTL is answered from the cache and
// fetched again in the background, so a busy list never makes its readers
// wait when it expires; a list left alone past its TTL is fetched while
// the reader waits, as before.
func TestService_refreshAhead(t *testing.T) {
	sim, c := simClient(t, vagonsim.Options{Machines: 10, Seed: 3})
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	svc := fleet.NewService(c, nil, fleet.ServiceOptions{Now: clock})
	ctx := context.Background()
	o := vagon.ListMachinesOptions{PerPage: 5}
	calls := func() int { return sim.Count("GET /machines") }
	first, err := svc.ListMachines(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	advance(fleet.DefaultListTTL / 2)
	if l, _ := svc.ListMachines(ctx, o); l != first || calls() != 1 {
		t.Fatalf("mid-TTL: a new list or %d calls, want the cached one and 1", calls())
	}
	advance(fleet.DefaultListTTL * 2 / 5) // 0.9 TTL
	if l, _ := svc.ListMachines(ctx, o); l != first {
		t.Fatal("late in the TTL: not the cached list")
	}
	deadline := time.Now().Add(10 * time.Second)
	for calls() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no refresh in the background: %d calls", calls())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var refreshed *vagon.MachineList
	for deadline := time.Now().Add(10 * time.Second); ; {
		if refreshed, _ = svc.ListMachines(ctx, o); refreshed != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refreshed list never replaced the cached one")
		}
		time.Sleep(5 * time.Millisecond)
	}
	advance(fleet.DefaultListTTL / 2) // 1.4 TTL after the first fetch
	if l, _ := svc.ListMachines(ctx, o); l != refreshed || calls() != 2 {
		t.Errorf("after the first list's TTL: %d calls, want the refreshed list and 2", calls())
	}
	advance(2 * fleet.DefaultListTTL)
	if l, _ := svc.ListMachines(ctx, o); l == refreshed || calls() != 3 {
		t.Errorf("left alone past its TTL: %d calls, want a new list and 3", calls())
	}
}
