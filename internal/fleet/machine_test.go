package fleet_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

func TestService_GetMachine(t *testing.T) {
	sim, c := simClient(t, vagonsim.Options{Machines: 250, Seed: 5})
	svc := fleet.NewService(c, nil, fleet.ServiceOptions{})
	ctx := context.Background()
	ids := sim.MachineIDs()
	last := ids[len(ids)-1]
	lastM, _ := sim.Machine(last)

	t.Run("from a cached list", func(t *testing.T) {
		l, err := svc.ListMachines(ctx, vagon.ListMachinesOptions{Page: 1, PerPage: 20})
		if err != nil {
			t.Fatal(err)
		}
		sim.ResetCounts()
		m, err := svc.GetMachine(ctx, string(l.Machines[3].ID), "")
		if err != nil || m.ID != l.Machines[3].ID {
			t.Fatalf("got %v, %v", m, err)
		}
		if n := sim.Total(); n != 0 {
			t.Errorf("%d API calls, want 0 (cached)", n)
		}
	})
	t.Run("by name hint", func(t *testing.T) {
		sim.ResetCounts()
		m, err := svc.GetMachine(ctx, last, lastM.Attributes.Name)
		if err != nil || string(m.ID) != last {
			t.Fatalf("got %v, %v", m, err)
		}
		if n := sim.Count("GET /machines"); n != 1 {
			t.Errorf("%d list calls, want 1", n)
		}
	})
	t.Run("walk without a hint", func(t *testing.T) {
		svc := fleet.NewService(c, nil, fleet.ServiceOptions{})
		sim.ResetCounts()
		m, err := svc.GetMachine(ctx, last, "")
		if err != nil || string(m.ID) != last {
			t.Fatalf("got %v, %v", m, err)
		}
		if n := sim.Count("GET /machines"); n != 3 {
			t.Errorf("%d list calls, want 3 pages of 100", n)
		}
	})
	t.Run("wrong hint falls back to the walk", func(t *testing.T) {
		svc := fleet.NewService(c, nil, fleet.ServiceOptions{})
		m, err := svc.GetMachine(ctx, last, "no such name")
		if err != nil || string(m.ID) != last {
			t.Fatalf("got %v, %v", m, err)
		}
	})
	t.Run("not found only after the walk", func(t *testing.T) {
		svc := fleet.NewService(c, nil, fleet.ServiceOptions{})
		sim.ResetCounts()
		_, err := svc.GetMachine(ctx, "999999", "x")
		if !errors.Is(err, fleet.ErrMachineNotFound) {
			t.Fatalf("err = %v, want ErrMachineNotFound", err)
		}
		if n := sim.Count("GET /machines"); n != 4 {
			t.Errorf("%d list calls, want 1 by name + 3 pages", n)
		}
	})
	t.Run("API error is not not-found", func(t *testing.T) {
		svc := fleet.NewService(c, nil, fleet.ServiceOptions{})
		sim.Enqueue("GET /machines", 10, vagonsim.GatewayError(502, true))
		defer sim.ClearFaults()
		_, err := svc.GetMachine(ctx, last, "")
		if err == nil || errors.Is(err, fleet.ErrMachineNotFound) {
			t.Fatalf("err = %v, want an API error", err)
		}
	})
}
