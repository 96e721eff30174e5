package db

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is a person who may sign in to the dashboard.
type User struct {
	ID           int64     `db:"id"`
	Email        string    `db:"email"` // lowercased
	PasswordHash string    `db:"password_hash"`
	Role         string    `db:"role"` // viewer, helpdesk, operator or admin
	Disabled     bool      `db:"disabled"`
	CreatedAt    time.Time `db:"created_at"`
	UpdatedAt    time.Time `db:"updated_at"` // changes with role, password or disabled
	// LastLoginAt is the user's latest successful sign-in (nil: never).
	LastLoginAt *time.Time `db:"last_login_at"`
	// TimeZone is the IANA zone the user reads times in; "" for the
	// browser's own.
	TimeZone string `db:"time_zone"`
	// OIDCIssuer and OIDCSubject are the user's identity at the OpenID
	// provider (both "" when the user never signed in with it).
	OIDCIssuer  string `db:"oidc_issuer"`
	OIDCSubject string `db:"oidc_subject"`
	// LastLoginMethod is how the latest sign-in was made: LoginPassword,
	// LoginOIDC, or "" (never, or before the dashboard recorded it).
	LastLoginMethod string `db:"last_login_method"`
	// RolePinned keeps Role as an admin set it: single sign-on does not
	// take the role from the provider's groups for this user.
	RolePinned bool `db:"role_pinned"`
}

// Sign-in methods (users.last_login_method, web_sessions.method).
const (
	LoginPassword = "password"
	LoginOIDC     = "oidc"
)

// HasPassword reports whether the user can sign in with a password (an
// account made by single sign-on has none).
func (u User) HasPassword() bool { return u.PasswordHash != "" }

// HasOIDC reports whether the user is linked to an identity at the
// OpenID provider.
func (u User) HasOIDC() bool { return u.OIDCSubject != "" }

const userColumns = `id, email, password_hash, role, disabled, created_at, updated_at, last_login_at, time_zone,
	coalesce(oidc_issuer, '') AS oidc_issuer, coalesce(oidc_subject, '') AS oidc_subject,
	coalesce(last_login_method, '') AS last_login_method, role_pinned`

// NormalizeEmail gives the form in which emails are stored and compared:
// trimmed and lowercased.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// CreateUser adds a user. It returns ErrEmailTaken when the email is in use
// (in any letter case) and ErrInvalidRole for an unknown role.
func (s *Store) CreateUser(ctx context.Context, email, role, passwordHash string) (User, error) {
	rows, _ := s.pool.Query(ctx, `
		INSERT INTO users (email, role, password_hash)
		VALUES ($1, $2, $3)
		RETURNING `+userColumns,
		NormalizeEmail(email), role, passwordHash)
	u, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[User])
	if err != nil {
		return User{}, fmt.Errorf("db: create user: %w", userErr(err))
	}
	return u, nil
}

// UserByEmail finds a user by email, ignoring letter case. It returns
// ErrNotFound when there is none.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`,
		NormalizeEmail(email))
	u, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[User])
	if err != nil {
		return User{}, fmt.Errorf("db: user by email: %w", notFound(err))
	}
	return u, nil
}

// UserByID finds a user by id. It returns ErrNotFound when there is none.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
	u, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[User])
	if err != nil {
		return User{}, fmt.Errorf("db: user by id: %w", notFound(err))
	}
	return u, nil
}

// ListUsers returns every user, ordered by email.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY email, id`)
	users, err := pgx.CollectRows(rows, pgx.RowToStructByName[User])
	if err != nil {
		return nil, fmt.Errorf("db: list users: %w", err)
	}
	return users, nil
}

// CountUsers returns how many users exist, disabled ones included.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count users: %w", err)
	}
	return n, nil
}

// SetUserRole changes a user's role. It returns ErrNotFound for an unknown id
// and ErrInvalidRole for an unknown role.
func (s *Store) SetUserRole(ctx context.Context, id int64, role string) error {
	return s.updateUser(ctx, "set user role", `role = $2`, id, role)
}

// SetUserDisabled disables or re-enables a user. A disabled user cannot sign
// in; disabling also revokes every session of theirs in the same
// transaction, so re-enabling does not bring an old cookie back to life.
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool) error {
	if !disabled {
		return s.updateUser(ctx, "set user disabled", `disabled = $2`, id, disabled)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled = true, updated_at = now() WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(ctx, revokeUserSessionsSQL, id, time.Now(), RevokedDisabled)
		return err
	})
	s.auth.dropUser(id)
	if err != nil {
		return fmt.Errorf("db: set user disabled: %w", err)
	}
	return nil
}

// SetUserPassword replaces a user's password hash.
func (s *Store) SetUserPassword(ctx context.Context, id int64, passwordHash string) error {
	return s.updateUser(ctx, "set user password", `password_hash = $2`, id, passwordHash)
}

// SetUserTimeZone stores the zone a user reads times in ("" for the
// browser's). The caller validates the name; it returns ErrNotFound for an
// unknown id.
func (s *Store) SetUserTimeZone(ctx context.Context, id int64, tz string) error {
	return s.updateUser(ctx, "set user time zone", `time_zone = $2`, id, tz)
}

