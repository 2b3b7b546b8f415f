package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/net/dns/dnsmessage"
)

// TestACMEFlags: --acme-domain takes a list of host names, from the flag
// or ECHO_ACME_DOMAIN, and refuses what cannot work.
func TestACMEFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		domains []string
		wantErr string
	}{
		{name: "off", args: nil},
		{name: "list", args: []string{"--acme-domain", " echo.example.org, b.example.org ,"}, domains: []string{"echo.example.org", "b.example.org"}},
		{name: "env", env: map[string]string{"ECHO_ACME_DOMAIN": "echo.example.org", "ECHO_ACME_CACHE": "c"}, domains: []string{"echo.example.org"}},
		{name: "with cert", args: []string{"--acme-domain", "echo.example.org", "--cert", "c.pem", "--key", "k.pem"}, wantErr: "exclude"},
		{name: "ip", args: []string{"--acme-domain", "127.0.0.1"}, wantErr: "IP address"},
		{name: "no dot", args: []string{"--acme-domain", "localhost"}, wantErr: "fully qualified"},
		{name: "host and port", args: []string{"--acme-domain", "echo.example.org:443"}, wantErr: "fully qualified"},
		{name: "no https", args: []string{"--acme-domain", "echo.example.org", "--https-addr", ""}, wantErr: "--https-addr"},
		{name: "cache alone", args: []string{"--acme-cache", "c"}, wantErr: "need --acme-domain"},
		{name: "directory alone", args: []string{"--acme-directory", "https://127.0.0.1:1/dir"}, wantErr: "need --acme-domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(append([]string{"echo"}, tc.args...), func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one about %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a := c.serving.ACME; !slices.Equal(a.Domains, tc.domains) || a.Directory != acme.LetsEncryptURL {
				t.Fatalf("domains %q directory %q", a.Domains, a.Directory)
			}
		})
	}
}

// acmeTestDomain is the name echo gets a certificate for from pebble. The
// .test TLD is reserved (RFC 6761); the test's DNS server maps it to
// 127.0.0.1 for pebble's validator.
const acmeTestDomain = "echo.test"

// TestACME gets a certificate for echo from a real pebble (the ACME test
// CA, built by scripts/test.sh and named by FP_PEBBLE) with real
// validation: pebble resolves the domain through a DNS server of this test
// (A 127.0.0.1 for every name) and connects to echo. Each case leaves only
// its challenge reachable, the other port pointing at a listener that
// closes every connection, so a certificate proves that challenge passed.
// A client trusting only pebble's root then gets echo's JSON from
// https://echo.test:port/.
func TestACME(t *testing.T) {
	pebbleBin := os.Getenv("FP_PEBBLE")
	if pebbleBin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("FP_PEBBLE is unset in CI; scripts/test.sh builds pebble and sets it")
		}
		t.Skip("FP_PEBBLE is unset: set it to a pebble binary (scripts/test.sh builds one)")
	}
	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			dir := t.TempDir()
			pebbleCA := writeLoopbackCA(t, dir)
			dnsAddr := startDNS(t)
			closer := startClosingListener(t)
			pebbleAddr, pebbleManagementAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
			cacheDir := filepath.Join(dir, "acme-cache")

			echo := startEchoWith(t, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
				"--handshake-timeout", "2m", "--acme-domain", acmeTestDomain,
				"--acme-directory", "https://"+pebbleAddr+"/dir", "--acme-ca-file", filepath.Join(dir, "ca.pem"),
				"--acme-cache", cacheDir, "--acme-email", "echo@"+acmeTestDomain)
			tlsPort, httpPort := portOf(t, echo.https), portOf(t, closer)
			if challenge == "http-01" {
				tlsPort, httpPort = portOf(t, closer), portOf(t, echo.http)
			}
			roots := startPebble(t, pebbleBin, dir, pebbleCA, pebbleConfig{
				listenAddress: pebbleAddr, managementAddress: pebbleManagementAddr,
				httpPort: httpPort, tlsPort: tlsPort, dnsServer: dnsAddr,
			})

			tr := &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: roots},
				ForceAttemptHTTP2: true,
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, echo.https)
				},
			}
			defer tr.CloseIdleConnections()
			// The first handshake waits for the issuance.
			resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Minute}).Get("https://" + acmeTestDomain + ":" + strconv.Itoa(portOf(t, echo.https)) + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			chain := resp.TLS.VerifiedChains[0] // the transport verified it for acmeTestDomain against roots
			leaf, root := chain[0], chain[len(chain)-1]
			if !slices.Equal(leaf.DNSNames, []string{acmeTestDomain}) || !roots.Equal(certPoolOf(root)) {
				t.Fatalf("leaf for %q issued by %q, chain to %q", leaf.DNSNames, leaf.Issuer, root.Subject)
			}
			r := decode(t, body)
			if resp.StatusCode != http.StatusOK || r.HTTP.Version != "HTTP/2.0" || r.TLS == nil || r.TLS.SNI != acmeTestDomain ||
				r.Fingerprints["ja3"] == "" || r.Fingerprints["ja4"] == "" || r.Fingerprints["akamai"] == "" {
				t.Fatalf("status %d, http %+v, tls %+v, fingerprints %v", resp.StatusCode, r.HTTP, r.TLS, r.Fingerprints)
			}
			if _, err := os.Stat(filepath.Join(cacheDir, acmeTestDomain)); err != nil {
				t.Fatalf("certificate not in --acme-cache: %v", err)
			}
		})
	}
}

func certPoolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// freeLoopbackAddr is a loopback address with a port the kernel just had
// free, for a process that cannot take a listener from the test.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startClosingListener listens on loopback and closes every connection at
// once: a port where an ACME challenge fails fast.
func startClosingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// writeLoopbackCA writes ca.pem, and cert.pem and key.pem of a server
// certificate it issued for 127.0.0.1 and localhost (pebble's own HTTPS),
// into dir; it returns the CA's certificate.
func writeLoopbackCA(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fp echo ACME test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "pebble"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca
}

// startDNS serves DNS over TCP (pebble's validator asks over TCP) on
// loopback: A 127.0.0.1 for every name, no records of other types.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				for {
					if err := answerDNS(c); err != nil {
						return
					}
				}
			})
		}
	}()
	return ln.Addr().String()
}

// answerDNS reads one length-prefixed query from c and writes its answer.
func answerDNS(c net.Conn) error {
	var size [2]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	query := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(c, query); err != nil {
		return err
	}
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return err
	}
	q, err := p.Question()
	if err != nil {
		return err
	}
	b := dnsmessage.NewBuilder(make([]byte, 2, 512), dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
	if err := b.StartQuestions(); err != nil {
		return err
	}
	if err := b.Question(q); err != nil {
		return err
	}
	if err := b.StartAnswers(); err != nil {
		return err
	}
	if q.Type == dnsmessage.TypeA {
		if err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
	}
	msg, err := b.Finish()
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
	_, err = c.Write(msg)
	return err
}

type pebbleConfig struct {
	listenAddress, managementAddress string
	httpPort, tlsPort                int
	dnsServer                        string
}

// startPebble runs pebble until the test ends, with its HTTPS on
// cert.pem/key.pem of dir, real validation without its random sleeps, and
// no rejected nonces; it returns pebble's issuing root, fetched from its
// management API.
func startPebble(t *testing.T, bin, dir string, ca *x509.Certificate, cfg pebbleConfig) *x509.CertPool {
	t.Helper()
	config, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": cfg.listenAddress, "managementListenAddress": cfg.managementAddress,
		"certificate": filepath.Join(dir, "cert.pem"), "privateKey": filepath.Join(dir, "key.pem"),
		"httpPort": cfg.httpPort, "tlsPort": cfg.tlsPort, "keyAlgorithm": "ecdsa",
	}})
	if err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(configFile, config, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", configFile, "-dnsserver", cfg.dnsServer)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	var out bytes.Buffer // written by one goroutine of cmd, read after Wait
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("pebble's output:\n%s", out.Bytes())
		}
	})

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPoolOf(ca)}}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		// Pebble opens its ports some time after it starts: poll.
		resp, err := client.Get("https://" + cfg.managementAddress + "/roots/0")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			block, _ := pem.Decode(body)
			if resp.StatusCode != http.StatusOK || block == nil {
				t.Fatalf("pebble's /roots/0: %s %q", resp.Status, body)
			}
			root, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return certPoolOf(root)
		}
		var unknownCA x509.UnknownAuthorityError
		if errors.As(err, &unknownCA) {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("pebble exited: %v", err)
		case <-deadline:
			t.Fatalf("pebble's management API did not answer: %v", err)
		case <-tick.C:
		}
	}
}
