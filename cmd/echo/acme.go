package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// parseACME sets c.acmeDomains from the comma-separated --acme-domain and
// checks the ACME flags against the others.
func (c *config) parseACME(domainList string) error {
	for name := range strings.SplitSeq(domainList, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case net.ParseIP(name) != nil:
			return fmt.Errorf("echo: --acme-domain %q: an IP address; ACME here issues for host names only", name)
		case !strings.Contains(name, "."), strings.ContainsAny(name, ":/"):
			// autocert refuses a server name without a dot.
			return fmt.Errorf("echo: --acme-domain %q: not a fully qualified host name", name)
		}
		c.acmeDomains = append(c.acmeDomains, name)
	}
	if len(c.acmeDomains) == 0 {
		if c.acmeDirectory != acme.LetsEncryptURL || c.acmeCache != "" || c.acmeEmail != "" || c.acmeCAFile != "" {
			return errors.New("echo: --acme-directory, --acme-cache, --acme-email and --acme-ca-file need --acme-domain")
		}
		return nil
	}
	if c.certFile != "" || c.keyFile != "" {
		return errors.New("echo: --acme-domain and --cert/--key exclude each other")
	}
	if c.httpsAddr == "" {
		return errors.New("echo: --acme-domain needs --https-addr")
	}
	return nil
}

// hostPortWhitelist is autocert.HostWhitelist of names that also takes a
// "name:port": HTTP-01 checks the Host header of the validator's request,
// which may carry the port.
func hostPortWhitelist(names []string) autocert.HostPolicy {
	whitelist := autocert.HostWhitelist(names...)
	return func(ctx context.Context, host string) error {
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
		}
		return whitelist(ctx, host)
	}
}

// acmeTLSConfig is the HTTPS listener's TLS config with ACME on: the
// certificates come from m, and ALPN acme.ALPNProto lets the CA validate
// through TLS-ALPN-01 (capture.TLSListener closes such a connection after
// its handshake).
func acmeTLSConfig(m *autocert.Manager) *tls.Config {
	return &tls.Config{GetCertificate: m.GetCertificate, NextProtos: []string{"h2", "http/1.1", acme.ALPNProto}}
}

// newACMEManager is the certificate source of --acme-domain: autocert
// with the domains as its whitelist, the directory and trusted CAs of the
// flags, and a cache directory (by default fp-echo/acme in the user's cache
// directory). It accepts the CA's terms of service.
func newACMEManager(cfg config, log *slog.Logger) (*autocert.Manager, error) {
	cacheDir := cfg.acmeCache
	if cacheDir == "" {
		userCache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("echo: no default ACME cache, set --acme-cache: %w", err)
		}
		cacheDir = filepath.Join(userCache, "fp-echo", "acme")
	}
	client := &acme.Client{DirectoryURL: cfg.acmeDirectory}
	if cfg.acmeCAFile != "" {
		pem, err := os.ReadFile(cfg.acmeCAFile)
		if err != nil {
			return nil, fmt.Errorf("echo: --acme-ca-file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("echo: --acme-ca-file %s: no PEM certificate in it", cfg.acmeCAFile)
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{RootCAs: roots}
		client.HTTPClient = &http.Client{Transport: transport}
	}
	log.Info("echo: certificates through ACME", "domains", strings.Join(cfg.acmeDomains, ","),
		"directory", cfg.acmeDirectory, "cache", cacheDir)
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cacheDir),
		HostPolicy: hostPortWhitelist(cfg.acmeDomains),
		Client:     client,
		Email:      cfg.acmeEmail,
	}, nil
}
