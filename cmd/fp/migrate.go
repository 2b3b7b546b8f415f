package main

import (
	"context"
	"fmt"
	"io"

	"github.com/fpwork/fp/storage"
)

// databaseURLEnv names the database fp migrate works on.
const databaseURLEnv = "DATABASE_URL"

// exitMigrateFailed: the database could not be reached or migrated.
const exitMigrateFailed = 1

const migrateUsage = `usage: fp migrate up|down|version

Applies the schema migrations embedded in fp to the PostgreSQL database of
DATABASE_URL (a postgres:// URL; its search_path, set with
options=-csearch_path=SCHEMA, chooses the schema):

  up        apply every migration not yet applied (the services do it at start)
  down      undo every migration: drops the tables and the data in them
  version   print the schema version

It prints the version it leaves the schema at.
`

// runMigrate runs fp migrate and returns the exit code.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, migrateUsage)
		return exitOK
	}
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "version") {
		fmt.Fprint(stderr, migrateUsage)
		return exitUsage
	}
	dsn := getenv(databaseURLEnv)
	if dsn == "" {
		fmt.Fprintf(stderr, "fp migrate: %s is not set: give the database as a postgres:// URL\n", databaseURLEnv)
		return exitUsage
	}
	if err := storage.Migrate(ctx, dsn, args[0], stdout); err != nil {
		fmt.Fprintf(stderr, "fp migrate %s: %v\n", args[0], err)
		return exitMigrateFailed
	}
	return exitOK
}
