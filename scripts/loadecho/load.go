package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// clientTLSConfig is the load's client: crypto/tls defaults (versions,
// curves) with ALPN http/1.1 only, so that both servers speak HTTP/1.1.
// The certificate is the harness's own self-signed one, so it is not
// verified: the client's work is not measured.
func clientTLSConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
}

// newConnRequest is the request of the one-request-per-connection load:
// a curl-like HTTP/1.1 GET that asks the server to close afterwards.
const newConnRequest = "GET /load HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: loadecho\r\nAccept: */*\r\nConnection: close\r\n\r\n"

// keepAliveRequest is newConnRequest on a connection that stays open.
const keepAliveRequest = "GET /load HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: loadecho\r\nAccept: */*\r\n\r\n"

// opTimeout bounds one operation, so that a server that stops answering
// fails the run instead of hanging it.
const opTimeout = 30 * time.Second

// dial connects to addr with opTimeout as the connection's deadline.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Now().Add(opTimeout))
	return raw, nil
}

// loadOp is one operation of a load on a new connection.
type loadOp func(ctx context.Context, addr string, cfg *tls.Config) (responseBytes int, err error)

// handshakeOp connects, completes a full TLS handshake, sends close_notify
// and reads until the server closes: when it returns, the server has
// finished with the connection, so its CPU time is all counted.
func handshakeOp(ctx context.Context, addr string, cfg *tls.Config) (int, error) {
	raw, err := dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	tc := tls.Client(raw, cfg)
	defer tc.Close()
	if err := tc.HandshakeContext(ctx); err != nil {
		return 0, err
	}
	if err := tc.CloseWrite(); err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, tc)
	return int(n), err
}

// requestOp connects, completes a full TLS handshake, sends newConnRequest
// and reads the response until the server closes the connection (it was
// asked to): when it returns, the server is done with the connection.
func requestOp(ctx context.Context, addr string, cfg *tls.Config) (int, error) {
	raw, err := dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	tc := tls.Client(raw, cfg)
	defer tc.Close()
	if err := tc.HandshakeContext(ctx); err != nil {
		return 0, err
	}
	if _, err := io.WriteString(tc, newConnRequest); err != nil {
		return 0, err
	}
	resp, err := io.ReadAll(tc)
	if err != nil {
		return len(resp), err
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 ")) {
		line, _, _ := bytes.Cut(resp, []byte("\r\n"))
		return len(resp), fmt.Errorf("loadecho: response %q", line)
	}
	return len(resp), nil
}

// runLoad runs op n times on concurrency connections at a time and returns
// the size of the last response. It stops at the first error.
func runLoad(ctx context.Context, addr string, op loadOp, n, concurrency int) (int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cfg := clientTLSConfig()
	var next atomic.Int64
	var last atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				size, err := op(ctx, addr, cfg)
				if err != nil {
					cancel(err)
					return
				}
				last.Store(int64(size))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, fmt.Errorf("loadecho: load on %s: %w", addr, err)
	}
	return int(last.Load()), nil
}

// idleConns holds connections that each carried one HTTP/1.1 request and
// stay open, idle.
type idleConns struct{ conns []net.Conn }

// openIdle opens n TLS connections to addr, concurrency at a time, sends
// keepAliveRequest on each, reads the whole response (a 200) and leaves
// the connection open.
func openIdle(ctx context.Context, addr string, n, concurrency int) (*idleConns, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cfg := clientTLSConfig()
	ic := &idleConns{conns: make([]net.Conn, n)}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := oneKeptRequest(ctx, addr, cfg)
				if err != nil {
					cancel(fmt.Errorf("connection %d: %w", i, err))
					return
				}
				ic.conns[i] = c
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		ic.Close()
		return nil, fmt.Errorf("loadecho: idle connections to %s: %w", addr, err)
	}
	return ic, nil
}

func oneKeptRequest(ctx context.Context, addr string, cfg *tls.Config) (net.Conn, error) {
	raw, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		tc.Close()
		return nil, err
	}
	if _, err := io.WriteString(tc, keepAliveRequest); err != nil {
		tc.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		tc.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err == nil && resp.Close {
		err = errors.New("the server closes the connection")
	}
	if err != nil {
		tc.Close()
		return nil, err
	}
	raw.SetDeadline(time.Time{}) // it stays open, idle
	return tc, nil
}

// Close closes every connection.
func (ic *idleConns) Close() {
	for _, c := range ic.conns {
		if c != nil {
			c.Close()
		}
	}
}
