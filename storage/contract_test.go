package storage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/golden"
)

// The Store contract. Every implementation runs runContract (memory_test.go,
// postgres_test.go); what it checks is what the Store interface promises,
// spelled out here where store.go leaves a choice:
//
//   - Times come back equal (time.Time.Equal) to the microsecond; the test
//     data uses microsecond times.
//   - Byte slices and string lists come back equal, nil and empty alike;
//     header values byte for byte, UTF-8 or not. JavaScript values come
//     back as the same JSON value (key order and spacing may change).
//   - Write checks the batch (Batch.check) and stores all of it or none of
//     it: an observation whose visit or connection is neither in the batch
//     nor stored fails the batch. Rows whose id is already stored, or
//     repeated within the batch, are skipped: the first one stays.
//   - A row's derived values are a history: Write stores the first entry,
//     AddDerived adds one per (row, version), skipping a version the row
//     already has and rows that do not exist (a visit deleted meanwhile).
//     Every read (Visit, Search, Export, Stale, LatestCompleteVisits) uses
//     the entry with the highest version.
//   - Visit and VisitRecord: observations ordered by At, then id;
//     connections by At, then id.
//   - Search matches the latest derived hash of each connection (JA3Hash,
//     JA3NHash, JA4, AkamaiHash, PeetPrintHash; an empty hash matches
//     nothing) and counts the observations made on the matching
//     connections, fleet and public alike; FirstSeen and LastSeen are their
//     earliest and latest At. ErrNotFound when no observation matches; an
//     unknown kind is an error. Counts are sorted by count (most first),
//     then value; CoOccurring by count, then kind, then value, and leaves
//     out the searched kind and empty values. Strings sort in byte order
//     (Go's strings.Compare; COLLATE "C" in SQL).
//   - FamilyTotals groups observations by UserAgent.Browser: observations
//     and distinct visits, sorted by observations (most first), then family.
//   - LatestCompleteVisits: a visit is complete when it holds an
//     observation of every RequestKind; its User-Agent is the raw one of
//     its first navigate observation. Per distinct User-Agent, the latest
//     (by Start, then id) complete fleet visit when there is one, else the
//     latest complete public one: a public visitor cannot shadow the
//     fleet's profile of a browser by sending its User-Agent. Sorted by
//     Start, newest first, then id.
//   - DeleteVisit also removes the connections its observations used that
//     no other observation uses, with their derived history.
//   - Export: the header line (newExportHeader), then one visit per line
//     (newExportVisit) in Start order, then id: every public visit, the
//     fleet's too when asked.
//   - Stale pages through connections and observations together, in id
//     order: the rows whose latest version is below version, with id >
//     after, at most limit (limit < 1 is an error). Next is the last id of
//     the page when more stale rows follow, else "".
//   - After Close, Ping fails; Close may be called again.
//
// Both stores also implement derivedHistory for this suite.
type derivedHistory interface {
	// connectionHistory returns every derived entry of a connection,
	// lowest version first; ErrNotFound when the connection is not stored.
	connectionHistory(ctx context.Context, id ConnectionID) ([]ConnectionFingerprints, error)
	// observationHistory is connectionHistory for an observation.
	observationHistory(ctx context.Context, id ObservationID) ([]ObservationFingerprints, error)
}

// runContract runs the contract suite; open returns a new empty store for
// one subtest (and closes it when the test ends).
func runContract(t *testing.T, open func(t *testing.T) Store) {
	data := loadContractData(t)
	for _, tc := range contractCases() {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if _, ok := s.(derivedHistory); !ok {
				t.Fatalf("%T does not implement derivedHistory", s)
			}
			f := &fixtures{t: t, data: data, random: rand.NewChaCha8(seedOf(tc.name))}
			tc.run(t, t.Context(), s, f)
		})
	}
}

type contractCase struct {
	name string
	run  func(t *testing.T, ctx context.Context, s Store, f *fixtures)
}

func contractCases() []contractCase {
	return []contractCase{
		{"WriteThenVisitRoundTrip", testRoundTrip},
		{"HeaderValuesKeptByteForByte", testHeaderBytes},
		{"StoreKeepsNoAliasOfCallerData", testNoAliasing},
		{"WriteIdempotent", testWriteIdempotent},
		{"WriteAllOrNothing", testWriteAllOrNothing},
		{"WriteReferencesEarlierBatches", testEarlierBatches},
		{"EmptyBatch", testEmptyBatch},
		{"VisitNotFound", testVisitNotFound},
		{"SearchEveryKind", testSearch},
		{"SearchNotFound", testSearchNotFound},
		{"FamilyTotals", testFamilyTotals},
		{"LatestCompleteVisits", testLatestComplete},
		{"DeleteVisit", testDeleteVisit},
		{"Export", testExport},
		{"StaleThenAddDerived", testStaleAddDerived},
		{"StaleLimit", testStaleLimit},
		{"ConcurrentWritesAndReads", testConcurrent},
		{"PingThenClose", testPingClose},
	}
}

func seedOf(name string) [32]byte {
	var seed [32]byte
	copy(seed[:], name)
	return seed
}

// User-Agents of testdata/rama-ua-profiles.json (and curl's), and what
// they parse to; the suite sets UserAgent itself so that it tests the
// store, not a parser.
const (
	uaChromeLinux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/149.0.0.0 Safari/537.36"
	uaChromeWin   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/151.0.0.0 Safari/537.36"
	uaEdgeWin     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/151.0.0.0 Safari/537.36 Edg/151.0.0.0"
	uaFirefoxWin  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:153.0) Gecko/20100101 Firefox/153.0"
	uaSafariIOS   = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1"
	uaCurl        = "curl/7.88.1"
)

func agentOf(t *testing.T, raw string) UserAgent {
	t.Helper()
	parsed := map[string]UserAgent{
		uaChromeLinux: {Browser: "Chrome", BrowserVersion: "149.0.0.0", OS: "Linux", Device: "desktop"},
		uaChromeWin:   {Browser: "Chrome", BrowserVersion: "151.0.0.0", OS: "Windows", Device: "desktop"},
		uaEdgeWin:     {Browser: "Edge", BrowserVersion: "151.0.0.0", OS: "Windows", Device: "desktop"},
		uaFirefoxWin:  {Browser: "Firefox", BrowserVersion: "153.0", OS: "Windows", Device: "desktop"},
		uaSafariIOS:   {Browser: "Safari", BrowserVersion: "18.6", OS: "iOS", Device: "mobile"},
		uaCurl:        {Browser: "curl", BrowserVersion: "7.88.1", OS: "unknown", Device: "bot"},
	}
	ua, ok := parsed[raw]
	if !ok {
		t.Fatalf("no parsed form of User-Agent %q", raw)
	}
	ua.Raw = raw
	return ua
}

// Values a visitor's request carries that must never be stored; the
// fixtures put them in Cookie, Authorization, Proxy-Authorization,
// X-Forwarded-For, Forwarded and X-Real-IP, and Redact removes them.
func secretValues() []string {
	return []string{"s3ss10n-VALUE-d1e8", "fleet-SECRET-77aa", "Basic dXNlcjpodW50ZXIy", "Bearer proxy-TOKEN-5b",
		"203.0.113.79", "198.51.100.23", "192.0.2.141"}
}

// contractData is read once: the golden connections and the header
// profiles.
type contractData struct {
	goldens  map[string]goldenConnection
	profiles map[string]headerProfile // by User-Agent
}

// goldenConnection is what a golden capture gives a Connection.
type goldenConnection struct {
	hello       []byte
	alpn        string
	tlsVersion  uint16
	cipherSuite uint16
	preface     []byte   // the client's HTTP/2 stream before its first HEADERS
	pseudo      []string // pseudo-header order of the first HEADERS
	derived     ConnectionFingerprints
}

