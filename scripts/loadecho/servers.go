package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/fpwork/fp/internal/selfsigned"
)

// writeCertificate makes one self-signed ECDSA P-256 certificate for
// 127.0.0.1 and writes it and its key as PEM into dir, for echo's
// --cert/--key and the baselines' -cert/-key: both sides of a comparison
// sign with the same key.
func writeCertificate(dir string) (certFile, keyFile string, err error) {
	cert, err := selfsigned.Localhost()
	if err != nil {
		return "", "", err
	}
	key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return "", "", fmt.Errorf("loadecho: certificate key is %T, want ECDSA", cert.PrivateKey)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("loadecho: %w", err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("loadecho: %w", err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("loadecho: %w", err)
	}
	return certFile, keyFile, nil
}

// baselineTLSConfig is echo's TLS configuration without the capture: the
// certificate, ALPN h2 and http/1.1, every other setting (versions,
// curves, session tickets) crypto/tls's default, as in cmd/echo.
func baselineTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loadecho: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}, nil
}

// fixedJSON returns a JSON object of exactly size bytes (at least 16):
// {"padding":"xxx…"}.
func fixedJSON(size int) ([]byte, error) {
	const head, tail = `{"padding":"`, `"}`
	if size < len(head)+len(tail) {
		return nil, fmt.Errorf("loadecho: a JSON body of %d bytes is too small", size)
	}
	b := make([]byte, 0, size)
	b = append(b, head...)
	b = append(b, bytes.Repeat([]byte("x"), size-len(head)-len(tail))...)
	return append(b, tail...), nil
}

// serveFixedJSON is the baseline of the request measurements: a plain
// crypto/tls listener under a net/http Server (echo's timeouts and header
// limit) whose handler answers every request with body, as
// application/json.
func serveFixedJSON(ctx context.Context, ln net.Listener, cfg *tls.Config, body []byte) error {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Write(body)
	})
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 65536}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(tls.NewListener(ln, cfg)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Shutdown(shutdown)
}

// serveHandshakes is the baseline of the handshake measurement: a plain
// crypto/tls listener that completes each handshake, then reads until
// the client's close_notify and closes. It serves no HTTP.
func serveHandshakes(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	tl := tls.NewListener(ln, cfg)
	go func() {
		<-ctx.Done()
		tl.Close()
	}()
	for {
		c, err := tl.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			if err := c.(*tls.Conn).Handshake(); err != nil {
				return
			}
			io.Copy(io.Discard, c)
		}()
	}
}
