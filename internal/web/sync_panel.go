package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/views"
)

// showSyncPanel is GET /reports/sync?panel=passes|note[&pass=ID]: the sync
// panel of a report, which polls it while a pass runs (every replica reads
// the pass's progress from Postgres). pass is the pass the page was
// waiting for: once it has finished, the panel says the report is older
// than it.
func (s *Server) showSyncPanel(c echo.Context) error {
	panel := c.QueryParam("panel")
	n := 1
	switch panel {
	case views.PanelPasses:
		n = syncPassesShown
	case views.PanelNote:
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "panel: want passes or note.")
	}
	var waited int64
	if p := c.QueryParam("pass"); p != "" {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id < 1 {
			return echo.NewHTTPError(http.StatusBadRequest, "pass: want a pass number.")
		}
		waited = id
	}
	v, err := s.syncStatus(c, n)
	if err != nil {
		return err
	}
	for _, p := range v.Passes {
		if p.ID == waited && p.FinishedAt != nil {
			v.FinishedSincePoll = true
		}
	}
	return render(c, http.StatusOK, views.SyncPanel(panel, v))
}
