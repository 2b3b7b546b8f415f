package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/pgtest"
)

// TestMain shares one PostgreSQL cluster among the tests of the package
// (pgtest.Main), each test in a schema of its own.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openPostgres returns a store on a fresh schema of the shared server,
// closed when t ends.
func openPostgres(t *testing.T) *Postgres {
	t.Helper()
	return openPostgresDSN(t, pgtest.Schema(t, pgtest.Start(t)))
}

func openPostgresDSN(t *testing.T, dsn string) *Postgres {
	t.Helper()
	p, err := NewPostgres(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// pgQueryInt runs a query returning one number.
func pgQueryInt(t *testing.T, p *Postgres, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := p.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// pgID is a well-formed id built from a small number, so tests read well.
func pgID(kind byte, n int) string { return fmt.Sprintf("%c%031x", kind, n) }

// pgVisitBatch is one complete visit: a connection and an observation of
// every kind on it, with derived values at fingerprint.AlgorithmVersion.
func pgVisitBatch(n int, start time.Time, fleet bool) *Batch {
	conn := Connection{
		ID: ConnectionID(pgID('c', n)), At: start, Transport: fingerprint.TransportTCP, ALPN: "h2",
		TLSVersion: 0x0304, CipherSuite: 0x1301, Hello: []byte{0x16, 0x03, 0x01, byte(n)},
		HTTP2Preface: []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), PseudoHeaderOrder: []string{":method", ":authority", ":scheme", ":path"},
		Derived: ConnectionFingerprints{Version: fingerprint.AlgorithmVersion,
			TLS: fingerprint.TLSFingerprints{JA3: "771,4865", JA3Hash: fmt.Sprintf("ja3-%d", n%2), JA3N: "771,4865n",
				JA3NHash: "ja3n", JA4: "t13d1516h2_8daaf6152771_02713d6af862", JA4R: "r", JA4O: "o", JA4RO: "ro",
				PeetPrint: "peet", PeetPrintHash: "peethash"},
			Akamai: "1:65536|15663105|0|m,a,s,p", AkamaiHash: "akamaihash"},
	}
	b := &Batch{Connections: []Connection{conn}, Visits: []Visit{{ID: VisitID(pgID('a', n)), Start: start, Fleet: fleet}}}
	for i, kind := range Kinds() {
		b.Observations = append(b.Observations, Observation{
			ID: ObservationID(pgID('b', n*10+i)), VisitID: VisitID(pgID('a', n)), ConnectionID: conn.ID,
			At: start.Add(time.Duration(i) * time.Second), Kind: kind, HTTPVersion: "HTTP/2", Method: "GET", Path: "/",
			Headers:   []StoredHeader{{Name: ":method", Value: "GET", Length: 3}, {Name: "cookie", Value: "fp=", Redacted: true, Length: 8}},
			UserAgent: UserAgent{Raw: fmt.Sprintf("Mozilla/5.0 test %d", n%2), Browser: "Chrome", BrowserVersion: "131", OS: "Linux", Device: "desktop"},
			JS:        []byte(`{"screen": [1920, 1080], "lang": "en"}`),
			Derived:   ObservationFingerprints{Version: fingerprint.AlgorithmVersion, JA4H: "ge20nn02enus_x", JA4HR: "r", JA4HRO: "ro"},
		})
	}
	return b
}

// pgTables lists the base tables of the schema of dsn.
func pgTables(t *testing.T, dsn string) []string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestPostgresMigrationsUpDownUp(t *testing.T) {
	dsn := pgtest.Schema(t, pgtest.Start(t))
	ctx := context.Background()
	all := "connection connection_fingerprints observation observation_fingerprints schema_migrations visit"
	steps := []struct {
		name, direction, wantOut, wantTables string
	}{
		{name: "version before any", direction: "version", wantOut: "version none\n", wantTables: "schema_migrations"},
		{name: "up", direction: "up", wantOut: "version 1 (was none)\n", wantTables: all},
		{name: "up again", direction: "up", wantOut: "version 1 (no change)\n", wantTables: all},
		{name: "version", direction: "version", wantOut: "version 1\n", wantTables: all},
		{name: "down", direction: "down", wantOut: "version none (was 1)\n", wantTables: "schema_migrations"},
		{name: "down again", direction: "down", wantOut: "version none (no change)\n", wantTables: "schema_migrations"},
		{name: "up after down", direction: "up", wantOut: "version 1 (was none)\n", wantTables: all},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Migrate(ctx, dsn, st.direction, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != st.wantOut {
				t.Errorf("output %q, want %q", out.String(), st.wantOut)
			}
			if got := strings.Join(pgTables(t, dsn), " "); got != st.wantTables {
				t.Errorf("tables %q, want %q", got, st.wantTables)
			}
		})
	}
}

func TestPostgresMigrateRejectsUnknownDirection(t *testing.T) {
	err := Migrate(context.Background(), "postgres://127.0.0.1:1/none", "sideways", &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "want up, down or version") {
		t.Errorf("error %v, want the directions", err)
	}
}

func TestPostgresMigrationsStayInTheirSchema(t *testing.T) {
	server := pgtest.Start(t)
	a := openPostgres(t)
	b := openPostgresDSN(t, pgtest.Schema(t, server))
	ctx := context.Background()
	if err := a.Write(ctx, pgVisitBatch(1, time.Now(), false)); err != nil {
		t.Fatal(err)
	}
	if n := pgQueryInt(t, b, "SELECT count(*) FROM visit"); n != 0 {
		t.Errorf("the other schema sees %d visits", n)
	}
	// Neither migration touched the public schema.
	if n := pgQueryInt(t, a, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'
		AND table_name IN ('visit', 'schema_migrations')`); n != 0 {
		t.Errorf("%d tables in schema public", n)
	}
}

// TestPostgresSchemaHasNoAddressColumn: privacy by design, no column could
// hold a client's address.
func TestPostgresSchemaHasNoAddressColumn(t *testing.T) {
	p := openPostgres(t)
	rows, err := p.pool.Query(context.Background(), `SELECT table_name, column_name, data_type, udt_name
		FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ Table, Name, DataType, UDT string }
	columns, err := pgx.CollectRows(rows, pgx.RowToStructByPos[column])
	if err != nil {
		t.Fatal(err)
	}
	if len(columns) < 40 {
		t.Fatalf("%d columns: the schema was not read", len(columns))
	}
	// Words of a column name (split at _) that would name an address;
	// "description" or "recipient" hold "ip" but not as a word.
	addressWords := map[string]bool{"ip": true, "ipv4": true, "ipv6": true, "ips": true, "addr": true,
		"address": true, "remote": true, "peer": true, "host": true, "hostname": true, "forwarded": true, "xff": true}
	addressTypes := map[string]bool{"inet": true, "cidr": true, "macaddr": true, "macaddr8": true}
	for _, c := range columns {
		for _, word := range strings.Split(c.Name, "_") {
			if addressWords[word] {
				t.Errorf("column %s.%s is named like an address", c.Table, c.Name)
			}
		}
		if addressTypes[c.UDT] || addressTypes[c.DataType] {
			t.Errorf("column %s.%s has the address type %s", c.Table, c.Name, c.UDT)
		}
	}
}

func TestPostgresWriteAgainAddsNothing(t *testing.T) {
	p := openPostgres(t)
	ctx := context.Background()
	b := pgVisitBatch(1, time.Now(), false)
	for range 2 {
		if err := p.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// The same ids with other values are skipped too, derived ones included.
	again := pgVisitBatch(1, time.Now(), true)
	again.Connections[0].Derived.Version++
	again.Observations[0].Derived.Version++
	if err := p.Write(ctx, again); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"visit": 1, "connection": 1, "connection_fingerprints": 1,
		"observation": len(Kinds()), "observation_fingerprints": len(Kinds())}
	for table, n := range want {
		if got := pgQueryInt(t, p, "SELECT count(*) FROM "+table); got != n {
			t.Errorf("%s: %d rows, want %d", table, got, n)
		}
	}
	if n := pgQueryInt(t, p, "SELECT count(*) FROM visit WHERE fleet"); n != 0 {
		t.Error("a stored visit was overwritten")
	}
}

// TestPostgresKeepsWhatTextCannotHold: PostgreSQL's text and jsonb hold
// no NUL and only UTF-8, and jsonb refuses some JSON; a client sending such
// bytes must not fail the batch its observation is in. Header names and
// values keep their exact bytes; other text gets U+FFFD for the bad bytes.
func TestPostgresKeepsWhatTextCannotHold(t *testing.T) {
	tests := []struct {
		name   string
		change func(o *Observation, c *Connection)
		check  func(t *testing.T, o Observation, c Connection)
	}{
		{
			name: "header value with NUL and Latin-1",
			change: func(o *Observation, _ *Connection) {
				o.Headers = append(o.Headers, StoredHeader{Name: "x-bin", Value: "a\x00b\xe9", Length: 4})
			},
			check: func(t *testing.T, o Observation, _ Connection) {
				if h := o.Headers[len(o.Headers)-1]; h.Name != "x-bin" || h.Value != "a\x00b\xe9" || h.Length != 4 {
					t.Errorf("header %q = %q (length %d)", h.Name, h.Value, h.Length)
				}
			},
		},
		{
			name: "header name not UTF-8",
			change: func(o *Observation, _ *Connection) {
				o.Headers = append(o.Headers, StoredHeader{Name: "x-\xff\x00", Value: "v", Length: 1})
			},
			check: func(t *testing.T, o Observation, _ Connection) {
				if h := o.Headers[len(o.Headers)-1]; h.Name != "x-\xff\x00" || h.Value != "v" {
					t.Errorf("header %q = %q (length %d)", h.Name, h.Value, h.Length)
				}
			},
		},
		{
			name: "path, method and User-Agent",
			change: func(o *Observation, _ *Connection) {
				o.Path, o.Method, o.UserAgent.Raw = "/caf\xe9\x00", "G\x00T", "curl\xff"
			},
			check: func(t *testing.T, o Observation, _ Connection) {
				if o.Path != "/caf\uFFFD\uFFFD" || o.Method != "G\uFFFDT" || o.UserAgent.Raw != "curl\uFFFD" {
					t.Errorf("path %+q, method %+q, User-Agent %+q", o.Path, o.Method, o.UserAgent.Raw)
				}
			},
		},
		{
			name: "pseudo-header names",
			change: func(_ *Observation, c *Connection) {
				c.PseudoHeaderOrder = []string{":method", ":\x00", ":\xff"}
			},
			check: func(t *testing.T, _ Observation, c Connection) {
				if want := []string{":method", ":\uFFFD", ":\uFFFD"}; !slices.Equal(c.PseudoHeaderOrder, want) {
					t.Errorf("pseudo-header order %+q, want %+q", c.PseudoHeaderOrder, want)
				}
			},
		},
		{
			name: "JavaScript values jsonb refuses",
			change: func(o *Observation, _ *Connection) {
				o.JS = []byte(`{"nul":"\u0000","surrogate":"\ud800","latin1":"caf` + "\xe9" + `","big":1e999999,` +
					`"tiny":1e-999999,"k\u0000":[1.5,12345678901234567890123,-0,2e3]}`)
			},
			check: func(t *testing.T, o Observation, _ Connection) {
				want := `{"big":"1e999999","k\ufffd":[1.5,12345678901234567890123,-0,2e3],"latin1":"caf\ufffd",` +
					`"nul":"\ufffd","surrogate":"\ufffd","tiny":"1e-999999"}`
				var got, w any
				if json.Unmarshal(o.JS, &got) != nil || json.Unmarshal([]byte(want), &w) != nil || !reflect.DeepEqual(got, w) {
					t.Errorf("js %s\nwant %s", o.JS, want)
				}
			},
		},
	}
	p := openPostgres(t)
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := pgVisitBatch(i+1, time.Now(), false)
			tt.change(&b.Observations[0], &b.Connections[0])
			if err := p.Write(ctx, b); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, err := p.Visit(ctx, b.Visits[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got.Observations[0], got.Connections[0])
		})
	}
}

