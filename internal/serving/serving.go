// Package serving runs a service's HTTP servers the way every fp service
// does: the common flags and their environment variables (RegisterFlags),
// a TLS certificate from files, ACME or a self-signed one, listeners
// limited in connections and optionally behind the PROXY protocol,
// capture listeners that record what each client sent, net/http servers
// with their timeouts, a metrics listener and a graceful shutdown (Run).
// The handlers are the service's own.
package serving

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/netutil"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/internal/selfsigned"
)

// Config is what the common flags set (Flags.Config).
type Config struct {
	// Name is the service's name, the prefix of its log lines and errors.
	Name string
	// HTTPSAddr serves TLS with ALPN h2 and http/1.1, H1Addr TLS with
	// only http/1.1, HTTPAddr plain HTTP/1.1 and prior-knowledge h2c,
	// MetricsAddr the metrics. Empty disables a listener; port 0 picks
	// one.
	HTTPSAddr, H1Addr, HTTPAddr, MetricsAddr string
	// CertFile and KeyFile are the PEM certificate and key; without them
	// (and without ACME) a self-signed certificate is made at start.
	CertFile, KeyFile string
	ACME              ACME
	// KeyLogFile, when set, gets every connection's TLS secrets.
	KeyLogFile string
	// ProxyProtocol is off, optional or required.
	ProxyProtocol string
	// MaxConns limits the connections open on each listener.
	MaxConns          int
	HandshakeTimeout  time.Duration
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// MaxBody, RatePerSecond and RateBurst are for the service's
	// handlers (Run does not use them).
	MaxBody       int64
	RatePerSecond float64
	RateBurst     int
	// LogLevel is the level of Logger.
	LogLevel slog.Level
	// GCMinHeap is the heap goal below which the process's main keeps
	// the garbage collector from going (gcfloor); 0 leaves Go's own.
	GCMinHeap uint64
}

// Handlers are what a service serves.
type Handlers struct {
	// TLS answers on the HTTPS and the HTTP/1.1-only listeners.
	TLS http.Handler
	// Plain answers on the plain HTTP listener; nil means TLS. With ACME
	// on, autocert answers its HTTP-01 challenges before it.
	Plain http.Handler
	// ConnContext, when set, adds to a connection's context after
	// capture.ConnContext did (so capture.PlainFromContext works in it).
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// Metrics answers on the metrics listener (e.g. web.Metrics.Handler());
	// a metrics address needs it.
	Metrics http.Handler
	// OnHandshake, when set, is told each TLS handshake's result (e.g.
	// web.Metrics.Handshake).
	OnHandshake func(error)
	// OpenConnections, when set, counts the connections open on the
	// HTTPS, HTTP/1.1-only and plain listeners (e.g.
	// web.Metrics.OpenConnections).
	OpenConnections Gauge
}

// Gauge goes up and down; a prometheus.Gauge is one.
type Gauge interface {
	Inc()
	Dec()
}

// Addrs are the addresses the listeners got; empty for one disabled.
type Addrs struct {
	HTTPS, H1, HTTP, Metrics string
}

// shutdownTimeout bounds the graceful shutdown.
const shutdownTimeout = 10 * time.Second

