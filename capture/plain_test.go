package capture

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/fpwork/fp/fingerprint"
)

// recordHandler answers with what the capture recorded for the request.
func recordHandler(proto Protocol) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pc, _ := PlainFromContext(r.Context())
		out := map[string]any{"path": r.URL.Path}
		if proto == ProtocolHTTP1 {
			head, ok := pc.ClaimHTTP1(r)
			out["ok"] = ok
			if ok {
				out["raw"] = string(head.Raw)
				out["ja4h"] = pc.Fingerprints(head).JA4H
			}
		} else {
			rec, match := pc.ClaimHTTP2(r)
			out["match"] = string(match)
			if rec != nil {
				var names []string
				for _, h := range rec.Headers {
					names = append(names, h.Name)
				}
				out["names"] = strings.Join(names, ",")
				out["akamai"] = pc.Fingerprints(rec).Akamai
			}
		}
		json.NewEncoder(w).Encode(out)
	})
}

// TestPlainConnHTTP1Pipelined: three pipelined requests, each handler
// gets its own head, byte for byte.
func TestPlainConnHTTP1Pipelined(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: recordHandler(ProtocolHTTP1), ReadHeaderTimeout: 5 * time.Second,
		ConnContext: ConnContext}
	go srv.Serve(&wrapListener{Listener: ln, wrap: func(c net.Conn) net.Conn { return NewPlainConn(c, ProtocolHTTP1) }})
	defer srv.Close()

	heads := []string{
		"GET /one HTTP/1.1\r\nHost: x\r\nuser-agent: A\r\nAccept: */*\r\n\r\n",
		"POST /two?q=1 HTTP/1.1\r\nAccept: */*\r\nHost: x\r\nContent-Length: 3\r\n\r\n",
		"GET /three HTTP/1.1\r\nHOST: x\r\nCookie: b=1; a=2\r\n\r\n",
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, heads[0]+heads[1]+"abc"+heads[2])
	br := bufio.NewReader(c)
	for i, want := range heads {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if got["ok"] != true || got["raw"] != want {
			t.Fatalf("request %d: %v, want head %q", i+1, got, want)
		}
	}
}

type wrapListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l *wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

// TestPlainConnHTTP2Streams: concurrent h2c streams with different paths
// are matched to their own records; two streams alike but for their
// header order are reported as ambiguous, not guessed.
func TestPlainConnHTTP2Streams(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			pc := NewPlainConn(c, ProtocolHTTP2)
			go (&http2.Server{}).ServeConn(pc, &http2.ServeConnOpts{
				Context: context.WithValue(context.Background(), plainKey{}, pc), Handler: recordHandler(ProtocolHTTP2)})
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	// One write for everything, so the server reads all the HEADERS
	// before the first handler runs: streams 5 and 7 are both open then.
	bw := bufio.NewWriter(c)
	fr := http2.NewFramer(bw, c)
	io.WriteString(bw, http2.ClientPreface)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	fr.WriteWindowUpdate(0, 1<<20)
	streams := []struct {
		id     uint32
		fields []string
	}{
		{1, []string{":method", "GET", ":authority", "x", ":scheme", "http", ":path", "/a", "accept", "*/*", "user-agent", "u"}},
		{3, []string{":method", "GET", ":path", "/b", ":scheme", "http", ":authority", "x", "user-agent", "u", "accept", "*/*"}},
		{5, []string{":method", "GET", ":authority", "x", ":scheme", "http", ":path", "/same", "x-a", "1", "x-b", "2"}},
		{7, []string{":method", "GET", ":authority", "x", ":scheme", "http", ":path", "/same", "x-b", "2", "x-a", "1"}},
	}
	for _, s := range streams {
		blk.Reset()
		for i := 0; i < len(s.fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: s.fields[i], Value: s.fields[i+1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: blk.Bytes(), EndHeaders: true, EndStream: true})
	}
	bw.Flush()
	fr = http2.NewFramer(c, c)
	results := map[uint32]map[string]any{}
	dec := hpack.NewDecoder(4096, nil)
	for len(results) < len(streams) {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.HeadersFrame:
			dec.DecodeFull(f.HeaderBlockFragment())
		case *http2.DataFrame:
			var m map[string]any
			if json.Unmarshal(f.Data(), &m) == nil {
				results[f.StreamID] = m
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		}
	}
	if r := results[1]; r["match"] != "exact" || r["names"] != ":method,:authority,:scheme,:path,accept,user-agent" || r["akamai"] != "4:1048576|1048576|0|m,a,s,p" {
		t.Errorf("stream 1: %v", r)
	}
	if r := results[3]; r["match"] != "exact" || r["names"] != ":method,:path,:scheme,:authority,user-agent,accept" {
		t.Errorf("stream 3: %v", r)
	}
	// 5 and 7 differ only in header order. The server reads frames while
	// handlers run, so a handler sees one or both records: it must get
	// its own or be told the match is ambiguous, never the other's.
	for id, own := range map[uint32]string{5: "x-a,x-b", 7: "x-b,x-a"} {
		r := results[id]
		if r["match"] == "ambiguous" {
			continue
		}
		if r["match"] != "exact" || r["names"] != ":method,:authority,:scheme,:path,"+own {
			t.Errorf("stream %d got another stream's record: %v", id, r)
		}
	}
}

