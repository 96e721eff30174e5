package db

// PlainAuditHash is auditHash for tests that play a table owner recomputing
// the plain chain after editing rows.
var PlainAuditHash = auditHash

// AuthLastNotified is the payload of the last auth notification the
// listener applied (tests use a unique one as a barrier: notifications
// arrive in commit order).
func (s *Store) AuthLastNotified() string {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	return s.auth.lastPayload
}
