// Command echo answers any request with JSON describing exactly what the
// client sent: the request as on the wire, the TLS ClientHello, the HTTP/2
// preface and every fingerprint.
//
//	echo [--https-addr 127.0.0.1:8443] [--http-addr 127.0.0.1:8080] [--cert F --key F | --acme-domain D,...]
//
// Every flag has an ECHO_* environment variable (ECHO_HTTPS_ADDR, ...).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/netutil"

	"github.com/pires/go-proxyproto"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/internal/selfsigned"
	"github.com/fpwork/fp/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// config is what the flags and ECHO_* variables set.
type config struct {
	httpsAddr, httpAddr string
	certFile, keyFile   string
	maxBody             int64
	handshakeTimeout    time.Duration
	readHeaderTimeout   time.Duration
	idleTimeout         time.Duration
	maxHeaderBytes      int
	maxMessage          int64
	proxyProtocol       string // off, optional, required
	metricsAddr         string
	maxConns            int
	ratePerSecond       float64
	rateBurst           int
	keyLogFile          string
	logLevel            slog.Level
	wsRate              float64
	wsBurst             int
	h2Websocket         bool     // websockets over HTTP/2 extended CONNECT (RFC 8441)
	godebug             string   // GODEBUG as the process started
	acmeDomains         []string // certificates through ACME (autocert) for these names
	acmeDirectory       string
	acmeCache           string
	acmeEmail           string
	acmeCAFile          string
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv("ECHO_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
			return v
		}
		return def
	}
	str := func(p *string, name, def, usage string) {
		fs.StringVar(p, name, env(name, def), usage+" (env ECHO_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+")")
	}
	str(&c.httpsAddr, "https-addr", "127.0.0.1:8443", "HTTPS listen address; empty disables it")
	str(&c.httpAddr, "http-addr", "127.0.0.1:8080", "plain HTTP (HTTP/1.1 and prior-knowledge h2c) listen address; empty disables it")
	str(&c.certFile, "cert", "", "certificate file (PEM); without it a self-signed one is made at start")
	str(&c.keyFile, "key", "", "private key file (PEM) of --cert")
	var maxBody, hs, rh, idle, mhb, maxMsg, maxConns, rateS, burst string
	str(&maxBody, "max-body", "1048576", "request body bytes echoed; the rest is read and counted")
	str(&hs, "handshake-timeout", "10s", "TLS handshake timeout")
	str(&rh, "read-header-timeout", "10s", "time to read a request head (slowloris)")
	str(&idle, "idle-timeout", "60s", "keep-alive idle timeout")
	str(&mhb, "max-header-bytes", "65536", "request head bytes")
	str(&maxMsg, "max-message", "65536", "websocket message bytes")
	str(&c.metricsAddr, "metrics-addr", "", "Prometheus metrics listen address (e.g. 127.0.0.1:9090); empty disables it")
	str(&maxConns, "max-conns", "10000", "concurrent connections per listener")
	str(&rateS, "rate", "50", "requests per second per client address (429 with Retry-After past it)")
	str(&burst, "rate-burst", "100", "requests a client may send at once")
	str(&c.keyLogFile, "keylog", "", "append TLS secrets in NSS key log format to this file, so captures can be decrypted (tests and debugging only: it voids the secrecy of every connection)")
	str(&c.proxyProtocol, "proxy-protocol", "off", "PROXY protocol v1/v2 header before each connection: off, optional or required; its address becomes the client's")
	h2ws, h2wsErr := strconv.ParseBool(env("h2-websocket", "false"))
	if h2wsErr != nil {
		return c, fmt.Errorf("bad ECHO_H2_WEBSOCKET: want true or false")
	}
	fs.BoolVar(&c.h2Websocket, "h2-websocket", h2ws, "accept websockets over HTTP/2 extended CONNECT (RFC 8441); net/http reads the switch only at process start, so echo restarts itself with GODEBUG="+xconnectGODEBUG+" added (env ECHO_H2_WEBSOCKET)")
	var wsRate, wsBurst string
	str(&wsRate, "ws-rate", "100", "websocket messages echoed per second on one connection (a faster client is slowed down)")
	str(&wsBurst, "ws-burst", "100", "websocket messages a client may send at once")
	var logLevel string
	str(&logLevel, "log-level", "info", "log level: debug, info, warn or error (info logs each connection that ends on bad input, a failed handshake or a slow client)")
	var acmeDomain string
	str(&acmeDomain, "acme-domain", "", "comma-separated host names to get certificates for through ACME (autocert), instead of --cert or the self-signed one; "+
		"the CA validates through --https-addr (TLS-ALPN-01; the CA connects to port 443 of the name) or, when that fails, --http-addr (HTTP-01; port 80); "+
		"the first handshake for a name waits for its issuance, and one without a listed name in SNI fails; setting it accepts the CA's terms of service")
	str(&c.acmeDirectory, "acme-directory", acme.LetsEncryptURL, "ACME directory URL (the default is Let's Encrypt's production CA)")
	str(&c.acmeCache, "acme-cache", "", "directory keeping the ACME account key and certificates across restarts (default fp-echo/acme in the user's cache directory)")
	str(&c.acmeEmail, "acme-email", "", "contact e-mail address of the ACME account (optional)")
	str(&c.acmeCAFile, "acme-ca-file", "", "PEM CA certificates trusted for the ACME server's HTTPS instead of the system roots (e.g. a test CA's)")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	var err error
	for _, p := range []struct {
		s string
		d *time.Duration
	}{{hs, &c.handshakeTimeout}, {rh, &c.readHeaderTimeout}, {idle, &c.idleTimeout}} {
		if *p.d, err = time.ParseDuration(p.s); err != nil {
			return c, fmt.Errorf("bad duration %q: %w", p.s, err)
		}
	}
	if _, err := fmt.Sscan(maxBody, &c.maxBody); err != nil {
		return c, fmt.Errorf("bad --max-body %q", maxBody)
	}
	if _, err := fmt.Sscan(mhb, &c.maxHeaderBytes); err != nil {
		return c, fmt.Errorf("bad --max-header-bytes %q", mhb)
	}
	if _, err := fmt.Sscan(maxMsg, &c.maxMessage); err != nil {
		return c, fmt.Errorf("bad --max-message %q", maxMsg)
	}
	for _, p := range []struct {
		s, name string
		dst     any
	}{{maxConns, "max-conns", &c.maxConns}, {rateS, "rate", &c.ratePerSecond}, {burst, "rate-burst", &c.rateBurst},
		{wsRate, "ws-rate", &c.wsRate}, {wsBurst, "ws-burst", &c.wsBurst}} {
		if _, err := fmt.Sscan(p.s, p.dst); err != nil {
			return c, fmt.Errorf("bad --%s %q", p.name, p.s)
		}
	}
	switch c.proxyProtocol {
	case "off", "optional", "required":
	default:
		return c, fmt.Errorf("bad --proxy-protocol %q: want off, optional or required", c.proxyProtocol)
	}
	if err := c.parseACME(acmeDomain); err != nil {
		return c, err
	}
	c.godebug = getenv("GODEBUG")
	if err := c.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return c, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", logLevel)
	}
	return c, nil
}

