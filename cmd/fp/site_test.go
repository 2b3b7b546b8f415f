package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fpwork/fp/internal/pgtest"
	"github.com/fpwork/fp/internal/syncbuf"
	"github.com/fpwork/fp/storage"
)

// testSite is fp serve running in-process on loopback ports, with its
// own PostgreSQL schema.
type testSite struct {
	addrs siteAddrs
	store *storage.Postgres // a second connection to the site's database, for checks
}

// startSite runs fp serve with a fresh schema, every listener (metrics
// too) and a rate limit no test reaches, until the test ends.
func startSite(t *testing.T) *testSite {
	t.Helper()
	dsn := pgtest.Schema(t, pgtest.Start(t))
	ts := &testSite{addrs: runSite(t, dsn, "--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--rate", "1000", "--rate-burst", "1000")}
	store, err := storage.NewPostgres(context.Background(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ts.store = store
	return ts
}

// runSite runs fp serve in-process over the database dsn until t ends:
// HTTPS and HTTP/1.1-only listeners on free loopback ports, no plain HTTP
// unless args (flags after the defaults, which they override) say so. The
// site's log is shown when the test fails.
func runSite(t *testing.T, dsn string, args ...string) siteAddrs {
	t.Helper()
	args = append([]string{"fp", "serve", "--https-addr", "127.0.0.1:0", "--h1-addr", "127.0.0.1:0", "--http-addr", ""}, args...)
	getenv := func(k string) string {
		if k == databaseURLEnv {
			return dsn
		}
		return ""
	}
	cfg, err := parseServeConfig(args, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan siteAddrs, 1)
	done := make(chan error, 1)
	go func() { done <- serveSite(ctx, cfg, logger, func(a siteAddrs) { ready <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serveSite: %v", err)
		}
		if t.Failed() {
			t.Logf("the site's log:\n%s", logs.String())
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("serveSite ended before it was ready: %v\n%s", err, logs.String())
	case <-time.After(siteTimeout):
		t.Fatalf("the site did not start in %v:\n%s", siteTimeout, logs.String())
	}
	return siteAddrs{}
}

// visitor is a browser-like client: a cookie jar, HTTP/2 over TLS (or
// HTTP/1.1 only), no redirects followed.
type visitor struct {
	t      *testing.T
	client *http.Client
	base   string
}

func (ts *testSite) visitor(t *testing.T, addr string, http2 bool) *visitor {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: http2}
	if !http2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &visitor{t: t, base: "https://" + addr, client: &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request and returns the status and body.
func (v *visitor) do(method, path, contentType, body string, header ...string) (int, string) {
	v.t.Helper()
	req, err := http.NewRequest(method, v.base+path, strings.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := v.client.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// expect sends a request and fails the test unless it gets status.
func (v *visitor) expect(status int, method, path, contentType, body string, header ...string) string {
	v.t.Helper()
	got, b := v.do(method, path, contentType, body, header...)
	if got != status {
		v.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, status, b)
	}
	return b
}

var visitAttr = regexp.MustCompile(`data-visit="([0-9a-f]{32})"`)

// consentAndNavigate gives consent (when store) and opens /report,
// returning the visit id.
func (v *visitor) consentAndNavigate(store bool, header ...string) storage.VisitID {
	v.t.Helper()
	if store {
		v.expect(http.StatusSeeOther, "POST", "/consent", "application/x-www-form-urlencoded", "choice=store&next=%2Freport",
			"Origin", "null", "Sec-Fetch-Site", "same-origin") // as Chromium sends it under no-referrer
	}
	return v.navigate(header...)
}

// navigate opens /report with the headers given (name, value, ...) and
// returns the visit id of the page.
func (v *visitor) navigate(header ...string) storage.VisitID {
	v.t.Helper()
	m := visitAttr.FindStringSubmatch(v.expect(http.StatusOK, "GET", "/report", "", "", header...))
	if m == nil {
		v.t.Fatal("no visit id in the report page")
	}
	return storage.VisitID(m[1])
}

// jsValues is the fetch body a page would send.
const jsValues = `{"userAgent":"Go-http-client/2.0","platform":"Linux x86_64","languages":["en"],"hardwareConcurrency":2}`

// runContexts sends the five other contexts of visit id.
func (v *visitor) runContexts(id storage.VisitID) {
	v.t.Helper()
	q := "?visit=" + string(id)
	v.expect(http.StatusOK, "POST", "/api/fetch"+q, "application/json", jsValues, "X-Fp-Context", "fetch")
	v.expect(http.StatusOK, "POST", "/api/xhr"+q, "application/json", `{"xhr":true}`, "X-Fp-Context", "xhr")
	v.websocket(id)
	v.expect(http.StatusSeeOther, "POST", "/form"+q, "application/x-www-form-urlencoded", "auto=0&field=posted")
	v.expect(http.StatusSeeOther, "GET", "/form"+q+"&auto=0&field=got", "", "")
}

// websocket opens the websocket context and checks its first message.
func (v *visitor) websocket(id storage.VisitID) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, _ := url.Parse(v.base)
	// Websockets go over HTTP/1.1 (no extended CONNECT), as browsers do.
	client := &http.Client{Jar: v.client.Jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}}
	c, resp, err := websocket.Dial(ctx, "wss://"+u.Host+"/api/ws?visit="+string(id),
		&websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"fp.v1", "fp.v2"}})
	if err != nil {
		v.t.Fatalf("websocket: %v", err)
	}
	defer c.CloseNow()
	if resp.Header.Get("Sec-Websocket-Protocol") != "fp.v1" {
		v.t.Errorf("subprotocol %q, want fp.v1", resp.Header.Get("Sec-Websocket-Protocol"))
	}
	_, first, err := c.Read(ctx)
	if err != nil {
		v.t.Fatal(err)
	}
	var answer struct {
		Kind   string `json:"kind"`
		Report struct {
			HTTP struct {
				Headers [][2]string `json:"headers"`
			} `json:"http"`
		} `json:"report"`
	}
	if err := json.Unmarshal(first, &answer); err != nil || answer.Kind != "websocket" ||
		!slices.ContainsFunc(answer.Report.HTTP.Headers, func(h [2]string) bool { return strings.EqualFold(h[0], "Sec-WebSocket-Protocol") }) {
		v.t.Fatalf("first websocket message: %v %.300s", err, first)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		v.t.Fatal(err)
	}
	if _, echo, err := c.Read(ctx); err != nil || string(echo) != "hello" {
		v.t.Fatalf("echo %q, %v", echo, err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// liveVisit reads /api/visit?visit=id.
func (v *visitor) liveVisit(id storage.VisitID) (done []string, complete bool, contexts []map[string]any) {
	v.t.Helper()
	var a struct {
		Done     []string         `json:"done"`
		Complete bool             `json:"complete"`
		Contexts []map[string]any `json:"contexts"`
	}
	if err := json.Unmarshal([]byte(v.expect(http.StatusOK, "GET", "/api/visit?visit="+string(id), "", "")), &a); err != nil {
		v.t.Fatal(err)
	}
	return a.Done, a.Complete, a.Contexts
}

// storedVisit polls the database until visit id holds want observations.
func (ts *testSite) storedVisit(t *testing.T, id storage.VisitID, want int) *storage.VisitRecord {
	t.Helper()
	return waitObservations(t, ts.store, id, want)
}

// waitObservations polls store until visit id holds want observations
// (the site writes asynchronously).
func waitObservations(t *testing.T, store *storage.Postgres, id storage.VisitID, want int) *storage.VisitRecord {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rec, err := store.Visit(context.Background(), id)
		if err == nil && len(rec.Observations) >= want {
			return rec
		}
		if time.Now().After(deadline) {
			n := 0
			if rec != nil {
				n = len(rec.Observations)
			}
			t.Fatalf("visit %s: %d observations stored after 15 s, want %d (%v)", id, n, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSiteVisitStored: with consent, a visit over HTTP/2 and one over the
// HTTP/1.1-only listener each store every context, with the headers as the
// live report shows them (redacted), the JavaScript values, and the
// connection's hello and HTTP/2 preface.
func TestSiteVisitStored(t *testing.T) {
	ts := startSite(t)
	var ja4s []string
	for _, tc := range []struct {
		name, addr, proto, alpn string
		http2                   bool
	}{
		{"h2 listener", ts.addrs.https, "HTTP/2", "h2", true},
		{"h1 listener", ts.addrs.h1, "HTTP/1.1", "http/1.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := ts.visitor(t, tc.addr, tc.http2)
			id := v.consentAndNavigate(true)
			v.runContexts(id)
			done, complete, live := v.liveVisit(id)
			if !complete || len(done) != 6 {
				t.Fatalf("live visit: done %v, complete %v", done, complete)
			}
			rec := ts.storedVisit(t, id, 6)
			kinds := map[storage.RequestKind]int{}
			for i, o := range rec.Observations {
				kinds[o.Kind]++
				wantProto := tc.proto
				if o.Kind == storage.KindWebsocket {
					wantProto = "HTTP/1.1"
				}
				if o.HTTPVersion != wantProto {
					t.Errorf("%s: HTTP version %s, want %s", o.Kind, o.HTTPVersion, wantProto)
				}
				// The stored header names, in order, are the live report's.
				liveHeaders := live[i]["report"].(map[string]any)["http"].(map[string]any)["headers"].([]any)
				var liveNames, storedNames []string
				for _, h := range liveHeaders {
					liveNames = append(liveNames, h.([]any)[0].(string))
				}
				for _, h := range o.Headers {
					storedNames = append(storedNames, h.Name)
					if strings.EqualFold(h.Name, "cookie") && (!h.Redacted || strings.Contains(h.Value, string(id))) {
						t.Errorf("%s: cookie stored as %q", o.Kind, h.Value)
					}
				}
				if !slices.Equal(liveNames, storedNames) {
					t.Errorf("%s: stored header order %v, live %v", o.Kind, storedNames, liveNames)
				}
				if o.Derived.JA4H == "" || o.UserAgent.Raw == "" {
					t.Errorf("%s: derived %+v, user agent %+v", o.Kind, o.Derived, o.UserAgent)
				}
			}
			want := map[storage.RequestKind]int{storage.KindNavigate: 1, storage.KindFetch: 1, storage.KindXHR: 1,
				storage.KindWebsocket: 1, storage.KindForm: 2}
			if !maps(kinds, want) {
				t.Fatalf("stored kinds %v, want %v", kinds, want)
			}
			for _, o := range rec.Observations {
				if o.Kind == storage.KindFetch {
					var got, sent map[string]any
					json.Unmarshal(o.JS, &got)
					json.Unmarshal([]byte(jsValues), &sent)
					if got["platform"] != sent["platform"] || got["userAgent"] != sent["userAgent"] {
						t.Errorf("JS values stored %s, sent %s", o.JS, jsValues)
					}
				}
			}
			alpns := map[string]bool{}
			for _, c := range rec.Connections {
				alpns[c.ALPN] = true
				if len(c.Hello) == 0 || c.Derived.TLS.JA4 == "" {
					t.Errorf("connection %s: hello %d bytes, JA4 %q", c.ID, len(c.Hello), c.Derived.TLS.JA4)
				}
				if c.ALPN == "h2" && (len(c.HTTP2Preface) == 0 || c.Derived.Akamai == "" || len(c.PseudoHeaderOrder) != 4) {
					t.Errorf("h2 connection: preface %d bytes, pseudo %v, akamai %q", len(c.HTTP2Preface), c.PseudoHeaderOrder, c.Derived.Akamai)
				}
			}
			if !alpns[tc.alpn] {
				t.Errorf("connections' ALPN %v, want %s among them", alpns, tc.alpn)
			}
			ja4s = append(ja4s, rec.Connections[0].Derived.TLS.JA4)
		})
	}

	// Search and statistics read what was stored: both visits' twelve
	// observations, from one Go client.
	v := ts.visitor(t, ts.addrs.https, true)
	var found struct {
		Observations int             `json:"observations"`
		Families     []storage.Count `json:"families"`
	}
	body := v.expect(http.StatusOK, "GET", "/api/search?kind=ja4&hash="+url.QueryEscape(ja4s[0]), "", "")
	if err := json.Unmarshal([]byte(body), &found); err != nil || found.Observations < 5 || len(found.Families) != 1 {
		t.Fatalf("search %s: %v %s", ja4s[0], err, body)
	}
	if page := v.expect(http.StatusOK, "GET", "/search?kind=ja4&hash="+url.QueryEscape(ja4s[0]), "", ""); !strings.Contains(page, found.Families[0].Value) {
		t.Errorf("search page does not name %q", found.Families[0].Value)
	}
	v.expect(http.StatusNotFound, "GET", "/api/search?kind=ja4&hash=t13d0000h2_000000000000_000000000000", "", "")
	var stats struct {
		Families []storage.FamilyTotal `json:"families"`
	}
	body = v.expect(http.StatusOK, "GET", "/api/stats", "", "")
	if err := json.Unmarshal([]byte(body), &stats); err != nil || len(stats.Families) != 1 || stats.Families[0].Visits != 2 || stats.Families[0].Observations != 12 {
		t.Fatalf("stats: %v %s", err, body)
	}
	if page := v.expect(http.StatusOK, "GET", "/stats", "", ""); !strings.Contains(page, "<td>12</td>") {
		t.Errorf("statistics page does not show the 12 observations")
	}
}

func maps[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// metric returns the line of the site's metrics that starts with name.
func (ts *testSite) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + ts.addrs.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name) {
			return line
		}
	}
	return ""
}

// countRows counts the rows of the site's tables.
func (ts *testSite) countRows(t *testing.T) int {
	t.Helper()
	n := 0
	rec, err := ts.store.FamilyTotals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rec {
		n += f.Observations
	}
	return n
}

// TestSiteBadInput: each bad request gets its 4xx with a clear message,
// and nothing is stored or deleted that should not be.
func TestSiteBadInput(t *testing.T) {
	ts := startSite(t)
	owner := ts.visitor(t, ts.addrs.https, true)
	id := owner.consentAndNavigate(true)
	other := ts.visitor(t, ts.addrs.https, true)
	otherID := other.consentAndNavigate(false)
	ts.storedVisit(t, id, 1)
	q := "?visit=" + string(id)
	big := `{"a":"` + strings.Repeat("x", 17<<10) + `"}`
	tests := []struct {
		name     string
		v        *visitor
		method   string
		path     string
		ctype    string
		body     string
		status   int
		contains string
	}{
		{"fetch with invalid JSON", owner, "POST", "/api/fetch" + q, "application/json", `{"a":`, 400, "invalid JSON"},
		{"fetch with a JSON array", owner, "POST", "/api/fetch" + q, "application/json", `[1]`, 400, "JSON object"},
		{"xhr with invalid JSON", owner, "POST", "/api/xhr" + q, "application/json", `nope`, 400, "invalid JSON"},
		{"fetch over 16 KiB", owner, "POST", "/api/fetch" + q, "application/json", big, 413, "16384"},
		{"form over 16 KiB", owner, "POST", "/form" + q, "application/x-www-form-urlencoded", "field=" + strings.Repeat("x", 17<<10), 413, "unreadable"},
		{"malformed visit id", owner, "POST", "/api/fetch?visit=XYZ", "application/json", `{}`, 400, "malformed"},
		{"no visit id", owner, "POST", "/api/xhr", "application/json", `{}`, 400, "malformed"},
		{"another visitor's visit", other, "POST", "/api/fetch" + q, "application/json", `{}`, 403, "not one of this browser's"},
		{"forged visit id", owner, "POST", "/api/fetch?visit=0123456789abcdef0123456789abcdef", "application/json", `{}`, 403, "not one of"},
		{"delete another visitor's visit", other, "DELETE", "/api/visit/" + string(id), "", "", 403, "not one of"},
		{"delete a malformed id", owner, "DELETE", "/api/visit/123", "", "", 400, "malformed"},
		{"delete form from another site", owner, "POST", "/visit/delete", "application/x-www-form-urlencoded", "id=" + string(id), 403, "own page"},
		{"delete form sent cross-site", owner, "POST", "/visit/delete", "application/x-www-form-urlencoded", "id=" + string(id), 403, "own page"},
		{"consent sent cross-site", owner, "POST", "/consent", "application/x-www-form-urlencoded", "choice=store", 403, "own page"},
		{"websocket without upgrade", owner, "GET", "/api/ws" + q, "", "", 400, "websocket upgrade"},
		{"form of another visitor", other, "POST", "/form" + q, "application/x-www-form-urlencoded", "field=x", 403, "not one of"},
		{"report of another visitor", other, "GET", "/report" + q, "", "", 403, "not one of"},
		{"consent with a bad choice", owner, "POST", "/consent", "application/x-www-form-urlencoded", "choice=maybe", 400, "choice"},
		{"unknown API", owner, "GET", "/api/nothing", "", "", 404, "no such API"},
		{"method not allowed", owner, "PUT", "/api/fetch" + q, "application/json", `{}`, 405, "method not allowed"},
		{"search with a bad kind", owner, "GET", "/api/search?kind=md5&hash=x", "", "", 400, "kind must be"},
		{"search with no hash", owner, "GET", "/api/search?kind=ja4", "", "", 400, "hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			switch tt.name {
			case "delete form from another site":
				header = []string{"Origin", "https://evil.test"}
			case "delete form sent cross-site", "consent sent cross-site":
				// What a browser sends for another site's form under the
				// no-referrer policy: Origin null, Sec-Fetch-Site cross-site.
				header = []string{"Origin", "null", "Sec-Fetch-Site", "cross-site"}
			}
			tt.v.t = t
			status, body := tt.v.do(tt.method, tt.path, tt.ctype, tt.body, header...)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Fatalf("status %d %q, want %d containing %q", status, body, tt.status, tt.contains)
			}
		})
	}
	owner.t, other.t = t, t
	// Nothing of the refused requests reached the visit, live or stored;
	// the visit is still there.
	if done, _, contexts := owner.liveVisit(id); len(contexts) != 1 || done[0] != "navigate" {
		t.Fatalf("live visit after bad input: %v", done)
	}
	// The other visitor gave no consent: its navigation is live, not stored.
	if _, _, contexts := other.liveVisit(otherID); len(contexts) != 1 || contexts[0]["stored"] != false {
		t.Fatalf("the other visitor's visit: %v", contexts)
	}
	if _, err := ts.store.Visit(context.Background(), storage.VisitID(otherID)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a visit without consent was stored: %v", err)
	}
	rec := ts.storedVisit(t, id, 1)
	if len(rec.Observations) != 1 {
		t.Fatalf("stored %d observations, want the navigation alone", len(rec.Observations))
	}

	// The owner deletes it: gone from the store and the site; a second
	// delete, or a context sent to it, finds nothing; nothing comes back.
	owner.expect(http.StatusNoContent, "DELETE", "/api/visit/"+string(id), "", "")
	if _, err := ts.store.Visit(context.Background(), id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted visit still stored: %v", err)
	}
	owner.expect(http.StatusForbidden, "DELETE", "/api/visit/"+string(id), "", "") // no longer in the cookie
	owner.expect(http.StatusForbidden, "POST", "/api/fetch"+q, "application/json", `{}`)
	if n := ts.countRows(t); n != 0 {
		t.Fatalf("%d observations stored after the delete", n)
	}
	if got := ts.metric(t, `fp_site_contexts_total{kind="navigate",outcome="not_stored"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("metric: %q, want the other visitor's navigation counted as not stored", got)
	}
	if got := ts.metric(t, `fp_site_contexts_total{kind="fetch"`); got != "" {
		t.Errorf("a refused fetch was counted: %q", got)
	}
}

// TestSiteCriticalCHRetry: a navigation without the critical client hints
// then one with them, as Chromium retries for Critical-CH, are one visit:
// two navigations, the second flagged, both stored.
func TestSiteCriticalCHRetry(t *testing.T) {
	ts := startSite(t)
	v := ts.visitor(t, ts.addrs.https, true)
	v.expect(http.StatusSeeOther, "POST", "/consent", "application/x-www-form-urlencoded", "choice=store")
	status, _ := v.do("GET", "/report", "", "")
	if status != http.StatusOK {
		t.Fatal(status)
	}
	id := v.navigate("Sec-CH-UA-Full-Version-List", `"Chromium";v="156.0.8078.73"`)
	_, _, contexts := v.liveVisit(id)
	if len(contexts) != 2 || contexts[0]["retry"] != nil || contexts[1]["retry"] != true {
		t.Fatalf("live contexts: %v", contexts)
	}
	rec := ts.storedVisit(t, id, 2)
	retries := 0
	for _, o := range rec.Observations {
		if o.Kind != storage.KindNavigate {
			t.Errorf("stored a %s", o.Kind)
		}
		if o.Retry {
			retries++
		}
	}
	if retries != 1 {
		t.Fatalf("%d navigations flagged as retries, want 1", retries)
	}
	// A later navigation with the hints is a new visit.
	if again := v.navigate("Sec-CH-UA-Full-Version-List", `"Chromium";v="156.0.8078.73"`); again == id {
		t.Fatal("a later hinted navigation joined the retried visit")
	}
}

// TestSiteEvents: the report's event stream sends, in the Datastar
// protocol, the section of each context as it arrives and the signals.
func TestSiteEvents(t *testing.T) {
	ts := startSite(t)
	v := ts.visitor(t, ts.addrs.https, true)
	id := v.consentAndNavigate(false)
	req, _ := http.NewRequest("GET", v.base+"/api/events?visit="+string(id), nil)
	resp, err := v.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan [2]string, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var name string
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line == "":
				if name != "" {
					events <- [2]string{name, strings.Join(data, "\n")}
				}
				name, data = "", nil
			}
		}
	}()
	next := func(want string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("stream ended before %q", want)
				}
				if strings.Contains(e[0]+" "+e[1], want) {
					return e[1]
				}
			case <-timeout:
				t.Fatalf("no event with %q", want)
			}
		}
	}
	first := next(`signals {"complete":false,"done":"navigate"}`)
	if !strings.HasPrefix(first, "signals ") {
		t.Fatalf("first signals %q", first)
	}
	v.expect(http.StatusOK, "POST", "/api/fetch?visit="+string(id), "application/json", jsValues, "X-Fp-Context", "fetch")
	section := next(`id="ctx-fetch"`)
	if !strings.Contains(section, `data-seen="true"`) || !strings.Contains(section, "X-Fp-Context") &&
		!strings.Contains(section, "x-fp-context") {
		t.Fatalf("fetch section: %s", section)
	}
	next(`id="ctx-js"`)
	next(`"done":"navigate fetch"`)
}
