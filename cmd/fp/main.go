// Command fp is the fingerprinting tool:
//
//	fp [serve] [--https-addr A] [--h1-addr A] [--http-addr A] [--metrics-addr A] ...
//	fp analyze [--tls FILE] [--http1 FILE] [--http2 FILE] [FILE...]
//	fp migrate up|down|version
//	fp recompute [--batch N]
//	fp export [--fleet]
//
// fp serve (the default) runs the fingerprint website (docs/fp-site.md);
// fp analyze prints one JSON object per line for every TLS hello and HTTP
// request found (with no file, in an embedded sample); the others work on
// the PostgreSQL database of DATABASE_URL.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: fp [command] [arguments]

commands:
  serve     run the fingerprint website (the default; fp serve --help lists its flags)
  analyze   print the fingerprints of raw TLS hellos and HTTP/1 or HTTP/2 client streams
  migrate   apply (up), undo (down) or show (version) the database schema of DATABASE_URL
  recompute re-derive the stored fingerprints older than this fp's algorithms
  export    write the public dataset as JSON lines
`

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 || (strings.HasPrefix(args[1], "-") && args[1] != "-h" && args[1] != "--help") {
		return runServe(ctx, args, getenv, stderr)
	}
	switch args[1] {
	case "serve":
		return runServe(ctx, args, getenv, stderr)
	case "analyze":
		return runAnalyze(ctx, args[2:], stdin, stdout, stderr)
	case "recompute":
		return runRecompute(ctx, args[2:], getenv, stdout, stderr)
	case "export":
		return runExport(ctx, args[2:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[2:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "fp: unknown command %q\n%s", args[1], usage)
	return 2
}
