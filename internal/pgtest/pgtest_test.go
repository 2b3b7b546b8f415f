package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestStartSharesOneServerPerBinary(t *testing.T) {
	first := Start(t)
	if second := Start(t); second != first {
		t.Errorf("second Start = %q, want the first one's %q", second, first)
	}
	if v := queryString(t, connect(t, first), "SHOW server_version"); v == "" {
		t.Error("no server version")
	}
}

func TestSchemaIsolatesTestsAndIsDropped(t *testing.T) {
	dsn := Start(t)
	var names [2]string
	t.Run("two schemas", func(t *testing.T) {
		a, b := connect(t, Schema(t, dsn)), connect(t, Schema(t, dsn))
		names[0] = queryString(t, a, "SELECT current_schema()")
		names[1] = queryString(t, b, "SELECT current_schema()")
		if names[0] == names[1] || names[0][:2] != "t_" || names[1][:2] != "t_" {
			t.Fatalf("current schemas %q and %q, want two distinct t_ schemas", names[0], names[1])
		}
		if _, err := a.Exec(context.Background(), "CREATE TABLE visible_in_a (n int)"); err != nil {
			t.Fatal(err)
		}
		if n := queryString(t, b, "SELECT count(*)::text FROM information_schema.tables WHERE table_name = 'visible_in_a' AND table_schema = current_schema()"); n != "0" {
			t.Errorf("the table of schema a is seen in schema b (%s)", n)
		}
	})
	// The subtest's cleanup dropped both schemas.
	conn := connect(t, dsn)
	for _, name := range names {
		if n := queryString(t, conn, "SELECT count(*)::text FROM pg_namespace WHERE nspname = $1", name); n != "0" {
			t.Errorf("schema %s still exists after its test", name)
		}
	}
}

func TestClusterStopAndStart(t *testing.T) {
	begin := time.Now()
	c := NewCluster(t)
	t.Logf("cluster started in %v", time.Since(begin).Round(time.Millisecond))
	connect(t, c.DSN()).Close(context.Background())

	c.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, c.DSN()); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped server")
	}

	c.Start(t)
	if v := queryString(t, connect(t, c.DSN()), "SELECT 'up'"); v != "up" {
		t.Errorf("after restart: %q", v)
	}
}

func TestRequiredByCIOrSetting(t *testing.T) {
	tests := []struct {
		name, ci, require string
		want              bool
	}{
		{name: "neither", want: false},
		{name: "CI", ci: "true", want: true},
		{name: "FP_REQUIRE_POSTGRES=1", require: "1", want: true},
		{name: "FP_REQUIRE_POSTGRES=0", require: "0", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			t.Setenv(RequireEnv, tt.require)
			if got := required(); got != tt.want {
				t.Errorf("required() = %v, want %v", got, tt.want)
			}
		})
	}
}

// endingTB records how skipOrFail ends a test.
type endingTB struct {
	testing.TB
	ended string
}

func (e *endingTB) Helper()               {}
func (e *endingTB) Skipf(string, ...any)  { e.ended = "skip"; runtime.Goexit() }
func (e *endingTB) Fatal(...any)          { e.ended = "fail"; runtime.Goexit() }
func (e *endingTB) Fatalf(string, ...any) { e.ended = "fail"; runtime.Goexit() }

func TestMissingServerSkipsUnlessRequired(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		require string
		want    string
	}{
		{name: "no server", err: fmt.Errorf("%w (no initdb)", ErrNoServer), want: "skip"},
		{name: "no server, required", err: fmt.Errorf("%w (no initdb)", ErrNoServer), require: "1", want: "fail"},
		{name: "no server, from the shared state file", err: failure(encodeFailure(ErrNoServer)), want: "skip"},
		{name: "server failed to start", err: errors.New("pgtest: pg_ctl start: exit status 1"), want: "fail"},
		{name: "failure from the shared state file", err: failure(encodeFailure(errors.New("initdb: exit status 1"))), want: "fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", "")
			t.Setenv(RequireEnv, tt.require)
			tb := &endingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				skipOrFail(tb, tt.err)
			}()
			<-done
			if tb.ended != tt.want {
				t.Errorf("ended with %q, want %q", tb.ended, tt.want)
			}
		})
	}
}
