package vagonsim

import (
	"math"
	"strconv"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// user is a person a machine is assigned to.
type user struct {
	id, email, name string
}

// step is a scheduled status change: at time at, the machine becomes status.
type step struct {
	status vagon.Status
	at     time.Time
}

// session is one period a machine ran; end is zero while it runs.
type session struct {
	id         int64
	start, end time.Time
}

// task is a snapshot task; deleted tasks stay to enforce uid reuse rules.
type task struct {
	id         int64
	uid        string
	active     bool
	createdAt  time.Time
	folderSize *int64
	deleted    bool
	deletedAt  time.Time
}

// machine is the simulator's whole record of one machine.
type machine struct {
	id               int64
	name             string
	planID           int64
	typeID           string
	region           string
	user             *user
	pendingInvite    bool // assigned through an invitation not yet accepted: user is null
	autoStop         int
	networkCredit    int64
	imageID          *int64
	imageName        *string
	remainingSec     int64 // settled remaining usage; an open session consumes from it
	depositedMin     int64
	usageSource      string
	perms            vagon.Permissions
	backupEnabled    bool
	createdAt        time.Time
	lastResetAt      time.Time // zero when never reset
	hasUserData      bool      // false when never started or reset since
	everStarted      bool
	offAt            time.Time // when the machine last reached off after a stop
	status           vagon.Status
	steps            []step // pending status changes, in time order
	sessions         []session
	tasks            []*task
	snapshotDuration time.Duration
}

// advance applies the status changes that are due at now.
func (m *machine) advance(now time.Time) {
	for len(m.steps) > 0 && !now.Before(m.steps[0].at) {
		st := m.steps[0]
		m.steps = m.steps[1:]
		m.status = st.status
		if st.status == vagon.StatusOff {
			m.offAt = st.at
		}
	}
	if len(m.steps) == 0 {
		m.steps = nil
	}
}

// openSession returns the running session, or nil.
func (m *machine) openSession() *session {
	if n := len(m.sessions); n > 0 && m.sessions[n-1].end.IsZero() {
		return &m.sessions[n-1]
	}
	return nil
}

// closeSession ends the running session at now and charges its usage.
func (m *machine) closeSession(now time.Time) {
	s := m.openSession()
	if s == nil {
		return
	}
	if now.Before(s.start) {
		now = s.start
	}
	s.end = now
	m.remainingSec = max(0, m.remainingSec-int64(now.Sub(s.start)/time.Second))
}

// remainingMinutes is the remaining usage at now, in whole minutes.
func (m *machine) remainingMinutes(now time.Time) int64 {
	sec := m.remainingSec
	if s := m.openSession(); s != nil && now.After(s.start) {
		sec -= int64(now.Sub(s.start) / time.Second)
	}
	return max(0, sec/60)
}

// hasSessionData reports whether the machine has sessions after its last reset.
func (m *machine) hasSessionData() bool {
	n := len(m.sessions)
	return n > 0 && !m.sessions[n-1].start.Before(m.lastResetAt)
}

// activeTask returns the active, non-deleted task, or nil.
func (m *machine) activeTask() *task {
	for _, t := range m.tasks {
		if t.active && !t.deleted {
			return t
		}
	}
	return nil
}

// outputs returns the machine's Outputs task, or nil when it has none yet.
func (m *machine) outputs() *task {
	for _, t := range m.tasks {
		if t.uid == vagon.OutputsTaskUID && !t.deleted {
			return t
		}
	}
	return nil
}

// durationMinutes is a session's length in minutes, rounded up.
func durationMinutes(start, end time.Time) int64 {
	if !end.After(start) {
		return 0
	}
	return int64(math.Ceil(end.Sub(start).Minutes()))
}

// wireTask is the active task in a machine's JSON: the reference documents
// its id as a number (42), while vagon.ActiveTask.ID marshals as a string.
type wireTask struct {
	ID        int64     `json:"id"`
	UID       string    `json:"uid"`
	CreatedAt time.Time `json:"created_at"`
}

// wireAttributes overrides the task field of vagon.MachineAttributes (the
// shallower field wins in encoding/json).
type wireAttributes struct {
	vagon.MachineAttributes
	Task *wireTask `json:"task"`
}

// wireMachine is a machine as the API sends it.
type wireMachine struct {
	ID         vagon.ID       `json:"id"`
	Type       string         `json:"type"`
	Attributes wireAttributes `json:"attributes"`
}

// view builds the machine's API form at now. The caller has advanced it.
func (m *machine) view(now time.Time) wireMachine {
	a := vagon.MachineAttributes{
		Name:              m.name,
		AutoStopThreshold: m.autoStop,
		NetworkCredit:     m.networkCredit,
		AssignedImageID:   m.imageID,
		AssignedImageName: m.imageName,
		Region:            m.region,
		RemainingUsage:    m.remainingMinutes(now),
		DepositedUsage:    m.depositedMin,
		FriendlyStatus:    m.status,
		Permissions:       m.perms,
		UsageSource:       m.usageSource,
	}
	if p := findPlan(m.planID); p != nil {
		a.DiskSize, a.FileStorageSize = p.DiskSize, p.FileStorageSize
	}
	if t, ok := findType(m.typeID); ok {
		a.MachineType = t.Attributes.FriendlyName
	}
	if n := len(m.sessions); n > 0 {
		t := m.sessions[n-1].start
		a.LastSessionStartAt = &t
	}
	if m.user != nil {
		u := &vagon.User{ID: vagon.ID(m.user.id), Type: "user"}
		u.Attributes.Email = m.user.email
		u.Attributes.Name = m.user.name
		a.User = u
	}
	a.LatestImageStatus = m.imageStatus(now)
	out := wireMachine{ID: vagon.ID(strconv.FormatInt(m.id, 10)), Type: "machine", Attributes: wireAttributes{MachineAttributes: a}}
	if t := m.activeTask(); t != nil && m.backupEnabled {
		out.Attributes.Task = &wireTask{ID: t.id, UID: t.uid, CreatedAt: t.createdAt}
	}
	return out
}

// imageStatus is latest_image_status: null without user data, in_use while
// not off, processing while the snapshot after a stop is captured, else ready.
func (m *machine) imageStatus(now time.Time) *string {
	var s string
	switch {
	case !m.hasUserData:
		return nil
	case m.status != vagon.StatusOff:
		s = "in_use"
	case !m.offAt.IsZero() && now.Before(m.offAt.Add(m.snapshotDuration)):
		s = "processing"
	default:
		s = "ready"
	}
	return &s
}

// sessionView is a session as the API sends it.
func sessionView(s session, now time.Time) vagon.Session {
	var v vagon.Session
	v.ID = vagon.ID(strconv.FormatInt(s.id, 10))
	v.Type = "machine_session"
	v.Attributes.StartAt = s.start
	if s.end.IsZero() {
		v.Attributes.Duration = durationMinutes(s.start, now)
	} else {
		e := s.end
		v.Attributes.EndAt = &e
		v.Attributes.Duration = durationMinutes(s.start, s.end)
	}
	return v
}

// sessionsView lists a machine's sessions newest first.
func (m *machine) sessionsView(now time.Time) []vagon.Session {
	out := make([]vagon.Session, 0, len(m.sessions))
	for i := len(m.sessions) - 1; i >= 0; i-- {
		out = append(out, sessionView(m.sessions[i], now))
	}
	return out
}

// taskView is a task as the API sends it.
func taskView(t *task) vagon.Task {
	dest := `V:\` + t.uid + "-snapshots"
	if t.uid == vagon.OutputsTaskUID {
		dest = `V:\` + vagon.OutputsTaskUID
	}
	status := "inactive"
	if t.active && !t.deleted {
		status = "active"
	}
	return vagon.Task{
		ID:   vagon.ID(strconv.FormatInt(t.id, 10)),
		Type: "task",
		Attributes: vagon.TaskAttributes{
			UID:                 t.uid,
			Status:              status,
			SourcePath:          `C:\Users\Administrator\Desktop\` + t.uid,
			SnapshotDestination: dest,
			FolderSize:          t.folderSize,
			CreatedAt:           t.createdAt,
		},
	}
}