// headerProfile holds a browser's header lists in wire order per request
// context (HTTP/2 without pseudo-headers, HTTP/1.1 with Host), its
// pseudo-header order and the JavaScript values its page reported.
type headerProfile struct {
	h2     map[RequestKind][][2]string
	h1     map[RequestKind][][2]string
	pseudo []string
	js     json.RawMessage
}

// contractGoldens are the captures the suite uses.
func contractGoldens() []string {
	return []string{"chromium-156-linux", "firefox-esr-153-linux", "curl-7.88-h2", "utls-safari-16-0", "utls-edge-106"}
}

func loadContractData(t *testing.T) *contractData {
	t.Helper()
	d := &contractData{goldens: map[string]goldenConnection{}, profiles: map[string]headerProfile{}}
	negotiated := regexp.MustCompile(`negotiated ALPN (\S+), version 0x([0-9a-f]{4}), cipher 0x([0-9a-f]{4})`)
	for _, name := range contractGoldens() {
		g := golden.Load(t, "../fingerprint/testdata/golden", name)
		hello, err := fingerprint.RedactPSK(g.MustHex(t, "hello.hex"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ch, err := fingerprint.ParseClientHello(hello)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		gc := goldenConnection{hello: hello, derived: ConnectionFingerprints{
			Version: fingerprint.AlgorithmVersion, TLS: fingerprint.ComputeTLS(ch, fingerprint.TransportTCP)}}
		m := negotiated.FindStringSubmatch(g.Comment)
		if m == nil {
			t.Fatalf("%s: no negotiated line in the comment", name)
		}
		gc.alpn = strings.TrimPrefix(m[1], "none")
		v, _ := strconv.ParseUint(m[2], 16, 16)
		c, _ := strconv.ParseUint(m[3], 16, 16)
		gc.tlsVersion, gc.cipherSuite = uint16(v), uint16(c)
		expect := g.Values("expect-tls.txt")
		for key, got := range map[string]string{"ja3_hash": gc.derived.TLS.JA3Hash, "ja3n_hash": gc.derived.TLS.JA3NHash,
			"ja4": gc.derived.TLS.JA4, "peetprint_hash": gc.derived.TLS.PeetPrintHash} {
			if got != expect[key] {
				t.Fatalf("%s: %s %q, golden says %q", name, key, got, expect[key])
			}
		}
		stream, err := g.Hex("http2.hex")
		if err != nil {
			t.Fatal(err)
		}
		if stream != nil {
			conn, err := fingerprint.ParseHTTP2Client(stream, fingerprint.DefaultHTTP2Limits())
			if err != nil || conn.FirstHeaders < 0 || conn.First == nil {
				t.Fatalf("%s: http2.hex: %v", name, err)
			}
			gc.preface = stream[:conn.Frames[conn.FirstHeaders].Offset]
			gc.pseudo = conn.First.PseudoHeaderOrder()
			gc.derived.Akamai = fingerprint.Akamai(conn)
			gc.derived.AkamaiHash = fingerprint.MD5Hex(gc.derived.Akamai)
			if want := g.Values("expect-http.txt")["akamai_hash"]; gc.derived.AkamaiHash != want {
				t.Fatalf("%s: akamai_hash %q, golden says %q", name, gc.derived.AkamaiHash, want)
			}
		}
		d.goldens[name] = gc
	}

	raw, err := os.ReadFile("testdata/rama-ua-profiles.json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatalf("rama-ua-profiles.json: %v", err)
	}
	contexts := map[RequestKind]string{KindNavigate: "navigate", KindFetch: "fetch", KindXHR: "xhr", KindForm: "form", KindWebsocket: "ws"}
	for _, row := range rows {
		var ua string
		var h2 struct {
			Pseudo []string `json:"http_pseudo_headers"`
		}
		if json.Unmarshal(row["uastr"], &ua) != nil || json.Unmarshal(row["h2_settings"], &h2) != nil {
			t.Fatal("rama-ua-profiles.json: a row without uastr or h2_settings")
		}
		p := headerProfile{h2: map[RequestKind][][2]string{}, h1: map[RequestKind][][2]string{}, pseudo: h2.Pseudo, js: row["js_web_apis"]}
		for kind, suffix := range contexts {
			var l2, l1 [][2]string
			if json.Unmarshal(row["h2_headers_"+suffix], &l2) != nil || json.Unmarshal(row["h1_headers_"+suffix], &l1) != nil {
				t.Fatalf("rama-ua-profiles.json: %s: bad %s header lists", ua, suffix)
			}
			p.h2[kind], p.h1[kind] = l2, l1
		}
		d.profiles[ua] = p
	}
	// curl has no profile there: its request as the curl-7.88-h2 golden shows it.
	curl := [][2]string{{"user-agent", uaCurl}, {"accept", "*/*"}}
	d.profiles[uaCurl] = headerProfile{
		h2:     map[RequestKind][][2]string{KindNavigate: curl},
		h1:     map[RequestKind][][2]string{KindNavigate: append([][2]string{{"Host", "fp.example"}}, curl...)},
		pseudo: []string{":method", ":path", ":scheme", ":authority"},
	}
	return d
}

// fixtures builds rows for one subtest; ids come from a seeded generator
// so that a failure reproduces.
type fixtures struct {
	t      *testing.T
	data   *contractData
	random io.Reader
}

func (f *fixtures) id() ID {
	id, err := NewID(f.random)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// base is the time the fixtures start at (microseconds, as stored).
func base() time.Time { return time.Date(2026, 8, 18, 18, 46, 57, 123456000, time.UTC) }

// connection is a connection that sent the golden's hello. A connection
// over which a websocket is opened negotiates HTTP/1.1 (http1 true): no
// preface, no Akamai.
func (f *fixtures) connection(goldenName string, at time.Time, http1 bool) Connection {
	g, ok := f.data.goldens[goldenName]
	if !ok {
		f.t.Fatalf("no golden %s in contractGoldens", goldenName)
	}
	c := Connection{
		ID: ConnectionID(f.id()), At: at, Transport: fingerprint.TransportTCP, ALPN: g.alpn,
		TLSVersion: g.tlsVersion, CipherSuite: g.cipherSuite, Hello: slices.Clone(g.hello),
		HTTP2Preface: slices.Clone(g.preface), PseudoHeaderOrder: slices.Clone(g.pseudo), Derived: g.derived,
	}
	if http1 {
		c.ALPN, c.HTTP2Preface, c.PseudoHeaderOrder = "http/1.1", nil, nil
		c.Derived.Akamai, c.Derived.AkamaiHash = "", ""
	}
	return c
}

// visitSpec describes a visit to build.
type visitSpec struct {
	golden string // the hello its connections sent
	ua     string // the User-Agent: a rama profile's (header lists) or uaCurl
	start  time.Time
	fleet  bool
	kinds  []RequestKind // nil: every kind, a complete visit
}

// paths of the request contexts on the fp page.
func pathOf(k RequestKind) (method, path string) {
	switch k {
	case KindNavigate:
		return "GET", "/"
	case KindFetch:
		return "POST", "/api/fetch"
	case KindXHR:
		return "POST", "/api/xhr"
	case KindForm:
		return "POST", "/form"
	}
	return "GET", "/ws"
}

// visit builds a batch: the visit, one observation per kind (50 ms apart)
// on an HTTP/2 connection, the websocket one on its own HTTP/1.1
// connection. The fetch request carries every secret of secretValues,
// redacted before it is stored; the derived values are computed by
// DeriveRequest from the headers as sent.
func (f *fixtures) visit(spec visitSpec) *Batch {
	f.t.Helper()
	p, ok := f.data.profiles[spec.ua]
	if !ok {
		f.t.Fatalf("no header profile for %q", spec.ua)
	}
	kinds := spec.kinds
	if kinds == nil {
		kinds = Kinds()
	}
	b := &Batch{Visits: []Visit{{ID: VisitID(f.id()), Start: spec.start, Fleet: spec.fleet}}}
	h2 := f.connection(spec.golden, spec.start, false)
	b.Connections = append(b.Connections, h2)
	var ws *Connection
	for i, kind := range kinds {
		at := spec.start.Add(time.Duration(i+1) * 50 * time.Millisecond)
		method, path := pathOf(kind)
		o := Observation{ID: ObservationID(f.id()), VisitID: b.Visits[0].ID, At: at, Kind: kind, Method: method, Path: path}
		var sent []fingerprint.Header
		version := fingerprint.HTTP2
		if kind == KindWebsocket {
			if ws == nil {
				c := f.connection(spec.golden, at.Add(-10*time.Millisecond), true)
				b.Connections = append(b.Connections, c)
				ws = &b.Connections[len(b.Connections)-1]
			}
			o.ConnectionID, o.HTTPVersion, version = ws.ID, "HTTP/1.1", fingerprint.HTTP11
			for _, h := range p.h1[kind] {
				sent = append(sent, fingerprint.Header{Name: h[0], Value: h[1]})
			}
		} else {
			o.ConnectionID, o.HTTPVersion = h2.ID, "HTTP/2"
			pseudo := map[string]string{":method": method, ":authority": "fp.example", ":scheme": "https", ":path": path}
			for _, name := range p.pseudo {
				sent = append(sent, fingerprint.Header{Name: name, Value: pseudo[name]})
			}
			list := p.h2[kind]
			if list == nil {
				list = p.h1[kind]
			}
			for _, h := range list {
				sent = append(sent, fingerprint.Header{Name: h[0], Value: h[1]})
			}
		}
		for i, h := range sent {
			if strings.EqualFold(h.Name, "cookie") {
				sent[i].Value = "rama-fp=ready; session=s3ss10n-VALUE-d1e8; fp_fleet=fleet-SECRET-77aa"
			}
		}
		if kind == KindFetch {
			s := secretValues()
			sent = append(sent,
				fingerprint.Header{Name: "authorization", Value: s[2]},
				fingerprint.Header{Name: "proxy-authorization", Value: s[3]},
				fingerprint.Header{Name: "x-forwarded-for", Value: s[4] + ", " + s[5]},
				fingerprint.Header{Name: "forwarded", Value: "for=" + s[6]},
				fingerprint.Header{Name: "x-real-ip", Value: s[4]})
			o.JS = slices.Clone(p.js)
		}
		o.Derived = DeriveRequest(&fingerprint.HTTPRequest{Version: version, Method: method, Target: path, Headers: sent})
		o.Headers = Redact(sent)
		o.UserAgent = agentOf(f.t, spec.ua)
		b.Observations = append(b.Observations, o)
	}
	return b
}

func write(t *testing.T, ctx context.Context, s Store, batches ...*Batch) {
	t.Helper()
	for _, b := range batches {
		if err := s.Write(ctx, b); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

// merge joins batches into one.
func merge(batches ...*Batch) *Batch {
	out := new(Batch)
	for _, b := range batches {
		out.Connections = append(out.Connections, b.Connections...)
		out.Visits = append(out.Visits, b.Visits...)
		out.Observations = append(out.Observations, b.Observations...)
	}
	return out
}

// record is what Visit should return for a visit written as batches.
func record(batches ...*Batch) *VisitRecord {
	b := merge(batches...)
	r := &VisitRecord{Visit: b.Visits[0], Observations: slices.Clone(b.Observations)}
	seen := map[ConnectionID]bool{}
	for _, o := range b.Observations {
		seen[o.ConnectionID] = true
	}
	for _, c := range b.Connections {
		if seen[c.ID] {
			r.Connections = append(r.Connections, c)
			delete(seen, c.ID)
		}
	}
	slices.SortStableFunc(r.Observations, func(a, b Observation) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	slices.SortStableFunc(r.Connections, func(a, b Connection) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	return r
}

// Normalised copies for comparison: times in UTC, nil for empty, JSON
// values in one form.

func normConnection(c Connection) Connection {
	c.At = c.At.UTC()
	c.Hello = nilIfEmpty(c.Hello)
	c.HTTP2Preface = nilIfEmpty(c.HTTP2Preface)
	if len(c.PseudoHeaderOrder) == 0 {
		c.PseudoHeaderOrder = nil
	}
	return c
}

func normObservation(t *testing.T, o Observation) Observation {
	t.Helper()
	o.At = o.At.UTC()
	if len(o.Headers) == 0 {
		o.Headers = nil
	}
	if len(o.JS) == 0 {
		o.JS = nil
	} else {
		var v any
		if err := json.Unmarshal(o.JS, &v); err != nil {
			t.Fatalf("observation %s: javascript values: %v", o.ID, err)
		}
		o.JS, _ = json.Marshal(v)
	}
	return o
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// diffFields names the fields of two structs that differ.
func diffFields(want, got any) []string {
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	var out []string
	for i := 0; i < wv.NumField(); i++ {
		if !reflect.DeepEqual(wv.Field(i).Interface(), gv.Field(i).Interface()) {
			out = append(out, fmt.Sprintf("%s: got %.300v, want %.300v", wv.Type().Field(i).Name, gv.Field(i).Interface(), wv.Field(i).Interface()))
		}
	}
	return out
}

func checkRecord(t *testing.T, want, got *VisitRecord) {
	t.Helper()
	if got == nil {
		t.Fatal("nil VisitRecord")
	}
	if !want.Visit.Start.Equal(got.Visit.Start) || want.Visit.ID != got.Visit.ID || want.Visit.Fleet != got.Visit.Fleet {
		t.Errorf("visit %+v, want %+v", got.Visit, want.Visit)
	}
	if len(got.Observations) != len(want.Observations) {
		t.Errorf("visit %s: %d observations, want %d", want.Visit.ID, len(got.Observations), len(want.Observations))
	} else {
		for i := range want.Observations {
			for _, d := range diffFields(normObservation(t, want.Observations[i]), normObservation(t, got.Observations[i])) {
				t.Errorf("observation %d (%s): %s", i, want.Observations[i].Kind, d)
			}
		}
	}
	if len(got.Connections) != len(want.Connections) {
		t.Errorf("visit %s: %d connections, want %d", want.Visit.ID, len(got.Connections), len(want.Connections))
	} else {
		for i := range want.Connections {
			for _, d := range diffFields(normConnection(want.Connections[i]), normConnection(got.Connections[i])) {
				t.Errorf("connection %d: %s", i, d)
			}
		}
	}
}

func checkVisit(t *testing.T, ctx context.Context, s Store, want *VisitRecord) {
	t.Helper()
	got, err := s.Visit(ctx, want.Visit.ID)
	if err != nil {
		t.Fatalf("Visit(%s): %v", want.Visit.ID, err)
	}
	checkRecord(t, want, got)
}

// allStale lists every row Stale returns for version, page by page.
func allStale(t *testing.T, ctx context.Context, s Store, version, limit int) (conns []Connection, obs []Observation) {
	t.Helper()
	var after ID
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("Stale: no end")
		}
		page, err := s.Stale(ctx, version, after, limit)
		if err != nil {
			t.Fatalf("Stale(%d, %q, %d): %v", version, after, limit, err)
		}
		if n := len(page.Connections) + len(page.Observations); n > limit || (n == 0 && page.Next != "") {
			t.Fatalf("Stale page of %d rows (limit %d), next %q", n, limit, page.Next)
		}
		conns, obs = append(conns, page.Connections...), append(obs, page.Observations...)
		if page.Next == "" {
			return conns, obs
		}
		if page.Next <= after {
			t.Fatalf("Stale: cursor %q after %q", page.Next, after)
		}
		after = page.Next
	}
}

// storedIDs lists the ids of the stored connections and observations
// (every one is stale for a version above the code's).
func storedIDs(t *testing.T, ctx context.Context, s Store) (conns, obs []string) {
	t.Helper()
	cs, rows := allStale(t, ctx, s, fingerprint.AlgorithmVersion+1000, 1000)
	for _, c := range cs {
		conns = append(conns, string(c.ID))
	}
	for _, o := range rows {
		obs = append(obs, string(o.ID))
	}
	slices.Sort(conns)
	slices.Sort(obs)
	return conns, obs
}

func connIDs(b *Batch) []string {
	var out []string
	for _, c := range b.Connections {
		out = append(out, string(c.ID))
	}
	return out
}

func obsIDs(b *Batch) []string {
	var out []string
	for _, o := range b.Observations {
		out = append(out, string(o.ID))
	}
	return out
}

func sorted(lists ...[]string) []string {
	out := slices.Concat(lists...)
	slices.Sort(out)
	return out
}

func testRoundTrip(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	chrome := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()})
	firefox := f.visit(visitSpec{golden: "firefox-esr-153-linux", ua: uaFirefoxWin, start: base().Add(time.Minute), fleet: true})
	curl := f.visit(visitSpec{golden: "curl-7.88-h2", ua: uaCurl, start: base().Add(2 * time.Minute), kinds: []RequestKind{KindNavigate}})
	curl.Observations[0].Retry = true // every field set somewhere
	write(t, ctx, s, chrome, firefox, curl)
	for _, b := range []*Batch{chrome, firefox, curl} {
		checkVisit(t, ctx, s, record(b))
	}

	got, err := s.Visit(ctx, chrome.Visits[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	// The fetch request: names, order and lengths kept, secrets gone.
	fetch := got.Observations[1]
	if fetch.Kind != KindFetch {
		t.Fatalf("observation 1 is %s, want fetch", fetch.Kind)
	}
	redacted := map[string]bool{}
	for _, h := range fetch.Headers {
		for _, secret := range secretValues() {
			if strings.Contains(h.Value, secret) {
				t.Errorf("header %s stored with %q", h.Name, secret)
			}
		}
		if h.Redacted {
			redacted[strings.ToLower(h.Name)] = true
		}
		if h.Name == "cookie" && (h.Value != "rama-fp=; session=; fp_fleet=" || h.Length != len("rama-fp=ready; session=s3ss10n-VALUE-d1e8; fp_fleet=fleet-SECRET-77aa")) {
			t.Errorf("cookie stored as %+v", h)
		}
	}
	for _, name := range []string{"cookie", "authorization", "proxy-authorization", "x-forwarded-for", "forwarded", "x-real-ip"} {
		if !redacted[name] {
			t.Errorf("%s not marked redacted", name)
		}
	}
	if len(fetch.JS) == 0 {
		t.Error("javascript values lost")
	}
	if got.Connections[0].Derived.Akamai == "" || got.Connections[1].Derived.Akamai != "" {
		t.Errorf("akamai %q on the h2 connection, %q on the websocket one", got.Connections[0].Derived.Akamai, got.Connections[1].Derived.Akamai)
	}
}

func testHeaderBytes(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	b := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base(), kinds: []RequestKind{KindNavigate}})
	o := &b.Observations[0]
	o.Headers = append(o.Headers,
		StoredHeader{Name: "X-Latin1", Value: "caf\xe9", Length: 4},
		StoredHeader{Name: "x-empty", Value: "", Length: 0},
		StoredHeader{Name: "X-Quote", Value: `"a\b"; c='d' <e>&`, Length: 17},
		StoredHeader{Name: "x-utf8", Value: "日本語 ☃", Length: len("日本語 ☃")},
		StoredHeader{Name: "user-agent", Value: "second UA header", Length: 16}, // repeated names keep their places
	)
	o.Path = "/caf%C3%A9/x"
	write(t, ctx, s, b)
	checkVisit(t, ctx, s, record(b))
}

func testNoAliasing(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	b := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()})
	keep := merge(b)
	keep.Connections = slices.Clone(b.Connections)
	for i := range keep.Connections {
		c := &keep.Connections[i]
		c.Hello, c.HTTP2Preface, c.PseudoHeaderOrder = slices.Clone(c.Hello), slices.Clone(c.HTTP2Preface), slices.Clone(c.PseudoHeaderOrder)
	}
	keep.Observations = slices.Clone(b.Observations)
	for i := range keep.Observations {
		o := &keep.Observations[i]
		o.Headers, o.JS = slices.Clone(o.Headers), slices.Clone(o.JS)
	}
	write(t, ctx, s, b)
	// The caller reuses its buffers.
	b.Connections[0].Hello[10] ^= 0xff
	b.Connections[0].HTTP2Preface[30] ^= 0xff
	b.Connections[0].PseudoHeaderOrder[0] = ":changed"
	b.Observations[0].Headers[0].Value = "changed"
	b.Observations[1].JS[0] = ' '
	checkVisit(t, ctx, s, record(keep))
	// A reader changes what it got.
	got, err := s.Visit(ctx, keep.Visits[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Connections[0].Hello[10] ^= 0xff
	got.Connections[0].PseudoHeaderOrder[0] = ":changed"
	got.Observations[0].Headers[0].Value = "changed"
	got.Observations = got.Observations[:1]
	checkVisit(t, ctx, s, record(keep))
}

func testWriteIdempotent(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	b := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()})
	write(t, ctx, s, b, b)
	checkVisit(t, ctx, s, record(b))
	res, err := s.Search(ctx, SearchJA4, f.data.goldens["chromium-156-linux"].derived.TLS.JA4)
	if err != nil {
		t.Fatal(err)
	}
	if res.Observations != 5 {
		t.Errorf("Search counts %d observations after writing 5 twice", res.Observations)
	}
	totals, err := s.FamilyTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []FamilyTotal{{Family: "Chrome", Visits: 1, Observations: 5}}; !slices.Equal(totals, want) {
		t.Errorf("FamilyTotals %+v, want %+v", totals, want)
	}

	// The same ids with other contents: the first rows stay.
	again := merge(b)
	again.Visits = []Visit{{ID: b.Visits[0].ID, Start: base().Add(time.Hour), Fleet: true}}
	again.Connections = slices.Clone(b.Connections)
	again.Connections[0].ALPN = "http/1.1"
	again.Connections[0].Derived.TLS.JA4 = "t13d0000h1_000000000000_000000000000"
	again.Observations = slices.Clone(b.Observations)
	again.Observations[0].Path = "/other"
	again.Observations[0].Derived.JA4H = "changed"
	write(t, ctx, s, again)
	checkVisit(t, ctx, s, record(b))

	// A batch holding a row twice (two requests on one keep-alive
	// connection, each enqueued with its connection), new rows besides.
	more := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base().Add(time.Hour), kinds: []RequestKind{KindNavigate, KindFetch}})
	first, second := merge(more), merge(more)
	first.Observations, second.Observations = more.Observations[:1], more.Observations[1:]
	second.Visits = nil
	write(t, ctx, s, merge(first, second))
	checkVisit(t, ctx, s, record(more))
	conns, obs := storedIDs(t, ctx, s)
	if want := sorted(connIDs(b), connIDs(more)); !slices.Equal(conns, want) {
		t.Errorf("connections stored %v, want %v", conns, want)
	}
	if want := sorted(obsIDs(b), obsIDs(more)); !slices.Equal(obs, want) {
		t.Errorf("observations stored %v, want %v", obs, want)
	}
}

