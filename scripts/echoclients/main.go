// Command echoclients sends real Go clients to a running echo service (cmd/echo) and
// saves each of its JSON answers, for the end-to-end matrix of scripts/echo-e2e.sh:
//
//	echoclients --https 127.0.0.1:PORT --out DIR   run every client, write DIR/NAME.json
//	echoclients --list                             print the answer names, one a line
//	echoclients --bidi ws://127.0.0.1:P --page URL --name NAME --out DIR
//	                                               load URL in a browser through WebDriver
//	                                               BiDi, save the page's <pre> as NAME.json
//
// The clients: Go crypto/tls through net/http over HTTP/2 (go-h2) and HTTP/1.1 (go-h1),
// two requests on one connection each, then every concrete uTLS v1.8.2 parrot (utls-*),
// one request over HTTP/2 or HTTP/1.1, whichever ALPN selected. A parrot with a
// pre_shared_key extension (*_PSK*) connects twice with one session cache: the first
// hello leaves the empty extension out, the second resumes the first's session and so
// carries a real pre_shared_key (as scripts/goldencap and cmd/echo's parrot test do);
// both answers are kept (NAME-1, NAME-2).
//
// A client that fails is reported on stderr and the others still run; the exit status
// is then 1.
//
// With --bidi it drives a browser instead (Firefox ESR started with
// --remote-debugging-port): a session that accepts the echo's self-signed certificate
// loads the page, and the text of its <pre>, the echo's JSON answer, is saved.
//
// It is run by scripts/echo-e2e.sh; it is not part of the product.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	utls "github.com/refraction-networking/utls"
	"golang.org/x/net/http2"

	"github.com/fpwork/fp/internal/parrots"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echoclients:", err)
		os.Exit(1)
	}
}

// answer is one request whose echo answer is saved as Name.json.
type answer struct {
	Name string // file stem, also the last element of the request path
}

// client is one connection (or, for the PSK parrots, two) and the answers it yields.
type client struct {
	Name    string
	Answers []answer
	// Run sends the requests to the echo at addr (host:port) and writes each answer
	// with save.
	Run func(ctx context.Context, addr string, save func(answer, []byte) error) error
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("echoclients", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpsAddr := fs.String("https", "", "the echo's HTTPS address (loopback host:port)")
	out := fs.String("out", "", "directory for the answers (NAME.json)")
	list := fs.Bool("list", false, "print the answer names and exit")
	bidi := fs.String("bidi", "", "a browser's WebDriver BiDi endpoint (ws://127.0.0.1:PORT): load --page in it instead")
	page := fs.String("page", "", "with --bidi: the echo URL to load")
	name := fs.String("name", "", "with --bidi: the answer name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bidi != "" {
		if *page == "" || *name == "" || *out == "" {
			return errors.New("--bidi needs --page, --name and --out")
		}
		ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		return browserAnswer(ctx, *bidi, *page, *name, func(a answer, body []byte) error {
			return os.WriteFile(filepath.Join(*out, a.Name+".json"), body, 0o644)
		})
	}
	clients := allClients()
	if *list {
		for _, c := range clients {
			for _, a := range c.Answers {
				fmt.Fprintln(stdout, a.Name)
			}
		}
		return nil
	}
	if *httpsAddr == "" || *out == "" {
		return errors.New("--https and --out are required")
	}
	host, _, err := net.SplitHostPort(*httpsAddr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", *httpsAddr)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	save := func(a answer, body []byte) error {
		return os.WriteFile(filepath.Join(*out, a.Name+".json"), body, 0o644)
	}
	failed := 0
	for _, c := range clients {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := c.Run(cctx, *httpsAddr, save)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "echoclients: %s: %v\n", c.Name, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: %d answer(s)\n", c.Name, len(c.Answers))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d clients failed", failed, len(clients))
	}
	return nil
}

