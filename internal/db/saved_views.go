package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SavedView is a named fleet-list filter and sort a user keeps.
type SavedView struct {
	ID     int64  `db:"id"`
	UserID int64  `db:"user_id"`
	Name   string `db:"name"`
	// Query is the fleet list's canonical query string, without "?".
	Query     string    `db:"query"`
	CreatedAt time.Time `db:"created_at"`
}

// ErrViewNameTaken is returned when the user already has a view of that
// name (compared without regard to letter case).
var ErrViewNameTaken = errors.New("db: a view with this name exists")

// ErrTooManyViews is returned when the user already keeps MaxSavedViews.
var ErrTooManyViews = errors.New("db: too many saved views")

// MaxSavedViews bounds how many views one user keeps.
const MaxSavedViews = 50

const savedViewColumns = `id, user_id, name, query, created_at`

// CreateSavedView stores a view for a user. It returns ErrViewNameTaken for
// a name the user already has and ErrTooManyViews past MaxSavedViews.
func (s *Store) CreateSavedView(ctx context.Context, userID int64, name, query string) (SavedView, error) {
	var v SavedView
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialize one user's inserts so the count check holds.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, userID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM saved_views WHERE user_id = $1`, userID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxSavedViews {
			return ErrTooManyViews
		}
		rows, _ := tx.Query(ctx, `
			INSERT INTO saved_views (user_id, name, query) VALUES ($1, $2, $3)
			RETURNING `+savedViewColumns, userID, name, query)
		var err error
		v, err = pgx.CollectOneRow(rows, pgx.RowToStructByName[SavedView])
		return err
	})
	s.auth.dropUser(userID)
	if err != nil {
		if code, constraint := pgCode(err); code == "23505" && constraint == "saved_views_user_name_key" {
			err = ErrViewNameTaken
		}
		return SavedView{}, fmt.Errorf("db: create saved view: %w", err)
	}
	return v, nil
}

// SavedViews returns a user's views, by name.
func (s *Store) SavedViews(ctx context.Context, userID int64) ([]SavedView, error) {
	if vs, ok := s.auth.savedViews(userID); ok {
		return vs, nil
	}
	gen, keep := s.auth.begin()
	rows, _ := s.pool.Query(ctx, `
		SELECT `+savedViewColumns+` FROM saved_views WHERE user_id = $1
		ORDER BY lower(name), id`, userID)
	vs, err := pgx.CollectRows(rows, pgx.RowToStructByName[SavedView])
	if err != nil {
		return nil, fmt.Errorf("db: saved views: %w", err)
	}
	if keep {
		s.auth.keepViews(gen, userID, vs)
	}
	return vs, nil
}

// DeleteSavedView removes one of the user's views. It returns ErrNotFound
// when the user has no view with that id (someone else's included).
func (s *Store) DeleteSavedView(ctx context.Context, userID, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM saved_views WHERE id = $1 AND user_id = $2`, id, userID)
	s.auth.dropUser(userID)
	if err != nil {
		return fmt.Errorf("db: delete saved view: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("db: delete saved view: %w", ErrNotFound)
	}
	return nil
}
