package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// GetOrCreateSetting returns the value stored under key. When there is none it
// stores the value gen returns and returns that. Replicas racing on the same
// key all get the one value that was stored first; gen may run in several of
// them, but only one result is kept.
func (s *Store) GetOrCreateSetting(ctx context.Context, key string, gen func() ([]byte, error)) ([]byte, error) {
	var value []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&value)
	if err == nil {
		return value, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("db: get setting %q: %w", key, err)
	}
	fresh, err := gen()
	if err != nil {
		return nil, fmt.Errorf("db: generate setting %q: %w", key, err)
	}
	if fresh == nil {
		fresh = []byte{}
	}
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO NOTHING`, key, fresh); err != nil {
		return nil, fmt.Errorf("db: create setting %q: %w", key, err)
	}
	// Read back rather than trusting fresh: another replica may have won.
	if err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&value); err != nil {
		return nil, fmt.Errorf("db: get setting %q: %w", key, err)
	}
	return value, nil
}