func testWriteAllOrNothing(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	cases := []struct {
		name   string
		break_ func(b *Batch, f *fixtures)
		badID  bool
	}{
		{"ObservationOnUnknownConnection", func(b *Batch, f *fixtures) { b.Observations[2].ConnectionID = ConnectionID(f.id()) }, false},
		{"ObservationOfUnknownVisit", func(b *Batch, f *fixtures) { b.Observations[3].VisitID = VisitID(f.id()) }, false},
		{"UnknownRequestKind", func(b *Batch, f *fixtures) { b.Observations[1].Kind = "prefetch" }, false},
		{"JavaScriptValuesNotJSON", func(b *Batch, f *fixtures) { b.Observations[1].JS = json.RawMessage(`{"navigator":`) }, false},
		{"MalformedObservationID", func(b *Batch, f *fixtures) { b.Observations[4].ID = "not-an-id" }, true},
		{"MalformedConnectionID", func(b *Batch, f *fixtures) { b.Connections[1].ID = "ABCDEF" }, true},
		{"UppercaseVisitID", func(b *Batch, f *fixtures) {
			b.Visits[0].ID = VisitID(strings.ToUpper(string(b.Visits[0].ID)))
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()})
			id := b.Visits[0].ID
			tc.break_(b, f)
			err := s.Write(ctx, b)
			if err == nil {
				t.Fatal("Write accepted the batch")
			}
			if tc.badID && !errors.Is(err, ErrBadID) {
				t.Errorf("Write: %v, want ErrBadID", err)
			}
			if _, err := s.Visit(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Visit after a failed write: %v, want ErrNotFound", err)
			}
			if conns, obs := storedIDs(t, ctx, s); len(conns)+len(obs) > 0 {
				t.Errorf("a failed write stored %v %v", conns, obs)
			}
		})
	}
}

