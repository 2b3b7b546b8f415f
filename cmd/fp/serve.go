package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/internal/gcfloor"
	"github.com/fpwork/fp/internal/serving"
	"github.com/fpwork/fp/storage"
	"github.com/fpwork/fp/web"
)

// serveConfig is what fp serve's flags and FP_* variables set.
type serveConfig struct {
	serving       serving.Config
	maxMessage    int64
	databaseURL   string // DATABASE_URL; empty: observations in memory
	storageSecret string // FP_STORAGE_SECRET: the fleet cookie's
}

// parseServeConfig reads args ("fp", "serve", flags...; or "fp", flags...).
func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("fp serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := serving.RegisterFlags(fs, "FP_", getenv, serving.Defaults{Name: "fp",
		HTTPSAddr: "127.0.0.1:9443", HTTPAddr: "127.0.0.1:9080", H1: true, H1Addr: "127.0.0.1:9444", ACMECache: "fp/acme"})
	var maxMsg string
	sf.String(&maxMsg, "max-message", "65536", "websocket message bytes")
	rest := args[1:]
	if len(rest) > 0 && rest[0] == "serve" {
		rest = rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("fp serve: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.serving, err = sf.Config(); err != nil {
		return c, err
	}
	if _, err := fmt.Sscan(maxMsg, &c.maxMessage); err != nil {
		return c, fmt.Errorf("bad --max-message %q", maxMsg)
	}
	c.databaseURL, c.storageSecret = getenv(databaseURLEnv), getenv("FP_STORAGE_SECRET")
	return c, nil
}

// siteAddrs are the addresses the listeners got (port 0 picks one).
type siteAddrs struct{ https, h1, http, metrics string }

// runServe runs the website until ctx ends.
func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseServeConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "fp serve:", err)
		return exitUsage
	}
	defer gcfloor.Start(cfg.serving.GCMinHeap).Stop()
	if err := serveSite(ctx, cfg, cfg.serving.Logger(stderr), nil); err != nil {
		fmt.Fprintln(stderr, "fp serve:", err)
		return exitBadInput
	}
	return exitOK
}

// serveSite runs the site on its listeners with its store (PostgreSQL at
// DATABASE_URL, else memory) until ctx ends, then shuts down: the servers,
// then the writer (what is queued is written, for up to 10 s), then the
// store. ready, when set, gets the bound addresses.
func serveSite(ctx context.Context, cfg serveConfig, log *slog.Logger, ready func(siteAddrs)) error {
	store, err := storage.Open(ctx, cfg.databaseURL, log)
	if err != nil {
		return err
	}
	defer store.Close()
	metrics := web.NewServiceMetrics("fp")
	writer := storage.NewWriter(store, storage.WriterOptions{Registerer: metrics.Registerer()}, log)
	defer func() {
		closing, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := writer.Close(closing); err != nil {
			log.Warn("fp: writer closed with observations unwritten", "err", err)
		}
	}()
	var httpsPort, h1Port atomic.Pointer[string]
	portOf := func(p *atomic.Pointer[string]) func() string {
		return func() string {
			if s := p.Load(); s != nil {
				return *s
			}
			return ""
		}
	}
	site, err := web.NewSite(web.SiteConfig{Store: store, Writer: writer, FleetSecret: cfg.storageSecret,
		H1Port: portOf(&h1Port), Done: ctx.Done(), MaxBody: cfg.serving.MaxBody, MaxMessage: cfg.maxMessage,
		IdleTimeout: cfg.serving.IdleTimeout, Metrics: metrics, Log: log, Random: rand.Reader, Now: time.Now})
	if err != nil {
		return err
	}
	// Every request claims its capture record first, whichever handler
	// then answers it, so records stay in step with requests.
	handler := capture.ClaimRecords(web.RateLimit(cfg.serving.RatePerSecond, cfg.serving.RateBurst, 100000, time.Now)(site.Handler()))
	err = serving.Run(ctx, cfg.serving, serving.Handlers{TLS: handler, Plain: web.RedirectToHTTPS(portOf(&httpsPort)),
		ConnContext: site.ConnContext, Metrics: metrics.Handler(), OnHandshake: metrics.Handshake,
		OpenConnections: metrics.OpenConnections}, log, func(a serving.Addrs) {
		for _, p := range []struct {
			addr string
			dst  *atomic.Pointer[string]
		}{{a.HTTPS, &httpsPort}, {a.H1, &h1Port}} {
			if _, port, err := net.SplitHostPort(p.addr); err == nil {
				p.dst.Store(&port)
			}
		}
		if ready != nil {
			ready(siteAddrs{https: a.HTTPS, h1: a.H1, http: a.HTTP, metrics: a.Metrics})
		}
	})
	site.Wait()
	return err
}
