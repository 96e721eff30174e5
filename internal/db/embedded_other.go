//go:build !unix

package db

import (
	"context"
	"errors"
	"log/slog"
)

// ErrNoPostgres is returned by StartEmbedded where embedded Postgres is not
// supported.
var ErrNoPostgres = errors.New("embedded Postgres is supported on Unix systems only; set DATABASE_URL")

// StartEmbedded is not supported on this system; set DATABASE_URL.
func StartEmbedded(ctx context.Context, dataDir string, log *slog.Logger) (string, func(context.Context) error, error) {
	return "", nil, errors.Join(errors.New("db: embedded postgres"), ErrNoPostgres)
}
