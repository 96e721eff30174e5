package web

import (
	"context"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/vagon-dashboard/dashboard/internal/db"
)

// Single-use confirmations. A confirmation step puts newConfirmToken() in
// its form; the confirmed submit calls claimConfirm before it acts, and
// finishConfirm after. The claim is a row in Postgres (db.ClaimConfirmToken),
// so of any number of submits of one confirmation (a double click, a reload,
// two replicas) exactly one acts; the others get db.ErrConfirmUsed with what
// the first one recorded, and make no call.

// confirmTokenPattern is what newConfirmToken makes; anything else in a
// confirmed form is not a confirmation.
var confirmTokenPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// newConfirmToken is a fresh confirmation token for a confirmation form.
func newConfirmToken() string { return randomHex(16) }

// validConfirmToken reports whether t looks like a token newConfirmToken made.
func validConfirmToken(t string) bool { return confirmTokenPattern.MatchString(t) }

// claimConfirm claims token for purpose (an audit action name) on behalf
// of the signed-in user. nil: go ahead, this submit is the only one.
// db.ErrConfirmUsed (with the first claim): do nothing and say so. Any
// other error: the claim could not be made, so do nothing either.
func (s *Server) claimConfirm(c echo.Context, purpose, token string) (*db.ConfirmToken, error) {
	email := ""
	if u := currentUser(c); u != nil {
		email = u.Email
	}
	return s.store.ClaimConfirmToken(c.Request().Context(), purpose, token, email)
}

// finishConfirm records what the confirmed action made (refs), for a later
// submit of the same confirmation. It runs even when the request was
// cancelled; a failure is logged, not shown: the action itself is done and
// audited.
func (s *Server) finishConfirm(ctx context.Context, purpose, token string, refs []string) {
	if err := s.store.FinishConfirmToken(context.WithoutCancel(ctx), purpose, token, refs); err != nil {
		s.log.Error("finish confirmation", "purpose", purpose, "err", err.Error())
	}
}

// releaseConfirm forgets the claim of an action that did not start (its
// audit row could not be written), so the same confirmation can be retried.
func (s *Server) releaseConfirm(ctx context.Context, purpose, token string) {
	if err := s.store.ReleaseConfirmToken(context.WithoutCancel(ctx), purpose, token); err != nil {
		s.log.Error("release confirmation", "purpose", purpose, "err", err.Error())
	}
}