func testEarlierBatches(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	b := f.visit(visitSpec{golden: "utls-edge-106", ua: uaEdgeWin, start: base()})
	// The connections first, then the visit with its navigation, then the
	// other requests: what a server writing as it goes produces.
	write(t, ctx, s,
		&Batch{Connections: b.Connections},
		&Batch{Visits: b.Visits, Observations: b.Observations[:1]},
		&Batch{Observations: b.Observations[1:]})
	checkVisit(t, ctx, s, record(b))
	latest, err := s.LatestCompleteVisits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 1 {
		t.Fatalf("LatestCompleteVisits: %d visits, want 1", len(latest))
	}
	checkRecord(t, record(b), &latest[0])
}

func testEmptyBatch(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	write(t, ctx, s, &Batch{})
	if conns, obs := storedIDs(t, ctx, s); len(conns)+len(obs) > 0 {
		t.Errorf("an empty store holds %v %v", conns, obs)
	}
	latest, err := s.LatestCompleteVisits(ctx)
	if err != nil || len(latest) != 0 {
		t.Errorf("LatestCompleteVisits on an empty store: %v, %v", latest, err)
	}
	totals, err := s.FamilyTotals(ctx)
	if err != nil || len(totals) != 0 {
		t.Errorf("FamilyTotals on an empty store: %v, %v", totals, err)
	}
}

