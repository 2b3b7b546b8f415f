package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/migrations"
)

// Postgres is the Store in PostgreSQL (schema: the migrations package),
// through a pgx connection pool. The pool reconnects by itself: while the
// server is down every call fails, and the first calls after it is back
// work again.
type Postgres struct {
	pool *pgxpool.Pool
}

// NewPostgres migrates the database of dsn up to the newest schema and
// returns a store on it. dsn is a postgres:// URL or a key=value string;
// a search_path given in it (options=-csearch_path=...) is where the tables
// go. log may be nil.
func NewPostgres(ctx context.Context, dsn string, log *slog.Logger) (*Postgres, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var version strings.Builder
	if err := Migrate(ctx, dsn, "up", &version); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("storage: postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: postgres: %w", err)
	}
	log.Info("storage: postgres ready", "schema", strings.TrimSpace(version.String()),
		"host", cfg.ConnConfig.Host, "database", cfg.ConnConfig.Database)
	return &Postgres{pool: pool}, nil
}

// Migrate moves the schema of dsn's database "up" to the newest version or
// "down" to none (every table dropped), or reports its "version"; it
// writes the version it leaves to out. The migrations table
// (schema_migrations) is in the first schema of the search_path.
func Migrate(ctx context.Context, dsn, direction string, out io.Writer) (err error) {
	if direction != "up" && direction != "down" && direction != "version" {
		return fmt.Errorf("storage: migrate %q: want up, down or version", direction)
	}
	m, err := newMigrator(dsn)
	if err != nil {
		return err
	}
	defer func() {
		srcErr, dbErr := m.Close()
		if err == nil {
			if err = errors.Join(srcErr, dbErr); err != nil {
				err = fmt.Errorf("storage: migrate: close: %w", err)
			}
		}
	}()
	// golang-migrate has no context; it stops between migrations when
	// asked.
	stop := context.AfterFunc(ctx, func() { m.GracefulStop <- true })
	defer stop()

	before, err := migrationVersion(m)
	if err != nil {
		return err
	}
	switch direction {
	case "up":
		err = m.Up()
	case "down":
		err = m.Down()
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("storage: migrate %s: %w", direction, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: migrate %s: %w", direction, err)
	}
	after, err := migrationVersion(m)
	if err != nil {
		return err
	}
	switch {
	case direction == "version":
		_, err = fmt.Fprintf(out, "version %s\n", after)
	case before == after:
		_, err = fmt.Fprintf(out, "version %s (no change)\n", after)
	default:
		_, err = fmt.Fprintf(out, "version %s (was %s)\n", after, before)
	}
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	return nil
}

func newMigrator(dsn string) (*migrate.Migrate, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("storage: migrate: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	// The driver finds the schema with current_schema(): the search_path
	// of dsn decides where the tables and schema_migrations go.
	driver, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: migrate: %w", err)
	}
	source, err := iofs.New(migrations.FS, ".")
	if err != nil {
		driver.Close()
		return nil, fmt.Errorf("storage: migrate: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", source, "pgx5", driver)
	if err != nil {
		source.Close()
		driver.Close()
		return nil, fmt.Errorf("storage: migrate: %w", err)
	}
	return m, nil
}

// migrationVersion is the schema version as text: "none", "3", or "3
// (dirty: a migration failed half way)".
func migrationVersion(m *migrate.Migrate) (string, error) {
	v, dirty, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
		return "none", nil
	case err != nil:
		return "", fmt.Errorf("storage: migrate: version: %w", err)
	case dirty:
		return fmt.Sprintf("%d (dirty: a migration failed half way; fix the schema, then force the version)", v), nil
	}
	return fmt.Sprint(v), nil
}

// Close closes the pool's connections.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

// Ping reports whether the server answers.
func (p *Postgres) Ping(ctx context.Context) error {
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("storage: postgres: %w", err)
	}
	return nil
}

