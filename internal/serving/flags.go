package serving

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
)

// Defaults are what differs between the services in their common flags.
type Defaults struct {
	// Name is the service's name ("echo"): the prefix of its log lines
	// and errors.
	Name string
	// HTTPSAddr and HTTPAddr are the defaults of --https-addr and
	// --http-addr.
	HTTPSAddr, HTTPAddr string
	// H1 registers --h1-addr, a second HTTPS listener whose ALPN offers
	// only "http/1.1", with H1Addr as its default.
	H1     bool
	H1Addr string
	// ACMECache is the default of --acme-cache, relative to the user's
	// cache directory ("fp-echo/acme"); empty means NAME/acme.
	ACMECache string
}

// Flags are the common flags registered on a flag.FlagSet; after the
// set's Parse, Config reads them.
type Flags struct {
	fs        *flag.FlagSet
	envPrefix string
	getenv    func(string) string
	defaults  Defaults

	httpsAddr, h1Addr, httpAddr, metricsAddr string
	certFile, keyFile, keyLogFile            string
	proxyProtocol, logLevel                  string
	maxBody, handshakeTimeout                string
	readHeaderTimeout, idleTimeout           string
	maxHeaderBytes, maxConns, rate, burst    string
	acmeDomain, acmeDirectory, acmeCache     string
	acmeEmail, acmeCAFile                    string
	gcMinHeap                                string
}