// xconnectGODEBUG makes net/http and golang.org/x/net/http2 accept RFC
// 8441 extended CONNECT (and advertise SETTINGS_ENABLE_CONNECT_PROTOCOL).
// Both read it from the environment once, when the process starts.
const xconnectGODEBUG = "http2xconnect=1"

// hasGODEBUG reports whether the GODEBUG value godebug holds setting.
func hasGODEBUG(godebug, setting string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if strings.TrimSpace(kv) == setting {
			return true
		}
	}
	return false
}

// withGODEBUG returns environ with setting added to its GODEBUG (the
// first GODEBUG entry is the one a Go program reads; the others are
// dropped).
func withGODEBUG(environ []string, setting string) []string {
	out := make([]string, 0, len(environ)+1)
	godebug := ""
	seen := false
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if !seen {
				godebug, seen = v, true
			}
			continue
		}
		out = append(out, kv)
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+setting)
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if cfg.h2Websocket && !hasGODEBUG(cfg.godebug, xconnectGODEBUG) {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("echo: --h2-websocket: restarting with GODEBUG=%s: %w", xconnectGODEBUG, err)
		}
		log.Info("echo: restarting with GODEBUG=" + xconnectGODEBUG + " for --h2-websocket")
		return syscall.Exec(exe, args, withGODEBUG(os.Environ(), xconnectGODEBUG))
	}
	return serve(ctx, cfg, log, nil)
}

// boundAddrs are the addresses the listeners got (port 0 picks one).
type boundAddrs struct{ https, http, metrics string }

