package main

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/term"

	"github.com/fpwork/fp/analyze"
)

// sampleFS holds the embedded default input: real captures of a headless
// Chromium connection (its TLS hello and its HTTP/2 client stream) and of a
// curl HTTP/1.1 request.
//
//go:embed sample
var sampleFS embed.FS

// Exit codes of fp analyze.
const (
	exitOK       = 0
	exitBadInput = 1  // a file could not be read or parsed
	exitSkipped  = 2  // a capture had malformed packets or was cut short
	exitUsage    = 64 // EX_USAGE of sysexits.h
)

// inputFile is one file to analyse and what it holds ("" = sniff).
type inputFile struct{ kind, path string }

// inputList is a flag.Value that appends files of one kind to a shared,
// ordered list, so output follows the command line.
type inputList struct {
	kind string
	list *[]inputFile
}

func (l inputList) String() string { return "" }
func (l inputList) Set(v string) error {
	*l.list = append(*l.list, inputFile{kind: l.kind, path: v})
	return nil
}

const analyzeUsage = `usage: fp analyze [--keylog FILE] [--tls FILE] [--http1 FILE] [--http2 FILE] [FILE|-...]

Prints one JSON object per line: kind "tls" for each ClientHello, kind
"http" for each request. A FILE without a flag is sniffed: TLS records or a
handshake message, the HTTP/2 preface, or else an HTTP/1 request stream.
With no file, analyses the embedded sample.

A FILE that is a pcap or pcapng capture ("-" reads standard input) gives
the hellos and plaintext requests of every TCP stream, with src, dst,
transport, stream (as tshark's tcp.stream / udp.stream) and time; QUIC
Initials give hellos with proto q. With --keylog, TLS 1.3 and TLS 1.2
AEAD connections whose secrets it holds are decrypted and their HTTP/1
and HTTP/2 requests reported.

Exit codes: 0 all inputs read; 1 an input could not be read or parsed (the
others are still analysed); 2 a capture had malformed packets or was cut
short (what came before is printed); 64 usage error.
`

func runAnalyze(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var inputs []inputFile
	fset := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprint(stderr, analyzeUsage) }
	fset.Var(inputList{analyze.InputTLS, &inputs}, "tls", "a raw TLS hello file (records or a bare handshake message)")
	fset.Var(inputList{analyze.InputHTTP1, &inputs}, "http1", "a raw HTTP/1 client request stream")
	fset.Var(inputList{analyze.InputHTTP2, &inputs}, "http2", "a raw HTTP/2 client stream, from the connection preface")
	keylog := fset.String("keylog", "", "an NSS key log file (SSLKEYLOGFILE) to decrypt TLS in captures")
	// Flags and files may be interleaved; keep the command-line order.
	for {
		if err := fset.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		if fset.NArg() == 0 {
			break
		}
		inputs = append(inputs, inputFile{path: fset.Arg(0)})
		args = fset.Args()[1:]
	}

	var fsys fs.FS = osFS{}
	if len(inputs) == 0 {
		fmt.Fprintln(stderr, "fp analyze: no file given; analysing the embedded sample")
		sub, err := fs.Sub(sampleFS, "sample")
		if err != nil {
			fmt.Fprintln(stderr, "fp analyze:", err)
			return exitBadInput
		}
		fsys = sub
		entries, _ := fs.ReadDir(sub, ".")
		for _, e := range entries {
			inputs = append(inputs, inputFile{kind: sampleKind(e.Name()), path: e.Name()})
		}
	}

	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	emit := func(r analyze.Record) error { return enc.Encode(r) }
	a := analyzer{raw: analyze.NewRaw(), capture: analyze.NewCapture(), stdin: stdin, stderr: stderr, emit: emit}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		a.progress = true
	}
	if *keylog != "" {
		f, err := os.Open(*keylog)
		if err != nil {
			fmt.Fprintln(stderr, "fp analyze: --keylog:", err)
			return exitBadInput
		}
		kl, err := analyze.ParseKeyLog(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "fp analyze: --keylog %s: %v\n", *keylog, err)
			return exitBadInput
		}
		a.capture.KeyLog = kl
	}
	code := exitOK
	for _, in := range inputs {
		if ctx.Err() != nil {
			return exitBadInput
		}
		code = max(code, a.input(ctx, fsys, in))
	}
	return code
}

// analyzer runs one input at a time and reports its errors on stderr.
type analyzer struct {
	raw     *analyze.Raw
	capture *analyze.Capture
	stdin   io.Reader
	stderr  io.Writer
	emit    func(analyze.Record) error
	// progress: stderr is a terminal, so a capture's progress is shown.
	progress bool
}

// maxRawInput caps a raw (non-capture) input, which is read whole.
const maxRawInput = 64 << 20

// input analyses one input and returns its exit code.
func (a *analyzer) input(ctx context.Context, fsys fs.FS, in inputFile) int {
	var r io.Reader
	if in.path == "-" {
		r = a.stdin
	} else {
		f, err := fsys.Open(in.path)
		if err != nil {
			fmt.Fprintf(a.stderr, "fp analyze: %s: %v\n", in.path, errors.Unwrap(err))
			return exitBadInput
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	if in.kind == "" && analyze.IsCapture(head) {
		records := 0
		emit := func(r analyze.Record) error { records++; return a.emit(r) }
		if a.progress {
			a.capture.Progress = func(n int64, st analyze.CaptureStats) {
				fmt.Fprintf(a.stderr, "\rfp analyze: %s: %.1f MB, %d packets, %d records", in.path, float64(n)/1e6, st.Packets, records)
			}
			defer fmt.Fprint(a.stderr, "\r\033[K")
		}
		st, err := a.capture.Analyse(ctx, in.path, br, emit)
		code := exitOK
		if st.Skipped > 0 {
			fmt.Fprintf(a.stderr, "fp analyze: %s: %d of %d packets skipped as malformed\n", in.path, st.Skipped, st.Packets)
			code = exitSkipped
		}
		if err != nil {
			fmt.Fprintln(a.stderr, "fp analyze:", err)
			if errors.Is(err, analyze.ErrDamagedCapture) {
				return exitSkipped
			}
			return exitBadInput
		}
		return code
	}
	b, err := io.ReadAll(io.LimitReader(br, maxRawInput+1))
	if err != nil {
		fmt.Fprintf(a.stderr, "fp analyze: %s: %v\n", in.path, err)
		return exitBadInput
	}
	if len(b) > maxRawInput {
		fmt.Fprintf(a.stderr, "fp analyze: %s: a raw input over %d bytes is not read\n", in.path, maxRawInput)
		return exitBadInput
	}
	kind := in.kind
	if kind == "" {
		kind = analyze.Sniff(b)
	}
	recs, err := a.raw.Analyse(in.path, kind, b)
	for _, r := range recs {
		if err := a.emit(r); err != nil {
			fmt.Fprintln(a.stderr, "fp analyze: writing output:", err)
			return exitBadInput
		}
	}
	if err != nil {
		fmt.Fprintln(a.stderr, "fp analyze:", err)
		return exitBadInput
	}
	return exitOK
}

// sampleKind maps an embedded sample's name to its input kind.
func sampleKind(name string) string {
	switch {
	case strings.HasSuffix(name, ".h2"):
		return analyze.InputHTTP2
	case strings.HasSuffix(name, ".h1"):
		return analyze.InputHTTP1
	}
	return analyze.InputTLS
}

// osFS opens paths as given on the command line (absolute or relative),
// which os.DirFS does not allow.
type osFS struct{}

func (osFS) Open(name string) (fs.File, error) { return os.Open(path.Clean(name)) }