// The statements of Write. Each takes one array per column (unnest), so a
// batch of any size is one statement per table with a fixed text, and
// ON CONFLICT DO NOTHING skips rows already stored. A row's derived values
// (whatever their version, 0 for none) are the first entry of its history,
// written with the row and only then: a batch written again adds nothing.
const (
	insertVisits = `
INSERT INTO visit (id, start, fleet)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::boolean[])
ON CONFLICT (id) DO NOTHING`

	// pseudo_header_order travels as one JSON array per row (a text[][]
	// must be rectangular).
	insertConnections = `
WITH input AS (
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::integer[], $6::integer[],
		$7::bytea[], $8::bytea[], $9::jsonb[],
		$10::integer[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
		$18::text[], $19::text[], $20::text[], $21::text[], $22::text[])
	AS t(id, at, transport, alpn, tls_version, cipher_suite, hello, http2_preface, pseudo_header_order,
		version, ja3, ja3_hash, ja3n, ja3n_hash, ja4, ja4_r, ja4_o, ja4_ro, peetprint, peetprint_hash,
		akamai, akamai_hash)
), inserted AS (
	INSERT INTO connection (id, at, transport, alpn, tls_version, cipher_suite, hello, http2_preface,
		pseudo_header_order)
	SELECT id, at, transport, alpn, tls_version, cipher_suite, hello, http2_preface,
		CASE WHEN pseudo_header_order IS NULL THEN NULL
			ELSE ARRAY(SELECT jsonb_array_elements_text(pseudo_header_order)) END
	FROM input
	ON CONFLICT (id) DO NOTHING
	RETURNING id
)
INSERT INTO connection_fingerprints (connection_id, version, ja3, ja3_hash, ja3n, ja3n_hash, ja4, ja4_r,
	ja4_o, ja4_ro, peetprint, peetprint_hash, akamai, akamai_hash)
SELECT id, version, ja3, ja3_hash, ja3n, ja3n_hash, ja4, ja4_r, ja4_o, ja4_ro, peetprint, peetprint_hash,
	akamai, akamai_hash
FROM input JOIN inserted USING (id)
ON CONFLICT (connection_id, version) DO NOTHING`

	insertObservations = `
WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::boolean[],
		$7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[], $12::text[], $13::text[], $14::text[],
		$15::text[], $16::jsonb[], $17::integer[], $18::text[], $19::text[], $20::text[])
	AS t(id, visit_id, connection_id, at, kind, retry, http_version, method, path, headers, ua_raw,
		ua_browser, ua_browser_version, ua_os, ua_device, js, version, ja4h, ja4h_r, ja4h_ro)
), inserted AS (
	INSERT INTO observation (id, visit_id, connection_id, at, kind, retry, http_version, method, path,
		headers, ua_raw, ua_browser, ua_browser_version, ua_os, ua_device, js)
	SELECT id, visit_id, connection_id, at, kind, retry, http_version, method, path, headers, ua_raw,
		ua_browser, ua_browser_version, ua_os, ua_device, js
	FROM input
	ON CONFLICT (id) DO NOTHING
	RETURNING id
)
INSERT INTO observation_fingerprints (observation_id, version, ja4h, ja4h_r, ja4h_ro)
SELECT id, version, ja4h, ja4h_r, ja4h_ro
FROM input JOIN inserted USING (id)
ON CONFLICT (observation_id, version) DO NOTHING`
)

// Write stores b in one transaction. An observation whose visit or
// connection is neither in b nor stored fails the batch.
func (p *Postgres) Write(ctx context.Context, b *Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if err := b.check(); err != nil {
		return err
	}
	// A row repeated in the batch: the first one stays, its derived
	// values with it.
	visits := firstOfEach(b.Visits, func(v *Visit) string { return string(v.ID) })
	conns := firstOfEach(b.Connections, func(c *Connection) string { return string(c.ID) })
	obs := firstOfEach(b.Observations, func(o *Observation) string { return string(o.ID) })
	var q pgx.Batch
	if len(visits) > 0 {
		q.Queue(insertVisits, visitColumns(visits)...)
	}
	if len(conns) > 0 {
		q.Queue(insertConnections, connectionColumns(conns)...)
	}
	if len(obs) > 0 {
		q.Queue(insertObservations, observationColumns(obs)...)
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, &q).Close()
	})
	if err != nil {
		return fmt.Errorf("storage: postgres: write %d visits, %d connections, %d observations: %w",
			len(b.Visits), len(b.Connections), len(b.Observations), err)
	}
	return nil
}

// firstOfEach returns rows without the repeats of an id (rows itself when
// there are none).
func firstOfEach[T any](rows []T, id func(*T) string) []T {
	seen := make(map[string]bool, len(rows))
	for i := range rows {
		if seen[id(&rows[i])] {
			out := slices.Clone(rows[:i])
			for j := i + 1; j < len(rows); j++ {
				if k := id(&rows[j]); !seen[k] {
					seen[k] = true
					out = append(out, rows[j])
				}
			}
			return out
		}
		seen[id(&rows[i])] = true
	}
	return rows
}

func visitColumns(vs []Visit) []any {
	ids, starts, fleet := make([]string, len(vs)), make([]time.Time, len(vs)), make([]bool, len(vs))
	for i, v := range vs {
		ids[i], starts[i], fleet[i] = string(v.ID), v.Start, v.Fleet
	}
	return []any{ids, starts, fleet}
}