func testVisitNotFound(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	write(t, ctx, s, f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()}))
	if _, err := s.Visit(ctx, VisitID(f.id())); !errors.Is(err, ErrNotFound) {
		t.Errorf("Visit(unknown): %v, want ErrNotFound", err)
	}
}

// searchData writes: two public Chrome visits on the Chromium hello, the
// second with another User-Agent and three requests; a complete fleet
// Firefox visit; one curl request.
func searchData(t *testing.T, ctx context.Context, s Store, f *fixtures) (chrome1, chrome2, firefox, curl *Batch) {
	chrome1 = f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()})
	chrome2 = f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeWin, start: base().Add(time.Hour),
		kinds: []RequestKind{KindNavigate, KindFetch, KindXHR}})
	firefox = f.visit(visitSpec{golden: "firefox-esr-153-linux", ua: uaFirefoxWin, start: base().Add(2 * time.Hour), fleet: true})
	curl = f.visit(visitSpec{golden: "curl-7.88-h2", ua: uaCurl, start: base().Add(3 * time.Hour), kinds: []RequestKind{KindNavigate}})
	write(t, ctx, s, chrome1, merge(chrome2, firefox), curl)
	return
}

func testSearch(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	chrome1, chrome2, firefox, curl := searchData(t, ctx, s, f)
	g := func(name string) fingerprint.TLSFingerprints { return f.data.goldens[name].derived.TLS }
	akamai := func(name string) string { return f.data.goldens[name].derived.AkamaiHash }
	chrome, ff, cu := g("chromium-156-linux"), g("firefox-esr-153-linux"), g("curl-7.88-h2")
	chromeUAs := []Count{{Value: uaChromeLinux, Count: 5}, {Value: uaChromeWin, Count: 3}}
	last := func(b *Batch) time.Time { return b.Observations[len(b.Observations)-1].At }

	cases := []struct {
		name     string
		kind     FingerprintKind
		hash     string
		count    int
		first    time.Time
		last     time.Time
		uas      []Count
		families []Count
		co       []KindCount
	}{
		{"JA3Chrome", SearchJA3, chrome.JA3Hash, 8, chrome1.Observations[0].At, last(chrome2), chromeUAs,
			[]Count{{"Chrome", 8}}, []KindCount{
				{SearchJA3N, Count{chrome.JA3NHash, 8}}, {SearchJA4, Count{chrome.JA4, 8}},
				{SearchPeetPrint, Count{chrome.PeetPrintHash, 8}}, {SearchAkamai, Count{akamai("chromium-156-linux"), 7}}}},
		{"JA3NChrome", SearchJA3N, chrome.JA3NHash, 8, chrome1.Observations[0].At, last(chrome2), chromeUAs,
			[]Count{{"Chrome", 8}}, []KindCount{
				{SearchJA3, Count{chrome.JA3Hash, 8}}, {SearchJA4, Count{chrome.JA4, 8}},
				{SearchPeetPrint, Count{chrome.PeetPrintHash, 8}}, {SearchAkamai, Count{akamai("chromium-156-linux"), 7}}}},
		{"JA4Chrome", SearchJA4, chrome.JA4, 8, chrome1.Observations[0].At, last(chrome2), chromeUAs,
			[]Count{{"Chrome", 8}}, []KindCount{
				{SearchJA3, Count{chrome.JA3Hash, 8}}, {SearchJA3N, Count{chrome.JA3NHash, 8}},
				{SearchPeetPrint, Count{chrome.PeetPrintHash, 8}}, {SearchAkamai, Count{akamai("chromium-156-linux"), 7}}}},
		{"PeetPrintChrome", SearchPeetPrint, chrome.PeetPrintHash, 8, chrome1.Observations[0].At, last(chrome2), chromeUAs,
			[]Count{{"Chrome", 8}}, []KindCount{
				{SearchJA3, Count{chrome.JA3Hash, 8}}, {SearchJA3N, Count{chrome.JA3NHash, 8}},
				{SearchJA4, Count{chrome.JA4, 8}}, {SearchAkamai, Count{akamai("chromium-156-linux"), 7}}}},
		// The websocket request came on an HTTP/1.1 connection: no Akamai.
		{"AkamaiChrome", SearchAkamai, akamai("chromium-156-linux"), 7, chrome1.Observations[0].At, last(chrome2),
			[]Count{{uaChromeLinux, 4}, {uaChromeWin, 3}}, []Count{{"Chrome", 7}}, []KindCount{
				{SearchJA3, Count{chrome.JA3Hash, 7}}, {SearchJA3N, Count{chrome.JA3NHash, 7}},
				{SearchJA4, Count{chrome.JA4, 7}}, {SearchPeetPrint, Count{chrome.PeetPrintHash, 7}}}},
		// A fleet visit is found like any other.
		{"JA4FirefoxFleet", SearchJA4, ff.JA4, 5, firefox.Observations[0].At, last(firefox),
			[]Count{{uaFirefoxWin, 5}}, []Count{{"Firefox", 5}}, []KindCount{
				{SearchJA3, Count{ff.JA3Hash, 5}}, {SearchJA3N, Count{ff.JA3NHash, 5}},
				{SearchPeetPrint, Count{ff.PeetPrintHash, 5}}, {SearchAkamai, Count{akamai("firefox-esr-153-linux"), 4}}}},
		{"AkamaiCurl", SearchAkamai, akamai("curl-7.88-h2"), 1, curl.Observations[0].At, curl.Observations[0].At,
			[]Count{{uaCurl, 1}}, []Count{{"curl", 1}}, []KindCount{
				{SearchJA3, Count{cu.JA3Hash, 1}}, {SearchJA3N, Count{cu.JA3NHash, 1}},
				{SearchJA4, Count{cu.JA4, 1}}, {SearchPeetPrint, Count{cu.PeetPrintHash, 1}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Search(ctx, tc.kind, tc.hash)
			if err != nil {
				t.Fatalf("Search(%s, %s): %v", tc.kind, tc.hash, err)
			}
			if res.Kind != tc.kind || res.Hash != tc.hash || res.Observations != tc.count {
				t.Errorf("Search: %s %s %d observations, want %s %s %d", res.Kind, res.Hash, res.Observations, tc.kind, tc.hash, tc.count)
			}
			if !res.FirstSeen.Equal(tc.first) || !res.LastSeen.Equal(tc.last) {
				t.Errorf("seen %v to %v, want %v to %v", res.FirstSeen, res.LastSeen, tc.first, tc.last)
			}
			if !slices.Equal(res.UserAgents, tc.uas) {
				t.Errorf("user agents %v, want %v", res.UserAgents, tc.uas)
			}
			if !slices.Equal(res.Families, tc.families) {
				t.Errorf("families %v, want %v", res.Families, tc.families)
			}
			if !slices.Equal(res.CoOccurring, tc.co) {
				t.Errorf("co-occurring %v, want %v", res.CoOccurring, tc.co)
			}
		})
	}
}

func testSearchNotFound(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	searchData(t, ctx, s, f)
	cases := []struct {
		name string
		kind FingerprintKind
		hash string
	}{
		{"UnknownJA3", SearchJA3, "00000000000000000000000000000000"},
		{"UnknownJA4", SearchJA4, "t13d1517h2_000000000000_000000000000"},
		{"JA4RawIsNotJA4", SearchJA4, f.data.goldens["chromium-156-linux"].derived.TLS.JA4R},
		{"EmptyAkamaiOfHTTP1Connections", SearchAkamai, ""},
		{"EmptyJA3", SearchJA3, ""},
		{"JA3StringIsNotItsHash", SearchJA3, f.data.goldens["chromium-156-linux"].derived.TLS.JA3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if res, err := s.Search(ctx, tc.kind, tc.hash); !errors.Is(err, ErrNotFound) {
				t.Errorf("Search(%s, %q): %+v, %v; want ErrNotFound", tc.kind, tc.hash, res, err)
			}
		})
	}
	t.Run("UnknownKind", func(t *testing.T) {
		if _, err := s.Search(ctx, "ja5", "x"); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Search(ja5): %v, want an error other than ErrNotFound", err)
		}
	})
}

