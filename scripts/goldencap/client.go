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
	"slices"
	"strings"
	"time"

	utls "github.com/refraction-networking/utls"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/net/http2"

	"github.com/fpwork/fp/internal/parrots"
)

// helloVariation builds the parrot's ClientHello several times and reports whether the
// extension order changes (shuffled) and whether the set of extensions changes (varies:
// e.g. padding present or not, depending on a random GREASE ECH payload length).
func helloVariation(id utls.ClientHelloID) (shuffled, varies bool, err error) {
	var first []uint16
	for range 24 {
		a, b := net.Pipe()
		uc := utls.UClient(a, &utls.Config{ServerName: "localhost", OmitEmptyPsk: true}, id)
		err := uc.BuildHandshakeState()
		a.Close()
		b.Close()
		if err != nil {
			return false, false, err
		}
		raw := uc.HandshakeState.Hello.Raw
		if len(raw) == 0 { // HelloGolang: built by the crypto/tls code path, not marshaled yet
			if raw, err = uc.HandshakeState.Hello.Marshal(); err != nil {
				return false, false, err
			}
		}
		exts, ok := extensionTypes(raw)
		if !ok {
			return false, false, fmt.Errorf("parrots: cannot parse the hello of %s", id.Str())
		}
		if first == nil {
			first = exts
			continue
		}
		if !slices.Equal(first, exts) {
			x, y := slices.Sorted(slices.Values(first)), slices.Sorted(slices.Values(exts))
			if slices.Equal(x, y) {
				shuffled = true
			} else {
				varies = true
			}
		}
	}
	return shuffled, varies, nil
}

// extensionTypes lists the extension types of a ClientHello handshake message in order,
// every GREASE value written as 0x0a0a.
func extensionTypes(msg []byte) ([]uint16, bool) {
	s := cryptobyte.String(msg)
	var typ uint8
	var body, sid, ciphers, comp, exts cryptobyte.String
	if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) ||
		!body.Skip(2+32) || !body.ReadUint8LengthPrefixed(&sid) ||
		!body.ReadUint16LengthPrefixed(&ciphers) || !body.ReadUint8LengthPrefixed(&comp) {
		return nil, false
	}
	if body.Empty() {
		return []uint16{}, true
	}
	if !body.ReadUint16LengthPrefixed(&exts) {
		return nil, false
	}
	out := []uint16{}
	for !exts.Empty() {
		var t uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&t) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, false
		}
		if t>>8 == t&0xff && t&0x0f == 0x0a {
			t = 0x0a0a // GREASE: the value is random, only its presence and place matter here
		}
		out = append(out, t)
	}
	return out, true
}

// listParrots prints "NAME STEM ORDER SET" per parrot: ORDER is "shuffled" or "fixed"
// (extension order across hellos), SET is "varies" or "fixed" (the set of extensions).
func listParrots(w io.Writer) error {
	for _, p := range parrots.All() {
		shuffled, varies, err := helloVariation(p.ID)
		if err != nil {
			return err
		}
		order, set := "fixed", "fixed"
		if shuffled {
			order = "shuffled"
		}
		if varies {
			set = "varies"
		}
		fmt.Fprintf(w, "%s %s %s %s\n", p.Name, p.Stem(), order, set)
	}
	return nil
}

func runClient(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	addr := fs.String("addr", "", "server address (loopback)")
	name := fs.String("parrot", "", `"go" (net/http, HTTP/2), "go-h1" (net/http, HTTP/1.1) or a uTLS ID name`)
	sni := fs.String("sni", "localhost", "server name to send and to put in the Host header")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("client: %s is not a loopback address", *addr)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	authority := net.JoinHostPort(*sni, port)
	switch *name {
	case "go", "go-h1":
		return netHTTPClient(ctx, *addr, authority, *sni, *name == "go", stdout)
	}
	i := slices.IndexFunc(parrots.All(), func(p parrots.Parrot) bool { return p.Name == *name })
	if i < 0 {
		return fmt.Errorf("client: unknown parrot %q", *name)
	}
	return utlsClient(ctx, *addr, authority, *sni, parrots.All()[i].ID, stdout)
}

// netHTTPClient sends two GET requests over one connection with plain crypto/tls.
func netHTTPClient(ctx context.Context, addr, authority, sni string, h2 bool, stdout io.Writer) error {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig:   &tls.Config{ServerName: sni, InsecureSkipVerify: true},
		ForceAttemptHTTP2: h2,
		MaxConnsPerHost:   1,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for _, path := range []string{"/", "/second?q=1"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+authority+path, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s %s\n", resp.Proto, resp.Status, path)
	}
	return nil
}

// utlsClient does a uTLS handshake with the parrot's hello, then one GET over HTTP/2
// (x/net/http2 client connection) or HTTP/1.1, whichever ALPN selected.
//
// A parrot with a pre_shared_key extension (the *_PSK* IDs) has no session to resume on a
// first connection, so uTLS would refuse to send it. Such a parrot connects twice with a
// shared session cache: the first hello leaves the empty extension out (OmitEmptyPsk),
// and the second one resumes the session ticket of the first, so it carries a real
// pre_shared_key extension. The golden file takes the second connection.
func utlsClient(ctx context.Context, addr, authority, sni string, id utls.ClientHelloID, stdout io.Writer) error {
	cfg := &utls.Config{
		ServerName:         sni,
		InsecureSkipVerify: true,
		NextProtos:         []string{"h2", "http/1.1"},
	}
	if !strings.Contains(id.Client+id.Version, "PSK") {
		return utlsRequest(ctx, addr, authority, cfg, id, stdout)
	}
	cfg.ClientSessionCache = utls.NewLRUClientSessionCache(4)
	cfg.OmitEmptyPsk = true
	if err := utlsRequest(ctx, addr, authority, cfg, id, stdout); err != nil {
		return fmt.Errorf("client: first connection: %w", err)
	}
	return utlsRequest(ctx, addr, authority, cfg, id, stdout)
}

func utlsRequest(ctx context.Context, addr, authority string, cfg *utls.Config, id utls.ClientHelloID, stdout io.Writer) error {
	uc, err := parrots.Handshake(ctx, addr, cfg, id)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer uc.Close()
	st := uc.ConnectionState()
	fmt.Fprintf(stdout, "tls 0x%04x alpn %q resumed %v\n", st.Version, st.NegotiatedProtocol, st.DidResume)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+authority+"/", nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "goldencap-utls")
	var resp *http.Response
	if st.NegotiatedProtocol == "h2" {
		cc, err := (&http2.Transport{}).NewClientConn(uc)
		if err != nil {
			return err
		}
		defer cc.Close()
		resp, err = cc.RoundTrip(req)
		if err != nil {
			return err
		}
	} else {
		if err := req.Write(uc); err != nil {
			return err
		}
		resp, err = http.ReadResponse(bufio.NewReader(uc), req)
		if err != nil {
			return err
		}
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	fmt.Fprintf(stdout, "%s %s\n", resp.Proto, resp.Status)
	return nil
}
