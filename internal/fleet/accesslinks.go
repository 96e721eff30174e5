package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/vagon-dashboard/dashboard/internal/db"
)

// The access-link ledger's rules and the lifetime caps by role.

const (
	// AccessLinkMatchWindow: an entry machine_external_access_created of
	// Vagon's log is the dashboard's own when a succeeded
	// machine.access_link audit row for the same machine lies within this
	// of it (and, when the entry says its minutes, with the same
	// expires_in). Otherwise it was issued outside the dashboard.
	AccessLinkMatchWindow = OutsideMatchWindow
	// MaxAccessLinkMinutes is the longest link the dashboard issues (30
	// days). Vagon documents no maximum for expires_in.
	MaxAccessLinkMinutes = 43200
	// AccessLinkAssumedLifetime is the lifetime taken for a Vagon entry
	// that does not say its minutes: the longest link the dashboard issues.
	// Its state is then a guess, and the ledger says "expiry unknown".
	AccessLinkAssumedLifetime = MaxAccessLinkMinutes * time.Minute
)

// The states of a ledger row.
const (
	AccessStateActive  = "active"
	AccessStateExpired = "expired"
)

// AccessLinkQuery selects ledger rows; empty fields do not filter.
type AccessLinkQuery struct {
	MachineID, IssuedBy string
	Source              string // db.AccessSourceDashboard or db.AccessSourceVagon
	State               string // AccessStateActive or AccessStateExpired
	Limit, Offset       int
}

// AccessLinks lists the ledger, newest first, and how many rows match q
// before paging. A Vagon row's Fingerprint is that of its access id (never
// a link: Vagon's log has none), blank when the entry has no id.
func (s *Service) AccessLinks(ctx context.Context, q AccessLinkQuery) ([]db.AccessLinkRow, int64, error) {
	rows, err := s.store.ListAccessLinks(ctx, db.AccessLinkFilter{MachineID: q.MachineID, IssuedBy: q.IssuedBy, Source: q.Source, State: q.State,
		Now: s.now(), MatchWindow: AccessLinkMatchWindow, AssumedLifetime: AccessLinkAssumedLifetime, Limit: q.Limit, Offset: q.Offset})
	if err != nil {
		return nil, 0, err
	}
	var total int64
	for i := range rows {
		total = rows[i].Total
		if rows[i].Source == db.AccessSourceVagon && rows[i].AccessID != "" {
			rows[i].Fingerprint = LinkFingerprint("vagon-access:" + rows[i].AccessID)
		}
	}
	if len(rows) == 0 && q.Offset > 0 {
		// Past the last page: count what there is.
		all, err := s.store.ListAccessLinks(ctx, db.AccessLinkFilter{MachineID: q.MachineID, IssuedBy: q.IssuedBy, Source: q.Source, State: q.State,
			Now: s.now(), MatchWindow: AccessLinkMatchWindow, AssumedLifetime: AccessLinkAssumedLifetime, Limit: 1})
		if err != nil {
			return nil, 0, err
		}
		if len(all) > 0 {
			total = all[0].Total
		}
	}
	return rows, total, nil
}

// ActiveAccessLinks is how many links to the machine work now: the
// dashboard's and those issued outside it.
func (s *Service) ActiveAccessLinks(ctx context.Context, machineID string) (int64, error) {
	_, n, err := s.AccessLinks(ctx, AccessLinkQuery{MachineID: machineID, State: AccessStateActive, Limit: 1})
	return n, err
}

// AccessLinkState is a ledger row's state.
func AccessLinkState(r db.AccessLinkRow) string {
	if r.Active {
		return AccessStateActive
	}
	return AccessStateExpired
}

// settingAccessLinkCaps is the settings key of the caps (a JSON object).
const settingAccessLinkCaps = "access_link_caps"

// CapRoles are the roles that issue links, so may be capped.
var CapRoles = []string{RoleHelpdesk, RoleOperator, RoleAdmin}

// AccessLinkCaps maps a role to the longest link, in minutes, its users
// may issue; a role not in it has no cap beyond MaxAccessLinkMinutes.
type AccessLinkCaps map[string]int

// AccessLinkCaps reads the caps.
func (s *Service) AccessLinkCaps(ctx context.Context) (AccessLinkCaps, error) {
	raw, ok, err := s.store.GetSetting(ctx, settingAccessLinkCaps)
	if err != nil || !ok {
		return AccessLinkCaps{}, err
	}
	caps := AccessLinkCaps{}
	if err := json.Unmarshal(raw, &caps); err != nil {
		return nil, fmt.Errorf("fleet: access-link caps: %w", err)
	}
	return caps, nil
}

// SetAccessLinkCaps replaces the caps (access_link.caps, params before and
// after). Each cap is 1 to MaxAccessLinkMinutes minutes, for a CapRoles role.
func (s *Service) SetAccessLinkCaps(ctx context.Context, actor Actor, caps AccessLinkCaps) error {
	for role, m := range caps {
		if !slices.Contains(CapRoles, role) {
			return fmt.Errorf("%w: no role %q issues links", ErrInvalidInput, role)
		}
		if m < 1 || m > MaxAccessLinkMinutes {
			return fmt.Errorf("%w: a limit is 1 to 43,200 minutes (30 days), or empty for none", ErrInvalidInput)
		}
	}
	before, err := s.AccessLinkCaps(ctx)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(caps)
	if err != nil {
		return err
	}
	return s.audit.Do(ctx, actor, ActAccessLinkCaps, "", Params{"before": before, "after": caps}, func(ctx context.Context, _ Params) error {
		return s.store.PutSetting(ctx, settingAccessLinkCaps, raw)
	})
}

// LinkCapError refuses a link longer than the actor's role may issue;
// nothing was sent. Its text is fit to show next to the field.
type LinkCapError struct {
	Role string
	Max  int // minutes
}

func (e *LinkCapError) Error() string {
	return fmt.Sprintf("Your role (%s) may issue links of at most %s. Choose a shorter time.", e.Role, FormatLinkMinutes(e.Max))
}

// FormatLinkMinutes words a link's lifetime: "45 min", "8 h", "2 h 30 min".
func FormatLinkMinutes(m int) string {
	h, min := m/60, m%60
	switch {
	case h == 0:
		return fmt.Sprintf("%d min", min)
	case min == 0:
		return fmt.Sprintf("%d h", h)
	default:
		return fmt.Sprintf("%d h %d min", h, min)
	}
}

// checkLinkCap refuses, with a denied audit row, a link over the actor's
// cap. It returns the cap error, or another error when the caps or the row
// could not be read or written (then nothing is sent either).
func (s *Service) checkLinkCap(ctx context.Context, actor Actor, id string, in AccessLinkInput) error {
	caps, err := s.AccessLinkCaps(ctx)
	if err != nil {
		return err
	}
	max, ok := caps[actor.Role]
	if !ok || in.ExpiresIn <= max {
		return nil
	}
	ce := &LinkCapError{Role: actor.Role, Max: max}
	p := Params{"expires_in": in.ExpiresIn, "note": in.Note, "max_expires_in": max}
	in.Via.record(p)
	if err := s.audit.Record(ctx, actor, ActMachineAccessLink, id, db.OutcomeDenied, p, nil, ce.Error()); err != nil {
		return fmt.Errorf("fleet: refusing a link over the cap: %w", err)
	}
	return ce
}