// SetUserRoleAndPin sets a user's role and whether it is pinned, in one
// statement. It returns ErrNotFound for an unknown id and ErrInvalidRole
// for an unknown role.
func (s *Store) SetUserRoleAndPin(ctx context.Context, id int64, role string, pinned bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET role = $2, role_pinned = $3, updated_at = now() WHERE id = $1`, id, role, pinned)
	s.auth.dropUser(id)
	if err != nil {
		return fmt.Errorf("db: set user role: %w", userErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: set user role: %w", ErrNotFound)
	}
	return nil
}

// SetUserRoleFromProvider sets the role single sign-on took from the
// provider's groups, only while the user still has role before and no
// pinned role: an admin's pin (or role change) between the sign-in's read
// and this write wins. It returns ErrUserChanged when the row is no longer
// so, ErrNotFound for an unknown id.
func (s *Store) SetUserRoleFromProvider(ctx context.Context, id int64, before, role string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE users SET role = $3, updated_at = now()
		WHERE id = $1 AND role = $2 AND NOT role_pinned`, id, before, role)
	s.auth.dropUser(id)
	if err != nil {
		return fmt.Errorf("db: set user role from provider: %w", userErr(err))
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	u, err := s.UserByID(ctx, id)
	if err != nil {
		return fmt.Errorf("db: set user role from provider: %w", err)
	}
	return fmt.Errorf("db: set user role from provider: %w (role %s, pinned %v)", ErrUserChanged, u.Role, u.RolePinned)
}

// SetUserEmail changes a user's email (single sign-on follows a renamed
// account). It returns ErrEmailTaken when another user has it and
// ErrNotFound for an unknown id.
func (s *Store) SetUserEmail(ctx context.Context, id int64, email string) error {
	return s.updateUser(ctx, "set user email", `email = $2`, id, NormalizeEmail(email))
}

// SetUserRolePinned pins (or unpins) a user's role against the provider's
// groups. It returns ErrNotFound for an unknown id.
func (s *Store) SetUserRolePinned(ctx context.Context, id int64, pinned bool) error {
	return s.updateUser(ctx, "set user role pinned", `role_pinned = $2`, id, pinned)
}

// UserByOIDC finds the user linked to subject at issuer. It returns
// ErrNotFound when there is none.
func (s *Store) UserByOIDC(ctx context.Context, issuer, subject string) (User, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT `+userColumns+` FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2`, issuer, subject)
	u, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[User])
	if err != nil {
		return User{}, fmt.Errorf("db: user by oidc identity: %w", notFound(err))
	}
	return u, nil
}

// CreateOIDCUser adds a user made by single sign-on: linked to subject at
// issuer, without a password. It returns ErrEmailTaken when the email is in
// use, ErrIdentityTaken when the identity is, and ErrInvalidRole for an
// unknown role.
func (s *Store) CreateOIDCUser(ctx context.Context, email, role, issuer, subject string) (User, error) {
	rows, _ := s.pool.Query(ctx, `
		INSERT INTO users (email, role, password_hash, oidc_issuer, oidc_subject)
		VALUES ($1, $2, '', $3, $4)
		RETURNING `+userColumns,
		NormalizeEmail(email), role, issuer, subject)
	u, err := pgx.CollectOneRow(rows, pgx.RowToStructByName[User])
	if err != nil {
		return User{}, fmt.Errorf("db: create oidc user: %w", userErr(err))
	}
	return u, nil
}

// LinkUserOIDC links an existing user to subject at issuer (the first
// single sign-on of an account that had a password). It refuses to
// replace another link: ErrIdentityTaken when the user is linked to a
// different identity or the identity to a different user.
func (s *Store) LinkUserOIDC(ctx context.Context, id int64, issuer, subject string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE users SET oidc_issuer = $2, oidc_subject = $3, updated_at = now()
		WHERE id = $1 AND (oidc_subject IS NULL OR (oidc_issuer = $2 AND oidc_subject = $3))`, id, issuer, subject)
	s.auth.dropUser(id)
	if err != nil {
		return fmt.Errorf("db: link user oidc: %w", userErr(err))
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.UserByID(ctx, id); err != nil {
			return fmt.Errorf("db: link user oidc: %w", err)
		}
		return fmt.Errorf("db: link user oidc: %w", ErrIdentityTaken)
	}
	return nil
}

// updateUser runs one UPDATE of a single column; set is a constant of this
// file, never user input.
func (s *Store) updateUser(ctx context.Context, what, set string, id int64, value any) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET `+set+`, updated_at = now() WHERE id = $1`, id, value)
	s.auth.dropUser(id)
	if err != nil {
		return fmt.Errorf("db: %s: %w", what, userErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: %s: %w", what, ErrNotFound)
	}
	return nil
}

// userErr maps constraint violations on users to the package's errors.
func userErr(err error) error {
	code, constraint := pgCode(err)
	switch {
	case code == "23505" && constraint == "users_email_key":
		return ErrEmailTaken
	case code == "23514" && constraint == "users_role_check":
		return ErrInvalidRole
	case code == "23505" && constraint == "users_oidc_identity_key":
		return ErrIdentityTaken
	}
	return err
}
