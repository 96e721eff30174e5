package fleet

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/vagon-dashboard/dashboard/internal/db"
	"github.com/vagon-dashboard/dashboard/internal/vagon"
)

// DefaultListTTL is how long an identical machines list is served from cache.
const DefaultListTTL = 5 * time.Second

// ServiceOptions configure a Service.
type ServiceOptions struct {
	Log     *slog.Logger
	ListTTL time.Duration // DefaultListTTL when zero; negative disables caching
	Now     func() time.Time
	// AuditSpool keeps outcome rows the audit log could not take yet; an
	// in-memory one when nil.
	AuditSpool *Spool
}

// Service is the machine side of the dashboard: cached, coalesced reads of
// the fleet and the actions on it.
type Service struct {
	api   *vagon.Client
	store *db.Store
	log   *slog.Logger
	ttl   time.Duration
	now   func() time.Time

	audit *Auditor
	// alerts receives the events actions cause (SetAlerts); nil: none.
	alerts Emitter

	group singleflight.Group
	mu    sync.Mutex
	lists map[string]cachedList
	gen   uint64 // bumped by every invalidation; a fetch started before one is not cached

	permFields *cachedPermFields // PermissionFields' answer
	permWarned bool              // a failed permission-fields ask was logged
}

type cachedList struct {
	list     *vagon.MachineList
	at       time.Time
	ids      map[vagon.ID]bool
	filtered bool // membership depends on machine state (status, time left, session data)
}

// NewService builds a Service.
func NewService(api *vagon.Client, store *db.Store, o ServiceOptions) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.ListTTL == 0 {
		o.ListTTL = DefaultListTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{api: api, store: store, log: o.Log, ttl: o.ListTTL, now: o.Now, lists: map[string]cachedList{}}
	s.audit = NewAuditorWith(store, AuditorOptions{Log: o.Log, Spool: o.AuditSpool, Settle: s.settleByState})
	return s
}

// Auditor returns the audited-action protocol shared by the web handlers
// and the bulk runner: one spool, and unknown outcomes settled by reading
// the machine.
func (s *Service) Auditor() *Auditor { return s.audit }

// settleByState reads a machine after a start or stop whose answer never
// came: a status the action leads to (ReachedBy) means it happened.
func (s *Service) settleByState(ctx context.Context, action, machineID string) (bool, string) {
	if action != ActMachineStart && action != ActMachineStop {
		return false, ""
	}
	s.Invalidate(vagon.ID(machineID))
	m, err := s.GetMachine(ctx, machineID, "")
	if err != nil {
		return false, "its state could not be read either"
	}
	st := m.Attributes.FriendlyStatus
	if ReachedBy(action, st) {
		return true, "the machine is " + string(st)
	}
	return false, "the machine is still " + string(st)
}

// API returns the Vagon client.
func (s *Service) API() *vagon.Client { return s.api }

// Store returns the database.
func (s *Service) Store() *db.Store { return s.store }

func listKey(o vagon.ListMachinesOptions) string {
	v := url.Values{}
	v.Set("q", o.Q)
	v.Set("status", o.Status)
	if o.Assigned != nil {
		v.Set("assigned", strconv.FormatBool(*o.Assigned))
	}
	if o.TimeLeft != nil {
		v.Set("time_left", strconv.Itoa(*o.TimeLeft))
	}
	if o.HasSessionData != nil {
		v.Set("has_session_data", strconv.FormatBool(*o.HasSessionData))
	}
	v.Set("page", strconv.Itoa(max(o.Page, 1)))
	v.Set("per_page", strconv.Itoa(o.PerPage))
	return v.Encode()
}

// ListMachines returns one page of machines. Identical queries within the
// TTL share one answer, and identical queries in flight share one call.
// The returned list is shared: callers must not modify it.
func (s *Service) ListMachines(ctx context.Context, o vagon.ListMachinesOptions) (*vagon.MachineList, error) {
	filtered := o.Status != "" || o.TimeLeft != nil || o.HasSessionData != nil
	return s.cachedList(ctx, listKey(o), 30*time.Second, filtered, func(ctx context.Context) (*vagon.MachineList, error) {
		return s.api.ListMachines(ctx, &o)
	})
}

