package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/fleet"
)

// scheduleCSVMaxRuns bounds the runs one history export reads.
const scheduleCSVMaxRuns = 10000

// csvHeaders starts a CSV download named name-<UTC time>.csv.
func (s *Server) csvHeaders(c echo.Context, name string) *csv.Writer {
	h := c.Response().Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, name, s.now().UTC().Format("20060102-150405")))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	return csv.NewWriter(c.Response())
}

// writeSafe writes one record with every cell through csvsafe.Cell.
func writeSafe(w *csv.Writer, rec []string) {
	for i := range rec {
		rec[i] = csvSafe(rec[i])
	}
	_ = w.Write(rec)
}

// scheduleCSVTargets is the targets cell: the machine ids separated by
// spaces, or "filter:" and the saved filter's name.
func scheduleCSVTargets(sc fleet.Schedule) string {
	if len(sc.MachineIDs) == 0 {
		return "filter:" + sc.FilterName
	}
	return strings.Join(sc.MachineIDs, " ")
}

// exportSchedules is GET /schedules.csv: every schedule, as the list shows
// them, with the next run in UTC.
func (s *Server) exportSchedules(c echo.Context) error {
	list, err := s.store.ListSchedules(c.Request().Context())
	if err != nil {
		return err
	}
	w := s.csvHeaders(c, "schedules")
	_ = w.Write([]string{"id", "name", "action", "gracefully", "targets", "days", "at", "timezone", "skip_dates",
		"skip_active_sessions", "enabled", "next_run", "owner_email"})
	now := s.sched.Now()
	for _, sc := range list {
		next := ""
		if n := fleet.NextRuns(sc, now, 1); sc.Enabled && len(n) == 1 {
			next = n[0].UTC().Format(time.RFC3339)
		}
		writeSafe(w, []string{strconv.FormatInt(sc.ID, 10), sc.Name, sc.Action, strconv.FormatBool(sc.Gracefully),
			scheduleCSVTargets(sc), strings.Join(sc.Days, " "), fleet.FormatAt(sc.AtMinute), sc.TimeZone,
			strings.Join(sc.SkipDates, " "), strconv.FormatBool(sc.SkipActiveSessions), strconv.FormatBool(sc.Enabled),
			next, sc.OwnerEmail})
	}
	w.Flush()
	return nil
}

// exportScheduleRuns is GET /schedules/{id}/runs.csv: the schedule's
// history, newest run first, one row per machine a run touched (a run
// that touched none, e.g. missed, is one row without a machine).
func (s *Server) exportScheduleRuns(c echo.Context) error {
	sc, err := s.loadSchedule(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	runs, err := s.store.ScheduleRuns(ctx, sc.ID, scheduleCSVMaxRuns)
	if err != nil {
		return err
	}
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	items, err := s.store.ScheduleRunItems(ctx, ids...)
	if err != nil {
		return err
	}
	byRun := map[int64][]int{}
	for i, it := range items {
		byRun[it.RunID] = append(byRun[it.RunID], i)
	}
	w := s.csvHeaders(c, "schedule-"+strconv.FormatInt(sc.ID, 10)+"-runs")
	_ = w.Write([]string{"run_id", "trigger", "due_at", "state", "machine_id", "machine_name", "outcome", "message", "error_code"})
	for _, r := range runs {
		base := []string{strconv.FormatInt(r.ID, 10), r.Trigger, r.DueAt.UTC().Format(time.RFC3339), r.State}
		for _, i := range byRun[r.ID] {
			it := items[i]
			code := ""
			if it.ErrorCode != nil {
				code = strconv.Itoa(*it.ErrorCode)
			}
			writeSafe(w, append(append([]string{}, base...), it.MachineID, it.MachineName, it.State, it.Message, code))
		}
		if len(byRun[r.ID]) == 0 {
			writeSafe(w, append(base, "", "", "", r.Message, ""))
		}
	}
	w.Flush()
	return nil
}
