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
