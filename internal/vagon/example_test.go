package vagon_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/vagon/vagonsim"
)

// Example lists a fleet, starts a machine and shows how a documented error
// is told apart. It runs against the simulator; point New at
// vagon.DefaultBaseURL with real credentials for the real API.
func Example() {
	clock := vagonsim.NewManualClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	sim := vagonsim.New(vagonsim.Options{Key: "key", Secret: "secret", Machines: 12, Seed: 7, Clock: clock.Now})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	client, err := vagon.New(srv.URL+vagonsim.BasePath, "key", "secret", vagon.WithClock(clock.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	all, err := client.ListAllMachines(ctx, &vagon.ListMachinesOptions{PerPage: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("machines:", len(all))

	off, err := client.ListMachines(ctx, &vagon.ListMachinesOptions{Status: "off", PerPage: 1})
	if err != nil || len(off.Machines) == 0 {
		fmt.Println("no machine is off", err)
		return
	}
	id := string(off.Machines[0].ID)
	err = client.StopMachine(ctx, id, true)
	fmt.Println("stop an off machine: not running =", vagon.IsNotRunning(err))
	// Output:
	// machines: 12
	// stop an off machine: not running = true
}
