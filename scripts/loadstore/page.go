package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/storage"
	"github.com/fpwork/fp/web"
)

// page is the fp page as far as storage goes: each request to one of the
// page's context paths becomes an observation, built from the request as
// the client sent it (its HTTP/1 head, recorded by capture), derived
// (DeriveRequest) and redacted (Redact), and handed to the Writer; the
// answer, a 2 kB HTML page, never waits for the database.
type page struct {
	writer *storage.Writer
	visit  *chromium // the connection a Chromium sends (the load is plain HTTP/1.1)
	random io.Reader
	now    func() time.Time
	html   []byte
	log    *slog.Logger
	// fleetSecret is FP_STORAGE_SECRET: a visit whose requests carry it in
	// the fleet cookie is the operator's own.
	fleetSecret string
	ready       http.Handler // /readyz
}

// pageConnKey is the context key of a connection's row.
type pageConnKey struct{}

// connContext records each connection: capture's recorder of its
// requests, and its storage row.
func (p *page) connContext(ctx context.Context, c net.Conn) context.Context {
	ctx = capture.ConnContext(ctx, c)
	id, err := storage.NewID(p.random)
	if err != nil {
		p.log.Error("loadstore: page: connection id", "err", err)
		return ctx
	}
	return context.WithValue(ctx, pageConnKey{}, p.visit.connection(storage.ConnectionID(id), p.now(), false))
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/readyz" && p.ready != nil {
		p.ready.ServeHTTP(w, r)
		return
	}
	kind, ok := kindOfPath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	visit, fresh := p.visitOf(r)
	if b := p.observe(r, kind, visit, body); b != nil {
		p.writer.Enqueue(b) // a drop is counted by the writer; the page is served anyway
	}
	if fresh {
		http.SetCookie(w, &http.Cookie{Name: visitCookie, Value: string(visit), Path: "/", HttpOnly: true,
			SameSite: http.SameSiteLaxMode})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(p.html)
}

// visitOf is the visit of the request's cookie, or a new one.
func (p *page) visitOf(r *http.Request) (storage.VisitID, bool) {
	if c, err := r.Cookie(visitCookie); err == nil {
		if id, err := storage.ParseID(c.Value); err == nil {
			return storage.VisitID(id), false
		}
	}
	id, err := storage.NewID(p.random)
	if err != nil {
		return "", true
	}
	return storage.VisitID(id), true
}

// observe builds the batch of one request: its observation, with its
// visit and connection rows (skipped by the store when already stored), so
// that each batch stands alone and a dropped one never fails another.
func (p *page) observe(r *http.Request, kind storage.RequestKind, visit storage.VisitID, body []byte) *storage.Batch {
	conn, ok := r.Context().Value(pageConnKey{}).(*storage.Connection)
	if !ok || visit == "" {
		return nil
	}
	sent := sentRequest(r)
	id, err := storage.NewID(p.random)
	if err != nil {
		return nil
	}
	now := p.now()
	o := storage.Observation{ID: storage.ObservationID(id), VisitID: visit, ConnectionID: conn.ID, At: now, Kind: kind,
		HTTPVersion: r.Proto, Method: sent.Method, Path: r.URL.Path, UserAgent: storage.ParseUserAgent(r.UserAgent()),
		Derived: storage.DeriveRequest(sent), Headers: storage.Redact(sent.Headers)}
	if kind == storage.KindFetch && json.Valid(body) {
		o.JS = body
	}
	fleet := false
	if c, err := r.Cookie(storage.FleetCookie); err == nil {
		fleet = storage.IsFleet(c.Value, p.fleetSecret)
	}
	return &storage.Batch{Connections: []storage.Connection{*conn}, Visits: []storage.Visit{{ID: visit, Start: now, Fleet: fleet}},
		Observations: []storage.Observation{o}}
}

// sentRequest is the request as the client sent it: its HTTP/1 head as
// capture recorded it, or, when there is none, what net/http parsed
// (header order lost).
func sentRequest(r *http.Request) *fingerprint.HTTPRequest {
	if pc, ok := capture.PlainFromContext(r.Context()); ok {
		if rec, ok := pc.ClaimHTTP1(r); ok {
			return rec
		}
	}
	rec := &fingerprint.HTTPRequest{Version: fingerprint.HTTP11, Method: r.Method, Target: r.RequestURI, Proto: r.Proto}
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	rec.Headers = append(rec.Headers, fingerprint.Header{Name: "Host", Value: r.Host})
	for _, name := range names {
		for _, v := range r.Header[name] {
			rec.Headers = append(rec.Headers, fingerprint.Header{Name: name, Value: v})
		}
	}
	return rec
}

