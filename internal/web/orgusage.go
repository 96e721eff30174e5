package web

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/fleet"
	"github.com/vagon-dashboard/dashboard/internal/views"
)

// orgUsageCSVPath is the daily organization usage as CSV.
const orgUsageCSVPath = "/reports/org-usage.csv"

// orgUsageAPITimeout bounds the GET /usage call of the usage page, so a
// slow API delays the page by at most this much.
const orgUsageAPITimeout = 10 * time.Second

// orgUsageTrend returns the snapshots of the last fleet.TrendDays UTC days.
func (s *Server) orgUsageTrend(ctx context.Context) ([]db.OrgUsageSnapshot, error) {
	now := s.now().UTC()
	snaps, err := s.store.OrgUsageSnapshots(ctx, now.AddDate(0, 0, -(fleet.TrendDays-1)), now)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDBUnavailable, err)
	}
	return snaps, nil
}

// orgUsageView builds the organization usage card: GET /usage now (its
// failure in words, the rest still shown), the trend and the projection.
func (s *Server) orgUsageView(ctx context.Context) (*views.OrgUsageView, error) {
	snaps, err := s.orgUsageTrend(ctx)
	if err != nil {
		return nil, err
	}
	v := &views.OrgUsageView{TrendDays: fleet.TrendDays, BurnDays: fleet.BurnWindowDays, CSVURL: orgUsageCSVPath}
	actx, cancel := context.WithTimeout(ctx, orgUsageAPITimeout)
	u, err := s.api.GetUsage(actx)
	cancel()
	if err != nil {
		s.log.Warn("reports: organization usage", "err", err)
		v.Error = fleet.ExplainAPIError(err)
	} else {
		v.Minutes, v.MachineType = u.Minutes, u.MachineType
	}
	for _, sn := range snaps {
		v.Trend = append(v.Trend, views.OrgUsageDay{Day: sn.Day.UTC().Format(time.DateOnly), Minutes: sn.UsageMinutes})
	}
	r := fleet.ProjectRunOut(snaps, s.now())
	switch r.State {
	case fleet.RunOutProjected:
		v.RunOut, v.RunOutAt = views.OrgRunOutProjected, r.At
	case fleet.RunOutNotDecreasing:
		v.RunOut = views.OrgRunOutNotDecreasing
	default:
		v.RunOut = views.OrgRunOutNotEnoughData
	}
	v.BurnPerDay = int64(r.BurnPerDay + 0.5)
	return v, nil
}

// exportOrgUsage is GET /reports/org-usage.csv: day,usage_minutes for the
// days the card's trend shows, oldest first.
func (s *Server) exportOrgUsage(c echo.Context) error {
	snaps, err := s.orgUsageTrend(c.Request().Context())
	if err != nil {
		return err
	}
	rows := make([][]string, 0, len(snaps))
	for _, sn := range snaps {
		rows = append(rows, []string{sn.Day.UTC().Format(time.DateOnly), strconv.FormatInt(sn.UsageMinutes, 10)})
	}
	body, err := writeCSV([]string{"day", "usage_minutes"}, rows)
	if err != nil {
		return err
	}
	return sendCSV(c, "org-usage.csv", body)
}
