// Package migrations holds the database schema as numbered SQL files
// (NNNN_name.up.sql and its NNNN_name.down.sql), embedded in the binary
// and applied by golang-migrate (storage.Migrate, at the store's start and
// through fp migrate).
package migrations

import "embed"

// FS holds the migration files at its root. An embed.FS cannot be
// changed: the one package-level variable the house rules allow.
//
//go:embed *.sql
var FS embed.FS