// pageHTML is a 2 kB HTML page, the size of the fp page's shell.
func pageHTML() []byte {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>fp: your fingerprint</title>" +
		"<link rel=\"stylesheet\" href=\"/static/fp.css\"><script type=\"module\" src=\"/static/fp.js\"></script></head>\n" +
		"<body><header><h1>Your browser's fingerprint</h1><nav><a href=\"/\">about</a> <a href=\"/search\">search</a></nav></header>\n<main>\n")
	rows := []string{"JA3", "JA3N", "JA4", "JA4_r", "JA4_o", "PeetPrint", "Akamai", "JA4H", "User-Agent", "HTTP version"}
	for i := 0; b.Len() < 1900; i++ {
		name := rows[i%len(rows)]
		fmt.Fprintf(&b, "<section id=\"s%d\"><h2>%s</h2><p class=\"value\" data-signal=\"%s\">computing&hellip;</p></section>\n",
			i, name, strings.ToLower(name))
	}
	b.WriteString("</main>\n<footer>Nothing is stored without your consent.</footer></body></html>\n")
	return []byte(b.String())
}

// pageStats is a line the page server prints: the writer's counters and
// the store's state, "stats" every interval and "final" after Close.
type pageStats struct {
	AtMillis     int64  `json:"at_ms"` // since the server started
	Enqueued     uint64 `json:"enqueued"`
	Written      uint64 `json:"written"`
	Dropped      uint64 `json:"dropped"`
	Queued       int    `json:"queued"`
	FailedWrites uint64 `json:"failed_writes"`
	Reachable    bool   `json:"reachable"`
	CloseErr     string `json:"close_err,omitempty"`
}

func statsOf(w *storage.Writer, since time.Time) pageStats {
	s := w.Stats()
	return pageStats{AtMillis: time.Since(since).Milliseconds(), Enqueued: s.Enqueued, Written: s.Written,
		Dropped: s.Dropped, Queued: s.Queued, FailedWrites: s.FailedWrites, Reachable: w.State().Reachable}
}

// servePageConfig is the page server's.
type servePageConfig struct {
	addr        string
	open        func(ctx context.Context) (storage.Store, error) // the store the writer writes to
	every       time.Duration                                    // between stats lines
	writer      storage.WriterOptions
	visit       *chromium
	random      io.Reader
	stdin       io.Reader // EOF stops the server
	stdout      io.Writer // "listening ADDR", then "stats {...}" lines, "final {...}"
	log         *slog.Logger
	closeWithin time.Duration // for the writer to write what is queued
	fleetSecret string        // FP_STORAGE_SECRET
}

// servePage runs the page with a Writer on the store until stdin ends,
// then stops serving, closes the writer and prints its final counters.
func servePage(ctx context.Context, cfg servePageConfig) error {
	store, err := cfg.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	w := storage.NewWriter(store, cfg.writer, cfg.log)
	p := &page{writer: w, visit: cfg.visit, random: cfg.random, now: time.Now, html: pageHTML(), log: cfg.log,
		fleetSecret: cfg.fleetSecret, ready: web.Readiness(web.ReadinessCheck{Name: "database", State: w.State})}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: p, ConnContext: p.connContext, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(cfg.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(capture.NewPlainListener(ln)) }()
	start := time.Now()
	out := bufio.NewWriter(cfg.stdout)
	fmt.Fprintln(out, "listening", ln.Addr())
	out.Flush()

	stdinDone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, cfg.stdin)
		close(stdinDone)
	}()
	tick := time.NewTicker(cfg.every)
	defer tick.Stop()
	print := func(prefix string, s pageStats) {
		b, _ := json.Marshal(s)
		fmt.Fprintf(out, "%s %s\n", prefix, b)
		out.Flush()
	}
loop:
	for {
		select {
		case <-tick.C:
			print("stats", statsOf(w, start))
		case <-stdinDone:
			break loop
		case <-ctx.Done():
			break loop
		case err := <-served:
			return fmt.Errorf("loadstore: page: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	shutdownErr := srv.Shutdown(sctx)
	cancel()
	cctx, cancel := context.WithTimeout(context.Background(), cfg.closeWithin)
	closeErr := w.Close(cctx)
	cancel()
	final := statsOf(w, start)
	if closeErr != nil {
		final.CloseErr = closeErr.Error()
	}
	print("final", final)
	if shutdownErr != nil && !errors.Is(shutdownErr, http.ErrServerClosed) {
		return shutdownErr
	}
	return nil
}
