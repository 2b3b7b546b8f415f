package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fpwork/fp/internal/pgtest"
)

// TestMain shares one PostgreSQL cluster among the tests that need one
// (started by the first; see pgtest.Main).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// runWithEnv runs fp with args and the environment env.
func runWithEnv(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"fp"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMigrateCommandLine(t *testing.T) {
	withURL := map[string]string{databaseURLEnv: "postgres://postgres@127.0.0.1:1/none?connect_timeout=5"}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "no direction", env: withURL, args: []string{"migrate"}, wantCode: exitUsage, wantStderr: "usage: fp migrate up|down|version"},
		{name: "unknown direction", env: withURL, args: []string{"migrate", "sideways"}, wantCode: exitUsage, wantStderr: "usage: fp migrate"},
		{name: "two directions", env: withURL, args: []string{"migrate", "up", "down"}, wantCode: exitUsage, wantStderr: "usage: fp migrate"},
		{name: "help", args: []string{"migrate", "--help"}, wantCode: exitOK, wantStdout: "usage: fp migrate"},
		{name: "DATABASE_URL unset", args: []string{"migrate", "up"}, wantCode: exitUsage, wantStderr: "DATABASE_URL is not set"},
		{name: "no server there", env: withURL, args: []string{"migrate", "version"}, wantCode: exitMigrateFailed, wantStderr: "fp migrate version: storage: migrate:"},
		{name: "listed in fp's usage", args: []string{"help"}, wantCode: exitOK, wantStdout: "migrate   apply (up), undo (down) or show (version)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runWithEnv(tt.env, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout %q, want it to hold %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q, want it to hold %q", stderr, tt.wantStderr)
			}
		})
	}
}

// TestMigrateUpDownVersion runs fp migrate against a real server, in a
// schema of its own.
func TestMigrateUpDownVersion(t *testing.T) {
	env := map[string]string{databaseURLEnv: pgtest.Schema(t, pgtest.Start(t))}
	steps := []struct {
		direction, wantStdout string
		wantTables            int // in the schema, schema_migrations included
	}{
		{direction: "version", wantStdout: "version none\n", wantTables: 1},
		{direction: "up", wantStdout: "version 1 (was none)\n", wantTables: 6},
		{direction: "up", wantStdout: "version 1 (no change)\n", wantTables: 6},
		{direction: "version", wantStdout: "version 1\n", wantTables: 6},
		{direction: "down", wantStdout: "version none (was 1)\n", wantTables: 1},
		{direction: "up", wantStdout: "version 1 (was none)\n", wantTables: 6},
	}
	for i, st := range steps {
		code, stdout, stderr := runWithEnv(env, "migrate", st.direction)
		if code != exitOK || stdout != st.wantStdout {
			t.Fatalf("step %d, fp migrate %s: exit %d, stdout %q, stderr %q; want 0 and %q",
				i+1, st.direction, code, stdout, stderr, st.wantStdout)
		}
		if n := countTables(t, env[databaseURLEnv]); n != st.wantTables {
			t.Errorf("step %d, after fp migrate %s: %d tables, want %d", i+1, st.direction, n, st.wantTables)
		}
	}
}

func countTables(t *testing.T, dsn string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