// serve runs the listeners until ctx ends, then shuts down gracefully.
// ready, when set, gets the bound addresses (for tests with port 0).
func serve(ctx context.Context, cfg config, log *slog.Logger, ready func(boundAddrs)) error {
	if cfg.h2Websocket && !hasGODEBUG(cfg.godebug, xconnectGODEBUG) {
		return fmt.Errorf("echo: --h2-websocket needs GODEBUG=%s when the process starts", xconnectGODEBUG)
	}
	var cert tls.Certificate
	var acmeManager *autocert.Manager
	var err error
	switch {
	case len(cfg.acmeDomains) > 0:
		acmeManager, err = newACMEManager(cfg, log)
	case cfg.certFile != "":
		cert, err = tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
	default:
		cert, err = selfsigned.Localhost()
	}
	if err != nil {
		return err
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	if acmeManager != nil {
		tlsConfig = acmeTLSConfig(acmeManager)
	}
	if cfg.keyLogFile != "" {
		f, err := os.OpenFile(cfg.keyLogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("echo: --keylog: %w", err)
		}
		defer f.Close()
		tlsConfig.KeyLogWriter = f
		log.Warn("echo: writing TLS secrets to the key log; every connection can be decrypted", "file", cfg.keyLogFile)
	}
	metrics := web.NewMetrics()
	// Every request claims its capture record first, whichever handler
	// then answers it (a 429 too), so records stay in step with requests.
	handler := capture.ClaimRecords(web.RateLimit(cfg.ratePerSecond, cfg.rateBurst, 100000, time.Now)(
		web.CORS(web.EchoRouter(web.NewEcho(web.EchoLimits{MaxBody: cfg.maxBody}, metrics),
			&web.WebsocketEcho{MaxMessage: cfg.maxMessage, IdleTimeout: cfg.idleTimeout,
				MessageRate: cfg.wsRate, MessageBurst: cfg.wsBurst}))))
	// The plain port also takes the HTTP/1.1 upgrade to h2c.
	plainHandler := web.H2CUpgrade(handler, cfg.maxBody)
	if acmeManager != nil && cfg.httpAddr != "" {
		// HTTP-01 on the plain port: autocert answers /.well-known/acme-challenge/
		// and passes every other request on. Set before any listener starts,
		// so that autocert falls back to HTTP-01 when TLS-ALPN-01 fails.
		plainHandler = acmeManager.HTTPHandler(plainHandler)
	}
	newServer := func() *http.Server {
		s := &http.Server{Handler: handler, ConnContext: capture.ConnContext, ReadHeaderTimeout: cfg.readHeaderTimeout,
			IdleTimeout: cfg.idleTimeout, MaxHeaderBytes: cfg.maxHeaderBytes, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
		s.Protocols = new(http.Protocols)
		s.Protocols.SetHTTP1(true)
		s.Protocols.SetUnencryptedHTTP2(true)
		s.ConnState = func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				metrics.OpenConnections.Inc()
			case http.StateHijacked:
				metrics.OpenConnections.Dec()
			case http.StateClosed:
				metrics.OpenConnections.Dec()
				if pc, ok := c.(*capture.PlainConn); ok {
					if why := pc.EndReason(); why != "" {
						log.Info("echo: connection ended", "remote", c.RemoteAddr().String(), "reason", why)
					}
				}
			}
		}
		return s
	}
	var servers []*http.Server
	errc := make(chan error, 3)
	var bound boundAddrs
	listen := func(addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		ln = netutil.LimitListener(ln, cfg.maxConns)
		if cfg.proxyProtocol == "off" {
			return ln, nil
		}
		policy := proxyproto.USE
		if cfg.proxyProtocol == "required" {
			policy = proxyproto.REQUIRE
		}
		return &proxyproto.Listener{Listener: ln, ReadHeaderTimeout: cfg.handshakeTimeout,
			ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return policy, nil }}, nil
	}
	if cfg.httpsAddr != "" {
		ln, err := listen(cfg.httpsAddr)
		if err != nil {
			return err
		}
		tl := capture.NewTLSListener(ln, tlsConfig, capture.DefaultLimits(), cfg.handshakeTimeout, log, metrics.Handshake)
		s := newServer()
		servers = append(servers, s)
		bound.https = ln.Addr().String()
		go func() { errc <- s.Serve(tl) }()
		log.Info("echo: serving HTTPS", "addr", bound.https)
	}
	if cfg.httpAddr != "" {
		ln, err := listen(cfg.httpAddr)
		if err != nil {
			return err
		}
		s := newServer()
		s.Handler = plainHandler
		servers = append(servers, s)
		bound.http = ln.Addr().String()
		go func() { errc <- s.Serve(capture.NewPlainListener(ln)) }()
		log.Info("echo: serving plain HTTP", "addr", bound.http)
	}
	if cfg.metricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			return err
		}
		s := &http.Server{Handler: metrics.Handler(), ReadHeaderTimeout: cfg.readHeaderTimeout}
		servers = append(servers, s)
		bound.metrics = ln.Addr().String()
		go func() { errc <- s.Serve(ln) }()
		log.Info("echo: serving metrics", "addr", bound.metrics)
	}
	if ready != nil {
		ready(bound)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdown); err != nil {
			return err
		}
	}
	return nil
}
