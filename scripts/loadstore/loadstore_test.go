package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/golden"
	"github.com/fpwork/fp/storage"
)

// The inputs, from this package's directory.
const (
	testGolden   = "../../" + defaultGolden
	testProfiles = "../../" + defaultProfiles
)

func testChromium(tb testing.TB) *chromium {
	tb.Helper()
	c, err := loadChromium(testGolden, testProfiles, defaultAgent)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func seeded(name string) io.Reader {
	var seed [32]byte
	copy(seed[:], name)
	return rand.NewChaCha8(seed)
}

func TestVisitBatchIsAChromiumVisit(t *testing.T) {
	c := testChromium(t)
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	b, err := c.visitBatch(seeded(t.Name()), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Visits) != 1 || len(b.Connections) != 2 || len(b.Observations) != len(storage.Kinds()) {
		t.Fatalf("got %d visits, %d connections, %d observations", len(b.Visits), len(b.Connections), len(b.Observations))
	}
	// The connection's fingerprints are the golden's.
	g, err := golden.Read(testGolden)
	if err != nil {
		t.Fatal(err)
	}
	h2 := b.Connections[0]
	if want := g.Values("expect-tls.txt")["ja4"]; h2.Derived.TLS.JA4 != want {
		t.Errorf("JA4 %q, golden %q", h2.Derived.TLS.JA4, want)
	}
	if want := g.Values("expect-http.txt")["akamai_hash"]; h2.Derived.AkamaiHash != want {
		t.Errorf("Akamai hash %q, golden %q", h2.Derived.AkamaiHash, want)
	}
	if h2.ALPN != "h2" || len(h2.HTTP2Preface) == 0 || len(h2.Hello) < 1500 {
		t.Errorf("HTTP/2 connection: ALPN %q, preface %d bytes, hello %d bytes", h2.ALPN, len(h2.HTTP2Preface), len(h2.Hello))
	}
	if ws := b.Connections[1]; ws.ALPN != "http/1.1" || ws.HTTP2Preface != nil || ws.Derived.Akamai != "" {
		t.Errorf("websocket connection: %+v", ws)
	}
	visit := string(b.Visits[0].ID)
	for i, o := range b.Observations {
		if o.Kind != storage.Kinds()[i] || o.VisitID != b.Visits[0].ID || !o.At.Equal(now) {
			t.Errorf("observation %d: kind %s visit %s at %v", i, o.Kind, o.VisitID, o.At)
		}
		wantConn := h2.ID
		if o.Kind == storage.KindWebsocket {
			wantConn = b.Connections[1].ID
		}
		if o.ConnectionID != wantConn {
			t.Errorf("%s: on connection %s, want %s", o.Kind, o.ConnectionID, wantConn)
		}
		if o.Derived.Version != fingerprint.AlgorithmVersion || o.Derived.JA4H == "" || o.Derived.JA4HR == "" {
			t.Errorf("%s: derived %+v", o.Kind, o.Derived)
		}
		if (o.Kind == storage.KindFetch) != (o.JS != nil) {
			t.Errorf("%s: JS values %d bytes", o.Kind, len(o.JS))
		}
		if len(o.Headers) < 10 {
			t.Errorf("%s: %d headers", o.Kind, len(o.Headers))
		}
		for _, h := range o.Headers {
			if strings.Contains(h.Value, visit) || strings.Contains(h.Value, "yes") {
				t.Errorf("%s: header %s keeps a cookie value: %q", o.Kind, h.Name, h.Value)
			}
			if strings.EqualFold(h.Name, "cookie") && (!h.Redacted || h.Value != "fp_consent=; fp_visit=") {
				t.Errorf("%s: cookie stored as %+v", o.Kind, h)
			}
		}
	}
	if !json.Valid(b.Observations[1].JS) || len(b.Observations[1].JS) < 1000 {
		t.Errorf("JS values: %d bytes, valid %v", len(b.Observations[1].JS), json.Valid(b.Observations[1].JS))
	}
	// What a Chromium visit stores, raw: two 2 kB hellos, the preface,
	// five header lists of 1-2 kB, the JavaScript values.
	if n := storedSize(b); n < 12000 || n > 40000 {
		t.Errorf("a visit stores %d bytes", n)
	}
	// The HTTP/2 lists start with the golden's pseudo-header order.
	sent := c.sentHeaders(storage.KindNavigate, true, "fp.example", b.Visits[0].ID)
	var pseudo []string
	for _, h := range sent[:4] {
		pseudo = append(pseudo, h.Name)
	}
	if !slices.Equal(pseudo, c.pseudo) || len(c.pseudo) != 4 {
		t.Errorf("pseudo-headers %v, golden %v", pseudo, c.pseudo)
	}
}

func TestLoadChromiumErrors(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		golden, profiles, agent string
	}{
		{"no golden", "testdata/none.txtar", testProfiles, defaultAgent},
		{"not HTTP/2", "../../fingerprint/testdata/golden/curl-7.88-h1.txtar", testProfiles, defaultAgent},
		{"no profile", testGolden, testProfiles, "NoSuchBrowser/1.0"},
	} {
		if _, err := loadChromium(tc.golden, tc.profiles, tc.agent); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestRequestPaths(t *testing.T) {
	for _, k := range storage.Kinds() {
		_, path := requestLine(k)
		if got, ok := kindOfPath(path); !ok || got != k {
			t.Errorf("%s: path %s gives %s %v", k, path, got, ok)
		}
	}
	if _, ok := kindOfPath("/favicon.ico"); ok {
		t.Error("/favicon.ico taken for a context")
	}
}

// startTestPage serves the page on a loopback port with a Writer on the
// memory store.
func startTestPage(t *testing.T) (*page, *storage.Memory, string) {
	t.Helper()
	mem := storage.NewMemory()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := storage.NewWriter(mem, storage.WriterOptions{MaxDelay: time.Millisecond, PingEvery: -1}, log)
	p := &page{writer: w, visit: testChromium(t), random: seeded(t.Name()), now: time.Now, html: pageHTML(), log: log}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ConnContext: p.connContext, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(capture.NewPlainListener(ln))
	t.Cleanup(func() {
		srv.Close()
		mem.Close()
	})
	return p, mem, ln.Addr().String()
}

func TestPageStoresEachContextAsSent(t *testing.T) {
	p, mem, addr := startTestPage(t)
	load := &pageLoad{addr: addr, timeout: 5 * time.Second, visit: p.visit}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	visit := storage.VisitID(strings.Repeat("ab", 16))
	for _, kind := range storage.Kinds() {
		n, closing, err := load.roundTrip(conn, br, load.appendRequest(nil, kind, visit), time.Now())
		if err != nil || closing {
			t.Fatalf("%s: %v (closing %v)", kind, err, closing)
		}
		if n < 1900 || n > 2300 {
			t.Errorf("%s: a page of %d bytes", kind, n)
		}
	}
	ctx := t.Context()
	if err := p.writer.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := p.writer.Stats(); s.Enqueued != 5 || s.Written != 5 {
		t.Errorf("writer: %+v", s)
	}
	rec, err := mem.Visit(ctx, visit)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Observations) != 5 || len(rec.Connections) != 1 {
		t.Fatalf("%d observations on %d connections", len(rec.Observations), len(rec.Connections))
	}
	byKind := map[storage.RequestKind]storage.Observation{}
	for _, o := range rec.Observations {
		byKind[o.Kind] = o
	}
	for _, kind := range storage.Kinds() {
		o, ok := byKind[kind]
		if !ok {
			t.Errorf("no %s observation", kind)
			continue
		}
		// Stored in Chrome's wire order and case.
		var got, want []string
		for _, h := range o.Headers {
			got = append(got, h.Name)
		}
		for _, h := range p.visit.sentHeaders(kind, false, addr, visit) {
			want = append(want, h.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: headers stored\n%v\nsent\n%v", kind, got, want)
		}
		for _, h := range o.Headers {
			if strings.Contains(h.Value, string(visit)) {
				t.Errorf("%s: %s keeps the visit cookie's value", kind, h.Name)
			}
		}
		if o.HTTPVersion != "HTTP/1.1" || o.Derived.JA4H == "" || o.UserAgent.Browser != "Chrome" {
			t.Errorf("%s: %s, JA4H %q, agent %+v", kind, o.HTTPVersion, o.Derived.JA4H, o.UserAgent)
		}
	}
	if js := byKind[storage.KindFetch].JS; !bytes.Equal(js, p.visit.js) {
		t.Errorf("fetch: JS values %.60q, sent %.60q", js, p.visit.js)
	}
	if c := rec.Connections[0]; !bytes.Equal(c.Hello, p.visit.hello) || c.ALPN != "http/1.1" {
		t.Errorf("connection: ALPN %q, hello %d bytes", c.ALPN, len(c.Hello))
	}
}

func TestPageNewVisitGetsCookie(t *testing.T) {
	_, _, addr := startTestPage(t)
	resp, err := http.Get("http://" + addr + "/report")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var found bool
	for _, c := range resp.Cookies() {
		if c.Name == visitCookie {
			_, err := storage.ParseID(c.Value)
			found = err == nil
		}
	}
	if !found {
		t.Errorf("no visit cookie: %v", resp.Header["Set-Cookie"])
	}
	resp, err = http.Get("http://" + addr + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/favicon.ico: %s", resp.Status)
	}
}

func TestPageLoadRunsAtItsRate(t *testing.T) {
	p, _, addr := startTestPage(t)
	load := &pageLoad{addr: addr, rate: 200, duration: 500 * time.Millisecond, conns: 4, timeout: 5 * time.Second,
		visit: p.visit, random: seeded(t.Name())}
	res := load.run(t.Context(), time.Now())
	if res.due != 100 || res.completed != 100 || res.failed != 0 || len(res.latency) != 100 {
		t.Errorf("due %d completed %d failed %d (%s), %d latencies", res.due, res.completed, res.failed, res.failureList(), len(res.latency))
	}
	if err := p.writer.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := p.writer.Stats(); s.Written != 100 {
		t.Errorf("writer: %+v", s)
	}
}

func TestPageLoadCountsFailures(t *testing.T) {
	c := testChromium(t)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	load := &pageLoad{addr: srv.Listener.Addr().String(), rate: 100, duration: 100 * time.Millisecond, conns: 1,
		timeout: 5 * time.Second, visit: c, random: seeded(t.Name())}
	res := load.run(t.Context(), time.Now())
	if res.due != 10 || res.completed != 5 || res.failed != 5 || res.failures["status 500"] != 5 {
		t.Errorf("due %d completed %d failed %d: %v", res.due, res.completed, res.failed, res.failures)
	}

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	load.addr = closed
	res = load.run(t.Context(), time.Now())
	if res.failed != res.due || res.due == 0 || len(res.latency) != 0 {
		t.Errorf("closed port: due %d failed %d, %d latencies", res.due, res.failed, len(res.latency))
	}
}

func TestServePageProtocol(t *testing.T) {
	c := testChromium(t)
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	mem := storage.NewMemory()
	cfg := servePageConfig{addr: "127.0.0.1:0", every: 10 * time.Millisecond, visit: c, random: seeded(t.Name()),
		open:   func(context.Context) (storage.Store, error) { return mem, nil },
		writer: storage.WriterOptions{MaxDelay: time.Millisecond}, stdin: stdinR, stdout: stdoutW,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), closeWithin: 10 * time.Second}
	served := make(chan error, 1)
	go func() {
		served <- servePage(t.Context(), cfg)
		stdoutW.Close()
	}()
	srv := &pageServer{stdin: stdinW, done: make(chan struct{})}
	ready := make(chan string, 1)
	go srv.read(stdoutR, ready, io.Discard)
	addr, ok := <-ready
	if !ok {
		t.Fatal("no listening line")
	}
	load := &pageLoad{addr: addr, rate: 100, duration: 200 * time.Millisecond, conns: 2, timeout: 5 * time.Second,
		visit: c, random: seeded(t.Name())}
	if res := load.run(t.Context(), time.Now()); res.completed != 20 {
		t.Fatalf("%d of %d completed: %s", res.completed, res.due, res.failureList())
	}
	if !srv.waitIdle(time.Now(), 10*time.Second) {
		t.Error("the writer's queue never emptied")
	}
	stdinW.Close()
	<-srv.done
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if srv.final == nil {
		t.Fatal("no final line")
	}
	if f := *srv.final; f.Enqueued != 20 || f.Written != 20 || f.Dropped != 0 || f.Queued != 0 || !f.Reachable {
		t.Errorf("final: %+v", f)
	}
	if _, ok := srv.latest(); !ok {
		t.Error("no stats line")
	}
}

func TestResumedAfter(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	s := &pageServer{timeline: []timedStats{
		{at: t0, stats: pageStats{Written: 10}},
		{at: t0.Add(time.Second), stats: pageStats{Written: 10}},
		{at: t0.Add(2 * time.Second), stats: pageStats{Written: 10}},
		{at: t0.Add(3 * time.Second), stats: pageStats{Written: 500}},
	}}
	after, base, ok := s.resumedAfter(t0.Add(1500 * time.Millisecond))
	if !ok || after != 1500*time.Millisecond || base != 10 {
		t.Errorf("got %v %d %v", after, base, ok)
	}
	if _, _, ok := s.resumedAfter(t0.Add(3 * time.Second)); ok {
		t.Error("resumed with no line after")
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := percentilesOf(ds)
	if p.n != 100 || p.p50 != 50*time.Millisecond || p.p90 != 90*time.Millisecond || p.p99 != 99*time.Millisecond ||
		p.p999 != 100*time.Millisecond || p.max != 100*time.Millisecond {
		t.Errorf("got %+v", p)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("percentilesOf sorted its input")
	}
	if (percentilesOf(nil) != percentiles{}) {
		t.Error("no values: not zero")
	}
}

func TestSlowestWindow(t *testing.T) {
	at := func(sec int, written uint64) progressSample {
		return progressSample{at: time.Duration(sec) * time.Second, stats: storage.WriterStats{Written: written}}
	}
	// 100/s, except 20 s in which only 500 were written.
	samples := []progressSample{at(0, 0), at(10, 1000), at(20, 2000), at(30, 2500), at(40, 3000), at(50, 4000)}
	if got := slowestWindow(samples, 10*time.Second); got != 50 {
		t.Errorf("got %v, want 50", got)
	}
	if got := slowestWindow(samples[:2], 20*time.Second); got != 100 {
		t.Errorf("shorter than the window: got %v, want the run's 100", got)
	}
}

func TestReadProcStat(t *testing.T) {
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if st.ppid != os.Getppid() {
		t.Errorf("ppid %d, want %d", st.ppid, os.Getppid())
	}
	busy, cpus, err := machineCPU()
	if err != nil || cpus < 1 || busy <= 0 {
		t.Errorf("machine: %v busy on %d CPUs: %v", busy, cpus, err)
	}
}

func TestTableVerdicts(t *testing.T) {
	ok := &ingestResult{window: time.Minute, writtenRate: 5200, enqueuedRate: 5500, enqueued: 330000, written: 330000, stored: 330000}
	if failed(ingestRows(ok, 5000, time.Minute)) {
		t.Errorf("a good run failed: %+v", ingestRows(ok, 5000, time.Minute))
	}
	for name, change := range map[string]func(r *ingestResult){
		"slow":      func(r *ingestResult) { r.writtenRate = 4900 },
		"drops":     func(r *ingestResult) { r.dropped, r.written = 5, r.written-5 },
		"not all":   func(r *ingestResult) { r.stored-- },
		"too short": func(r *ingestResult) { r.window = 30 * time.Second },
	} {
		r := *ok
		change(&r)
		if !failed(ingestRows(&r, 5000, time.Minute)) {
			t.Errorf("%s: no FAIL", name)
		}
	}

	run := func(side string, p99 time.Duration, failedRequests int, final pageStats, stored int, resumed bool) *pageRunResult {
		lat := make([]time.Duration, 100)
		for i := range lat {
			lat[i] = time.Millisecond
		}
		lat[99], lat[98] = p99, p99
		return &pageRunResult{side: side, round: 1, load: &loadResult{due: 100, failed: failedRequests, latency: lat, elapsed: time.Second},
			final: final, stored: stored, resumed: resumed}
	}
	good := pageStats{Enqueued: 100, Written: 60, Dropped: 40}
	up := pageStats{Enqueued: 100, Written: 100}
	if rows := pageRows([]*pageRunResult{run("A", 10*time.Millisecond, 0, up, 100, false),
		run("B", 14*time.Millisecond, 0, good, 60, true)}); failed(rows) {
		t.Errorf("a good pair failed: %v", rows)
	}
	for name, b := range map[string]*pageRunResult{
		"slower":     run("B", 16*time.Millisecond, 0, good, 60, true),
		"failed":     run("B", 10*time.Millisecond, 1, good, 60, true),
		"not stored": run("B", 10*time.Millisecond, 0, good, 59, true),
		"lost":       run("B", 10*time.Millisecond, 0, pageStats{Enqueued: 100, Written: 60, Dropped: 39}, 60, true),
		"no resume":  run("B", 10*time.Millisecond, 0, good, 60, false),
	} {
		if !failed(pageRows([]*pageRunResult{run("A", 10*time.Millisecond, 0, up, 100, false), b})) {
			t.Errorf("%s: no FAIL", name)
		}
	}

	// A round in which other programs loaded the machine is left out of
	// the verdict, unless no round was quiet.
	noisy := func(r *pageRunResult) *pageRunResult {
		r.machineBusy = r.load.elapsed // a whole core
		return r
	}
	quietPair := []*pageRunResult{run("A", 10*time.Millisecond, 0, up, 100, false), run("B", 12*time.Millisecond, 0, good, 60, true)}
	noisyPair := []*pageRunResult{noisy(run("A", 10*time.Millisecond, 0, up, 100, false)), noisy(run("B", 90*time.Millisecond, 0, good, 60, true))}
	if rows := pageRows(append(slices.Clone(quietPair), noisyPair...)); failed(rows) {
		t.Errorf("a noisy round counted: %v", rows)
	}
	if !failed(pageRows(noisyPair)) {
		t.Error("no quiet round: the noisy one not judged")
	}
}

func TestCount(t *testing.T) {
	for in, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -5000: "-5,000"} {
		if got := count(in); got != want {
			t.Errorf("count(%d) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkVisitBatch builds one Chromium visit as the ingest run does:
// five observations derived and redacted, two connections, fresh ids.
func BenchmarkVisitBatch(b *testing.B) {
	c := testChromium(b)
	random := seeded(b.Name())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.visitBatch(random, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(storage.Kinds()))/b.Elapsed().Seconds(), "observations/s")
}

// BenchmarkPageRequest is one request to the page (its head recorded by
// capture, the observation built, derived, redacted and enqueued on a
// Writer to the memory store) against the baseline of the same answer
// from a handler that stores nothing.
func BenchmarkPageRequest(b *testing.B) {
	c := testChromium(b)
	html := pageHTML()
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(html)
	})
	for _, tc := range []struct {
		name  string
		serve func(b *testing.B) string
	}{
		{"baseline", func(b *testing.B) string {
			srv := httptest.NewServer(plain)
			b.Cleanup(srv.Close)
			return srv.Listener.Addr().String()
		}},
		{"page", func(b *testing.B) string {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			mem := storage.NewMemory()
			w := storage.NewWriter(mem, storage.WriterOptions{PingEvery: -1}, log)
			p := &page{writer: w, visit: c, random: seeded(b.Name()), now: time.Now, html: html, log: log}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: p, ConnContext: p.connContext}
			go srv.Serve(capture.NewPlainListener(ln))
			b.Cleanup(func() {
				srv.Close()
				w.Close(context.Background())
				mem.Close()
			})
			return ln.Addr().String()
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			addr := tc.serve(b)
			load := &pageLoad{addr: addr, timeout: 5 * time.Second, visit: c}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			visit := storage.VisitID(strings.Repeat("cd", 16))
			kinds := storage.Kinds()
			var buf []byte
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				buf = load.appendRequest(buf[:0], kinds[i%len(kinds)], visit)
				if _, _, err := load.roundTrip(conn, br, buf, time.Now()); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