func testFamilyTotals(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	searchData(t, ctx, s, f)
	edge := f.visit(visitSpec{golden: "utls-edge-106", ua: uaEdgeWin, start: base(), kinds: []RequestKind{KindNavigate}})
	write(t, ctx, s, edge)
	got, err := s.FamilyTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []FamilyTotal{
		{Family: "Chrome", Visits: 2, Observations: 8},
		{Family: "Firefox", Visits: 1, Observations: 5},
		{Family: "Edge", Visits: 1, Observations: 1}, // ties by family name
		{Family: "curl", Visits: 1, Observations: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("FamilyTotals\n got %+v\nwant %+v", got, want)
	}
}

func testLatestComplete(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	all := []RequestKind{KindNavigate, KindFetch, KindXHR, KindForm, KindWebsocket}
	chromeOld := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()})
	chromeLatest := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base().Add(time.Hour)})
	// Newer but without the websocket: not complete.
	chromeIncomplete := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base().Add(2 * time.Hour), kinds: all[:4]})
	// Firefox: the fleet's visit wins over a newer public one.
	firefoxFleet := f.visit(visitSpec{golden: "firefox-esr-153-linux", ua: uaFirefoxWin, start: base().Add(30 * time.Minute), fleet: true})
	firefoxPublic := f.visit(visitSpec{golden: "firefox-esr-153-linux", ua: uaFirefoxWin, start: base().Add(3 * time.Hour)})
	// Edge: complete with a repeated navigation (Critical-CH), public only.
	edge := f.visit(visitSpec{golden: "utls-edge-106", ua: uaEdgeWin, start: base().Add(4 * time.Hour),
		kinds: []RequestKind{KindNavigate, KindNavigate, KindFetch, KindXHR, KindForm, KindWebsocket}})
	edge.Observations[1].Retry = true
	// Safari: every kind but the form, twice.
	safari1 := f.visit(visitSpec{golden: "utls-safari-16-0", ua: uaSafariIOS, start: base(), kinds: []RequestKind{KindNavigate, KindFetch, KindXHR, KindWebsocket}})
	safari2 := f.visit(visitSpec{golden: "utls-safari-16-0", ua: uaSafariIOS, start: base().Add(time.Hour), kinds: []RequestKind{KindForm}})
	write(t, ctx, s, chromeLatest, chromeOld, chromeIncomplete, firefoxPublic, firefoxFleet, edge, safari1, safari2)

	got, err := s.LatestCompleteVisits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []*VisitRecord{record(edge), record(chromeLatest), record(firefoxFleet)} // newest first
	if len(got) != len(want) {
		var ids []VisitID
		for _, r := range got {
			ids = append(ids, r.Visit.ID)
		}
		t.Fatalf("LatestCompleteVisits: visits %v, want edge %s, chrome %s, firefox fleet %s", ids,
			edge.Visits[0].ID, chromeLatest.Visits[0].ID, firefoxFleet.Visits[0].ID)
	}
	for i := range want {
		checkRecord(t, want[i], &got[i])
	}
}

