package db

import (
	"slices"
	"time"
)

// PlainAuditHash is auditHash for tests that play a table owner recomputing
// the plain chain after editing rows.
var PlainAuditHash = auditHash

// AuthNotified reports whether payload is among the last auth notifications
// the listener applied (tests use a unique one as a barrier: notifications
// arrive in commit order).
func (s *Store) AuthNotified(payload string) bool {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	return slices.Contains(s.auth.recent[:], payload)
}

// SetAuthHeartbeat sets how often the auth listener proves it is alive and
// how long one proof may take (before ListenAuthChanges).
func SetAuthHeartbeat(s *Store, every, within time.Duration) {
	s.authBeatEvery, s.authBeatWithin = every, within
}

// AuthListens counts the times the auth listener started LISTENing.
func AuthListens(s *Store) int {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	return s.auth.listens
}

// MigrateFS is migrate over a chosen set of migrations (upgrade tests).
var MigrateFS = migrate