// cachedList is the one cache path of the machine lists: an answer younger
// than the TTL is reused; identical calls in flight share one fetch, run on
// a context that outlives the first caller's request (bounded by timeout);
// a fetch that raced an Invalidate is not cached. filtered marks a list whose
// membership depends on machine state (Invalidate drops it on any action).
//
// An answer in the last fifth of its TTL is still served, and a fetch to
// replace it starts in the background (refresh ahead): a list read
// continuously is never older than the TTL, and no reader waits for Vagon
// when it expires (every viewer of a busy list did, once per TTL).
func (s *Service) cachedList(ctx context.Context, key string, timeout time.Duration, filtered bool, fetch func(ctx context.Context) (*vagon.MachineList, error)) (*vagon.MachineList, error) {
	if s.ttl > 0 {
		s.mu.Lock()
		if e, ok := s.lists[key]; ok {
			if age := s.now().Sub(e.at); age < s.ttl {
				s.mu.Unlock()
				if age >= s.ttl-s.ttl/5 {
					// Joins a fetch in flight, if any; nobody waits for it.
					_ = s.group.DoChan(key, s.fetchList(ctx, key, timeout, filtered, fetch))
				}
				return e.list, nil
			}
		}
		s.mu.Unlock()
	}
	ch := s.group.DoChan(key, s.fetchList(ctx, key, timeout, filtered, fetch))
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*vagon.MachineList), nil
	}
}

// fetchList is cachedList's shared call: fetch, and keep the answer unless
// an Invalidate came in between.
func (s *Service) fetchList(ctx context.Context, key string, timeout time.Duration, filtered bool, fetch func(ctx context.Context) (*vagon.MachineList, error)) func() (any, error) {
	return func() (any, error) {
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		// The shared call must not die with the first caller's request.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		l, err := fetch(cctx)
		if err != nil {
			return nil, err
		}
		if s.ttl > 0 {
			ids := make(map[vagon.ID]bool, len(l.Machines))
			for _, m := range l.Machines {
				ids[m.ID] = true
			}
			s.mu.Lock()
			if s.gen == gen {
				s.lists[key] = cachedList{list: l, at: s.now(), ids: ids, filtered: filtered}
				s.prune()
			}
			s.mu.Unlock()
		}
		return l, nil
	}
}

// prune drops expired entries; called with mu held.
func (s *Service) prune() {
	if len(s.lists) < 256 {
		return
	}
	now := s.now()
	for k, e := range s.lists {
		if now.Sub(e.at) >= s.ttl {
			delete(s.lists, k)
		}
	}
}

// Invalidate drops the cached lists a machine appears in, and every list
// whose membership depends on machine state, after an action on it.
func (s *Service) Invalidate(ids ...vagon.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for k, e := range s.lists {
		drop := e.filtered
		for _, id := range ids {
			if e.ids[id] {
				drop = true
			}
		}
		if drop {
			delete(s.lists, k)
		}
	}
}

// MaxAllMachines bounds ListAllMachines: a filter matching more machines is
// refused with ErrTooManyToList rather than walked.
const MaxAllMachines = 5000

// ErrTooManyToList says a filter matches more than MaxAllMachines machines.
var ErrTooManyToList = errors.New("fleet: too many machines to list at once")

// ListAllMachines returns every machine matching o's filters (o's paging is
// ignored), walking the API's pages of 100. The API cannot sort, so a sorted
// view reads the whole filtered list here and pages it itself. Like
// ListMachines it is cached for the TTL, coalesced in flight, and dropped
// by Invalidate. The returned list is shared: callers must not modify it.
func (s *Service) ListAllMachines(ctx context.Context, o vagon.ListMachinesOptions) (*vagon.MachineList, error) {
	o.Page, o.PerPage = 1, 100
	// A new machine can join any whole list: always filtered.
	return s.cachedList(ctx, "all|"+listKey(o), 60*time.Second, true, func(ctx context.Context) (*vagon.MachineList, error) {
		all := &vagon.MachineList{Page: 1}
		for page := 1; ; {
			p := o
			p.Page = page
			l, err := s.api.ListMachines(ctx, &p)
			if err != nil {
				return nil, err
			}
			if l.Count > MaxAllMachines || len(all.Machines)+len(l.Machines) > MaxAllMachines {
				return nil, ErrTooManyToList
			}
			all.Machines = append(all.Machines, l.Machines...)
			if l.NextPage == nil || *l.NextPage <= page || len(l.Machines) == 0 {
				break
			}
			page = *l.NextPage
		}
		all.Count = len(all.Machines)
		return all, nil
	})
}
