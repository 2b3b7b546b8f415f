// Command echo answers any request with JSON describing exactly what the
// client sent: the request as on the wire, the TLS ClientHello, the HTTP/2
// preface and every fingerprint.
//
//	echo [--https-addr 127.0.0.1:8443] [--http-addr 127.0.0.1:8080] [--cert F --key F | --acme-domain D,...]
//
// Every flag has an ECHO_* environment variable (ECHO_HTTPS_ADDR, ...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/internal/gcfloor"
	"github.com/fpwork/fp/internal/serving"
	"github.com/fpwork/fp/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// config is what the flags and ECHO_* variables set: the common ones of
// serving, and echo's own.
type config struct {
	serving     serving.Config
	maxMessage  int64
	wsRate      float64
	wsBurst     int
	h2Websocket bool   // websockets over HTTP/2 extended CONNECT (RFC 8441)
	godebug     string // GODEBUG as the process started
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := serving.RegisterFlags(fs, "ECHO_", getenv, serving.Defaults{Name: "echo",
		HTTPSAddr: "127.0.0.1:8443", HTTPAddr: "127.0.0.1:8080", ACMECache: "fp-echo/acme"})
	var maxMsg string
	sf.String(&maxMsg, "max-message", "65536", "websocket message bytes")
	h2ws, h2wsErr := strconv.ParseBool(sf.Env("h2-websocket", "false"))
	if h2wsErr != nil {
		return c, fmt.Errorf("bad ECHO_H2_WEBSOCKET: want true or false")
	}
	fs.BoolVar(&c.h2Websocket, "h2-websocket", h2ws, "accept websockets over HTTP/2 extended CONNECT (RFC 8441); net/http reads the switch only at process start, so echo restarts itself with GODEBUG="+xconnectGODEBUG+" added (env ECHO_H2_WEBSOCKET)")
	var wsRate, wsBurst string
	sf.String(&wsRate, "ws-rate", "100", "websocket messages echoed per second on one connection (a faster client is slowed down)")
	sf.String(&wsBurst, "ws-burst", "100", "websocket messages a client may send at once")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	var err error
	if c.serving, err = sf.Config(); err != nil {
		return c, err
	}
	for _, p := range []struct {
		s, name string
		dst     any
	}{{maxMsg, "max-message", &c.maxMessage}, {wsRate, "ws-rate", &c.wsRate}, {wsBurst, "ws-burst", &c.wsBurst}} {
		if _, err := fmt.Sscan(p.s, p.dst); err != nil {
			return c, fmt.Errorf("bad --%s %q", p.name, p.s)
		}
	}
	c.godebug = getenv("GODEBUG")
	return c, nil
}

// xconnectGODEBUG makes net/http and golang.org/x/net/http2 accept RFC
// 8441 extended CONNECT (and advertise SETTINGS_ENABLE_CONNECT_PROTOCOL).
// Both read it from the environment once, when the process starts.
const xconnectGODEBUG = "http2xconnect=1"

// hasGODEBUG reports whether the GODEBUG value godebug holds setting.
func hasGODEBUG(godebug, setting string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if strings.TrimSpace(kv) == setting {
			return true
		}
	}
	return false
}

// withGODEBUG returns environ with setting added to its GODEBUG (the
// first GODEBUG entry is the one a Go program reads; the others are
// dropped).
func withGODEBUG(environ []string, setting string) []string {
	out := make([]string, 0, len(environ)+1)
	godebug := ""
	seen := false
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if !seen {
				godebug, seen = v, true
			}
			continue
		}
		out = append(out, kv)
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+setting)
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := cfg.serving.Logger(stderr)
	if cfg.h2Websocket && !hasGODEBUG(cfg.godebug, xconnectGODEBUG) {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("echo: --h2-websocket: restarting with GODEBUG=%s: %w", xconnectGODEBUG, err)
		}
		log.Info("echo: restarting with GODEBUG=" + xconnectGODEBUG + " for --h2-websocket")
		return syscall.Exec(exe, args, withGODEBUG(os.Environ(), xconnectGODEBUG))
	}
	defer gcfloor.Start(cfg.serving.GCMinHeap).Stop()
	return serve(ctx, cfg, log, nil)
}

// boundAddrs are the addresses the listeners got (port 0 picks one).
type boundAddrs struct{ https, http, metrics string }

// serve runs the listeners until ctx ends, then shuts down gracefully.
// ready, when set, gets the bound addresses (for tests with port 0).
func serve(ctx context.Context, cfg config, log *slog.Logger, ready func(boundAddrs)) error {
	if cfg.h2Websocket && !hasGODEBUG(cfg.godebug, xconnectGODEBUG) {
		return fmt.Errorf("echo: --h2-websocket needs GODEBUG=%s when the process starts", xconnectGODEBUG)
	}
	sc := cfg.serving
	metrics := web.NewMetrics()
	// Every request claims its capture record first, whichever handler
	// then answers it (a 429 too), so records stay in step with requests.
	handler := capture.ClaimRecords(web.RateLimit(sc.RatePerSecond, sc.RateBurst, 100000, time.Now)(
		web.CORS(web.EchoRouter(web.NewEcho(web.EchoLimits{MaxBody: sc.MaxBody}, metrics),
			&web.WebsocketEcho{MaxMessage: cfg.maxMessage, IdleTimeout: sc.IdleTimeout,
				MessageRate: cfg.wsRate, MessageBurst: cfg.wsBurst}))))
	h := serving.Handlers{
		TLS: handler,
		// The plain port also takes the HTTP/1.1 upgrade to h2c.
		Plain:           web.H2CUpgrade(handler, sc.MaxBody),
		Metrics:         metrics.Handler(),
		OnHandshake:     metrics.Handshake,
		OpenConnections: metrics.OpenConnections,
	}
	var onReady func(serving.Addrs)
	if ready != nil {
		onReady = func(a serving.Addrs) { ready(boundAddrs{https: a.HTTPS, http: a.HTTP, metrics: a.Metrics}) }
	}
	return serving.Run(ctx, sc, h, log, onReady)
}
