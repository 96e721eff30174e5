// Package migrations holds the database schema as numbered goose SQL files,
// embedded in the binary so that `dashboard migrate` and `serve` need no files
// on disk.
package migrations

import "embed"

// FS holds every migration file (goose format, one number per file, applied in
// order). Migrations are forward-only once released: never edit an applied
// file, add a new number instead.
//
//go:embed *.sql
var FS embed.FS
