package views

import (
	"testing"
	"time"
)

func TestSyncStatusView_Progress(t *testing.T) {
	start := time.Date(2026, 4, 15, 9, 30, 0, 0, time.UTC)
	ten := 10000
	done := start.Add(time.Minute)
	for _, tt := range []struct {
		name  string
		pass  SyncPassView
		now   time.Time
		ok    bool
		line  string
		short string
	}{
		{name: "no pass", ok: false},
		{name: "finished", pass: SyncPassView{StartedAt: start, FinishedAt: &done}, ok: false},
		{name: "listing under way, total expected",
			pass: SyncPassView{StartedAt: start, MachinesDone: 3200, MachinesListed: 3300, MachinesExpected: &ten, SessionsSeen: 41000},
			now:  start.Add(40 * time.Second), ok: true,
			line: "Syncing: 3,200 of about 10,000 machines (32 %), 41,000 sessions, started 40 s ago", short: "Updating now (32 %)."},
		{name: "listing complete, with failures",
			pass: SyncPassView{StartedAt: start, MachinesDone: 9000, MachinesFailed: 3, MachinesListed: 9500, ListedAll: true,
				MachinesExpected: &ten, SessionsSeen: 1},
			now: start.Add(125 * time.Second), ok: true,
			line: "Syncing: 9,003 of 9,500 machines (94 %), 1 session, 3 failed, started 2 min 5 s ago", short: "Updating now (94 %)."},
		{name: "more listed than expected",
			pass: SyncPassView{StartedAt: start, MachinesDone: 10000, MachinesListed: 10400, MachinesExpected: &ten},
			now:  start.Add(time.Hour + 3*time.Minute), ok: true,
			line: "Syncing: 10,000 of about 10,400 machines (96 %), 0 sessions, started 1 h 3 min ago", short: "Updating now (96 %)."},
		{name: "all expected handled, listing not ended: not 100 %",
			pass: SyncPassView{StartedAt: start, MachinesDone: 10000, MachinesListed: 10000, MachinesExpected: &ten},
			now:  start, ok: true,
			line: "Syncing: 10,000 of about 10,000 machines (99 %), 0 sessions, started 0 s ago", short: "Updating now (99 %)."},
		{name: "first pass, nothing expected",
			pass: SyncPassView{StartedAt: start, MachinesDone: 150, MachinesListed: 200, SessionsSeen: 4500},
			now:  start.Add(-time.Second), ok: true, // a replica's clock behind the writer's
			line: "Syncing: 150 of about 200 machines (75 %), 4,500 sessions, started 0 s ago", short: "Updating now (75 %)."},
		{name: "nothing listed yet",
			pass: SyncPassView{StartedAt: start},
			now:  start.Add(time.Second), ok: true,
			line: "Syncing: 0 machines, 0 sessions, started 1 s ago", short: "Updating now."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := SyncStatusView{Now: tt.now}
			if tt.name != "no pass" {
				s.Passes = []SyncPassView{tt.pass}
			}
			g, ok := s.Progress()
			if ok != tt.ok {
				t.Fatalf("Progress ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if got := g.Line(); got != tt.line {
				t.Errorf("Line = %q, want %q", got, tt.line)
			}
			if got := g.Short(); got != tt.short {
				t.Errorf("Short = %q, want %q", got, tt.short)
			}
		})
	}
}

func TestSyncStatusView_PollURL(t *testing.T) {
	s := SyncStatusView{Passes: []SyncPassView{{ID: 42}}}
	if got := s.PollURL(PanelNote); got != "/reports/sync?panel=note&pass=42" {
		t.Errorf("PollURL = %q", got)
	}
	if got := (SyncStatusView{}).PollURL(PanelPasses); got != "/reports/sync?panel=passes" {
		t.Errorf("PollURL without a pass = %q", got)
	}
}