// TestClaimHTTP2Ambiguous: with both records parsed before either claim,
// a request alike to both is ambiguous; one that differs in a value is not.
func TestClaimHTTP2Ambiguous(t *testing.T) {
	var wire, blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	wire.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&wire, nil)
	fr.WriteSettings()
	for _, s := range []struct {
		id     uint32
		fields []string
	}{
		{1, []string{":method", "GET", ":authority", "x", ":scheme", "http", ":path", "/same", "x-a", "1", "x-b", "2"}},
		{3, []string{":method", "GET", ":authority", "x", ":scheme", "http", ":path", "/same", "x-b", "2", "x-a", "1"}},
		{5, []string{":method", "GET", ":authority", "x", ":scheme", "http", ":path", "/same", "x-a", "9", "x-b", "2"}},
	} {
		blk.Reset()
		for i := 0; i < len(s.fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: s.fields[i], Value: s.fields[i+1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: blk.Bytes(), EndHeaders: true, EndStream: true})
	}
	pc := NewPlainConn(&fakeConn{r: &wire}, ProtocolHTTP2)
	io.ReadAll(pc)
	req := func(a string) *http.Request {
		r, _ := http.NewRequest("GET", "http://x/same", nil)
		r.RequestURI, r.Host = "/same", "x"
		r.Header.Set("X-A", a)
		r.Header.Set("X-B", "2")
		return r
	}
	if rec, m := pc.ClaimHTTP2(req("1")); m != MatchAmbiguous || rec != nil {
		t.Fatalf("alike streams: %v %v", m, rec)
	}
	if rec, m := pc.ClaimHTTP2(req("9")); m != MatchExact || rec.StreamID != 5 {
		t.Fatalf("distinct stream: %v %+v", m, rec)
	}
	if _, m := pc.ClaimHTTP2(req("9")); m != MatchNone {
		t.Fatalf("claimed twice: %v", m)
	}
}