// connectionColumns turns connections into the arrays of insertConnections.
func connectionColumns(cs []Connection) []any {
	n := len(cs)
	var (
		ids, transports, alpns = make([]string, n), make([]string, n), make([]string, n)
		ats                    = make([]time.Time, n)
		versions, ciphers      = make([]int32, n), make([]int32, n)
		hellos, prefaces       = make([][]byte, n), make([][]byte, n)
		pseudoOrders           = make([]*string, n)
		derived                = make([]ConnectionFingerprints, n)
	)
	for i, c := range cs {
		ids[i], ats[i], transports[i], alpns[i] = string(c.ID), c.At, transportText(c.Transport), pgText(c.ALPN)
		versions[i], ciphers[i] = int32(c.TLSVersion), int32(c.CipherSuite)
		hellos[i], prefaces[i] = nonNil(c.Hello), c.HTTP2Preface
		if c.PseudoHeaderOrder != nil {
			names := make([]string, len(c.PseudoHeaderOrder))
			for j, name := range c.PseudoHeaderOrder {
				names[j] = pgText(name)
			}
			b, _ := json.Marshal(names) // strings always marshal
			s := string(b)
			pseudoOrders[i] = &s
		}
		derived[i] = c.Derived
	}
	return append([]any{ids, ats, transports, alpns, versions, ciphers, hellos, prefaces, pseudoOrders},
		connectionFingerprintColumns(derived)...)
}

// connectionFingerprintColumns are the arrays of version, ja3, ja3_hash,
// ja3n, ja3n_hash, ja4, ja4_r, ja4_o, ja4_ro, peetprint, peetprint_hash,
// akamai and akamai_hash.
func connectionFingerprintColumns(ds []ConnectionFingerprints) []any {
	versions := make([]int32, len(ds))
	texts := make([][]string, 12)
	for j := range texts {
		texts[j] = make([]string, len(ds))
	}
	for i, d := range ds {
		versions[i] = int32(d.Version)
		for j, v := range []string{d.TLS.JA3, d.TLS.JA3Hash, d.TLS.JA3N, d.TLS.JA3NHash, d.TLS.JA4, d.TLS.JA4R,
			d.TLS.JA4O, d.TLS.JA4RO, d.TLS.PeetPrint, d.TLS.PeetPrintHash, d.Akamai, d.AkamaiHash} {
			texts[j][i] = pgText(v)
		}
	}
	out := []any{versions}
	for _, t := range texts {
		out = append(out, t)
	}
	return out
}

// observationColumns turns observations into the arrays of
// insertObservations.
func observationColumns(obs []Observation) []any {
	n := len(obs)
	var (
		ids, visits, conns, kinds, httpVersions = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		methods, paths, headers                 = make([]string, n), make([]string, n), make([]string, n)
		uaRaw, uaBrowser, uaVersion, uaOS       = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		uaDevice                                = make([]string, n)
		ats                                     = make([]time.Time, n)
		retries                                 = make([]bool, n)
		js                                      = make([]*string, n)
		derived                                 = make([]ObservationFingerprints, n)
	)
	for i, o := range obs {
		ids[i], visits[i], conns[i], ats[i] = string(o.ID), string(o.VisitID), string(o.ConnectionID), o.At
		kinds[i], retries[i], httpVersions[i] = string(o.Kind), o.Retry, pgText(o.HTTPVersion)
		methods[i], paths[i] = pgText(o.Method), pgText(o.Path)
		headers[i] = encodeHeaders(o.Headers)
		ua := o.UserAgent
		uaRaw[i], uaBrowser[i], uaVersion[i] = pgText(ua.Raw), pgText(ua.Browser), pgText(ua.BrowserVersion)
		uaOS[i], uaDevice[i] = pgText(ua.OS), pgText(ua.Device)
		if len(o.JS) > 0 {
			s := jsonbValue(o.JS)
			js[i] = &s
		}
		derived[i] = o.Derived
	}
	return append([]any{ids, visits, conns, ats, kinds, retries, httpVersions, methods, paths, headers,
		uaRaw, uaBrowser, uaVersion, uaOS, uaDevice, js}, observationFingerprintColumns(derived)...)
}

// observationFingerprintColumns are the arrays of version, ja4h, ja4h_r
// and ja4h_ro.
func observationFingerprintColumns(ds []ObservationFingerprints) []any {
	n := len(ds)
	versions := make([]int32, n)
	ja4h, ja4hR, ja4hRO := make([]string, n), make([]string, n), make([]string, n)
	for i, d := range ds {
		versions[i], ja4h[i], ja4hR[i], ja4hRO[i] = int32(d.Version), pgText(d.JA4H), pgText(d.JA4HR), pgText(d.JA4HRO)
	}
	return []any{versions, ja4h, ja4hR, ja4hRO}
}

// transportText is the JA4 letter of t ("" for none: text holds no NUL).
func transportText(t fingerprint.Transport) string {
	if t == 0 {
		return ""
	}
	return string(rune(t))
}