// allClients lists the Go crypto/tls clients, then one client per uTLS parrot.
func allClients() []client {
	clients := []client{
		{Name: "go-h2", Answers: []answer{{"go-h2-1"}, {"go-h2-2"}}},
		{Name: "go-h1", Answers: []answer{{"go-h1-1"}, {"go-h1-2"}}},
	}
	for i := range clients {
		h2 := clients[i].Name == "go-h2"
		answers := clients[i].Answers
		clients[i].Run = func(ctx context.Context, addr string, save func(answer, []byte) error) error {
			return netHTTPClient(ctx, addr, h2, answers, save)
		}
	}
	for _, p := range parrots.All() {
		stem := p.Stem()
		c := client{Name: stem, Answers: []answer{{stem}}}
		psk := strings.Contains(p.Name, "PSK")
		if psk {
			c.Answers = []answer{{stem + "-1"}, {stem + "-2"}}
		}
		answers, id := c.Answers, p.ID
		c.Run = func(ctx context.Context, addr string, save func(answer, []byte) error) error {
			return utlsClient(ctx, addr, id, psk, answers, save)
		}
		clients = append(clients, c)
	}
	return clients
}

// requestURL is the URL of an answer's request: its path ends with the answer name, so
// a request in the capture can be told from the others by its path alone.
func requestURL(addr string, a answer) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	return "https://localhost:" + port + "/e2e/" + a.Name + "?client=" + a.Name, nil
}

// netHTTPClient sends one GET per answer over one connection with plain crypto/tls
// through net/http, HTTP/2 when h2 is set, else HTTP/1.1.
func netHTTPClient(ctx context.Context, addr string, h2 bool, answers []answer, save func(answer, []byte) error) error {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig:   &tls.Config{ServerName: "localhost", InsecureSkipVerify: true},
		ForceAttemptHTTP2: h2,
		MaxConnsPerHost:   1,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for _, a := range answers {
		u, err := requestURL(addr, a)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		if err := saveResponse(resp, a, save); err != nil {
			return err
		}
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
			return fmt.Errorf("%s: got %s, want HTTP/%d", a.Name, resp.Proto, want)
		}
	}
	return nil
}

// saveResponse checks a 200 answer and saves its body.
func saveResponse(resp *http.Response, a answer, save func(answer, []byte) error) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", a.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %s: %.200s", a.Name, resp.Status, body)
	}
	return save(a, body)
}

// utlsClient connects with the parrot once per answer (the PSK parrots twice, sharing a
// session cache so that the second hello resumes the first session).
func utlsClient(ctx context.Context, addr string, id utls.ClientHelloID, psk bool, answers []answer, save func(answer, []byte) error) error {
	cfg := &utls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}
	if psk {
		cfg.ClientSessionCache = utls.NewLRUClientSessionCache(4)
		cfg.OmitEmptyPsk = true
	}
	for _, a := range answers {
		if err := utlsRequest(ctx, addr, cfg, id, a, save); err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
	}
	return nil
}

// utlsRequest does a uTLS handshake with the parrot's hello, then one GET over HTTP/2
// (an x/net/http2 client connection) or HTTP/1.1, whichever ALPN selected.
func utlsRequest(ctx context.Context, addr string, cfg *utls.Config, id utls.ClientHelloID, a answer, save func(answer, []byte) error) error {
	uc, err := parrots.Handshake(ctx, addr, cfg, id)
	if err != nil {
		return err
	}
	defer uc.Close()
	u, err := requestURL(addr, a)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "echoclients-utls")
	req.Header.Set("Accept", "application/json")
	var resp *http.Response
	if uc.ConnectionState().NegotiatedProtocol == "h2" {
		cc, err := (&http2.Transport{}).NewClientConn(uc)
		if err != nil {
			return err
		}
		defer cc.Close()
		if resp, err = cc.RoundTrip(req); err != nil {
			return err
		}
	} else {
		req.Header.Set("Connection", "close")
		if err := req.Write(uc); err != nil {
			return err
		}
		if resp, err = http.ReadResponse(bufio.NewReader(uc), req); err != nil {
			return err
		}
	}
	return saveResponse(resp, a, save)
}