// RegisterFlags registers the common flags on fs. Each flag's default
// comes from its environment variable, envPrefix and the flag's name in
// upper case with '_' for '-' (ECHO_HTTPS_ADDR for --https-addr), read
// through getenv, and else from d.
func RegisterFlags(fs *flag.FlagSet, envPrefix string, getenv func(string) string, d Defaults) *Flags {
	if d.ACMECache == "" {
		d.ACMECache = path.Join(d.Name, "acme")
	}
	f := &Flags{fs: fs, envPrefix: envPrefix, getenv: getenv, defaults: d}
	f.String(&f.httpsAddr, "https-addr", d.HTTPSAddr, "HTTPS listen address; empty disables it")
	if d.H1 {
		f.String(&f.h1Addr, "h1-addr", d.H1Addr, "HTTPS listen address whose ALPN offers only http/1.1 (same certificate as --https-addr); empty disables it")
	}
	f.String(&f.httpAddr, "http-addr", d.HTTPAddr, "plain HTTP (HTTP/1.1 and prior-knowledge h2c) listen address; empty disables it")
	f.String(&f.certFile, "cert", "", "certificate file (PEM); without it a self-signed one is made at start")
	f.String(&f.keyFile, "key", "", "private key file (PEM) of --cert")
	f.String(&f.maxBody, "max-body", "1048576", "request body bytes echoed; the rest is read and counted")
	f.String(&f.handshakeTimeout, "handshake-timeout", "10s", "TLS handshake timeout")
	f.String(&f.readHeaderTimeout, "read-header-timeout", "10s", "time to read a request head (slowloris)")
	f.String(&f.idleTimeout, "idle-timeout", "60s", "keep-alive idle timeout")
	f.String(&f.maxHeaderBytes, "max-header-bytes", "65536", "request head bytes")
	f.String(&f.metricsAddr, "metrics-addr", "", "Prometheus metrics listen address (e.g. 127.0.0.1:9090); empty disables it")
	f.String(&f.maxConns, "max-conns", "10000", "concurrent connections per listener")
	f.String(&f.rate, "rate", "50", "requests per second per client address (429 with Retry-After past it)")
	f.String(&f.burst, "rate-burst", "100", "requests a client may send at once")
	f.String(&f.keyLogFile, "keylog", "", "append TLS secrets in NSS key log format to this file, so captures can be decrypted (tests and debugging only: it voids the secrecy of every connection)")
	f.String(&f.proxyProtocol, "proxy-protocol", "off", "PROXY protocol v1/v2 header before each connection: off, optional or required; its address becomes the client's")
	f.String(&f.gcMinHeap, "gc-min-heap", "32", "MiB of heap the garbage collector lets grow before it runs while the live heap is smaller (GOGC is raised to reach it, and is GOGC again once the live heap is larger); "+
		"with Go's own 4 MiB a service of a small live heap collects every few dozen connections; 0 leaves GOGC alone")
	f.String(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error (info logs each connection that ends on bad input, a failed handshake or a slow client)")
	f.String(&f.acmeDomain, "acme-domain", "", "comma-separated host names to get certificates for through ACME (autocert), instead of --cert or the self-signed one; "+
		"the CA validates through --https-addr (TLS-ALPN-01; the CA connects to port 443 of the name) or, when that fails, --http-addr (HTTP-01; port 80); "+
		"the first handshake for a name waits for its issuance, and one without a listed name in SNI fails; setting it accepts the CA's terms of service")
	f.String(&f.acmeDirectory, "acme-directory", acme.LetsEncryptURL, "ACME directory URL (the default is Let's Encrypt's production CA)")
	f.String(&f.acmeCache, "acme-cache", "", "directory keeping the ACME account key and certificates across restarts (default "+d.ACMECache+" in the user's cache directory)")
	f.String(&f.acmeEmail, "acme-email", "", "contact e-mail address of the ACME account (optional)")
	f.String(&f.acmeCAFile, "acme-ca-file", "", "PEM CA certificates trusted for the ACME server's HTTPS instead of the system roots (e.g. a test CA's)")
	return f
}

// EnvName is the environment variable of flag name: the prefix and the
// name in upper case, '-' as '_'.
func (f *Flags) EnvName(name string) string {
	return f.envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Env is the value of flag name's environment variable, or def when it
// is unset or empty.
func (f *Flags) Env(name, def string) string {
	if v := f.getenv(f.EnvName(name)); v != "" {
		return v
	}
	return def
}

// String registers a string flag on the same set, for a service's own
// flags: its default is Env(name, def), and its usage names the variable.
func (f *Flags) String(p *string, name, def, usage string) {
	f.fs.StringVar(p, name, f.Env(name, def), usage+" (env "+f.EnvName(name)+")")
}

// Config checks and converts the flags; call it after the set's Parse.
func (f *Flags) Config() (Config, error) {
	c := Config{
		Name: f.defaults.Name, HTTPSAddr: f.httpsAddr, H1Addr: f.h1Addr, HTTPAddr: f.httpAddr, MetricsAddr: f.metricsAddr,
		CertFile: f.certFile, KeyFile: f.keyFile, KeyLogFile: f.keyLogFile, ProxyProtocol: f.proxyProtocol,
		ACME: ACME{Directory: f.acmeDirectory, Cache: f.acmeCache, DefaultCache: f.defaults.ACMECache,
			Email: f.acmeEmail, CAFile: f.acmeCAFile},
	}
	var err error
	for _, p := range []struct {
		s string
		d *time.Duration
	}{{f.handshakeTimeout, &c.HandshakeTimeout}, {f.readHeaderTimeout, &c.ReadHeaderTimeout}, {f.idleTimeout, &c.IdleTimeout}} {
		if *p.d, err = time.ParseDuration(p.s); err != nil {
			return c, fmt.Errorf("bad duration %q: %w", p.s, err)
		}
	}
	for _, p := range []struct {
		s, name string
		dst     any
	}{{f.maxBody, "max-body", &c.MaxBody}, {f.maxHeaderBytes, "max-header-bytes", &c.MaxHeaderBytes},
		{f.maxConns, "max-conns", &c.MaxConns}, {f.rate, "rate", &c.RatePerSecond}, {f.burst, "rate-burst", &c.RateBurst}} {
		if _, err := fmt.Sscan(p.s, p.dst); err != nil {
			return c, fmt.Errorf("bad --%s %q", p.name, p.s)
		}
	}
	minHeapMiB, err := strconv.ParseUint(f.gcMinHeap, 10, 64)
	if err != nil || minHeapMiB > 1<<20 {
		return c, fmt.Errorf("bad --gc-min-heap %q: want MiB, 0 to 1048576", f.gcMinHeap)
	}
	c.GCMinHeap = minHeapMiB << 20
	switch c.ProxyProtocol {
	case "off", "optional", "required":
	default:
		return c, fmt.Errorf("bad --proxy-protocol %q: want off, optional or required", c.ProxyProtocol)
	}
	if err := c.parseACME(f.acmeDomain); err != nil {
		return c, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(f.logLevel)); err != nil {
		return c, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", f.logLevel)
	}
	return c, nil
}

// Logger is a text logger at the configured level.
func (c Config) Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: c.LogLevel}))
}
