package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/storage"
)

const recomputeUsage = `usage: fp recompute [--batch N]

Re-derives the stored fingerprints whose algorithm version is older than
this fp's, from the raw evidence kept (ClientHello records, HTTP/2 preface,
header lists), in batches, with progress on stderr. New values are added
as new rows; the old ones stay as history. JA4H of a request that carried
cookies cannot be rebuilt (their values are not stored); such rows are
counted as skipped. Works on the PostgreSQL database of DATABASE_URL.
`

// runRecompute runs fp recompute and returns the exit code.
func runRecompute(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fp recompute", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, recomputeUsage) }
	batch := fs.Int("batch", 500, "rows per batch")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 || *batch < 1 {
		fmt.Fprint(stderr, recomputeUsage)
		return exitUsage
	}
	store, code := openDatabase(ctx, "fp recompute", getenv, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	res, err := storage.Recompute(ctx, store, *batch, func(r storage.RecomputeResult) {
		fmt.Fprintf(stderr, "fp recompute: %d connections, %d observations re-derived, %d skipped\n", r.Connections, r.Observations, r.Skipped)
	})
	if err != nil {
		fmt.Fprintf(stderr, "fp recompute: %v\n", err)
		return exitMigrateFailed
	}
	fmt.Fprintf(stdout, "re-derived %d connections and %d observations to algorithm version %d; %d skipped\n",
		res.Connections, res.Observations, fingerprint.AlgorithmVersion, res.Skipped)
	return exitOK
}

const exportUsage = `usage: fp export [--fleet]

Writes the public dataset of the PostgreSQL database of DATABASE_URL to
stdout as JSON lines, after a licence header line. --fleet includes the
visits of the operator's own device fleet.
`

// runExport runs fp export and returns the exit code.
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fp export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, exportUsage) }
	fleet := fs.Bool("fleet", false, "include the operator's fleet visits")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprint(stderr, exportUsage)
		return exitUsage
	}
	store, code := openDatabase(ctx, "fp export", getenv, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	if err := store.Export(ctx, stdout, *fleet); err != nil {
		fmt.Fprintf(stderr, "fp export: %v\n", err)
		return exitMigrateFailed
	}
	return exitOK
}

// openDatabase opens the PostgreSQL store of DATABASE_URL for a command.
func openDatabase(ctx context.Context, command string, getenv func(string) string, stderr io.Writer) (storage.Store, int) {
	dsn := getenv(databaseURLEnv)
	if dsn == "" {
		fmt.Fprintf(stderr, "%s: %s is not set: give the database as a postgres:// URL\n", command, databaseURLEnv)
		return nil, exitUsage
	}
	store, err := storage.NewPostgres(ctx, dsn, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", command, err)
		return nil, exitMigrateFailed
	}
	return store, exitOK
}
