package db

// PlainAuditHash is auditHash for tests that play a table owner recomputing
// the plain chain after editing rows.
var PlainAuditHash = auditHash
