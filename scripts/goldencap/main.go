// Command goldencap captures real clients' TLS ClientHellos and decrypted HTTP streams
// for the golden files in fingerprint/testdata/golden.
//
// It has three modes:
//
//	goldencap serve  --addr 127.0.0.1:PORT --out DIR --keylog FILE
//	goldencap client --addr 127.0.0.1:PORT --parrot NAME [--sni localhost]
//	goldencap parrots
//
// serve is a loopback TLS server (crypto/tls, self-signed ECDSA P-256 certificate,
// TLS 1.0 to 1.3, ALPN h2 and http/1.1) that records, per accepted connection N, the raw
// bytes of the first ClientHello (DIR/conn-N.hello.bin) and the decrypted bytes the
// client sent after the handshake (DIR/conn-N.stream.bin), and appends one line to
// DIR/conns.txt. It writes the TLS secrets to the key log FILE so that tshark can
// decrypt the same traffic independently.
//
// client connects with plain crypto/tls through net/http (parrot "go" for HTTP/2,
// "go-h1" for HTTP/1.1) or with a uTLS parrot (see "goldencap parrots") and sends real
// HTTP requests.
//
// It is run by scripts/capture-goldens.sh; it is not part of the product.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "goldencap:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: goldencap serve|client|parrots [flags]")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stderr)
	case "client":
		return runClient(ctx, args[1:], stdout)
	case "parrots":
		return listParrots(stdout)
	default:
		return fmt.Errorf("unknown mode %q", args[0])
	}
}
