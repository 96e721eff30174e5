package web

import (
	"slices"
	"testing"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// TestSortMachines_everyColumn (issue 9.6): each sortable column of the
// fleet list (views.FleetSortColumns) orders by its own value in both
// directions, with a missing value last either way. The machines' ids run
// against their values, so a column that fell back to id order would fail.
func TestSortMachines_everyColumn(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { v := t0.Add(time.Duration(h) * time.Hour); return &v }
	user := func(name, email string) *vagon.User {
		u := &vagon.User{}
		u.Attributes.Name, u.Attributes.Email = name, email
		return u
	}
	// set gives machine i (ids "1".."4") its value for the column; machine
	// 1 has the largest, 3 the smallest, 4 none (or, for time left, which is
	// never missing, the largest of all).
	tests := map[string]struct {
		set               func(a *vagon.MachineAttributes, i int)
		wantAsc, wantDesc []string
	}{
		"name": {func(a *vagon.MachineAttributes, i int) {
			a.Name = []string{"", "Zeta", "mike", "Alpha", ""}[i]
		}, []string{"3", "2", "1", "4"}, []string{"1", "2", "3", "4"}},
		"status": {func(a *vagon.MachineAttributes, i int) {
			a.FriendlyStatus = []vagon.Status{"", vagon.StatusTurningOn, vagon.StatusReady, vagon.StatusOff, ""}[i]
		}, []string{"3", "2", "1", "4"}, []string{"1", "2", "3", "4"}},
		"user": {func(a *vagon.MachineAttributes, i int) {
			a.User = []*vagon.User{nil, user("Zoe", "z@example.com"), user("mia", "m@example.com"), user("Ann", "a@example.com"), nil}[i]
		}, []string{"3", "2", "1", "4"}, []string{"1", "2", "3", "4"}},
		"region": {func(a *vagon.MachineAttributes, i int) {
			a.Region = []string{"", "virginia", "tokyo", "frankfurt", ""}[i]
		}, []string{"3", "2", "1", "4"}, []string{"1", "2", "3", "4"}},
		"type": {func(a *vagon.MachineAttributes, i int) {
			a.MachineType = []string{"", "Universe", "Planet", "Comet", ""}[i]
		}, []string{"3", "2", "1", "4"}, []string{"1", "2", "3", "4"}},
		"time_left": {func(a *vagon.MachineAttributes, i int) {
			a.RemainingUsage = []int64{0, 600, 90, 5, 5000}[i]
		}, []string{"3", "2", "1", "4"}, []string{"4", "1", "2", "3"}},
		"last_session": {func(a *vagon.MachineAttributes, i int) {
			a.LastSessionStartAt = []*time.Time{nil, at(48), at(24), at(1), nil}[i]
		}, []string{"3", "2", "1", "4"}, []string{"1", "2", "3", "4"}},
	}
	for _, col := range views.FleetSortColumns {
		tt, ok := tests[col.Key]
		if !ok {
			t.Errorf("sortable column %q has no case here", col.Key)
			continue
		}
		t.Run(col.Key, func(t *testing.T) {
			for _, desc := range []bool{false, true} {
				// Start from an order that is neither the answer nor id order.
				var ms []vagon.Machine
				for _, i := range []int{2, 4, 1, 3} {
					m := vagon.Machine{ID: vagon.ID([]string{"", "1", "2", "3", "4"}[i])}
					tt.set(&m.Attributes, i)
					ms = append(ms, m)
				}
				sortMachines(ms, col.Key, desc)
				var got []string
				for _, m := range ms {
					got = append(got, string(m.ID))
				}
				want := tt.wantAsc
				if desc {
					want = tt.wantDesc
				}
				if !slices.Equal(got, want) {
					t.Errorf("desc=%v: %v, want %v", desc, got, want)
				}
			}
		})
	}
}
