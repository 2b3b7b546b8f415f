package storage

import (
	"context"
	"log/slog"
)

// Open returns the store the services use: PostgreSQL when dsn (the
// DATABASE_URL) is set, migrated to the current schema; otherwise the
// in-memory store, with a log line saying that nothing is persisted.
func Open(ctx context.Context, dsn string, log *slog.Logger) (Store, error) {
	if dsn == "" {
		log.Warn("storage: DATABASE_URL is not set: observations are kept in memory only and nothing is persisted")
		return NewMemory(), nil
	}
	return NewPostgres(ctx, dsn, log)
}
