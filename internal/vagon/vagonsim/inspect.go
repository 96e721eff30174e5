package vagonsim

import (
	"errors"
	"strconv"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// ErrNoMachine is returned by the setters for an unknown machine id.
var ErrNoMachine = errors.New("vagonsim: no such machine")

// get returns the machine with id, advanced to now. The caller holds s.mu.
func (s *Sim) get(id string) (*machine, time.Time, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, time.Time{}, ErrNoMachine
	}
	m := s.machines[n]
	if m == nil {
		return nil, time.Time{}, ErrNoMachine
	}
	now := s.now()
	m.advance(now)
	return m, now, nil
}

// Now returns the simulator's current time (UTC, millisecond precision).
func (s *Sim) Now() time.Time { return s.now() }

// MachineIDs returns every machine id, ascending.
func (s *Sim) MachineIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.order))
	for i, id := range s.order {
		out[i] = strconv.FormatInt(id, 10)
	}
	return out
}

// Machine returns the machine as GET /machines would show it now.
func (s *Sim) Machine(id string) (vagon.Machine, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, now, err := s.get(id)
	if err != nil {
		return vagon.Machine{}, false
	}
	w := m.view(now)
	out := vagon.Machine{ID: w.ID, Type: w.Type, Attributes: w.Attributes.MachineAttributes}
	if t := w.Attributes.Task; t != nil {
		at := t.CreatedAt
		out.Attributes.Task = &vagon.ActiveTask{ID: vagon.ID(strconv.FormatInt(t.ID, 10)), UID: t.UID, CreatedAt: &at}
	}
	return out, true
}

// Sessions returns the machine's sessions, newest first, as the API shows them now.
func (s *Sim) Sessions(id string) []vagon.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, now, err := s.get(id)
	if err != nil {
		return nil
	}
	return m.sessionsView(now)
}

// AllSessions returns every machine's sessions (newest first) by machine id,
// for sums computed independently of the API.
func (s *Sim) AllSessions() map[string][]vagon.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make(map[string][]vagon.Session, len(s.order))
	for _, id := range s.order {
		m := s.machines[id]
		m.advance(now)
		out[strconv.FormatInt(id, 10)] = m.sessionsView(now)
	}
	return out
}

// Tasks returns the machine's non-deleted tasks, newest first.
func (s *Sim) Tasks(id string) []vagon.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _, err := s.get(id)
	if err != nil {
		return nil
	}
	var out []vagon.Task
	for _, t := range m.visibleTasks() {
		out = append(out, taskView(t))
	}
	return out
}

// Info is what the simulator knows of a machine beyond its API form.
type Info struct {
	PlanID            int64
	BackupEnabled     bool
	PendingInvitation bool      // assigned to an invitation not yet accepted (user is null)
	LastResetAt       time.Time // zero when never reset
}

// Info returns the machine's plan, backup setting, invitation and last reset.
func (s *Sim) Info(id string) (Info, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _, err := s.get(id)
	if err != nil {
		return Info{}, false
	}
	return Info{PlanID: m.planID, BackupEnabled: m.backupEnabled, PendingInvitation: m.pendingInvite, LastResetAt: m.lastResetAt}, true
}

// SetStatus pins the machine's status: pending transitions are dropped and
// none follows until an action or another SetStatus. Setting a running
// status (ready, turning_on, creating, warming_up) opens a session if none
// is open; setting off or a stopping status closes it.
func (s *Sim) SetStatus(id string, st vagon.Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, now, err := s.get(id)
	if err != nil {
		return err
	}
	m.status, m.steps = st, nil
	switch st {
	case vagon.StatusReady, vagon.StatusTurningOn, vagon.StatusCreating, vagon.StatusWarmingUp:
		if m.openSession() == nil {
			m.sessions = append(m.sessions, session{id: s.nextSess, start: now})
			s.nextSess++
			m.everStarted, m.hasUserData = true, true
		}
	case vagon.StatusOff, vagon.StatusTurningOff, vagon.StatusGracefulStopping:
		if m.openSession() != nil {
			m.closeSession(now)
			if st == vagon.StatusOff {
				m.offAt = now
			}
		}
	}
	return nil
}

// SetMachineName renames a machine (any text, e.g. HTML to test escaping).
func (s *Sim) SetMachineName(id, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _, err := s.get(id)
	if err != nil {
		return err
	}
	m.name = name
	return nil
}

// SetBackupEnabled turns the seat's backup on or off (off: task changes get
// 4218 and the machine's task shows null).
func (s *Sim) SetBackupEnabled(id string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, _, err := s.get(id)
	if err != nil {
		return err
	}
	m.backupEnabled = on
	return nil
}

// SetRemainingUsage sets the machine's remaining usage in minutes.
func (s *Sim) SetRemainingUsage(id string, minutes int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, now, err := s.get(id)
	if err != nil {
		return err
	}
	m.remainingSec = minutes * 60
	if o := m.openSession(); o != nil {
		// An open session is charged from remainingSec; keep what it has
		// used so far out of the new figure.
		m.remainingSec += int64(now.Sub(o.start) / time.Second)
	}
	return nil
}

// SetBalance sets the organization balance, in cents. Creating machines
// costs MachinePrice each; starting needs a balance above zero.
func (s *Sim) SetBalance(cents int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balance = cents
}

// Balance returns the organization balance, in cents.
func (s *Sim) Balance() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.balance
}
