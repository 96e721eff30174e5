package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// ErrMachineNotFound means no machine with that id exists: it was looked for
// in the cached lists, by name, and on every page of the fleet.
var ErrMachineNotFound = errors.New("fleet: machine not found")

// maxNameHint bounds the name used as a q filter.
const maxNameHint = 200

// walkPerPage is the page size used when walking the whole fleet.
const walkPerPage = 100

// GetMachine finds one machine. The API has no "get one machine", so it
// looks, in order: in the lists cached within the TTL; by name with the q
// filter (nameHint, or the name a stale cached list remembers); and finally
// on every page of the fleet, matching on id. ErrMachineNotFound is returned
// only after that walk. The returned machine is a copy the caller may keep.
func (s *Service) GetMachine(ctx context.Context, id, nameHint string) (*vagon.Machine, error) {
	if strings.TrimSpace(id) == "" {
		return nil, ErrMachineNotFound
	}
	want := vagon.ID(id)
	m, staleName := s.cachedMachine(want)
	if m != nil {
		return m, nil
	}
	tried := map[string]bool{}
	for _, q := range []string{strings.TrimSpace(nameHint), staleName} {
		if q == "" || len(q) > maxNameHint || tried[q] {
			continue
		}
		tried[q] = true
		l, err := s.ListMachines(ctx, vagon.ListMachinesOptions{Q: q, Page: 1, PerPage: walkPerPage})
		if err != nil {
			return nil, err
		}
		for i := range l.Machines {
			if l.Machines[i].ID == want {
				c := l.Machines[i]
				return &c, nil
			}
		}
	}
	for mm, err := range s.api.Machines(ctx, &vagon.ListMachinesOptions{Page: 1, PerPage: walkPerPage}) {
		if err != nil {
			return nil, fmt.Errorf("fleet: look for machine %s: %w", id, err)
		}
		if mm.ID == want {
			return &mm, nil
		}
	}
	return nil, ErrMachineNotFound
}

// cachedMachine returns the machine from the freshest cached list still
// within the TTL, or else the name the freshest expired list knew it by (a
// good q for the next lookup).
func (s *Service) cachedMachine(id vagon.ID) (*vagon.Machine, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var best, stale *vagon.Machine
	var bestAt, staleAt time.Time
	for _, e := range s.lists {
		if !e.ids[id] {
			continue
		}
		for i := range e.list.Machines {
			m := &e.list.Machines[i]
			if m.ID != id {
				continue
			}
			if s.ttl > 0 && now.Sub(e.at) < s.ttl {
				if best == nil || e.at.After(bestAt) {
					best, bestAt = m, e.at
				}
			} else if stale == nil || e.at.After(staleAt) {
				stale, staleAt = m, e.at
			}
		}
	}
	if best != nil {
		c := *best
		return &c, ""
	}
	if stale != nil {
		return nil, stale.Attributes.Name
	}
	return nil, ""
}
