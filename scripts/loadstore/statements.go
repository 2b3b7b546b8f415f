package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
)

// statementSettings load pg_stat_statements, for -statements: where the
// server's time goes, per statement.
func statementSettings() []string {
	return []string{"shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"}
}

// resetStatements creates the pg_stat_statements view in dsn's database
// and empties it.
func resetStatements(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("loadstore: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public"); err != nil {
		return fmt.Errorf("loadstore: pg_stat_statements: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT public.pg_stat_statements_reset()"); err != nil {
		return fmt.Errorf("loadstore: pg_stat_statements: %w", err)
	}
	return nil
}

// printStatements writes the statements that took the server's time.
func printStatements(ctx context.Context, dsn string, w io.Writer) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("loadstore: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
SELECT calls, total_exec_time, rows, wal_bytes::bigint, shared_blks_written + local_blks_written, query
FROM public.pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10`)
	if err != nil {
		return fmt.Errorf("loadstore: pg_stat_statements: %w", err)
	}
	defer rows.Close()
	fmt.Fprintln(w, "== pg_stat_statements: where the server's time went")
	fmt.Fprintf(w, "  %8s %10s %10s %10s %9s %10s  %s\n", "calls", "total ms", "ms/call", "rows", "WAL MiB", "blk writes", "statement")
	for rows.Next() {
		var calls, rowCount, wal, written int64
		var total float64
		var query string
		if err := rows.Scan(&calls, &total, &rowCount, &wal, &written, &query); err != nil {
			return err
		}
		query = strings.Join(strings.Fields(query), " ")
		if len(query) > 70 {
			query = query[:70] + "..."
		}
		fmt.Fprintf(w, "  %8d %10.0f %10.2f %10d %9.1f %10d  %s\n", calls, total, total/float64(max(calls, 1)), rowCount,
			float64(wal)/(1<<20), written, query)
	}
	return rows.Err()
}