// Run serves h as cfg says until ctx ends, then shuts the servers down
// gracefully. ready, when set, gets the bound addresses once every
// listener is up. A listener that fails to start or to serve ends Run
// with its error, after closing the others.
func Run(ctx context.Context, cfg Config, h Handlers, log *slog.Logger, ready func(Addrs)) error {
	if h.TLS == nil && (cfg.HTTPSAddr != "" || cfg.H1Addr != "") {
		return fmt.Errorf("%s: no TLS handler", cfg.Name)
	}
	if h.Plain == nil {
		h.Plain = h.TLS
	}
	if h.Plain == nil && cfg.HTTPAddr != "" {
		return fmt.Errorf("%s: no plain handler", cfg.Name)
	}
	if h.Metrics == nil && cfg.MetricsAddr != "" {
		return fmt.Errorf("%s: --metrics-addr without a metrics handler", cfg.Name)
	}
	var tlsConfig *tls.Config
	if cfg.HTTPSAddr != "" || cfg.H1Addr != "" {
		var acmeManager *autocert.Manager
		var err error
		tlsConfig, acmeManager, err = newTLSConfig(cfg, log)
		if err != nil {
			return err
		}
		if acmeManager != nil && cfg.HTTPAddr != "" {
			// HTTP-01 on the plain port: autocert answers
			// /.well-known/acme-challenge/ and passes every other request
			// on. Set before any listener starts, so that autocert falls
			// back to HTTP-01 when TLS-ALPN-01 fails.
			h.Plain = acmeManager.HTTPHandler(h.Plain)
		}
		if cfg.KeyLogFile != "" {
			f, err := os.OpenFile(cfg.KeyLogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("%s: --keylog: %w", cfg.Name, err)
			}
			defer f.Close()
			tlsConfig.KeyLogWriter = f
			log.Warn(cfg.Name+": writing TLS secrets to the key log; every connection can be decrypted", "file", cfg.KeyLogFile)
		}
	}

	g := &group{errc: make(chan error, 4)}
	var bound Addrs
	err := func() error {
		if cfg.HTTPSAddr != "" {
			ln, err := listen(cfg, cfg.HTTPSAddr)
			if err != nil {
				return err
			}
			bound.HTTPS = ln.Addr().String()
			g.serve(newServer(cfg, h, h.TLS, true, log),
				capture.NewTLSListener(ln, tlsConfig, capture.DefaultLimits(), cfg.HandshakeTimeout, log, h.OnHandshake))
			log.Info(cfg.Name+": serving HTTPS", "addr", bound.HTTPS)
		}
		if cfg.H1Addr != "" {
			ln, err := listen(cfg, cfg.H1Addr)
			if err != nil {
				return err
			}
			h1Config := tlsConfig.Clone()
			h1Config.NextProtos = []string{"http/1.1"}
			bound.H1 = ln.Addr().String()
			g.serve(newServer(cfg, h, h.TLS, false, log),
				capture.NewTLSListener(ln, h1Config, capture.DefaultLimits(), cfg.HandshakeTimeout, log, h.OnHandshake))
			log.Info(cfg.Name+": serving HTTPS, HTTP/1.1 only", "addr", bound.H1)
		}
		if cfg.HTTPAddr != "" {
			ln, err := listen(cfg, cfg.HTTPAddr)
			if err != nil {
				return err
			}
			bound.HTTP = ln.Addr().String()
			g.serve(newServer(cfg, h, h.Plain, true, log), capture.NewPlainListener(ln))
			log.Info(cfg.Name+": serving plain HTTP", "addr", bound.HTTP)
		}
		if cfg.MetricsAddr != "" {
			ln, err := net.Listen("tcp", cfg.MetricsAddr)
			if err != nil {
				return err
			}
			bound.Metrics = ln.Addr().String()
			g.serve(&http.Server{Handler: h.Metrics, ReadHeaderTimeout: cfg.ReadHeaderTimeout}, ln)
			log.Info(cfg.Name+": serving metrics", "addr", bound.Metrics)
		}
		return nil
	}()
	if err != nil {
		g.close()
		return err
	}
	if ready != nil {
		ready(bound)
	}
	select {
	case <-ctx.Done():
	case err := <-g.errc:
		g.close()
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range g.servers {
		errs = append(errs, s.Shutdown(shutdown))
	}
	return errors.Join(errs...)
}

// group is the servers Run started.
type group struct {
	servers []*http.Server
	errc    chan error
}

// serve starts s on ln.
func (g *group) serve(s *http.Server, ln net.Listener) {
	g.servers = append(g.servers, s)
	go func() { g.errc <- s.Serve(ln) }()
}

// close ends every server at once (after a failure).
func (g *group) close() {
	for _, s := range g.servers {
		s.Close()
	}
}

// newTLSConfig is the HTTPS listener's TLS config: the certificate from
// the files, from ACME (then with its manager), or a self-signed one.
//
// Dynamic record sizing is off. It starts a connection with records of
// one TCP segment that grow with each write, so that a large page can be
// rendered before its first 16 KB have all arrived. The answers here are
// read whole (an echo's JSON is 5 to 15 KB): in full-size records one
// goes out in one or two records and system calls instead of four to six.
func newTLSConfig(cfg Config, log *slog.Logger) (*tls.Config, *autocert.Manager, error) {
	if len(cfg.ACME.Domains) > 0 {
		m, err := newACMEManager(cfg.Name, cfg.ACME, log)
		if err != nil {
			return nil, nil, err
		}
		c := acmeTLSConfig(m)
		c.DynamicRecordSizingDisabled = true
		return c, m, nil
	}
	var cert tls.Certificate
	var err error
	if cfg.CertFile != "" {
		cert, err = tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	} else {
		cert, err = selfsigned.Localhost()
	}
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"},
		DynamicRecordSizingDisabled: true}, nil, nil
}

// listen opens a TCP listener limited to cfg.MaxConns connections, behind
// the PROXY protocol unless it is off.
func listen(cfg Config, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln = netutil.LimitListener(ln, cfg.MaxConns)
	if cfg.ProxyProtocol == "off" || cfg.ProxyProtocol == "" {
		return ln, nil
	}
	policy := proxyproto.USE
	if cfg.ProxyProtocol == "required" {
		policy = proxyproto.REQUIRE
	}
	return &proxyproto.Listener{Listener: ln, ReadHeaderTimeout: cfg.HandshakeTimeout,
		ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return policy, nil }}, nil
}

// newServer is an http.Server for a capture listener: it puts the
// connection's records in its context, counts open connections, and logs
// why a connection ended when it ended on bad input or a slow client. h2c
// lets it speak HTTP/2 on the plaintext of a TLS connection whose ALPN
// chose h2 (and prior-knowledge h2c on the plain port).
func newServer(cfg Config, h Handlers, handler http.Handler, h2c bool, log *slog.Logger) *http.Server {
	connContext := capture.ConnContext
	if h.ConnContext != nil {
		connContext = func(ctx context.Context, c net.Conn) context.Context {
			return h.ConnContext(capture.ConnContext(ctx, c), c)
		}
	}
	s := &http.Server{Handler: handler, ConnContext: connContext, ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	s.Protocols = new(http.Protocols)
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetUnencryptedHTTP2(h2c)
	s.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			if h.OpenConnections != nil {
				h.OpenConnections.Inc()
			}
		case http.StateHijacked:
			if h.OpenConnections != nil {
				h.OpenConnections.Dec()
			}
		case http.StateClosed:
			if h.OpenConnections != nil {
				h.OpenConnections.Dec()
			}
			if pc, ok := c.(*capture.PlainConn); ok {
				if why := pc.EndReason(); why != "" {
					log.Info(cfg.Name+": connection ended", "remote", c.RemoteAddr().String(), "reason", why)
				}
			}
		}
	}
	return s
}
