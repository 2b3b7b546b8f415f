package serving

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

// ACME is the certificate source of --acme-domain.
type ACME struct {
	// Domains are the host names to get certificates for; none turns
	// ACME off.
	Domains []string
	// Directory is the CA's directory URL.
	Directory string
	// Cache keeps the account key and the certificates; empty means
	// DefaultCache in the user's cache directory.
	Cache, DefaultCache string
	// Email is the account's contact address (optional).
	Email string
	// CAFile holds PEM certificates trusted for the CA's HTTPS instead
	// of the system roots.
	CAFile string
}

// parseACME sets c.ACME.Domains from the comma-separated --acme-domain
// and checks the ACME flags against the others.
func (c *Config) parseACME(domainList string) error {
	for name := range strings.SplitSeq(domainList, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case net.ParseIP(name) != nil:
			return fmt.Errorf("%s: --acme-domain %q: an IP address; ACME here issues for host names only", c.Name, name)
		case !strings.Contains(name, "."), strings.ContainsAny(name, ":/"):
			// autocert refuses a server name without a dot.
			return fmt.Errorf("%s: --acme-domain %q: not a fully qualified host name", c.Name, name)
		}
		c.ACME.Domains = append(c.ACME.Domains, name)
	}
	a := c.ACME
	if len(a.Domains) == 0 {
		if a.Directory != acme.LetsEncryptURL || a.Cache != "" || a.Email != "" || a.CAFile != "" {
			return errors.New(c.Name + ": --acme-directory, --acme-cache, --acme-email and --acme-ca-file need --acme-domain")
		}
		return nil
	}
	if c.CertFile != "" || c.KeyFile != "" {
		return errors.New(c.Name + ": --acme-domain and --cert/--key exclude each other")
	}
	if c.HTTPSAddr == "" {
		return errors.New(c.Name + ": --acme-domain needs --https-addr")
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
// flags, and a cache directory (by default DefaultCache in the user's
// cache directory). It accepts the CA's terms of service.
func newACMEManager(name string, a ACME, log *slog.Logger) (*autocert.Manager, error) {
	cacheDir := a.Cache
	if cacheDir == "" {
		userCache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("%s: no default ACME cache, set --acme-cache: %w", name, err)
		}
		cacheDir = filepath.Join(userCache, filepath.FromSlash(a.DefaultCache))
	}
	client := &acme.Client{DirectoryURL: a.Directory}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: --acme-ca-file: %w", name, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: --acme-ca-file %s: no PEM certificate in it", name, a.CAFile)
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{RootCAs: roots}
		client.HTTPClient = &http.Client{Transport: transport}
	}
	log.Info(name+": certificates through ACME", "domains", strings.Join(a.Domains, ","),
		"directory", a.Directory, "cache", cacheDir)
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cacheDir),
		HostPolicy: hostPortWhitelist(a.Domains),
		Client:     client,
		Email:      a.Email,
	}, nil
}
