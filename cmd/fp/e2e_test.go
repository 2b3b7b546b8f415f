package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/chromiumtest"
	"github.com/fpwork/fp/internal/oracle"
	"github.com/fpwork/fp/internal/pgtest"
	"github.com/fpwork/fp/storage"
)

// Bounds of the browser test's waits (each is a wait for a condition).
const (
	pageTimeout   = 60 * time.Second // a page reaching a state
	storedTimeout = 30 * time.Second // the writer storing a visit
	siteTimeout   = 60 * time.Second // the site starting
)

// TestWebsiteInChromium drives a real headless Chromium through the site
// (docs/fp-site.md), first on the HTTPS listener (HTTP/2), then on the
// HTTP/1.1-only one: consent, the report with its fetch, XHR and websocket
// contexts, the POST and the GET form. Both visits are then read back from
// PostgreSQL and held against tools that share no code with ours, on a
// tshark capture of the site's ports decrypted with the site's key log:
//
//   - every context is stored, over the listener's protocol and ALPN;
//   - every observation's headers (names in order, values as redacted) are
//     those of a request with its method and path on its connection on the
//     wire (connections matched by their ClientHello's random);
//   - every connection's JA3 is tshark's, its JA4 read-tls-client-hello's
//     for the ClientHello bytes captured, its HTTP/2 SETTINGS and
//     WINDOW_UPDATE tshark's;
//   - the fetch context carries the JavaScript values, whose userAgent is
//     the User-Agent header;
//   - a Critical-CH retry of the navigation is marked as one;
//   - no table holds the client's address or a cookie value.
//
// A screenshot of each report goes to FP_ARTIFACTS (default: fp-artifacts
// under the temporary directory). It needs root and tshark, node and the
// npm oracle (skipped without, failed when CI is set), Chromium
// (chromiumtest) and PostgreSQL (pgtest).
func TestWebsiteInChromium(t *testing.T) {
	requireOracles(t)
	dsn := pgtest.Schema(t, pgtest.Start(t))
	dir := t.TempDir()
	keyLog := filepath.Join(dir, "site.keylog")
	addrs := runSite(t, dsn, "--keylog", keyLog)
	httpsPort, h1Port := portOf(t, addrs.https), portOf(t, addrs.h1)

	snif, err := oracle.StartCapture(dir, addrs.https, httpsPort, h1Port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snif.Stop() })
	browser := chromiumtest.Start(t)

	h2Base, h1Base := "https://127.0.0.1:"+httpsPort, "https://127.0.0.1:"+h1Port
	h2Visit := browseVisit(t, browser, h2Base, true, "report-h2")
	h1Visit := browseVisit(t, browser, h1Base, false, "report-h1")
	cookies := browserCookies(t, browser, h2Base+"/", h1Base+"/")

	if err := snif.Stop(); err != nil {
		t.Fatal(err)
	}
	capture, err := oracle.Decode(snif.File, oracle.DecodeOptions{TLSPorts: []string{httpsPort, h1Port}, KeyLog: keyLog})
	if err != nil {
		t.Fatal(err)
	}
	wire, err := newWireIndex(snif.File, capture)
	if err != nil {
		t.Fatal(err)
	}

	store, err := storage.NewPostgres(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, v := range []struct {
		name, id, port, version, alpn string
	}{
		{"h2", h2Visit, httpsPort, "HTTP/2", "h2"},
		{"h1", h1Visit, h1Port, "HTTP/1.1", "http/1.1"},
	} {
		t.Run(v.name, func(t *testing.T) {
			rec := waitStored(t, store, v.id)
			checkVisit(t, rec, v.version, v.alpn)
			checkAgainstWire(t, rec, wire)
			checkCriticalCH(t, rec, capture, v.port)
		})
	}
	checkNoSecrets(t, dsn, cookies, []string{httpsPort, h1Port})
}

