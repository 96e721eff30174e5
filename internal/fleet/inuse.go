package fleet

import (
	"context"
	"sync"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// SessionLister reads a machine's sessions (vagon.Client does).
type SessionLister interface {
	ListSessions(ctx context.Context, id string) ([]vagon.Session, error)
}

// InUse is what is known about whether someone is using a machine.
type InUse struct {
	// Since is the start of the newest running session (end_at null).
	Since *time.Time
	// ImageInUse is the machine list's latest_image_status "in_use".
	ImageInUse bool
	// Unchecked: the sessions were not read (an API error, or beyond the
	// bulk check's cap), so Since is unknown.
	Unchecked bool
}

// Yes says someone may lose their work when the machine stops.
func (u InUse) Yes() bool { return u.Since != nil || u.ImageInUse }

// ImageInUse says the machine list reports the machine's image in use.
func ImageInUse(m *vagon.Machine) bool {
	s := m.Attributes.LatestImageStatus
	return s != nil && *s == "in_use"
}

// RunningSince is the start of the newest running session (end_at null)
// in list, nil when none runs.
func RunningSince(list []vagon.Session) *time.Time {
	var since *time.Time
	for _, ss := range list {
		if ss.Attributes.EndAt == nil && (since == nil || ss.Attributes.StartAt.After(*since)) {
			st := ss.Attributes.StartAt
			since = &st
		}
	}
	return since
}

// NeedsInUseCheck says stopping m could cut someone off: only a ready
// machine runs sessions; for any other state a stop is refused or skipped.
func NeedsInUseCheck(m *vagon.Machine) bool {
	return m.Attributes.FriendlyStatus == vagon.StatusReady
}

// MachineInUse reads m's sessions (one API call). On an error it returns
// what the machine list tells (Unchecked set) along with the error.
func MachineInUse(ctx context.Context, api SessionLister, m *vagon.Machine) (InUse, error) {
	u := InUse{ImageInUse: ImageInUse(m)}
	list, err := api.ListSessions(ctx, string(m.ID))
	if err != nil {
		u.Unchecked = true
		return u, err
	}
	u.Since = RunningSince(list)
	return u, nil
}

// MaxInUseChecks and InUseCheckWorkers bound the session reads of a bulk
// stop's review: one API call per machine, at most this many machines, this
// many at a time.
const (
	MaxInUseChecks    = 50
	InUseCheckWorkers = 8
)

// CheckInUse reads, for the first max machines of ms that need it
// (NeedsInUseCheck), whether they are in use, workers at a time. Machines
// that do not need it are absent from the answer; those beyond the cap get
// only what the list tells (Unchecked) and are counted in skipped. Errors
// are left in the answer as Unchecked; the first one is returned for the log.
func CheckInUse(ctx context.Context, api SessionLister, ms []vagon.Machine, max, workers int) (res map[vagon.ID]InUse, skipped int, firstErr error) {
	res = map[vagon.ID]InUse{}
	var todo []*vagon.Machine
	for i := range ms {
		m := &ms[i]
		if !NeedsInUseCheck(m) {
			continue
		}
		if len(todo) >= max {
			res[m.ID] = InUse{ImageInUse: ImageInUse(m), Unchecked: true}
			skipped++
			continue
		}
		todo = append(todo, m)
	}
	if workers < 1 {
		workers = 1
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for _, m := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			u, err := MachineInUse(ctx, api, m)
			mu.Lock()
			defer mu.Unlock()
			res[m.ID] = u
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return res, skipped, firstErr
}