// TestPlainConnHTTP2LongLived: one h2c connection serving more requests
// than the parser keeps at once (MaxStreams) stays recorded to the end:
// claimed records whose streams ended are released, and so are records no
// handler claims (here every third path), oldest first past keptStreams.
func TestPlainConnHTTP2LongLived(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan *PlainConn, 1)
	claiming := recordHandler(ProtocolHTTP2)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/skip") {
			io.WriteString(w, "{}") // never claims its record
			return
		}
		claiming.ServeHTTP(w, r)
	})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		pc := NewPlainConn(c, ProtocolHTTP2)
		pc.limits.http2.MaxStreams, pc.limits.keptStreams = 40, 20
		conns <- pc
		(&http2.Server{}).ServeConn(pc, &http2.ServeConnOpts{
			Context: context.WithValue(context.Background(), plainKey{}, pc), Handler: handler})
	}()
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	pc := (*PlainConn)(nil)
	for i := 0; i < 300; i++ {
		path := "/n" + strconv.Itoa(i)
		if i%3 == 2 {
			path = "/skip" + strconv.Itoa(i)
		}
		var body io.Reader
		if i%2 == 1 {
			body = strings.NewReader("a body, so END_STREAM comes with DATA")
		}
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+path, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if pc == nil {
			pc = <-conns
		}
		if i%3 != 2 && (out["match"] != "exact" || out["path"] != path) {
			t.Fatalf("request %d: %v", i, out)
		}
	}
	if stopped, why := pc.Stopped(); stopped {
		t.Fatalf("recording stopped: %s", why)
	}
	pc.WithHTTP2(func(c *fingerprint.HTTP2Conn) {
		if len(c.Requests) > 20 || c.First == nil || c.First.Target != "/n0" {
			t.Fatalf("%d records kept, first %+v", len(c.Requests), c.First)
		}
	})
}

// writeLog is a net.Conn that records each Write.
type writeLog struct {
	net.Conn
	writes [][]byte
	err    error
}

func (w *writeLog) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

func TestPlainConnHoldWrites(t *testing.T) {
	t.Run("held writes leave in one", func(t *testing.T) {
		log := &writeLog{}
		pc := NewPlainConn(log, ProtocolHTTP1)
		pc.HoldWrites()
		for _, s := range []string{"HTTP/1.1 200 OK\r\n", "\r\n", "body"} {
			if n, err := pc.Write([]byte(s)); n != len(s) || err != nil {
				t.Fatalf("Write %q: %d, %v", s, n, err)
			}
		}
		if len(log.writes) != 0 {
			t.Fatalf("%d writes went out while held", len(log.writes))
		}
		if err := pc.ReleaseWrites(); err != nil {
			t.Fatal(err)
		}
		pc.Write([]byte("next"))
		if len(log.writes) != 2 || string(log.writes[0]) != "HTTP/1.1 200 OK\r\n\r\nbody" || string(log.writes[1]) != "next" {
			t.Fatalf("writes %q", log.writes)
		}
	})
	t.Run("past the bound, in order", func(t *testing.T) {
		log := &writeLog{}
		pc := NewPlainConn(log, ProtocolHTTP1)
		pc.HoldWrites()
		big := bytes.Repeat([]byte("x"), maxHeld)
		pc.Write([]byte("head"))
		pc.Write(big)
		pc.Write([]byte("tail"))
		pc.ReleaseWrites()
		if len(log.writes) != 3 || string(log.writes[0]) != "head" || !bytes.Equal(log.writes[1], big) || string(log.writes[2]) != "tail" {
			t.Fatalf("%d writes", len(log.writes))
		}
	})
	t.Run("HTTP/2 is not held", func(t *testing.T) {
		log := &writeLog{}
		pc := NewPlainConn(log, ProtocolHTTP2)
		pc.HoldWrites()
		pc.Write([]byte("frame"))
		if len(log.writes) != 1 {
			t.Fatalf("%d writes", len(log.writes))
		}
		pc.ReleaseWrites()
	})
	t.Run("a failed release fails the next writes", func(t *testing.T) {
		broken := errors.New("broken pipe")
		log := &writeLog{}
		pc := NewPlainConn(log, ProtocolHTTP1)
		pc.HoldWrites()
		pc.Write([]byte("answer"))
		log.err = broken
		if err := pc.ReleaseWrites(); !errors.Is(err, broken) {
			t.Fatalf("release: %v", err)
		}
		log.err = nil
		if _, err := pc.Write([]byte("more")); !errors.Is(err, broken) {
			t.Fatalf("write after the failure: %v", err)
		}
		pc.HoldWrites()
		if _, err := pc.Write([]byte("more")); !errors.Is(err, broken) {
			t.Fatalf("held write after the failure: %v", err)
		}
		pc.ReleaseWrites()
		if len(log.writes) != 0 {
			t.Fatalf("writes %q after a failed one", log.writes)
		}
	})
}
