package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/fpwork/fp/internal/selfsigned"
)

type server struct {
	out    string
	log    *slog.Logger
	tlsCfg *tls.Config
	h2     *http2.Server
	h1     *http.Server
	next   atomic.Int64

	connsMu sync.Mutex
	conns   *os.File
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	out := fs.String("out", "", "directory for conn-N.* files and conns.txt")
	keylog := fs.String("keylog", "", "TLS key log file (NSS format) for tshark")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *keylog == "" {
		return errors.New("serve: --out and --keylog are required")
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("serve: %s is not a loopback address", *addr)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	kl, err := os.OpenFile(*keylog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer kl.Close()
	conns, err := os.OpenFile(filepath.Join(*out, "conns.txt"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer conns.Close()

	cert, err := selfsigned.Localhost()
	if err != nil {
		return err
	}
	// cert.pem lets a browser that cannot skip verification (Firefox) pin it.
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	if err := os.WriteFile(filepath.Join(*out, "cert.pem"), certPEM, 0o644); err != nil {
		return err
	}
	// Every suite crypto/tls implements, insecure ones included, so that old clients
	// still complete a handshake (only ECDHE_ECDSA ones can match the ECDSA key).
	var suites []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		suites = append(suites, s.ID)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	s := &server{
		out: *out,
		log: log,
		tlsCfg: &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
			MinVersion:   tls.VersionTLS10,
			MaxVersion:   tls.VersionTLS13,
			CipherSuites: suites,
			KeyLogWriter: kl,
		},
		h2:    &http2.Server{PermitProhibitedCipherSuites: true},
		h1:    &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		conns: conns,
	}
	s.h1.Handler = http.HandlerFunc(s.page)
	// HTTP/2 needs TLS 1.2 (RFC 9113 section 9.2): a client that cannot do TLS 1.2 is
	// offered http/1.1 only, so that it still gets a response.
	h1only := s.tlsCfg.Clone()
	h1only.NextProtos = []string{"http/1.1"}
	s.tlsCfg.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		for _, v := range hi.SupportedVersions {
			if v >= tls.VersionTLS12 {
				return nil, nil
			}
		}
		return h1only, nil
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go s.handle(ctx, c)
	}
}

// page answers every request with a small HTML page.
func (s *server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The data: icon keeps browsers from requesting /favicon.ico, so a browser's
	// connection carries the same requests on every run.
	fmt.Fprintf(w, "<!doctype html><html><head><title>goldencap</title><link rel=\"icon\" href=\"data:,\"></head><body><p>%s %s %s</p></body></html>\n",
		r.Proto, r.Method, htmlEscape(r.URL.Path))
}

func htmlEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '"':
			b = append(b, "&quot;"...)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func (s *server) handle(ctx context.Context, c net.Conn) {
	n := s.next.Add(1)
	base := filepath.Join(s.out, "conn-"+strconv.FormatInt(n, 10))
	port := 0
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		port = a.Port
	}
	s.record(n, port, "accept", "-", "-", "-")
	rec := &helloRecorder{Conn: c, onDone: func(hello []byte, complete bool) {
		if err := os.WriteFile(base+".hello.bin", hello, 0o644); err != nil {
			s.log.Error("write hello", "conn", n, "err", err)
		}
		if !complete {
			s.log.Warn("hello incomplete", "conn", n, "bytes", len(hello))
		}
	}}
	tc := tls.Server(rec, s.tlsCfg)
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		s.record(n, port, "-", "-", "-", "handshake-error:"+sanitize(err.Error()))
		tc.Close()
		return
	}
	st := tc.ConnectionState()
	alpn := st.NegotiatedProtocol
	if alpn == "" {
		alpn = "-"
	}
	f, err := os.OpenFile(base+".stream.bin", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		s.log.Error("open stream file", "conn", n, "err", err)
	}
	s.record(n, port, alpn, fmt.Sprintf("0x%04x", st.Version), fmt.Sprintf("0x%04x", st.CipherSuite), "ok")
	sc := &streamRecorder{Conn: tc, f: f}
	if st.NegotiatedProtocol == "h2" {
		s.h2.ServeConn(sc, &http2.ServeConnOpts{Context: ctx, BaseConfig: s.h1, Handler: s.h1.Handler})
		sc.Close()
		return
	}
	l := newOneConnListener(sc)
	_ = s.h1.Serve(l) // returns net.ErrClosed once the one connection is closed
}

// record appends "N PORT ALPN VERSION CIPHER STATUS" to conns.txt. Each connection gets
// an "accept" line when accepted and a second line once the handshake ended (STATUS "ok"
// or "handshake-error:...", ALPN "-" when none was negotiated).
func (s *server) record(n int64, port int, alpn, version, cipher, status string) {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	fmt.Fprintf(s.conns, "%d %d %s %s %s %s\n", n, port, alpn, version, cipher, status)
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}