// TestPostgresWriteWhileServerStopped stops the server between writes:
// writes fail (promptly, with an error) while it is down and work again
// once it is back, through the same store; the counts add up.
func TestPostgresWriteWhileServerStopped(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	p := openPostgresDSN(t, pgtest.Schema(t, cluster.DSN()))
	ctx := context.Background()
	now := time.Now()
	written := 0
	write := func(n int) error {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := p.Write(wctx, pgVisitBatch(n, now, false))
		if err == nil {
			written++
		}
		return err
	}
	for n := 1; n <= 3; n++ {
		if err := write(n); err != nil {
			t.Fatal(err)
		}
	}

	cluster.Stop(t)
	for n := 4; n <= 6; n++ {
		begin := time.Now()
		err := write(n)
		if err == nil {
			t.Fatal("a write succeeded with the server stopped")
		}
		if took := time.Since(begin); took > 5*time.Second {
			t.Errorf("a write to a stopped server took %v to fail", took)
		}
		t.Logf("write while stopped: %v", err)
	}
	if err := p.Ping(ctx); err == nil {
		t.Error("Ping succeeded with the server stopped")
	}

	cluster.Start(t)
	for n := 7; n <= 9; n++ {
		if err := write(n); err != nil {
			t.Fatalf("write after restart: %v", err)
		}
	}
	if err := p.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
	if got := pgQueryInt(t, p, "SELECT count(*) FROM visit"); got != written || written != 6 {
		t.Errorf("%d visits stored, %d writes succeeded, want 6", got, written)
	}
	if got := pgQueryInt(t, p, "SELECT count(*) FROM observation"); got != 6*len(Kinds()) {
		t.Errorf("%d observations stored, want %d", got, 6*len(Kinds()))
	}
}

