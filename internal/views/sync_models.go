package views

import (
	"net/url"
	"strconv"
	"time"
)

// The sync panels a page shows, and their poller asks for (GET
// /reports/sync?panel=).
const (
	PanelPasses = "passes" // the usage report's list of passes
	PanelNote   = "note"   // the one line of the other reports
)

// SyncPollInterval is how often a sync panel refreshes itself while a pass
// runs.
const SyncPollInterval = "3s"

// SyncProgress is how far a running pass has got, as the panel says it.
type SyncProgress struct {
	Handled int // machines done or failed
	// Total is the machines of the pass: exact once the listing is
	// complete, else the larger of those listed so far and those the last
	// complete listing had (Exact false); 0 when unknown.
	Total    int
	Exact    bool
	Failed   int
	Sessions int64 // read from the API so far
	// Percent of Total handled, 0 to 100; -1 when Total is unknown. It
	// stays below 100 until the pass has handled every machine it listed.
	Percent int
	Elapsed time.Duration
}

// Progress is the progress of the newest pass, and false when none is
// running.
func (s SyncStatusView) Progress() (SyncProgress, bool) {
	if !s.Running() {
		return SyncProgress{}, false
	}
	p := s.Passes[0]
	g := SyncProgress{Handled: p.MachinesDone + p.MachinesFailed, Failed: p.MachinesFailed,
		Sessions: p.SessionsSeen, Percent: -1, Total: p.MachinesListed, Exact: p.ListedAll}
	if !p.ListedAll && p.MachinesExpected != nil {
		g.Total = max(g.Total, *p.MachinesExpected)
	}
	if g.Total > 0 {
		g.Percent = min(100, g.Handled*100/g.Total)
		if g.Percent == 100 && (!p.ListedAll || g.Handled < p.MachinesListed) {
			g.Percent = 99
		}
	}
	if !s.Now.IsZero() && s.Now.After(p.StartedAt) {
		g.Elapsed = s.Now.Sub(p.StartedAt)
	}
	return g, true
}

// PollURL is the address a panel polls while a pass runs: the same panel,
// and the pass it is waiting for.
func (s SyncStatusView) PollURL(panel string) string {
	q := url.Values{"panel": {panel}}
	if len(s.Passes) > 0 {
		q.Set("pass", strconv.FormatInt(s.Passes[0].ID, 10))
	}
	return "/reports/sync?" + q.Encode()
}

// machinesOf is "3,200 of 10,000 machines", "3,200 of about 10,000
// machines" while the listing runs, or "3,200 machines" when the total is
// unknown.
func (g SyncProgress) machinesOf() string {
	switch {
	case g.Total == 0:
		return Plural(g.Handled, "machine", "machines")
	case g.Exact:
		return FormatCount(g.Handled) + " of " + Plural(g.Total, "machine", "machines")
	default:
		return FormatCount(g.Handled) + " of about " + Plural(g.Total, "machine", "machines")
	}
}

// percentText is " (32 %)", or "" when the total is unknown.
func (g SyncProgress) percentText() string {
	if g.Percent < 0 {
		return ""
	}
	return " (" + strconv.Itoa(g.Percent) + " %)"
}

// Line is the admin's progress line: "Syncing: 3,200 of 10,000 machines
// (32 %), 41,000 sessions, started 40 s ago".
func (g SyncProgress) Line() string {
	l := "Syncing: " + g.machinesOf() + g.percentText() + ", " + Plural(int(g.Sessions), "session", "sessions")
	if g.Failed > 0 {
		l += ", " + FormatCount(g.Failed) + " failed"
	}
	return l + ", started " + elapsedText(g.Elapsed) + " ago"
}

// Short is a viewer's words for it: "Updating now (32 %)."
func (g SyncProgress) Short() string {
	return "Updating now" + g.percentText() + "."
}

// elapsedText is "40 s", "2 min 5 s" or "1 h 3 min".
func elapsedText(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min " + strconv.Itoa(int(d%time.Minute/time.Second)) + " s"
	default:
		return strconv.Itoa(int(d/time.Hour)) + " h " + strconv.Itoa(int(d%time.Hour/time.Minute)) + " min"
	}
}
