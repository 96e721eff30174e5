package vagonsim

import (
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// Seed data: names, domains, teams and task uids of the generated fleet.
var (
	firstNames = []string{
		"Ada", "Ahmet", "Aiko", "Amara", "Ana", "Arjun", "Beatriz", "Bruno", "Chen", "Chloe",
		"Daniel", "Elif", "Emma", "Fatima", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan",
		"Jakob", "Jonas", "Julia", "Kenji", "Lars", "Leila", "Lucas", "Maya", "Mehmet", "Mia",
		"Nadia", "Noah", "Olga", "Omar", "Priya", "Rafael", "Sara", "Sofia", "Tomas", "Yuki",
	}
	lastNames = []string{
		"Andersen", "Costa", "Dubois", "Eriksson", "Fischer", "Garcia", "Hansen", "Ito", "Jensen", "Kaya",
		"Kowalski", "Lee", "Martins", "Meyer", "Moreau", "Nakamura", "Novak", "Okafor", "Oliveira", "Patel",
		"Petrov", "Rossi", "Santos", "Schmidt", "Silva", "Smith", "Tanaka", "Walsh", "Wang", "Yilmaz",
	}
	domains   = []string{"example.com", "example.org", "example.net", "studio.example.com"}
	teams     = []string{"Design", "Render", "Edit", "VFX", "Arch", "QA", "Training", "Motion"}
	taskUIDs  = []string{"Project-Alpha", "Client-Review", "Q3-Renders", "thesis", "task-012", "Brand Refresh", "Level-Design", "Archviz_2026"}
	oldUIDs   = []string{"Old-Project", "archive-2025", "tmp", "Pitch Deck"}
	templates = []struct {
		id   int64
		name string
	}{{990, "Template #990"}, {991, "Design Template v3"}, {992, "Render Node Image"}}
	regionWeights = []int{5, 4, 2, 4, 3, 2, 1, 1} // parallel to Regions
)

// pick returns a random element of xs.
func pick[T any](r *mrand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// weighted returns an index drawn with the given weights.
func weighted(r *mrand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// seed generates opts.Machines machines from opts.Seed and the clock's time.
func (s *Sim) seed(opts Options) {
	n := opts.Machines
	if n <= 0 {
		return
	}
	now := s.now()
	r := s.rng
	// Some machines sit in each transitional status, a share are running,
	// a few are backup-disabled, reset, never started or low on usage.
	status := make([]vagon.Status, n)
	perm := r.Perm(n)
	specials := []vagon.Status{
		vagon.StatusCreating, vagon.StatusWarmingUp, vagon.StatusTurningOn, vagon.StatusTurningOff,
		vagon.StatusGracefulStopping, vagon.StatusResizingDisk, vagon.StatusInstalling, vagon.StatusRegionMigration,
	}
	for i := range n {
		switch {
		case i < len(specials):
			status[perm[i]] = specials[i]
		case i < len(specials)+max(1, n/8):
			status[perm[i]] = vagon.StatusReady
		default:
			status[perm[i]] = vagon.StatusOff
		}
	}
	usedEmails := map[string]bool{}
	for i := range n {
		s.addMachine(s.seedMachine(r, now, s.nextID, status[i], opts.SessionsPerMachine, usedEmails))
	}
	// At least two backup-disabled seats, whatever the draw.
	for i := 0; i < min(2, n); i++ {
		s.machines[s.order[perm[n-1-i]]].backupEnabled = false
	}
}

// seedMachine builds one seeded machine. The caller holds s.mu (or owns s).
func (s *Sim) seedMachine(r *mrand.Rand, now time.Time, id int64, st vagon.Status, sessionsPer int, usedEmails map[string]bool) *machine {
	plan := &plans[weighted(r, []int{3, 5, 2})]
	region := Regions[weighted(r, regionWeights)]
	m := &machine{
		id: id, planID: plan.ID, typeID: string(pick(r, plan.MachineTypes).ID), region: region,
		autoStop:         vagon.AutoStopThresholds[weighted(r, []int{1, 6, 3, 1, 1})],
		networkCredit:    5<<30 + r.Int64N(5<<30),
		usageSource:      vagon.UsageSourceMachine,
		perms:            vagon.DefaultPermissions(),
		backupEnabled:    r.IntN(10) > 0,
		createdAt:        now.Add(-time.Duration(91+r.IntN(300)) * 24 * time.Hour).Truncate(time.Second),
		status:           vagon.StatusOff,
		snapshotDuration: s.durations.Snapshot,
	}
	if r.IntN(10) < 3 {
		m.usageSource = vagon.UsageSourceTeamBalance
	}
	if r.IntN(4) == 0 {
		m.perms.AnalyticsCollectionEnabled = true
		m.perms.ScreenRecordingEnabled = r.IntN(2) == 0
	}
	if r.IntN(8) == 0 {
		m.perms.PublicInternetAccess = false
		m.perms.CanDownloadFromVagonWorkstation = false
	}
	if r.IntN(3) == 0 {
		t := templates[r.IntN(len(templates))]
		m.imageID, m.imageName = &t.id, &t.name
	} else {
		b := baseImages[r.IntN(len(baseImages))]
		m.imageID, m.imageName = &b.ID, &b.Name
	}

	roll := r.IntN(100)
	switch {
	case roll < 70:
		first, last := pick(r, firstNames), pick(r, lastNames)
		email := strings.ToLower(first + "." + last + "@" + pick(r, domains))
		for k := 2; usedEmails[email]; k++ {
			email = strings.ToLower(fmt.Sprintf("%s.%s%d@%s", first, last, k, pick(r, domains)))
		}
		usedEmails[email] = true
		m.user = &user{id: s.uuid(), email: email, name: first + " " + last}
		switch r.IntN(3) {
		case 0:
			m.name = first + "'s Workstation"
		case 1:
			m.name = fmt.Sprintf("%s-%02d", pick(r, teams), 1+r.IntN(40))
		default:
			m.name = first + " " + last + " (" + pick(r, teams) + ")"
		}
	case roll < 76:
		m.pendingInvite = true
		m.name = fmt.Sprintf("%s-%02d", pick(r, teams), 1+r.IntN(40))
	default:
		if r.IntN(2) == 0 {
			m.name = fmt.Sprintf("Computer #%d", id)
		} else {
			m.name = fmt.Sprintf("Spare-%02d", 1+r.IntN(60))
		}
	}

	m.depositedMin = []int64{0, 600, 1200, 2400, 6000}[r.IntN(5)]
	if r.IntN(20) == 0 {
		m.remainingSec = (1 + r.Int64N(30)) * 60 // low on usage
	} else {
		m.remainingSec = (60 + r.Int64N(m.depositedMin+3000)) * 60
	}

	firstStart := st == vagon.StatusCreating || st == vagon.StatusWarmingUp
	neverStarted := !firstStart && sessionsPer <= 0 && st == vagon.StatusOff && m.user == nil && r.IntN(3) == 0
	if firstStart || neverStarted {
		m.createdAt = now.Add(-time.Duration(1+r.IntN(48)) * time.Hour).Truncate(time.Second)
	} else {
		count := sessionsPer
		if count <= 0 {
			count = 20 + r.IntN(100)
			if m.user == nil {
				count = 1 + r.IntN(15)
			}
		}
		m.sessions = s.seedSessions(r, now, region, count, make([]session, 0, count+1))
		m.everStarted, m.hasUserData = len(m.sessions) > 0, len(m.sessions) > 0
		s.seedTasks(r, m, now)
		if m.everStarted {
			m.offAt = m.sessions[len(m.sessions)-1].end
		}
		// A few machines were reset and not used since.
		if st == vagon.StatusOff && m.everStarted && sessionsPer <= 0 && r.IntN(25) == 0 {
			resetAt := now.Add(-time.Duration(5+r.IntN(30)) * 24 * time.Hour)
			for len(m.sessions) > 0 && m.sessions[len(m.sessions)-1].end.After(resetAt) {
				m.sessions = m.sessions[:len(m.sessions)-1]
			}
			s.reset(m, resetAt, false)
		}
	}
	s.seedStatus(r, m, now, st)
	return m
}

// seedSessions generates count closed sessions over the last 90 days, on
// working days in the region's working hours, ending at least 5 hours ago.
func (s *Sim) seedSessions(r *mrand.Rand, now time.Time, region string, count int, out []session) []session {
	offset := time.Duration(regionUTCOffset[region]) * time.Hour
	const window = 11 * time.Hour // 08:00 to 19:00 local
	limit := now.Add(-5 * time.Hour)
	day0 := now.Add(-90 * 24 * time.Hour).Truncate(24 * time.Hour)
	var days []time.Time // UTC start of each chosen day's window
	for d := 0; d <= 90; d++ {
		localMidnight := day0.Add(time.Duration(d) * 24 * time.Hour)
		start := localMidnight.Add(8*time.Hour - offset)
		if start.Before(now.Add(-90*24*time.Hour)) || start.Add(window).After(limit) {
			continue
		}
		if wd := localMidnight.Weekday(); (wd == time.Saturday || wd == time.Sunday) && r.IntN(10) > 0 {
			continue
		}
		days = append(days, start)
	}
	if len(days) == 0 || count <= 0 {
		return out
	}
	perDay := make([]int, len(days))
	for j := range count {
		perDay[j*len(days)/count]++
	}
	for d, c := range perDay {
		if c == 0 {
			continue
		}
		slot := window / time.Duration(c)
		for k := range c {
			begin := days[d].Add(time.Duration(k)*slot + time.Duration(r.Int64N(int64(slot/4)+1)))
			room := days[d].Add(time.Duration(k+1)*slot).Sub(begin) - time.Minute
			longest := min(8*time.Hour, room)
			dur := longest
			if longest > 5*time.Minute {
				// Short sessions are more common than long ones.
				u := r.Float64()
				dur = 5*time.Minute + time.Duration(u*u*float64(longest-5*time.Minute))
			}
			dur = max(dur, time.Minute)
			begin = begin.Truncate(time.Millisecond)
			out = append(out, session{id: s.nextSess, start: begin, end: begin.Add(dur).Truncate(time.Millisecond)})
			s.nextSess++
		}
	}
	return out
}

// seedTasks gives a started machine its Outputs task and maybe more, some
// of them deleted.
func (s *Sim) seedTasks(r *mrand.Rand, m *machine, now time.Time) {
	if !m.everStarted {
		return
	}
	out := s.newTask(m, vagon.OutputsTaskUID, m.sessions[0].start)
	size := r.Int64N(5 << 30)
	out.folderSize = &size
	out.active = true
	if r.IntN(10) < 3 {
		used := map[string]bool{}
		for range 1 + r.IntN(4) {
			uid := pick(r, taskUIDs)
			if used[uid] {
				continue
			}
			used[uid] = true
			t := s.newTask(m, uid, now.Add(-time.Duration(1+r.IntN(60*24))*time.Minute*60).Truncate(time.Millisecond))
			if r.IntN(2) == 0 {
				sz := r.Int64N(2 << 30)
				t.folderSize = &sz
			}
		}
		if r.IntN(2) == 0 {
			last := m.tasks[len(m.tasks)-1]
			out.active, last.active = false, true
		}
	}
	if r.IntN(10) == 0 {
		for range 1 + r.IntN(2) {
			uid := pick(r, oldUIDs)
			t := s.newTask(m, uid, now.Add(-time.Duration(30+r.IntN(60))*24*time.Hour))
			t.deleted, t.deletedAt = true, now.Add(-time.Duration(1+r.IntN(29))*24*time.Hour)
		}
	}
}

// seedStatus puts m in status st at now, with the session and pending
// transitions that status implies.
func (s *Sim) seedStatus(r *mrand.Rand, m *machine, now time.Time, st vagon.Status) {
	d := s.durations
	openAt := func(at time.Time) {
		at = at.Truncate(time.Millisecond)
		m.sessions = append(m.sessions, session{id: s.nextSess, start: at})
		s.nextSess++
		m.everStarted, m.hasUserData = true, true
		if m.outputs() == nil {
			o := s.newTask(m, vagon.OutputsTaskUID, at)
			o.active = m.activeTask() == nil
		}
	}
	m.status = st
	switch st {
	case vagon.StatusReady:
		openAt(now.Add(-time.Duration(10+r.IntN(230)) * time.Minute))
		// Every third ready machine runs idle: its user disconnected a
		// while ago (the session ended halfway to now), the machine stays
		// on. So a stop that skips machines in use skips some, not all.
		// Decided by the id, not r, so the rest of the seed is unchanged.
		if m.id%3 == 0 {
			o := m.openSession()
			m.closeSession(o.start.Add(now.Sub(o.start) / 2).Truncate(time.Millisecond))
		}
	case vagon.StatusTurningOn:
		at := now.Add(-time.Duration(1+r.IntN(5)) * time.Second)
		openAt(at)
		m.steps = []step{{status: vagon.StatusReady, at: at.Add(d.TurningOn)}}
	case vagon.StatusCreating, vagon.StatusWarmingUp:
		at := now.Add(-time.Duration(1+r.IntN(5)) * time.Second)
		if st == vagon.StatusWarmingUp {
			at = at.Add(-d.Creating)
		}
		openAt(at)
		m.steps = []step{
			{status: vagon.StatusWarmingUp, at: at.Add(d.Creating)},
			{status: vagon.StatusReady, at: at.Add(d.Creating + d.WarmingUp)},
		}
	case vagon.StatusTurningOff, vagon.StatusGracefulStopping:
		at := now.Add(-time.Duration(1+r.IntN(5)) * time.Second)
		openAt(at.Add(-time.Duration(20+r.IntN(120)) * time.Minute))
		m.closeSession(at)
		dur := d.TurningOff
		if st == vagon.StatusGracefulStopping {
			dur = d.GracefulStopping
		}
		m.steps = []step{{status: vagon.StatusOff, at: at.Add(dur)}}
	case vagon.StatusResizingDisk, vagon.StatusInstalling, vagon.StatusRegionMigration:
		m.steps = []step{{status: vagon.StatusOff, at: now.Add(time.Duration(45+r.IntN(135)) * time.Second)}}
	}
}