// TestAutoVisitInChromium opens the device farm's one URL, the report in
// auto mode with consent in the query, and clicks nothing: the page's
// script sends every context, forms included, and the stored visit is
// complete.
func TestAutoVisitInChromium(t *testing.T) {
	dsn := pgtest.Schema(t, pgtest.Start(t))
	addrs := runSite(t, dsn)
	browser := chromiumtest.Start(t)
	base := "https://127.0.0.1:" + portOf(t, addrs.https)

	resp, err := chromedp.Run(browser, chromedp.NavigateResponse(base+"/report?auto=1&consent=yes"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 {
		t.Fatalf("GET /report?auto=1&consent=yes: status %d", resp.Status)
	}
	// The page submits the POST form, comes back, submits the GET form and
	// comes back: the wait spans the navigations.
	// On the page the GET form leaves, the live events can mark the visit
	// complete before it unloads: wait for a page whose script is idle too.
	waitPage(t, browser, "every context of the auto visit",
		`document.getElementById('progress')?.dataset.complete === 'true' && document.getElementById('report')?.dataset.script === 'idle'`)
	id := visitID(t, browser)
	saveScreenshot(t, browser, "report-auto")

	store, err := storage.NewPostgres(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rec := waitStored(t, store, id)
	checkVisit(t, rec, "HTTP/2", "h2")
	checkCriticalCH(t, rec, nil, "")
}

// requireOracles skips t when tshark, node, the npm oracle or the right to
// capture on lo is missing, or fails it when CI is set.
func requireOracles(t *testing.T) {
	t.Helper()
	for _, err := range []error{oracle.CanCapture(), oracle.Missing()} {
		if err == nil {
			continue
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (required: CI is set)", err)
		}
		t.Skip(err)
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		t.Fatalf("listener address %q: %v", addr, err)
	}
	return port
}

// browseVisit goes through the site at base as a visitor does and returns
// the visit's id: the consent page and its "store" button when consent is
// set (else the report directly: the consent cookie is the host's, whatever
// the port), the three script contexts, the POST form, the GET form, until
// the page says every context is seen. It saves a screenshot as name.
func browseVisit(t *testing.T, ctx context.Context, base string, consent bool, name string) string {
	t.Helper()
	if consent {
		navigate(t, ctx, base+"/", "/")
		if err := click(ctx, "consent-store", "/report", ""); err != nil {
			// Reported, and the visit goes on with consent in the URL so the
			// other checks still run.
			t.Errorf("the consent page's store button: %v", err)
			navigate(t, ctx, base+"/report?consent=yes", "/report")
		}
	} else {
		navigate(t, ctx, base+"/report", "/report")
	}
	waitPage(t, ctx, "the fetch, XHR and websocket contexts",
		`['fetch', 'xhr', 'websocket'].every((k) => document.getElementById('ctx-' + k)?.dataset.seen === 'true')`)
	id := visitID(t, ctx)
	if consented, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('report').dataset.consent`)); err != nil || consented != "yes" {
		t.Fatalf("%s: #report data-consent %q (%v), want yes", base, consented, err)
	}
	for _, button := range []string{"form-post-submit", "form-get-submit"} {
		if err := click(ctx, button, "/report", "visit="+id); err != nil {
			t.Fatal(err)
		}
	}
	waitPage(t, ctx, "every context", `document.getElementById('progress')?.dataset.complete === 'true'`)
	saveScreenshot(t, ctx, name)
	return id
}

// navigate opens u and checks that the page is wantPath, answered 200.
func navigate(t *testing.T, ctx context.Context, u, wantPath string) {
	t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		t.Fatalf("navigate to %s: %v", u, err)
	}
	if err := checkResponse(resp, wantPath, ""); err != nil {
		t.Fatalf("navigate to %s: %v", u, err)
	}
}

// click clicks the button with the id and waits for the page it leads to
// (after redirects), whose path must be wantPath and query hold wantQuery.
func click(ctx context.Context, id, wantPath, wantQuery string) error {
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		return fmt.Errorf("click #%s: %w\n%s", id, err, pageState(ctx))
	}
	if err := checkResponse(resp, wantPath, wantQuery); err != nil {
		return fmt.Errorf("click #%s: %w", id, err)
	}
	return nil
}

func checkResponse(resp *network.Response, wantPath, wantQuery string) error {
	if resp == nil {
		return errors.New("no response")
	}
	u, err := url.Parse(resp.URL)
	if err != nil || resp.Status != 200 || u.Path != wantPath || !strings.Contains(u.RawQuery, wantQuery) {
		return fmt.Errorf("landed on %s with status %d %s, want %s (query with %q) and 200", resp.URL, resp.Status, resp.StatusText, wantPath, wantQuery)
	}
	return nil
}

// waitPage waits until the JavaScript expression is true in the tab,
// across navigations (a poll ends with its page, and starts again in the
// next one).
func waitPage(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(pageTimeout)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if errors.Is(err, chromedp.ErrPollingTimeout) || ctx.Err() != nil || time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v\n%s", what, err, pageState(ctx))
		}
	}
}

// pageState describes the page for a failure message.
func pageState(ctx context.Context) string {
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		url: location.href,
		done: document.getElementById('report')?.dataset.done,
		complete: document.getElementById('progress')?.dataset.complete,
		seen: Array.from(document.querySelectorAll('section[id^="ctx-"]'), (s) => s.id + '=' + s.dataset.seen),
		log: document.getElementById('script-log')?.textContent,
	})`))
	if err != nil {
		return "page state unknown: " + err.Error()
	}
	return "page state: " + state
}

func visitID(t *testing.T, ctx context.Context) string {
	t.Helper()
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('report').dataset.visit`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := storage.ParseID(id); err != nil {
		t.Fatalf("#report data-visit: %v", err)
	}
	return id
}

// saveScreenshot writes a full-page PNG of the tab to the artifacts
// directory: FP_ARTIFACTS, or fp-artifacts under the temporary directory.
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("FP_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "fp-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, t.Name()+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// browserCookies returns the browser's cookies for the urls.
func browserCookies(t *testing.T, ctx context.Context, urls ...string) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range res.Cookies {
		names[c.Name] = true
	}
	if !names["fp_consent"] || !names["fp_visits"] {
		t.Fatalf("the browser holds cookies %v, want fp_consent and fp_visits", names)
	}
	return res.Cookies
}

// waitStored polls the store until the visit has every context (the site
// writes asynchronously) and returns it.
func waitStored(t *testing.T, store *storage.Postgres, id string) *storage.VisitRecord {
	t.Helper()
	deadline := time.Now().Add(storedTimeout)
	for {
		rec, err := store.Visit(context.Background(), storage.VisitID(id))
		var missing []string
		if err == nil {
			missing = missingContexts(rec)
			if len(missing) == 0 {
				return rec
			}
		} else if !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("visit %s: after %v the store lacks %v (err %v)", id, storedTimeout, missing, err)
		}
		time.Sleep(100 * time.Millisecond) // the writer has no event to wait on
	}
}

// missingContexts lists the contexts a complete visit has and rec lacks.
func missingContexts(rec *storage.VisitRecord) []string {
	have := map[string]bool{}
	for _, o := range rec.Observations {
		have[contextName(o)] = true
	}
	var missing []string
	for _, c := range []string{"navigate", "fetch", "xhr", "websocket", "form POST", "form GET"} {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	return missing
}

// contextName names an observation's context: its kind, and for a form its
// method.
func contextName(o storage.Observation) string {
	if o.Kind == storage.KindForm {
		return "form " + o.Method
	}
	return string(o.Kind)
}

// checkVisit checks what the store holds of a visit without the wire:
// every context stored once (the navigation possibly twice, see
// checkCriticalCH) over the listener's HTTP version and ALPN, each on a
// stored connection, and the fetch context's JavaScript values.
func checkVisit(t *testing.T, rec *storage.VisitRecord, version, alpn string) {
	t.Helper()
	conns := map[storage.ConnectionID]storage.Connection{}
	for _, c := range rec.Connections {
		conns[c.ID] = c
	}
	count := map[string]int{}
	for _, o := range rec.Observations {
		name := contextName(o)
		count[name]++
		wantVersion, wantALPN := version, alpn
		if o.Kind == storage.KindWebsocket && alpn == "h2" && o.HTTPVersion == "HTTP/1.1" {
			// Chromium opens websockets over HTTP/2 (RFC 8441) only where
			// the server's SETTINGS enable extended CONNECT; else over a
			// connection of their own, HTTP/1.1.
			t.Logf("websocket: over HTTP/1.1 on a connection of its own (the site does not enable HTTP/2 extended CONNECT)")
			wantVersion, wantALPN = "HTTP/1.1", "http/1.1"
		}
		if o.HTTPVersion != wantVersion {
			t.Errorf("%s: stored over %q, want %q", name, o.HTTPVersion, wantVersion)
		}
		c, ok := conns[o.ConnectionID]
		if !ok {
			t.Errorf("%s: its connection %s is not stored", name, o.ConnectionID)
			continue
		}
		if c.ALPN != wantALPN {
			t.Errorf("%s: connection ALPN %q, want %q", name, c.ALPN, wantALPN)
		}
	}
	for name, n := range count {
		if n != 1 && !(name == "navigate" && n == 2) {
			t.Errorf("%s stored %d times", name, n)
		}
	}
	for _, o := range rec.Observations {
		if o.Kind != storage.KindFetch {
			if len(o.JS) != 0 {
				t.Errorf("%s carries JavaScript values: %.200s", contextName(o), o.JS)
			}
			continue
		}
		var js struct {
			UserAgent string `json:"userAgent"`
		}
		if err := json.Unmarshal(o.JS, &js); err != nil || len(o.JS) < 3 {
			t.Errorf("fetch: JavaScript values %q: %v", o.JS, err)
			continue
		}
		if ua := headerValue(o.Headers, "user-agent"); js.UserAgent == "" || js.UserAgent != ua {
			t.Errorf("fetch: navigator.userAgent %q, User-Agent header %q", js.UserAgent, ua)
		}
	}
}

func headerValue(hs []storage.StoredHeader, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// wireIndex finds a stored connection in the capture.
type wireIndex struct {
	pcap     string
	byRandom map[string]*oracle.Conn // ClientHello random (hex) → connection
	ja4      map[string]string       // tcp.stream → read-tls-client-hello's JA4
}

func newWireIndex(pcap string, capture *oracle.Capture) (*wireIndex, error) {
	var tlsConns []*oracle.Conn
	for _, c := range capture.Conns {
		if c.TLS && len(c.JA3) > 0 {
			tlsConns = append(tlsConns, c)
		}
	}
	sent, err := oracle.ClientBytes(pcap, tlsConns)
	if err != nil {
		return nil, err
	}
	w := &wireIndex{pcap: pcap, byRandom: map[string]*oracle.Conn{}}
	for _, c := range tlsConns {
		ch, err := fingerprint.ParseClientHello(sent[c.Stream])
		if err != nil {
			return nil, fmt.Errorf("the ClientHello of tcp.stream %s: %w", c.Stream, err)
		}
		w.byRandom[hex.EncodeToString(ch.Random)] = c
	}
	if w.ja4, err = oracle.JA4(pcap, tlsConns); err != nil {
		return nil, err
	}
	return w, nil
}

// conn returns the captured connection with the stored one's ClientHello.
func (w *wireIndex) conn(c storage.Connection) (*oracle.Conn, error) {
	ch, err := fingerprint.ParseClientHello(c.Hello)
	if err != nil {
		return nil, fmt.Errorf("connection %s: its stored hello: %w", c.ID, err)
	}
	wc := w.byRandom[hex.EncodeToString(ch.Random)]
	if wc == nil {
		return nil, fmt.Errorf("connection %s: no connection in the capture has its ClientHello random", c.ID)
	}
	return wc, nil
}

// checkAgainstWire holds every stored connection and observation of rec
// against the capture.
func checkAgainstWire(t *testing.T, rec *storage.VisitRecord, w *wireIndex) {
	t.Helper()
	wireOf := map[storage.ConnectionID]*oracle.Conn{}
	for _, c := range rec.Connections {
		wc, err := w.conn(c)
		if err != nil {
			t.Error(err)
			continue
		}
		wireOf[c.ID] = wc
		tlsFP := c.Derived.TLS
		if len(wc.JA3) != 1 || tlsFP.JA3Hash != wc.JA3[0] || tlsFP.JA3 != wc.JA3Full[0] {
			t.Errorf("connection %s (tcp.stream %s): JA3 stored %s (%s), tshark %v (%v)", c.ID, wc.Stream, tlsFP.JA3Hash, tlsFP.JA3, wc.JA3, wc.JA3Full)
		}
		if want := w.ja4[wc.Stream]; tlsFP.JA4 == "" || tlsFP.JA4 != want {
			t.Errorf("connection %s (tcp.stream %s): JA4 stored %q, read-tls-client-hello %q", c.ID, wc.Stream, tlsFP.JA4, want)
		}
		if err := checkHTTP2Preface(c, wc); err != nil {
			t.Errorf("connection %s (tcp.stream %s): %v", c.ID, wc.Stream, err)
		}
		t.Logf("connection on tcp.stream %-3s ALPN %-8s JA4 %s JA3 %s (HTTP/2 preface %d bytes)", wc.Stream, c.ALPN, tlsFP.JA4, tlsFP.JA3Hash, len(c.HTTP2Preface))
	}
	for _, o := range rec.Observations {
		wc := wireOf[o.ConnectionID]
		if wc == nil {
			continue // reported above, or by checkVisit
		}
		if err := matchOnWire(o, wc); err != nil {
			t.Errorf("%s %s %s (tcp.stream %s): %v", contextName(o), o.Method, o.Path, wc.Stream, err)
			continue
		}
		t.Logf("%-9s %-7s %-12s %s retry=%-5v on tcp.stream %-3s: %d headers as on the wire", contextName(o), o.Method, o.Path, o.HTTPVersion, o.Retry, wc.Stream, len(o.Headers))
	}
}

// checkHTTP2Preface compares the stored HTTP/2 preface's SETTINGS and
// connection WINDOW_UPDATE with tshark's frames; an HTTP/1 connection must
// have none.
func checkHTTP2Preface(c storage.Connection, wc *oracle.Conn) error {
	if len(wc.HTTP2) == 0 {
		if len(c.HTTP2Preface) != 0 {
			return fmt.Errorf("tshark decoded no HTTP/2, the store holds a %d-byte preface", len(c.HTTP2Preface))
		}
		return nil
	}
	conn, err := fingerprint.ParseHTTP2Client(c.HTTP2Preface, fingerprint.DefaultHTTP2Limits())
	if err != nil {
		return fmt.Errorf("the stored HTTP/2 preface: %w", err)
	}
	want, ok := wc.FirstSettings()
	if !ok || len(conn.Settings) == 0 {
		return fmt.Errorf("SETTINGS: tshark found one: %v, the stored preface holds %d", ok, len(conn.Settings))
	}
	var wantS, gotS []string
	for _, s := range want {
		wantS = append(wantS, fmt.Sprintf("%d:%d", s[0], s[1]))
	}
	for _, s := range conn.Settings[0].Settings {
		gotS = append(gotS, fmt.Sprintf("%d:%d", s.ID, s.Value))
	}
	if err := oracle.DiffNames(wantS, gotS); err != nil {
		return fmt.Errorf("SETTINGS: %w", err)
	}
	var got uint32
	for _, u := range conn.WindowUpdates {
		if u.StreamID == 0 {
			got = u.Increment
			break
		}
	}
	if want := wc.WindowUpdateBeforeHeaders(); got != want {
		return fmt.Errorf("WINDOW_UPDATE before the first HEADERS: tshark %d, stored %d", want, got)
	}
	return nil
}

// matchOnWire finds o's request on its connection: one with its method and
// path whose headers are o's, names in order, values as stored (a redacted
// value is "" but for Cookie, whose names are kept).
func matchOnWire(o storage.Observation, wc *oracle.Conn) error {
	var candidates [][][2]string
	if len(wc.HTTP2) > 0 {
		for _, f := range wc.HTTP2 {
			if f.Type == oracle.FrameHeaders && f.Header(":method") == o.Method && pathOf(f.Header(":path")) == o.Path {
				candidates = append(candidates, f.Headers)
			}
		}
	} else {
		for _, r := range wc.HTTP1 {
			if r.Method == o.Method && pathOf(r.URI) == o.Path {
				candidates = append(candidates, r.Headers)
			}
		}
	}
	if len(candidates) == 0 {
		return errors.New("tshark decoded no request with its method and path on its connection")
	}
	var first error
	for _, hs := range candidates {
		err := sameHeaders(hs, o.Headers)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return fmt.Errorf("none of the %d requests with its method and path on the wire has its headers; the first: %w", len(candidates), first)
}

// pathOf is the path of a request target.
func pathOf(target string) string {
	p, _, _ := strings.Cut(target, "?")
	return p
}

// sameHeaders compares the headers on the wire with the stored ones.
func sameHeaders(wire [][2]string, stored []storage.StoredHeader) error {
	var wireNames, storedNames []string
	for _, h := range wire {
		wireNames = append(wireNames, h[0])
	}
	for _, h := range stored {
		storedNames = append(storedNames, h.Name)
	}
	if err := oracle.DiffNames(wireNames, storedNames); err != nil {
		return fmt.Errorf("header names: %w", err)
	}
	for i, h := range stored {
		value := wire[i][1]
		switch {
		case strings.EqualFold(h.Name, "cookie"):
			if want := cookieNamesOf(value); !h.Redacted || h.Value != want {
				return fmt.Errorf("cookie stored as %q (redacted %v), want its names only, %q", h.Value, h.Redacted, want)
			}
		case h.Redacted:
			if h.Value != "" {
				return fmt.Errorf("%s is redacted but stored as %q", h.Name, h.Value)
			}
		case h.Value != value:
			return fmt.Errorf("%s: wire %q, stored %q", h.Name, value, h.Value)
		}
		if h.Length != len(value) {
			return fmt.Errorf("%s: wire length %d, stored %d", h.Name, len(value), h.Length)
		}
	}
	return nil
}

// cookieNamesOf is a Cookie value without its values: "a=1; b=2" gives
// "a=; b=".
func cookieNamesOf(v string) string {
	var names []string
	for _, part := range strings.Split(v, ";") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		names = append(names, name+"=")
	}
	return strings.Join(names, "; ")
}

// checkCriticalCH: the report asks for client hints with Critical-CH, and
// Chromium may repeat the navigation to send them. Two stored navigations
// are the first and its retry (exactly one marked Retry); one is not a
// retry. What the wire shows (capture, when not nil) is logged.
func checkCriticalCH(t *testing.T, rec *storage.VisitRecord, capture *oracle.Capture, port string) {
	t.Helper()
	var navs []storage.Observation
	for _, o := range rec.Observations {
		if o.Kind == storage.KindNavigate {
			navs = append(navs, o)
		}
	}
	retries := 0
	for _, o := range navs {
		if o.Retry {
			retries++
		}
	}
	switch {
	case len(navs) == 2 && retries != 1:
		t.Errorf("two navigations stored, %d marked Retry: want exactly 1", retries)
	case len(navs) == 1 && retries != 0:
		t.Errorf("the only navigation stored is marked Retry")
	}
	if capture == nil {
		t.Logf("Critical-CH: %d navigations stored, %d marked Retry", len(navs), retries)
		return
	}
	onWire := 0
	for _, c := range capture.Conns {
		if c.ServerPort != port {
			continue
		}
		for _, f := range c.HTTP2 {
			if f.Type == oracle.FrameHeaders && f.Header(":method") == "GET" && isNavigation(f.Header(":path")) {
				onWire++
			}
		}
		for _, r := range c.HTTP1 {
			if r.Method == "GET" && isNavigation(r.URI) {
				onWire++
			}
		}
	}
	t.Logf("Critical-CH: %d navigations (GET /report, new visit) on the wire to port %s, %d stored, %d marked Retry", onWire, port, len(navs), retries)
}

// isNavigation tells a request target that opens a new visit's report
// (not the report of an existing visit a form redirects to).
func isNavigation(target string) bool {
	path, query, _ := strings.Cut(target, "?")
	q, _ := url.ParseQuery(query)
	return path == "/report" && !q.Has("visit")
}

// checkNoSecrets dumps every table of the schema as text and looks for the
// client's address (the site's own address, the authority in Host, Origin
// and Referer, is taken out first) and the cookies' values.
func checkNoSecrets(t *testing.T, dsn string, cookies []*network.Cookie, sitePorts []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, table := range tables {
		rows, err := conn.Query(ctx, `SELECT t::text FROM `+pgx.Identifier{table}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			dump.WriteString(table + ": " + l + "\n")
		}
	}
	text := dump.String()
	if !strings.Contains(text, "fp_consent=") {
		t.Fatalf("the dump of %v holds no Cookie header names: is anything stored?\n%.3000s", tables, text)
	}
	withoutSite := text
	for _, p := range sitePorts {
		withoutSite = strings.ReplaceAll(withoutSite, "127.0.0.1:"+p, "SITE")
	}
	for _, secret := range []string{"127.0.0.1", hex.EncodeToString([]byte("127.0.0.1"))} {
		if i := strings.Index(withoutSite, secret); i >= 0 {
			t.Errorf("the database holds the client's address %q: ...%s...", secret, around(withoutSite, i))
		}
	}
	// A cookie value; fp_visits's is ids joined by ".": one id alone is the
	// visit's (stored), several together are the cookie's.
	var secrets []string
	for _, c := range cookies {
		switch {
		case c.Name == "fp_visits" && !strings.Contains(c.Value, "."):
		case c.Value == "yes" && c.Name == "fp_consent":
			secrets = append(secrets, c.Name+"="+c.Value) // "yes" alone is everywhere
		default:
			secrets = append(secrets, c.Value)
		}
	}
	for _, secret := range secrets {
		for _, form := range []string{secret, hex.EncodeToString([]byte(secret))} {
			if i := strings.Index(text, form); i >= 0 {
				t.Errorf("the database holds a cookie value %q: ...%s...", secret, around(text, i))
			}
		}
	}
	// A cookie name with "=" then a value (the stored Cookie headers and
	// JA4H's raw cookie section have "name=" alone).
	if loc := regexp.MustCompile(`fp_(visits|consent|fleet)=[^;,"\\ ]`).FindStringIndex(text); loc != nil {
		t.Errorf("the database holds a cookie with its value: ...%s...", around(text, loc[0]))
	}
}

// around is the text near i, for a failure message.
func around(s string, i int) string {
	return s[max(0, i-80):min(len(s), i+80)]
}
