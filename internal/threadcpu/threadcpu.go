// Package threadcpu measures the CPU time of work done on one OS thread,
// for benchmarks that compare one side of a connection against a
// baseline in the same run: the thread sleeps while it waits for the
// other side, so only its own work is counted.
package threadcpu

import (
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Now returns the CPU time the calling OS thread has used, from the
// kernel's per-thread clock (nanosecond resolution).
func Now() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic("threadcpu: CLOCK_THREAD_CPUTIME_ID: " + err.Error())
	}
	return time.Duration(ts.Nano())
}

// Run runs f on a goroutine locked to one OS thread and returns the CPU
// time that thread used. f may measure parts of its work with Now.
func Run(f func()) time.Duration {
	done := make(chan time.Duration)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := Now()
		f()
		done <- Now() - start
	}()
	return <-done
}

// TLSServerConfig returns the baseline server of the handshake benchmarks:
// TLS 1.3, a self-signed ECDSA P-256 certificate, X25519, no tickets (a
// ticket nobody reads would block an in-memory pipe).
func TLSServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates:           []tls.Certificate{cert},
		MinVersion:             tls.VersionTLS13,
		CurvePreferences:       []tls.CurveID{tls.X25519},
		SessionTicketsDisabled: true,
	}
}

// ServerHandshakes runs n TLS 1.3 handshakes over in-memory pipes, the
// server's side of each wrapped by wrap (nil: none), and returns the CPU
// time the server side used, measured on its locked thread around each
// handshake.
func ServerHandshakes(cfg *tls.Config, n int, wrap func(net.Conn) net.Conn) (time.Duration, error) {
	clientCfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost",
		MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}
	var sum time.Duration
	var firstErr error
	Run(func() {
		for i := 0; i < n && firstErr == nil; i++ {
			c, s := net.Pipe()
			errc := make(chan error, 1)
			go func() { errc <- tls.Client(c, clientCfg).Handshake() }()
			var sc net.Conn = s
			if wrap != nil {
				sc = wrap(s)
			}
			srv := tls.Server(sc, cfg)
			start := Now()
			err := srv.Handshake()
			sum += Now() - start
			if cerr := <-errc; err == nil {
				err = cerr
			}
			if err != nil {
				firstErr = fmt.Errorf("threadcpu: handshake %d: %w", i, err)
			}
			c.Close()
			s.Close()
		}
	})
	return sum, firstErr
}
