package views

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"testing"
	"time"
)

// rowRev hashes the same bytes as the fmt.Fprintf it replaced, so a row's
// revision does not change with the rewrite (the page compares it).
func TestRowRev_sameAsFormatted(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 30, 0, 123456789, time.FixedZone("x", 3600))
	rows := []FleetRow{
		{},
		{MachineRow: MachineRow{ID: "42", Name: "Studio|1", Status: "running", UserName: "Ann", UserEmail: "ann@example.com",
			Region: "dublin", MachineType: "Planet", RemainingMinutes: -5, LastSessionAt: &at},
			Selectable: true, AutoStopSeconds: 900, TaskUID: "Outputs", ImageStatus: "ready"},
		{MachineRow: MachineRow{ID: "7", RemainingMinutes: 1 << 40}, AutoStopSeconds: -1},
	}
	for i, m := range rows {
		h := fnv.New64a()
		last := ""
		if m.LastSessionAt != nil {
			last = m.LastSessionAt.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(h, "%s|%s|%s|%s|%s|%s|%s|%d|%s|%t|%d|%s|%s", m.ID, m.Name, m.Status, m.UserName, m.UserEmail,
			m.Region, m.MachineType, m.RemainingMinutes, last, m.Selectable, m.AutoStopSeconds, m.TaskUID, m.ImageStatus)
		if want := strconv.FormatUint(h.Sum64(), 36); rowRev(m) != want {
			t.Errorf("row %d: rowRev %s, want %s", i, rowRev(m), want)
		}
	}
	if rowRev(rows[1]) == rowRev(rows[2]) {
		t.Error("two different rows share a revision")
	}
}