func testDeleteVisit(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	gone := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()})
	// A reload in the same tab: a new visit on the same HTTP/2 connection,
	// its websocket on a connection of its own.
	kept := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base().Add(time.Minute)})
	shared := gone.Connections[0]
	for i := range kept.Observations {
		if kept.Observations[i].ConnectionID == kept.Connections[0].ID {
			kept.Observations[i].ConnectionID = shared.ID
		}
	}
	kept.Connections[0] = shared
	other := f.visit(visitSpec{golden: "firefox-esr-153-linux", ua: uaFirefoxWin, start: base().Add(2 * time.Minute)})
	write(t, ctx, s, gone, kept, other)
	// A connection no observation uses (a handshake without a request) is
	// no visit's to delete.
	idle := f.connection("curl-7.88-h2", base(), false)
	write(t, ctx, s, &Batch{Connections: []Connection{idle}})

	if err := s.DeleteVisit(ctx, gone.Visits[0].ID); err != nil {
		t.Fatalf("DeleteVisit: %v", err)
	}
	if _, err := s.Visit(ctx, gone.Visits[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Visit after DeleteVisit: %v, want ErrNotFound", err)
	}
	checkVisit(t, ctx, s, record(kept))
	checkVisit(t, ctx, s, record(other))
	conns, obs := storedIDs(t, ctx, s)
	// The deleted visit's websocket connection is gone; the shared one stays.
	if want := sorted([]string{string(shared.ID), string(kept.Connections[1].ID), string(idle.ID)}, connIDs(other)); !slices.Equal(conns, want) {
		t.Errorf("connections after DeleteVisit %v, want %v", conns, want)
	}
	if want := sorted(obsIDs(kept), obsIDs(other)); !slices.Equal(obs, want) {
		t.Errorf("observations after DeleteVisit %v, want %v", obs, want)
	}
	if _, err := s.(derivedHistory).connectionHistory(ctx, gone.Connections[1].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("derived history of a deleted connection: %v, want ErrNotFound", err)
	}
	if _, err := s.(derivedHistory).observationHistory(ctx, gone.Observations[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("derived history of a deleted observation: %v, want ErrNotFound", err)
	}
	res, err := s.Search(ctx, SearchJA4, f.data.goldens["chromium-156-linux"].derived.TLS.JA4)
	if err != nil || res.Observations != 5 {
		t.Errorf("Search after DeleteVisit: %+v, %v; want the kept visit's 5 observations", res, err)
	}
	var buf bytes.Buffer
	if err := s.Export(ctx, &buf, true); err != nil {
		t.Fatal(err)
	}
	for _, id := range obsIDs(gone) {
		if strings.Contains(buf.String(), id) {
			t.Errorf("export holds deleted observation %s", id)
		}
	}
	for _, id := range []VisitID{gone.Visits[0].ID, VisitID(f.id())} {
		if err := s.DeleteVisit(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteVisit(%s) of no visit: %v, want ErrNotFound", id, err)
		}
	}
}

// readExport splits an export into its header and visit lines.
func readExport(t *testing.T, out []byte) (exportHeader, []exportVisit) {
	t.Helper()
	if len(out) == 0 || out[len(out)-1] != '\n' {
		t.Fatal("export does not end with a newline")
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	var header exportHeader
	var visits []exportVisit
	for n := 0; sc.Scan(); n++ {
		line := sc.Bytes()
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var err error
		if n == 0 {
			err = dec.Decode(&header)
		} else {
			var v exportVisit
			err = dec.Decode(&v)
			visits = append(visits, v)
		}
		if err != nil || dec.More() {
			t.Fatalf("export line %d is not one JSON object of its kind: %v: %.200s", n+1, err, line)
		}
	}
	return header, visits
}

func testExport(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	public1 := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base().Add(time.Hour)})
	fleet := f.visit(visitSpec{golden: "firefox-esr-153-linux", ua: uaFirefoxWin, start: base().Add(30 * time.Minute), fleet: true})
	public2 := f.visit(visitSpec{golden: "utls-safari-16-0", ua: uaSafariIOS, start: base(), kinds: []RequestKind{KindNavigate, KindFetch}})
	write(t, ctx, s, public1, fleet, public2)

	cases := []struct {
		name      string
		withFleet bool
		want      []*Batch // in Start order
	}{
		{"Public", false, []*Batch{public2, public1}},
		{"WithFleet", true, []*Batch{public2, fleet, public1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := s.Export(ctx, &buf, tc.withFleet); err != nil {
				t.Fatal(err)
			}
			out := buf.Bytes()
			header, visits := readExport(t, out)
			if header != newExportHeader(tc.withFleet) {
				t.Errorf("header %+v, want %+v", header, newExportHeader(tc.withFleet))
			}
			if header.Licence == "" || header.LicenceURL == "" {
				t.Error("no licence in the header")
			}
			if len(visits) != len(tc.want) {
				t.Fatalf("%d visits exported, want %d", len(visits), len(tc.want))
			}
			for i, b := range tc.want {
				want := jsonRoundTrip(t, newExportVisit(record(b)))
				got := visits[i]
				for j := range want.Observations {
					want.Observations[j] = normExportObservation(t, want.Observations[j])
				}
				for j := range got.Observations {
					got.Observations[j] = normExportObservation(t, got.Observations[j])
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("visit line %d:\n got %.2000v\nwant %.2000v", i+1, got, want)
				}
			}
			// Neither visit ids (they delete) nor redacted values leave.
			for _, b := range []*Batch{public1, fleet, public2} {
				if bytes.Contains(out, []byte(b.Visits[0].ID)) {
					t.Errorf("export holds visit id %s", b.Visits[0].ID)
				}
			}
			for _, secret := range secretValues() {
				if bytes.Contains(out, []byte(secret)) {
					t.Errorf("export holds %q", secret)
				}
			}
			if !tc.withFleet {
				for _, id := range slices.Concat(obsIDs(fleet), connIDs(fleet)) {
					if bytes.Contains(out, []byte(id)) {
						t.Errorf("public export holds fleet row %s", id)
					}
				}
			}
		})
	}
}