func parseTransport(s string) fingerprint.Transport {
	if s == "" {
		return 0
	}
	return fingerprint.Transport(s[0])
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// textSafe reports whether PostgreSQL's text (and jsonb's strings) can
// hold s: UTF-8 without NUL.
func textSafe(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// pgText is s as a text column holds it: bytes that are not UTF-8, and
// NUL, become U+FFFD. Only header values need their exact bytes (they
// keep them: encodeHeaders); a client sending others must not fail the
// batch it is written in.
func pgText(s string) string {
	if textSafe(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// pgHeader is a StoredHeader as an element of the headers jsonb array. A
// name or value jsonb cannot hold (not UTF-8, or with NUL) has its exact
// bytes in NameBytes or ValueBytes (base64 in JSON) and its readable form
// (pgText) in Name or Value.
type pgHeader struct {
	Name       string `json:"name"`
	Value      string `json:"value"`
	Redacted   bool   `json:"redacted,omitempty"`
	Length     int    `json:"length"`
	NameBytes  []byte `json:"name_bytes,omitempty"`
	ValueBytes []byte `json:"value_bytes,omitempty"`
}

func encodeHeaders(hs []StoredHeader) string {
	list := make([]pgHeader, len(hs))
	for i, h := range hs {
		list[i] = pgHeader{Name: h.Name, Value: h.Value, Redacted: h.Redacted, Length: h.Length}
		if !textSafe(h.Name) {
			list[i].Name, list[i].NameBytes = pgText(h.Name), []byte(h.Name)
		}
		if !textSafe(h.Value) {
			list[i].Value, list[i].ValueBytes = pgText(h.Value), []byte(h.Value)
		}
	}
	b, _ := json.Marshal(list) // strings, bools and ints always marshal
	return string(b)
}

func decodeHeaders(b []byte) ([]StoredHeader, error) {
	var list []pgHeader
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, nil
	}
	hs := make([]StoredHeader, len(list))
	for i, h := range list {
		hs[i] = StoredHeader{Name: h.Name, Value: h.Value, Redacted: h.Redacted, Length: h.Length}
		if h.NameBytes != nil {
			hs[i].Name = string(h.NameBytes)
		}
		if h.ValueBytes != nil {
			hs[i].Value = string(h.ValueBytes)
		}
	}
	return hs, nil
}

// jsonbValue is JavaScript values (valid JSON, Batch.check) as jsonb
// accepts them. jsonb refuses some of what JSON allows: \u0000, unpaired
// surrogates and bytes that are not UTF-8 in strings, numbers beyond its
// numeric type. Such characters become U+FFFD and such numbers their text,
// so that one visitor's values cannot fail the batch of others.
func jsonbValue(js []byte) string {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "null" // not reached after Batch.check
	}
	b, err := json.Marshal(jsonbSafe(v))
	if err != nil {
		return "null" // not reached: decoded values marshal
	}
	return string(b)
}

// jsonbSafe replaces, in a decoded JSON value, what jsonb refuses.
func jsonbSafe(v any) any {
	switch v := v.(type) {
	case string:
		return pgText(v)
	case json.Number:
		// numeric holds up to 131072 digits before the point and 16383
		// after, a float64's range and more; beyond that (overflow, or an
		// exponent that underflows to 0), the number's text.
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || (f == 0 && strings.ContainsAny(string(v), "eE") && strings.ContainsAny(string(v), "123456789")) {
			return string(v)
		}
		return v
	case []any:
		for i := range v {
			v[i] = jsonbSafe(v[i])
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[pgText(k)] = jsonbSafe(x)
		}
		return out
	}
	return v
}

// The reads: rows with their latest derived values (highest version).
const (
	selectConnections = `
SELECT c.id, c.at, c.transport, c.alpn, c.tls_version, c.cipher_suite, c.hello, c.http2_preface,
	c.pseudo_header_order, COALESCE(f.version, 0), COALESCE(f.ja3, ''), COALESCE(f.ja3_hash, ''),
	COALESCE(f.ja3n, ''), COALESCE(f.ja3n_hash, ''), COALESCE(f.ja4, ''), COALESCE(f.ja4_r, ''),
	COALESCE(f.ja4_o, ''), COALESCE(f.ja4_ro, ''), COALESCE(f.peetprint, ''), COALESCE(f.peetprint_hash, ''),
	COALESCE(f.akamai, ''), COALESCE(f.akamai_hash, '')
FROM connection c
LEFT JOIN LATERAL (
	SELECT * FROM connection_fingerprints l WHERE l.connection_id = c.id ORDER BY l.version DESC LIMIT 1
) f ON true`

	selectObservations = `
SELECT o.id, o.visit_id, o.connection_id, o.at, o.kind, o.retry, o.http_version, o.method, o.path,
	o.headers, o.ua_raw, o.ua_browser, o.ua_browser_version, o.ua_os, o.ua_device, o.js,
	COALESCE(f.version, 0), COALESCE(f.ja4h, ''), COALESCE(f.ja4h_r, ''), COALESCE(f.ja4h_ro, '')
FROM observation o
LEFT JOIN LATERAL (
	SELECT * FROM observation_fingerprints l WHERE l.observation_id = o.id ORDER BY l.version DESC LIMIT 1
) f ON true`
)

func scanConnection(row pgx.CollectableRow) (Connection, error) {
	var (
		c                   Connection
		id, transport       string
		tlsVersion, cipher  int32
		d                   = &c.Derived
		hello, http2Preface []byte
		pseudoHeaderOrder   []string
	)
	err := row.Scan(&id, &c.At, &transport, &c.ALPN, &tlsVersion, &cipher, &hello, &http2Preface,
		&pseudoHeaderOrder, &d.Version, &d.TLS.JA3, &d.TLS.JA3Hash, &d.TLS.JA3N, &d.TLS.JA3NHash,
		&d.TLS.JA4, &d.TLS.JA4R, &d.TLS.JA4O, &d.TLS.JA4RO, &d.TLS.PeetPrint, &d.TLS.PeetPrintHash,
		&d.Akamai, &d.AkamaiHash)
	if err != nil {
		return c, err
	}
	c.ID, c.At, c.Transport = ConnectionID(id), c.At.UTC(), parseTransport(transport)
	c.TLSVersion, c.CipherSuite = uint16(tlsVersion), uint16(cipher)
	c.Hello, c.HTTP2Preface, c.PseudoHeaderOrder = hello, http2Preface, pseudoHeaderOrder
	return c, nil
}

func scanObservation(row pgx.CollectableRow) (Observation, error) {
	var (
		o               Observation
		id, visit, conn string
		kind            string
		headers, js     []byte
		d               = &o.Derived
		ua              = &o.UserAgent
	)
	err := row.Scan(&id, &visit, &conn, &o.At, &kind, &o.Retry, &o.HTTPVersion, &o.Method, &o.Path,
		&headers, &ua.Raw, &ua.Browser, &ua.BrowserVersion, &ua.OS, &ua.Device, &js,
		&d.Version, &d.JA4H, &d.JA4HR, &d.JA4HRO)
	if err != nil {
		return o, err
	}
	o.ID, o.VisitID, o.ConnectionID = ObservationID(id), VisitID(visit), ConnectionID(conn)
	o.At, o.Kind = o.At.UTC(), RequestKind(kind)
	if o.Headers, err = decodeHeaders(headers); err != nil {
		return o, fmt.Errorf("observation %s: headers: %w", id, err)
	}
	if js != nil {
		// jsonb keeps values, not text: give them back compact.
		if o.JS, err = compactJSON(js); err != nil {
			return o, fmt.Errorf("observation %s: js: %w", id, err)
		}
	}
	return o, nil
}

func compactJSON(b []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// querier is a pool or a transaction.
type querier interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// loadVisits reads the visits of ids with their observations (time order)
// and connections, in the order of ids; ids not stored are left out.
func loadVisits(ctx context.Context, q querier, ids []string) ([]VisitRecord, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var b pgx.Batch
	var visits []Visit
	var observations []Observation
	var connections []Connection
	b.Queue(`SELECT id, start, fleet FROM visit WHERE id = ANY($1)`, ids).Query(func(rows pgx.Rows) (err error) {
		visits, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Visit, error) {
			var v Visit
			var id string
			err := row.Scan(&id, &v.Start, &v.Fleet)
			v.ID, v.Start = VisitID(id), v.Start.UTC()
			return v, err
		})
		return err
	})
	b.Queue(selectObservations+` WHERE o.visit_id = ANY($1) ORDER BY o.at, o.id`, ids).Query(func(rows pgx.Rows) (err error) {
		observations, err = pgx.CollectRows(rows, scanObservation)
		return err
	})
	b.Queue(selectConnections+` WHERE c.id IN (SELECT connection_id FROM observation WHERE visit_id = ANY($1))
		ORDER BY c.at, c.id`, ids).Query(func(rows pgx.Rows) (err error) {
		connections, err = pgx.CollectRows(rows, scanConnection)
		return err
	})
	if err := q.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	byID := make(map[VisitID]*VisitRecord, len(visits))
	for _, v := range visits {
		byID[v.ID] = &VisitRecord{Visit: v}
	}
	connByID := make(map[ConnectionID]*Connection, len(connections))
	for i := range connections {
		connByID[connections[i].ID] = &connections[i]
	}
	for _, o := range observations {
		r := byID[o.VisitID]
		if r == nil {
			continue // the visit was deleted between the queries
		}
		r.Observations = append(r.Observations, o)
		if c := connByID[o.ConnectionID]; c != nil && !slices.ContainsFunc(r.Connections, func(x Connection) bool { return x.ID == c.ID }) {
			r.Connections = append(r.Connections, *c)
		}
	}
	out := make([]VisitRecord, 0, len(visits))
	for _, id := range ids {
		if r := byID[VisitID(id)]; r != nil {
			slices.SortFunc(r.Connections, func(a, b Connection) int {
				if c := a.At.Compare(b.At); c != 0 {
					return c
				}
				return strings.Compare(string(a.ID), string(b.ID))
			})
			out = append(out, *r)
		}
	}
	return out, nil
}

// Visit returns the visit id with its observations and connections.
func (p *Postgres) Visit(ctx context.Context, id VisitID) (*VisitRecord, error) {
	rs, err := loadVisits(ctx, p.pool, []string{string(id)})
	if err != nil {
		return nil, fmt.Errorf("storage: postgres: visit %s: %w", id, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("storage: visit %s: %w", id, ErrNotFound)
	}
	return &rs[0], nil
}

// DeleteVisit removes the visit id, its observations and their derived
// values, and the connections no remaining observation uses.
func (p *Postgres) DeleteVisit(ctx context.Context, id VisitID) error {
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT connection_id FROM observation WHERE visit_id = $1`, string(id))
		if err != nil {
			return err
		}
		conns, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM visit WHERE id = $1`, string(id)) // cascades to observations
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM connection c WHERE c.id = ANY($1)
			AND NOT EXISTS (SELECT 1 FROM observation o WHERE o.connection_id = c.id)`, conns)
		return err
	})
	if err != nil {
		return fmt.Errorf("storage: delete visit %s: %w", id, err)
	}
	return nil
}

// searchColumn is the connection_fingerprints column Search matches for
// kind.
func searchColumn(kind FingerprintKind) (string, error) {
	switch kind {
	case SearchJA3:
		return "ja3_hash", nil
	case SearchJA3N:
		return "ja3n_hash", nil
	case SearchJA4:
		return "ja4", nil
	case SearchAkamai:
		return "akamai_hash", nil
	case SearchPeetPrint:
		return "peetprint_hash", nil
	}
	return "", fmt.Errorf("storage: search: unknown fingerprint kind %q", kind)
}

// Search counts the observations made on connections whose latest derived
// values have hash as their kind fingerprint, with their User-Agents,
// families and the other fingerprints of those connections; ErrNotFound
// when there are none. Ties are in byte order (the C collation), whatever
// the database's locale.
func (p *Postgres) Search(ctx context.Context, kind FingerprintKind, hash string) (*SearchResult, error) {
	column, err := searchColumn(kind)
	if err != nil {
		return nil, err
	}
	if hash == "" {
		// The empty value of a connection without the fingerprint.
		return nil, fmt.Errorf("storage: search %s %q: %w", kind, hash, ErrNotFound)
	}
	// matched: the observations on the connections whose latest values
	// match (the version subquery keeps history rows out).
	matched := `WITH matched AS (
		SELECT o.at, o.ua_raw, o.ua_browser, f.*
		FROM connection_fingerprints f
		JOIN observation o ON o.connection_id = f.connection_id
		WHERE f.` + column + ` = $1
		  AND f.version = (SELECT max(l.version) FROM connection_fingerprints l WHERE l.connection_id = f.connection_id)
	) `
	res := &SearchResult{Kind: kind, Hash: hash}
	var b pgx.Batch
	b.Queue(matched+`SELECT count(*), min(at), max(at) FROM matched`, hash).QueryRow(func(row pgx.Row) error {
		var first, last *time.Time
		if err := row.Scan(&res.Observations, &first, &last); err != nil {
			return err
		}
		if first != nil {
			res.FirstSeen, res.LastSeen = first.UTC(), last.UTC()
		}
		return nil
	})
	b.Queue(matched+`SELECT ua_raw, count(*) FROM matched
		GROUP BY ua_raw ORDER BY count(*) DESC, ua_raw COLLATE "C"`, hash).Query(func(rows pgx.Rows) (err error) {
		res.UserAgents, err = pgx.CollectRows(rows, scanCount)
		return err
	})
	b.Queue(matched+`SELECT ua_browser, count(*) FROM matched
		GROUP BY ua_browser ORDER BY count(*) DESC, ua_browser COLLATE "C"`, hash).Query(func(rows pgx.Rows) (err error) {
		res.Families, err = pgx.CollectRows(rows, scanCount)
		return err
	})
	b.Queue(matched+`SELECT k.kind, k.value, count(*) FROM matched
		CROSS JOIN LATERAL (VALUES ('ja3', ja3_hash), ('ja3n', ja3n_hash), ('ja4', ja4),
			('akamai', akamai_hash), ('peetprint', peetprint_hash)) AS k(kind, value)
		WHERE k.kind <> $2 AND k.value <> ''
		GROUP BY k.kind, k.value ORDER BY count(*) DESC, k.kind COLLATE "C", k.value COLLATE "C"`, hash, string(kind)).Query(func(rows pgx.Rows) (err error) {
		res.CoOccurring, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (KindCount, error) {
			var kc KindCount
			var k string
			err := row.Scan(&k, &kc.Value, &kc.Count.Count)
			kc.Kind = FingerprintKind(k)
			return kc, err
		})
		return err
	})
	// One snapshot for the four answers.
	err = pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return tx.SendBatch(ctx, &b).Close() })
	if err != nil {
		return nil, fmt.Errorf("storage: search %s %q: %w", kind, hash, err)
	}
	if res.Observations == 0 {
		return nil, fmt.Errorf("storage: search %s %q: %w", kind, hash, ErrNotFound)
	}
	return res, nil
}

func scanCount(row pgx.CollectableRow) (Count, error) {
	var c Count
	err := row.Scan(&c.Value, &c.Count)
	return c, err
}

// FamilyTotals counts observations and visits per browser family, most
// observations first, then by family in byte order.
func (p *Postgres) FamilyTotals(ctx context.Context) ([]FamilyTotal, error) {
	rows, err := p.pool.Query(ctx, `SELECT ua_browser, count(DISTINCT visit_id), count(*)
		FROM observation GROUP BY ua_browser ORDER BY count(*) DESC, ua_browser COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("storage: family totals: %w", err)
	}
	totals, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (FamilyTotal, error) {
		var t FamilyTotal
		err := row.Scan(&t.Family, &t.Visits, &t.Observations)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: family totals: %w", err)
	}
	return totals, nil
}

