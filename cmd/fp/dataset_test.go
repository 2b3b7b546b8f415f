package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fpwork/fp/fingerprint"
	goldenfile "github.com/fpwork/fp/internal/golden"
	"github.com/fpwork/fp/internal/pgtest"
	"github.com/fpwork/fp/storage"
)

// TestRecomputeAndExport: rows stored with derived values of an older
// algorithm version (and wrong ones) are re-derived by fp recompute from
// their raw evidence, to the values the golden capture's oracles give;
// the old values stay as history. fp export then writes the licence line
// and the visit.
func TestRecomputeAndExport(t *testing.T) {
	dsn := pgtest.Schema(t, pgtest.Start(t))
	ctx := context.Background()
	store, err := storage.NewPostgres(ctx, dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	g := goldenfile.Load(t, "../../fingerprint/testdata/golden", "go-1.26-h1")
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	conn := storage.Connection{ID: "00000000000000000000000000000001", At: at, Transport: fingerprint.TransportTCP,
		ALPN: "http/1.1", Hello: g.MustHex(t, "hello.hex"),
		Derived: storage.ConnectionFingerprints{Version: 0, TLS: fingerprint.TLSFingerprints{JA4: "old", JA3Hash: "old"}}}
	visit := storage.Visit{ID: "00000000000000000000000000000002", Start: at}
	headers := []fingerprint.Header{{Name: "Host", Value: "localhost"}, {Name: "User-Agent", Value: "Go-http-client/1.1"},
		{Name: "Accept-Encoding", Value: "gzip"}}
	obs := storage.Observation{ID: "00000000000000000000000000000003", VisitID: visit.ID, ConnectionID: conn.ID, At: at,
		Kind: storage.KindNavigate, HTTPVersion: "HTTP/1.1", Method: "GET", Path: "/", Headers: storage.Redact(headers),
		UserAgent: storage.UserAgent{Raw: "Go-http-client/1.1"}, Derived: storage.ObservationFingerprints{Version: 0, JA4H: "old"}}
	if err := store.Write(ctx, &storage.Batch{Connections: []storage.Connection{conn}, Visits: []storage.Visit{visit},
		Observations: []storage.Observation{obs}}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{databaseURLEnv: dsn}
	code, stdout, stderr := runWithEnv(env, "recompute", "--batch", "1")
	if code != exitOK || !strings.Contains(stdout, "re-derived 1 connections and 1 observations") {
		t.Fatalf("recompute: exit %d\n%s%s", code, stdout, stderr)
	}
	want := g.Values("expect-tls.txt")
	res, err := store.Search(ctx, storage.SearchJA4, want["ja4"])
	if err != nil || res.Observations != 1 {
		t.Fatalf("search by the recomputed JA4 %s: %+v, %v", want["ja4"], res, err)
	}
	rec, err := store.Visit(ctx, visit.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := rec.Connections[0].Derived; d.Version != fingerprint.AlgorithmVersion || d.TLS.JA3Hash != want["ja3_hash"] {
		t.Fatalf("connection derived %+v, want ja3 %s", d, want["ja3_hash"])
	}
	r := &fingerprint.HTTPRequest{Version: fingerprint.HTTP11, Method: "GET", Headers: headers}
	if d := rec.Observations[0].Derived; d.JA4H != fingerprint.JA4HAll(r)[fingerprint.JA4HHashed] {
		t.Fatalf("observation derived %+v", d)
	}
	// Nothing is stale any more; a second run re-derives nothing.
	if code, stdout, _ := runWithEnv(env, "recompute"); code != exitOK || !strings.Contains(stdout, "re-derived 0 connections and 0 observations") {
		t.Fatalf("second run: %d %s", code, stdout)
	}

	code, stdout, stderr = runWithEnv(env, "export")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitOK || len(lines) < 2 || !strings.Contains(strings.ToLower(lines[0]), "licen") {
		t.Fatalf("export: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, l := range lines[1:] {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("export line not JSON: %v: %s", err, l)
		}
	}
	// The visit is there with its recomputed values, and without its id
	// (the visitor's token to delete it).
	if len(lines) != 2 || !strings.Contains(lines[1], want["ja4"]) || strings.Contains(stdout, string(visit.ID)) {
		t.Fatalf("export: %s", stdout)
	}
}

func TestDatasetCommandsNeedDatabaseURL(t *testing.T) {
	for _, cmd := range []string{"recompute", "export"} {
		code, _, stderr := runWithEnv(nil, cmd)
		if code != exitUsage || !strings.Contains(stderr, "DATABASE_URL is not set") {
			t.Errorf("%s: exit %d, %q", cmd, code, stderr)
		}
	}
}