// TestPostgresContract runs the Store contract on PostgreSQL, each case in
// a fresh schema.
func TestPostgresContract(t *testing.T) {
	runContract(t, func(t *testing.T) Store { return openPostgres(t) })
}

// pgChromiumSizedBatch is visits observations of the size of a real
// Chromium visit: a 1.8 kB hello, an HTTP/2 preface, 20 headers of 60
// bytes per request, JavaScript values on the fetch.
func pgChromiumSizedBatch(first, visits int, start time.Time) *Batch {
	out := new(Batch)
	for n := first; n < first+visits; n++ {
		b := pgVisitBatch(n, start, false)
		b.Connections[0].Hello = bytes.Repeat([]byte{0x16, 0x03, 0x01, byte(n)}, 450)
		headers := make([]StoredHeader, 20)
		for i := range headers {
			v := strings.Repeat("v", 40)
			headers[i] = StoredHeader{Name: fmt.Sprintf("sec-header-%02d", i), Value: v, Length: len(v)}
		}
		for i := range b.Observations {
			b.Observations[i].Headers = headers
		}
		out = merge(out, b)
	}
	return out
}

// BenchmarkStoreWrite writes batches of 40 visits (200 observations) to
// PostgreSQL, against the memory store as the baseline. (The test cluster
// runs with fsync off; the ingest figure is for a run with it on.)
func BenchmarkStoreWrite(b *testing.B) {
	const visitsPerBatch = 40
	stores := []struct {
		name string
		open func(b *testing.B) Store
	}{
		{name: "memory", open: func(b *testing.B) Store {
			m := NewMemory() // bounded: it evicts the oldest visits as a service's would
			b.Cleanup(func() { m.Close() })
			return m
		}},
		{name: "postgres", open: func(b *testing.B) Store {
			p, err := NewPostgres(context.Background(), pgtest.Schema(b, pgtest.Start(b)), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.Close() })
			return p
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			ctx := context.Background()
			start := time.Now()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				b.StopTimer() // building the batch is the caller's work
				batch := pgChromiumSizedBatch(n, visitsPerBatch, start)
				b.StartTimer()
				if err := s.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
				n += visitsPerBatch
			}
			b.ReportMetric(float64(n*len(Kinds()))/b.Elapsed().Seconds(), "observations/s")
		})
	}
}