// LatestCompleteVisits returns, per distinct User-Agent (that of a
// visit's first navigation), its latest complete visit by start, then id:
// the fleet's when the fleet has one, so that a public visitor sending a
// browser's User-Agent cannot shadow the fleet's profile of it. Newest
// first, then by id.
func (p *Postgres) LatestCompleteVisits(ctx context.Context) ([]VisitRecord, error) {
	kinds := make([]string, 0, len(Kinds()))
	for _, k := range Kinds() {
		kinds = append(kinds, string(k))
	}
	var out []VisitRecord
	err := pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			WITH complete AS (
				SELECT visit_id FROM observation
				WHERE kind = ANY($1)
				GROUP BY visit_id
				HAVING count(DISTINCT kind) = cardinality($1)
			), agent AS (
				SELECT DISTINCT ON (o.visit_id) o.visit_id, o.ua_raw
				FROM observation o JOIN complete c ON c.visit_id = o.visit_id
				WHERE o.kind = $2
				ORDER BY o.visit_id, o.at, o.id
			), chosen AS (
				SELECT DISTINCT ON (a.ua_raw) v.id, v.start
				FROM agent a JOIN visit v ON v.id = a.visit_id
				ORDER BY a.ua_raw, v.fleet DESC, v.start DESC, v.id DESC
			)
			SELECT id FROM chosen ORDER BY start DESC, id`, kinds, string(KindNavigate))
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		out, err = loadVisits(ctx, tx, ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: latest complete visits: %w", err)
	}
	return out, nil
}

// exportPage is how many visits Export reads at a time.
const exportPage = 200

// Export writes the dataset in the shared export format, visits in start
// order, from one snapshot.
func (p *Postgres) Export(ctx context.Context, w io.Writer, withFleet bool) error {
	e, err := newExportWriter(w, withFleet)
	if err != nil {
		return err
	}
	err = pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var afterStart time.Time
		var afterID string
		for first := true; ; first = false {
			rows, err := tx.Query(ctx, `SELECT id, start FROM visit
				WHERE ($1 OR NOT fleet) AND ($2 OR (start, id) > ($3, $4))
				ORDER BY start, id LIMIT $5`, withFleet, first, afterStart, afterID, exportPage)
			if err != nil {
				return err
			}
			var ids []string
			_, err = pgx.ForEachRow(rows, []any{&afterID, &afterStart}, func() error {
				ids = append(ids, afterID)
				return nil
			})
			if err != nil {
				return err
			}
			records, err := loadVisits(ctx, tx, ids)
			if err != nil {
				return err
			}
			for i := range records {
				if err := e.visit(&records[i]); err != nil {
					return err
				}
			}
			if len(ids) < exportPage {
				return nil
			}
		}
	})
	if err != nil {
		return fmt.Errorf("storage: export: %w", err)
	}
	return nil
}

// Stale returns up to limit rows, connections and observations together in
// id order after the cursor, whose latest derived values are older than
// version (or missing).
func (p *Postgres) Stale(ctx context.Context, version int, after ID, limit int) (*StaleBatch, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("storage: stale: limit %d: want at least 1", limit)
	}
	var conns []Connection
	var obs []Observation
	var b pgx.Batch
	// One more than limit of each tells whether rows remain.
	b.Queue(selectConnections+` WHERE c.id > $1 AND COALESCE(f.version, 0) < $2 ORDER BY c.id LIMIT $3`,
		string(after), version, limit+1).Query(func(rows pgx.Rows) (err error) {
		conns, err = pgx.CollectRows(rows, scanConnection)
		return err
	})
	b.Queue(selectObservations+` WHERE o.id > $1 AND COALESCE(f.version, 0) < $2 ORDER BY o.id LIMIT $3`,
		string(after), version, limit+1).Query(func(rows pgx.Rows) (err error) {
		obs, err = pgx.CollectRows(rows, scanObservation)
		return err
	})
	err := pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return tx.SendBatch(ctx, &b).Close() })
	if err != nil {
		return nil, fmt.Errorf("storage: stale: %w", err)
	}
	// Merge the two id orders and keep the first limit rows.
	page := &StaleBatch{}
	var last ID
	for taken := 0; taken < limit && (len(conns) > 0 || len(obs) > 0); taken++ {
		if len(obs) == 0 || (len(conns) > 0 && conns[0].ID < ConnectionID(obs[0].ID)) {
			page.Connections, last, conns = append(page.Connections, conns[0]), ID(conns[0].ID), conns[1:]
		} else {
			page.Observations, last, obs = append(page.Observations, obs[0]), ID(obs[0].ID), obs[1:]
		}
	}
	if len(conns) > 0 || len(obs) > 0 {
		page.Next = last
	}
	return page, nil
}

// connectionHistory returns every derived entry of a connection, lowest
// version first; ErrNotFound when the connection is not stored.
func (p *Postgres) connectionHistory(ctx context.Context, id ConnectionID) ([]ConnectionFingerprints, error) {
	rows, err := p.pool.Query(ctx, `SELECT version, ja3, ja3_hash, ja3n, ja3n_hash, ja4, ja4_r, ja4_o, ja4_ro,
		peetprint, peetprint_hash, akamai, akamai_hash
		FROM connection_fingerprints WHERE connection_id = $1 ORDER BY version`, string(id))
	if err != nil {
		return nil, fmt.Errorf("storage: connection %s: history: %w", id, err)
	}
	hist, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ConnectionFingerprints, error) {
		var d ConnectionFingerprints
		err := row.Scan(&d.Version, &d.TLS.JA3, &d.TLS.JA3Hash, &d.TLS.JA3N, &d.TLS.JA3NHash, &d.TLS.JA4,
			&d.TLS.JA4R, &d.TLS.JA4O, &d.TLS.JA4RO, &d.TLS.PeetPrint, &d.TLS.PeetPrintHash, &d.Akamai, &d.AkamaiHash)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: connection %s: history: %w", id, err)
	}
	if len(hist) == 0 {
		// Every stored connection has an entry (Write stores the first).
		return nil, fmt.Errorf("storage: connection %s: %w", id, ErrNotFound)
	}
	return hist, nil
}

// observationHistory is connectionHistory for an observation.
func (p *Postgres) observationHistory(ctx context.Context, id ObservationID) ([]ObservationFingerprints, error) {
	rows, err := p.pool.Query(ctx, `SELECT version, ja4h, ja4h_r, ja4h_ro
		FROM observation_fingerprints WHERE observation_id = $1 ORDER BY version`, string(id))
	if err != nil {
		return nil, fmt.Errorf("storage: observation %s: history: %w", id, err)
	}
	hist, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ObservationFingerprints])
	if err != nil {
		return nil, fmt.Errorf("storage: observation %s: history: %w", id, err)
	}
	if len(hist) == 0 {
		return nil, fmt.Errorf("storage: observation %s: %w", id, ErrNotFound)
	}
	return hist, nil
}

// AddDerived adds recomputed values as new rows; values of a version a
// row already has, and rows deleted meanwhile, are skipped.
func (p *Postgres) AddDerived(ctx context.Context, d *DerivedBatch) error {
	var b pgx.Batch
	if len(d.Connections) > 0 {
		ids := make([]string, 0, len(d.Connections))
		values := make([]ConnectionFingerprints, 0, len(d.Connections))
		for id, v := range d.Connections {
			ids, values = append(ids, string(id)), append(values, v)
		}
		b.Queue(`INSERT INTO connection_fingerprints (connection_id, version, ja3, ja3_hash, ja3n, ja3n_hash,
				ja4, ja4_r, ja4_o, ja4_ro, peetprint, peetprint_hash, akamai, akamai_hash)
			SELECT t.* FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[],
				$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
				AS t(id, version, ja3, ja3_hash, ja3n, ja3n_hash, ja4, ja4_r, ja4_o, ja4_ro, peetprint,
				peetprint_hash, akamai, akamai_hash)
			JOIN connection c ON c.id = t.id
			ON CONFLICT (connection_id, version) DO NOTHING`,
			append([]any{ids}, connectionFingerprintColumns(values)...)...)
	}
	if len(d.Observations) > 0 {
		ids := make([]string, 0, len(d.Observations))
		values := make([]ObservationFingerprints, 0, len(d.Observations))
		for id, v := range d.Observations {
			ids, values = append(ids, string(id)), append(values, v)
		}
		b.Queue(`INSERT INTO observation_fingerprints (observation_id, version, ja4h, ja4h_r, ja4h_ro)
			SELECT t.* FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[])
				AS t(id, version, ja4h, ja4h_r, ja4h_ro)
			JOIN observation o ON o.id = t.id
			ON CONFLICT (observation_id, version) DO NOTHING`,
			append([]any{ids}, observationFingerprintColumns(values)...)...)
	}
	if b.Len() == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, &b).Close() })
	if err != nil {
		return fmt.Errorf("storage: add derived: %w", err)
	}
	return nil
}