// jsonRoundTrip returns v as an export reader sees it.
func jsonRoundTrip(t *testing.T, v exportVisit) exportVisit {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out exportVisit
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func normExportObservation(t *testing.T, o exportObservation) exportObservation {
	t.Helper()
	if len(o.JS) > 0 {
		var v any
		if err := json.Unmarshal(o.JS, &v); err != nil {
			t.Fatal(err)
		}
		o.JS, _ = json.Marshal(v)
	}
	return o
}

func testStaleAddDerived(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	const cur = fingerprint.AlgorithmVersion
	chrome := f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()})
	firefox := f.visit(visitSpec{golden: "firefox-esr-153-linux", ua: uaFirefoxWin, start: base().Add(time.Hour), fleet: true})
	old := f.visit(visitSpec{golden: "curl-7.88-h2", ua: uaCurl, start: base().Add(2 * time.Hour), kinds: []RequestKind{KindNavigate}})
	old.Connections[0].Derived.Version = cur - 1 // computed by an older algorithm
	old.Observations[0].Derived.Version = cur - 1
	write(t, ctx, s, chrome, firefox, old)
	all := merge(chrome, firefox, old)

	// Up to date: only the rows of the older version are stale.
	conns, obs := allStale(t, ctx, s, cur, 2)
	if len(conns) != 1 || len(obs) != 1 || conns[0].ID != old.Connections[0].ID || obs[0].ID != old.Observations[0].ID {
		t.Fatalf("Stale(%d): %d connections, %d observations; want the curl request's", cur, len(conns), len(obs))
	}

	// A new algorithm: every row is stale, in pages of 3, in id order, each once,
	// with its raw evidence.
	next := cur + 1
	conns, obs = allStale(t, ctx, s, next, 3)
	var ids []string
	for _, c := range conns {
		ids = append(ids, string(c.ID))
	}
	for _, o := range obs {
		ids = append(ids, string(o.ID))
	}
	if want := sorted(connIDs(all), obsIDs(all)); !slices.Equal(sorted(ids), want) {
		t.Fatalf("Stale(%d) listed %v, want %v", next, sorted(ids), want)
	}
	byID := map[ConnectionID]Connection{}
	for _, c := range all.Connections {
		byID[c.ID] = c
	}
	for _, c := range conns {
		for _, d := range diffFields(normConnection(byID[c.ID]), normConnection(c)) {
			t.Errorf("stale connection %s: %s", c.ID, d)
		}
	}
	obsByID := map[ObservationID]Observation{}
	for _, o := range all.Observations {
		obsByID[o.ID] = o
	}
	for _, o := range obs {
		for _, d := range diffFields(normObservation(t, obsByID[o.ID]), normObservation(t, o)) {
			t.Errorf("stale observation %s: %s", o.ID, d)
		}
	}

	// Recompute page by page, as fp recompute does: the new JA4 of the
	// Chromium hello differs from the old.
	oldJA4 := f.data.goldens["chromium-156-linux"].derived.TLS.JA4
	newJA4 := "t13d1517h2_8daaf6152771_000000000002"
	recomputed := func(c Connection) ConnectionFingerprints {
		d := c.Derived
		d.Version = next
		if d.TLS.JA4 == oldJA4 {
			d.TLS.JA4 = newJA4
		}
		return d
	}
	var after ID
	for {
		page, err := s.Stale(ctx, next, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		d := &DerivedBatch{Connections: map[ConnectionID]ConnectionFingerprints{}, Observations: map[ObservationID]ObservationFingerprints{}}
		for _, c := range page.Connections {
			d.Connections[c.ID] = recomputed(c)
		}
		for _, o := range page.Observations {
			od := o.Derived
			od.Version, od.JA4H = next, od.JA4H+"-v2"
			d.Observations[o.ID] = od
		}
		if err := s.AddDerived(ctx, d); err != nil {
			t.Fatal(err)
		}
		// Rows just recomputed are no longer stale; the cursor still
		// finds the ones after them.
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if conns, obs := allStale(t, ctx, s, next, 5); len(conns)+len(obs) != 0 {
		t.Errorf("after recompute, Stale(%d) still lists %d connections, %d observations", next, len(conns), len(obs))
	}

	// Search uses the latest version; the old rows are history.
	if _, err := s.Search(ctx, SearchJA4, oldJA4); !errors.Is(err, ErrNotFound) {
		t.Errorf("Search(old JA4): %v, want ErrNotFound", err)
	}
	res, err := s.Search(ctx, SearchJA4, newJA4)
	if err != nil || res.Observations != 5 {
		t.Fatalf("Search(new JA4): %+v, %v; want 5 observations", res, err)
	}
	h := s.(derivedHistory)
	ch, err := h.connectionHistory(ctx, chrome.Connections[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 2 || ch[0] != chrome.Connections[0].Derived || ch[1] != recomputed(chrome.Connections[0]) {
		t.Errorf("connection history %+v", ch)
	}
	oh, err := h.observationHistory(ctx, chrome.Observations[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(oh) != 2 || oh[0] != chrome.Observations[0].Derived || oh[1].Version != next || oh[1].JA4H != oh[0].JA4H+"-v2" {
		t.Errorf("observation history %+v", oh)
	}
	got, err := s.Visit(ctx, chrome.Visits[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Connections[0].Derived != recomputed(chrome.Connections[0]) || got.Observations[0].Derived != oh[1] {
		t.Errorf("Visit reads derived %+v / %+v, want the latest", got.Connections[0].Derived, got.Observations[0].Derived)
	}
	hist, err := h.connectionHistory(ctx, old.Connections[0].ID)
	if err != nil || len(hist) != 2 || hist[0].Version != cur-1 || hist[1].Version != next {
		t.Errorf("history of the older row: %+v, %v", hist, err)
	}

	// AddDerived again (a recompute run repeated), an older version, a
	// row that does not exist: nothing changes.
	again := &DerivedBatch{
		Connections: map[ConnectionID]ConnectionFingerprints{
			chrome.Connections[0].ID: {Version: next, TLS: fingerprint.TLSFingerprints{JA4: "other"}},
			ConnectionID(f.id()):     {Version: next},
		},
		Observations: map[ObservationID]ObservationFingerprints{ObservationID(f.id()): {Version: next}},
	}
	if err := s.AddDerived(ctx, again); err != nil {
		t.Fatalf("AddDerived of known versions and unknown rows: %v", err)
	}
	if ch2, _ := h.connectionHistory(ctx, chrome.Connections[0].ID); !slices.Equal(ch2, ch) {
		t.Errorf("history after a repeated AddDerived %+v, want %+v", ch2, ch)
	}
	older := &DerivedBatch{Connections: map[ConnectionID]ConnectionFingerprints{
		firefox.Connections[0].ID: {Version: cur - 1, TLS: fingerprint.TLSFingerprints{JA4: "older"}}}}
	if err := s.AddDerived(ctx, older); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Search(ctx, SearchJA4, f.data.goldens["firefox-esr-153-linux"].derived.TLS.JA4); err != nil || res.Observations != 5 {
		t.Errorf("an older version added became the latest: %+v, %v", res, err)
	}
	if fh, _ := h.connectionHistory(ctx, firefox.Connections[0].ID); len(fh) != 3 || fh[0].Version != cur-1 {
		t.Errorf("history lowest version first: %+v", fh)
	}
}

func testStaleLimit(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	write(t, ctx, s, f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base()}))
	for _, limit := range []int{0, -1} {
		if _, err := s.Stale(ctx, fingerprint.AlgorithmVersion+1, "", limit); err == nil {
			t.Errorf("Stale with limit %d: no error", limit)
		}
	}
	// A page exactly as long as what is left ends the listing.
	page, err := s.Stale(ctx, fingerprint.AlgorithmVersion+1, "", 7)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(page.Connections) + len(page.Observations); n != 7 || page.Next != "" {
		t.Errorf("Stale(limit 7) of 7 rows: %d rows, next %q; want 7 and the end", n, page.Next)
	}
	page, err = s.Stale(ctx, fingerprint.AlgorithmVersion+1, "", 6)
	if err != nil {
		t.Fatal(err)
	}
	if page.Next == "" {
		t.Error("Stale(limit 6) of 7 rows: no next page")
	}
	if page, err = s.Stale(ctx, fingerprint.AlgorithmVersion+1, page.Next, 6); err != nil || len(page.Connections)+len(page.Observations) != 1 || page.Next != "" {
		t.Errorf("second page: %+v, %v; want the last row and the end", page, err)
	}
}

func testConcurrent(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	const writers, perWriter = 6, 4
	batches := make([][]*Batch, writers)
	for w := range batches {
		for i := 0; i < perWriter; i++ {
			batches[w] = append(batches[w], f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux,
				start: base().Add(time.Duration(w*perWriter+i) * time.Minute)}))
		}
	}
	ja4 := f.data.goldens["chromium-156-linux"].derived.TLS.JA4
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter*4)
	for w := range batches {
		wg.Go(func() {
			for _, b := range batches[w] {
				if err := s.Write(ctx, b); err != nil {
					errs <- err
				}
				if _, err := s.Search(ctx, SearchJA4, ja4); err != nil {
					errs <- fmt.Errorf("Search: %w", err)
				}
				if _, err := s.FamilyTotals(ctx); err != nil {
					errs <- err
				}
				if _, err := s.LatestCompleteVisits(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	res, err := s.Search(ctx, SearchJA4, ja4)
	if err != nil || res.Observations != writers*perWriter*5 {
		t.Errorf("Search after concurrent writes: %+v, %v", res, err)
	}
	latest, err := s.LatestCompleteVisits(ctx)
	if err != nil || len(latest) != 1 || latest[0].Visit.ID != batches[writers-1][perWriter-1].Visits[0].ID {
		t.Errorf("LatestCompleteVisits after concurrent writes: %d, %v", len(latest), err)
	}
}

func testPingClose(t *testing.T, ctx context.Context, s Store, f *fixtures) {
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close: no error")
	}
	_ = s.Close() // again, as the test's cleanup may
}
