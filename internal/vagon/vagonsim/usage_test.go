package vagonsim_test

import (
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// TestSim_usageDrawsDownWhileMachinesRun: GET /usage falls by the minutes
// machines run on the simulator's clock and holds while they are off.
func TestSim_usageDrawsDownWhileMachinesRun(t *testing.T) {
	e := newEnv(t, vagonsim.Options{})
	c := e.c
	e.sim.SetUsageMinutes(1000)
	read := func() int64 {
		t.Helper()
		u, err := c.GetUsage(ctx())
		must(t, err)
		return u.Minutes
	}
	if got := read(); got != 1000 {
		t.Fatalf("usage at start = %d, want 1000", got)
	}
	created, err := c.CreateMachines(ctx(), &vagon.CreateMachinesRequest{PlanID: 2, Quantity: 2, Region: "frankfurt"})
	must(t, err)
	a, b := string(created.Machines[0].ID), string(created.Machines[1].ID)
	for _, id := range []string{a, b} {
		_, err := c.UpdateMachine(ctx(), id, &vagon.UpdateMachineRequest{UsageSource: ptr(vagon.UsageSourceTeamBalance)})
		must(t, err)
		must(t, c.StartMachine(ctx(), id))
	}
	e.clk.Advance(30 * time.Minute)
	if got := read(); got != 940 {
		t.Fatalf("two machines for 30 min: usage = %d, want 940", got)
	}
	must(t, c.StopMachine(ctx(), a, false))
	e.clk.Advance(10 * time.Minute)
	if got := read(); got != 930 {
		t.Fatalf("one more machine for 10 min: usage = %d, want 930", got)
	}
	must(t, c.StopMachine(ctx(), b, false))
	e.clk.Advance(time.Hour)
	if got := read(); got != 930 {
		t.Fatalf("all off for an hour: usage = %d, want 930", got)
	}
	if got := e.sim.UsageMinutes(); got != 930 {
		t.Fatalf("UsageMinutes() = %d, want 930", got)
	}
}
