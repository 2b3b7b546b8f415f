package fingerprint

import (
	"errors"
	"strings"
	"testing"
)

// feedHTTP1 writes in to a parser in pieces of step bytes and returns the
// requests and what followed the stop, if any.
func feedHTTP1(t testing.TB, in string, step int) ([]*HTTPRequest, HTTP1Stop, string, error) {
	reqs, stop, rest, _, err := feedHTTP1Held(in, step)
	return reqs, stop, rest, err
}

// feedHTTP1Held also returns the bytes held at the end.
func feedHTTP1Held(in string, step int) ([]*HTTPRequest, HTTP1Stop, string, int, error) {
	p := NewHTTP1Parser(DefaultHTTP1Limits())
	var reqs []*HTTPRequest
	for i := 0; i < len(in); i += step {
		chunk := []byte(in[i:min(i+step, len(in))])
		r, n, err := p.Write(chunk)
		reqs = append(reqs, r...)
		if err != nil {
			return reqs, p.Stopped(), "", p.Held(), err
		}
		if p.Stopped() != HTTP1Going {
			return reqs, p.Stopped(), string(p.Rest()) + string(chunk[n:]) + in[min(i+step, len(in)):], p.Held(), nil
		}
	}
	return reqs, HTTP1Going, "", p.Held(), nil
}

// TestHTTP1ParserSplitsMatchOneWrite: fed in pieces of every size, the
// parser reads the same requests as from one write (ParseHTTP1Stream).
func TestHTTP1ParserSplitsMatchOneWrite(t *testing.T) {
	in := "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /b HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n" +
		"\r\nGET /c HTTP/1.1\r\nHost: a\r\nCookie: z=1\r\n\r\n"
	whole, err := ParseHTTP1Stream([]byte(in), DefaultHTTP1Limits())
	if err != nil || len(whole.Requests) != 3 {
		t.Fatalf("whole: %v %d", err, len(whole.Requests))
	}
	for step := 1; step <= len(in); step++ {
		reqs, stop, _, err := feedHTTP1(t, in, step)
		if err != nil || stop != HTTP1Going || len(reqs) != 3 {
			t.Fatalf("step %d: %d requests, stop %d, err %v", step, len(reqs), stop, err)
		}
		for i, r := range reqs {
			w := whole.Requests[i]
			if r.Target != w.Target || r.Offset != w.Offset || string(r.Raw) != string(w.Raw) || JA4H(r) != JA4H(w) {
				t.Fatalf("step %d request %d: %q at %d, want %q at %d", step, i, r.Target, r.Offset, w.Target, w.Offset)
			}
		}
	}
}

func TestHTTP1ParserStops(t *testing.T) {
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	for _, tc := range []struct {
		name string
		in   string
		reqs int
		stop HTTP1Stop
		rest string
	}{
		{"connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03\x01", 1, HTTP1Connect, "\x16\x03\x01"},
		{"prior knowledge", preface + "\x00\x00", 0, HTTP1HTTP2, preface + "\x00\x00"},
		{"h2c upgrade", "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n" + preface, 1, HTTP1HTTP2, preface},
		{"websocket upgrade", "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x85abcd", 1, HTTP1Upgrade, "\x81\x85abcd"},
		{"refused upgrade, then HTTP/1", "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 2, HTTP1Going, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for step := 1; step <= len(tc.in); step++ {
				reqs, stop, rest, err := feedHTTP1(t, tc.in, step)
				if err != nil || len(reqs) != tc.reqs || stop != tc.stop || rest != tc.rest {
					t.Fatalf("step %d: %d requests, stop %d, rest %q, err %v", step, len(reqs), stop, rest, err)
				}
			}
		})
	}
}

func TestHTTP1ParserErrorsAndLimits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"GET / HTTP/9\r\n\r\n", ErrMalformed},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ErrMalformed},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", ErrMalformed},
		{"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", ErrMalformed},
		{"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", ErrTooLarge},
	} {
		_, _, _, err := feedHTTP1(t, tc.in, 1000)
		if !errors.Is(err, tc.want) {
			t.Errorf("%.40q: err %v, want %v", tc.in, err, tc.want)
		}
	}
	// A large body is skipped without being held.
	p := NewHTTP1Parser(DefaultHTTP1Limits())
	p.Write([]byte("POST / HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n"))
	for i := 0; i < 1000; i++ {
		if _, n, err := p.Write(make([]byte, 100000)); err != nil || n != 100000 {
			t.Fatalf("body chunk %d: n %d err %v", i, n, err)
		}
	}
	if reqs, _, err := p.Write([]byte("GET /after HTTP/1.1\r\n\r\n")); err != nil || len(reqs) != 1 || reqs[0].Offset != 100000000+46 {
		t.Fatalf("after the body: %v %v", reqs, err)
	}
}

func FuzzHTTP1Parser(f *testing.F) {
	f.Add("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", uint8(3))
	f.Add("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", uint8(5))
	f.Fuzz(func(t *testing.T, in string, step uint8) {
		reqs, stop, _, held, err := feedHTTP1Held(in, int(step)+1)
		if err != nil || stop != HTTP1Going || held > 0 {
			return
		}
		// Without a stop or error, split writes read the same requests as
		// one write (ParseHTTP1Stream).
		whole, werr := ParseHTTP1Stream([]byte(in), DefaultHTTP1Limits())
		if werr != nil || whole.Switched || whole.BodyTruncated {
			return
		}
		if len(whole.Requests) != len(reqs) {
			t.Fatalf("%d requests split, %d in one write", len(reqs), len(whole.Requests))
		}
		for i := range reqs {
			if reqs[i].Offset != whole.Requests[i].Offset || string(reqs[i].Raw) != string(whole.Requests[i].Raw) {
				t.Fatalf("request %d differs", i)
			}
		}
	})
}
