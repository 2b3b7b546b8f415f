package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fpwork/fp/storage"
)

// pageLoad is an open-loop load on the page over HTTP/1.1 keep-alive
// connections: requests are due at a fixed rate whatever the server does,
// spread over conns connections; each connection plays visits, the five
// contexts of one after another, with Chrome's header lists in wire order
// and case and the page's cookies.
//
// A request's latency runs from when it was due, when its connection was
// still busy with the one before at that moment (a stalled server is
// charged for every request it delays, not only the one it holds), else
// from when it was sent (a late wake-up of this program's timer is not
// the server's).
type pageLoad struct {
	addr     string
	rate     float64 // requests a second, all connections together
	duration time.Duration
	conns    int
	timeout  time.Duration // of one request
	visit    *chromium
	random   io.Reader
}

// loadResult is what a load saw.
type loadResult struct {
	elapsed   time.Duration
	due       int // requests scheduled
	completed int // answered 200 with a whole body
	failed    int
	failures  map[string]int // by reason, first words
	latency   []time.Duration
	offset    []time.Duration // of each latency's request: when it was due, since the start
	bodyBytes int             // of the last answer
}

// run plays the load from start (a time in the near future, so the caller
// can time its actions against it) until duration has passed.
func (l *pageLoad) run(ctx context.Context, start time.Time) *loadResult {
	interval := time.Duration(float64(time.Second) / l.rate)
	results := make([]*loadResult, l.conns)
	var wg sync.WaitGroup
	for k := range l.conns {
		results[k] = &loadResult{failures: map[string]int{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.connection(ctx, start, start.Add(time.Duration(k)*interval), interval*time.Duration(l.conns), results[k])
		}()
	}
	wg.Wait()
	out := &loadResult{elapsed: time.Since(start), failures: map[string]int{}}
	for _, r := range results {
		out.due += r.due
		out.completed += r.completed
		out.failed += r.failed
		for k, v := range r.failures {
			out.failures[k] += v
		}
		out.latency = append(out.latency, r.latency...)
		out.offset = append(out.offset, r.offset...)
		out.bodyBytes = max(out.bodyBytes, r.bodyBytes)
	}
	return out
}

// connection plays one connection's share: a request due at first, then
// every step, until the load's end.
func (l *pageLoad) connection(ctx context.Context, start, first time.Time, step time.Duration, res *loadResult) {
	var (
		conn    net.Conn
		br      *bufio.Reader
		buf     []byte
		visit   storage.VisitID
		doneAt  time.Time // when the previous request ended
		kinds   = storage.Kinds()
		end     = start.Add(l.duration)
		request = 0
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for due := first; due.Before(end); due = due.Add(step) {
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		} else if ctx.Err() != nil {
			return
		}
		kind := kinds[request%len(kinds)]
		if request%len(kinds) == 0 {
			id, err := storage.NewID(l.random)
			if err != nil {
				res.fail("visit id: " + err.Error())
				continue
			}
			visit = storage.VisitID(id)
		}
		request++
		res.due++
		sent := time.Now()
		from := sent
		if doneAt.After(due) {
			from = due // the connection was busy when this one was due
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", l.addr, l.timeout)
			if err != nil {
				res.fail("dial: " + err.Error())
				doneAt = time.Now()
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 16<<10)
		}
		buf = l.appendRequest(buf[:0], kind, visit)
		n, closing, err := l.roundTrip(conn, br, buf, sent)
		doneAt = time.Now()
		if err != nil {
			res.fail(err.Error())
		} else {
			res.completed++
			res.bodyBytes = n
			res.latency = append(res.latency, doneAt.Sub(from))
			res.offset = append(res.offset, due.Sub(start))
		}
		if err != nil || closing {
			conn.Close()
			conn = nil
		}
	}
}

func (r *loadResult) fail(reason string) {
	r.failed++
	// Keep the reason's kind, not its addresses and ports.
	words := strings.Fields(reason)
	r.failures[strings.Join(words[:min(len(words), 3)], " ")]++
}

// roundTrip writes one request and reads its answer; it returns the body's
// length and whether the server closes the connection after it.
func (l *pageLoad) roundTrip(conn net.Conn, br *bufio.Reader, request []byte, sent time.Time) (int, bool, error) {
	if err := conn.SetDeadline(sent.Add(l.timeout)); err != nil {
		return 0, false, err
	}
	if _, err := conn.Write(request); err != nil {
		return 0, false, fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, fmt.Errorf("read: %w", err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return 0, false, fmt.Errorf("read body: %w", err)
	case resp.StatusCode != http.StatusOK:
		return 0, resp.Close, fmt.Errorf("status %d", resp.StatusCode)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return 0, false, fmt.Errorf("short body %d of %d", n, resp.ContentLength)
	}
	return int(n), resp.Close, nil
}

// appendRequest appends a context's HTTP/1.1 request as Chrome sends it.
func (l *pageLoad) appendRequest(b []byte, kind storage.RequestKind, visit storage.VisitID) []byte {
	method, path := requestLine(kind)
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\n"...)
	for _, h := range l.visit.sentHeaders(kind, false, l.addr, visit) {
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, h.Value...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, l.visit.bodyOf(kind)...)
}

// latencies summarises a load's latencies.
func (r *loadResult) latencies() percentiles { return percentilesOf(r.latency) }

// p99Series is the p99 latency of the requests due in each span of the
// load, in order.
func (r *loadResult) p99Series(span time.Duration) []time.Duration {
	var buckets [][]time.Duration
	for i, lat := range r.latency {
		k := int(r.offset[i] / span)
		for len(buckets) <= k {
			buckets = append(buckets, nil)
		}
		buckets[k] = append(buckets[k], lat)
	}
	out := make([]time.Duration, len(buckets))
	for k, b := range buckets {
		out[k] = percentilesOf(b).p99
	}
	return out
}

// failureList is the failures, most frequent first.
func (r *loadResult) failureList() string {
	type reason struct {
		text string
		n    int
	}
	var list []reason
	for k, v := range r.failures {
		list = append(list, reason{k, v})
	}
	slices.SortFunc(list, func(a, b reason) int { return b.n - a.n })
	var parts []string
	for _, x := range list {
		parts = append(parts, fmt.Sprintf("%d× %s", x.n, x.text))
	}
	return strings.Join(parts, "; ")
}
