// Command gencapture writes large, realistic, deterministic capture files for
// load runs of "fp analyze" (see scripts/bench-analyze.sh).
//
//	go run ./scripts/gencapture -out FILE -size 200MB [-seed N] [-format pcap|pcapng]
//
// The capture is made of many interleaved flows on an Ethernet link (IPv4,
// some IPv6), seen from the server side:
//
//   - TLS over TCP to port 443: handshake, the ClientHello records of a real
//     client taken from fingerprint/testdata/golden/*.txtar (section
//     hello.hex) with a fresh client random, split over 1 to 3 segments;
//     opaque server and client application-data records; FIN close.
//   - HTTP/1.1 over TCP to port 80 or 8080: generated request heads (methods,
//     paths, headers, cookies) and the real heads of the goldens' http1.hex
//     sections, each answered by a response.
//   - prior-knowledge h2c over TCP to port 80 or 8080: the goldens' http2.hex
//     client streams (preface, SETTINGS, HEADERS ...), opaque server frames.
//   - QUIC v1 over UDP to port 443: client Initial packets protected per RFC
//     9001 that carry a Chrome-like golden ClientHello (ALPN h3, empty session
//     ID, a quic_transport_parameters extension) in CRYPTO frames, padded to
//     1200 bytes; an ACK-only server Initial; opaque Handshake and 1-RTT
//     packets.
//   - bulk transfers (server to client, full-size segments) on some TCP
//     connections, so that, as in real captures, most bytes are bulk data.
//
// A small fraction of TCP connections retransmit a segment or deliver two
// segments out of order. The same seed, size and corpus give the same file.
// A summary (flows per kind, packets, bytes, ClientHellos) goes to stderr.
//
// Sizes take a decimal unit (KB, MB, GB = 10^3, 10^6, 10^9 bytes) or a binary
// one (KiB, MiB, GiB); the file is at least that large (flows in progress
// when the size is reached are finished, so it overshoots by at most a few
// bulk transfers).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencapture:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	out    string
	size   int64
	seed   uint64
	format string // "pcap" or "pcapng"
	golden string // directory of the golden txtar files
	active int    // flows in progress at a time
	bulk   float64
	// helloAnomalies lets retransmissions and reorderings hit the client's
	// first message too.
	helloAnomalies bool
}

func parseConfig(args []string, stderr io.Writer) (config, error) {
	var cfg config
	var size string
	fs := flag.NewFlagSet("gencapture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.out, "out", "", "capture file to write (required)")
	fs.StringVar(&size, "size", "200MB", "minimum file size: bytes, or a number with KB, MB, GB (decimal) or KiB, MiB, GiB")
	fs.Uint64Var(&cfg.seed, "seed", 1, "random seed; the same seed and size give the same file")
	fs.StringVar(&cfg.format, "format", "pcap", "file format: pcap or pcapng")
	fs.StringVar(&cfg.golden, "golden", "fingerprint/testdata/golden", "directory of the golden *.txtar files (hellos and HTTP streams)")
	fs.IntVar(&cfg.active, "active", 64, "number of flows in progress at the same time (interleaving)")
	fs.Float64Var(&cfg.bulk, "bulk", 0.08, "fraction of TLS and HTTP/1 connections that carry a bulk transfer")
	fs.BoolVar(&cfg.helloAnomalies, "hello-anomalies", false, "let retransmissions and reorderings hit the client's first message (ClientHello, first HTTP/1 request, h2c preface) too; tshark then needs -o tcp.reassemble_out_of_order:TRUE to see them all")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.out == "" {
		return cfg, errors.New("-out is required")
	}
	if cfg.format != "pcap" && cfg.format != "pcapng" {
		return cfg, fmt.Errorf("-format %q: want pcap or pcapng", cfg.format)
	}
	if cfg.active < 1 {
		return cfg, fmt.Errorf("-active %d: want at least 1", cfg.active)
	}
	if cfg.bulk < 0 || cfg.bulk > 1 {
		return cfg, fmt.Errorf("-bulk %g: want a fraction between 0 and 1", cfg.bulk)
	}
	n, err := parseSize(size)
	if err != nil {
		return cfg, err
	}
	cfg.size = n
	return cfg, nil
}

// parseSize reads "200MB", "1.5GiB", "4096".
func parseSize(s string) (int64, error) {
	num := strings.TrimRight(s, "KMGTiBkmgtib ")
	unit := strings.TrimSpace(s[len(num):])
	mult := 1.0
	switch strings.ToLower(unit) {
	case "", "b":
	case "k", "kb":
		mult = 1e3
	case "m", "mb":
		mult = 1e6
	case "g", "gb":
		mult = 1e9
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional unit", s)
	}
	return int64(f * mult), nil
}

func run(ctx context.Context, args []string, stderr io.Writer) (err error) {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	corp, err := loadCorpus(os.DirFS(cfg.golden))
	if err != nil {
		return fmt.Errorf("corpus %s: %w", cfg.golden, err)
	}
	f, err := os.Create(cfg.out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(cfg.out)
		}
	}()
	began := time.Now()
	sink, err := newSink(f, cfg.format)
	if err != nil {
		return err
	}
	g := newGenerator(cfg, corp, sink)
	if err := g.run(ctx); err != nil {
		return err
	}
	if err := sink.flush(); err != nil {
		return err
	}
	g.stats.elapsed = time.Since(began)
	g.stats.print(stderr, cfg, sink.written)
	return nil
}
