// Package chromiumtest gives tests a real headless Chromium driven through
// the DevTools protocol (chromedp):
//
//	func TestPage(t *testing.T) {
//		ctx := chromiumtest.Start(t, chromiumtest.WithKeyLog(keylog))
//		var title string
//		if err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.Title(&title)); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// The browser is the Debian package's /usr/bin/chromium, started with only
// the flags the project's tests agree on (Flags): headless, no sandbox (tests
// run as root), no GPU, no first-run pages, no background traffic to the
// internet, a profile in a temporary directory, and self-signed certificates
// accepted. chromedp adds the DevTools pipe (--remote-debugging-pipe) and the
// first page (about:blank); Debian's launcher script adds the flags of
// /etc/chromium.d.
//
// When the browser is not installed the test is skipped, or failed when CI is
// set or FP_REQUIRE_CHROMIUM=1.
package chromiumtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fpwork/fp/internal/syncbuf"

	"github.com/chromedp/chromedp"
)

// Path is the browser the tests run (Debian package chromium).
const Path = "/usr/bin/chromium"

// RequireEnv set to 1 (or CI set to anything) turns a missing browser into a
// failure.
const RequireEnv = "FP_REQUIRE_CHROMIUM"

// Option changes how Start runs the browser.
type Option func(*config)

type config struct {
	keyLog string
}

// WithKeyLog makes the browser write its TLS secrets to path (NSS key log,
// --ssl-key-log-file), so that a capture of its traffic can be decrypted.
func WithKeyLog(path string) Option {
	return func(c *config) { c.keyLog = path }
}

// Flags returns the browser's command line flags (without the leading "--")
// for the profile directory userDataDir and the key log file keyLog ("" for
// none), in order.
func Flags(userDataDir, keyLog string) []string {
	flags := []string{
		"headless",
		"no-sandbox",
		"disable-gpu",
		"no-first-run",
		"disable-background-networking",
		"disable-component-update",
		"disable-sync",
		"user-data-dir=" + userDataDir,
		"ignore-certificate-errors",
	}
	if keyLog != "" {
		flags = append(flags, "ssl-key-log-file="+keyLog)
	}
	return flags
}

// Start starts a headless Chromium for tb and returns the context of its
// first tab: give it to chromedp.Run. The browser is closed, and its profile
// removed, when tb ends. A browser that fails to start fails tb; a missing
// one skips it (see RequireEnv).
func Start(tb testing.TB, opts ...Option) context.Context {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if err := available(); err != nil {
		skipOrFail(tb, err)
	}
	// The profile directory is made before the browser's cleanup is
	// registered, so the browser has exited when it is removed.
	profile := tb.TempDir()

	out := &syncbuf.Buffer{}
	allocOpts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(Path), chromedp.CombinedOutput(out)}
	for _, f := range Flags(profile, cfg.keyLog) {
		switch name, value, hasValue := strings.Cut(f, "="); {
		case name == "user-data-dir":
			allocOpts = append(allocOpts, chromedp.UserDataDir(value))
		case hasValue:
			allocOpts = append(allocOpts, chromedp.Flag(name, value))
		default:
			allocOpts = append(allocOpts, chromedp.Flag(name, true))
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	// chromedp's own messages go with the browser's output: a logger bound
	// to tb could be called after tb ends.
	logf := func(format string, args ...any) { fmt.Fprintf(out, "chromedp: "+format+"\n", args...) }
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	tb.Cleanup(func() {
		// Cancel closes the browser gracefully and waits for it; the
		// allocator's cancel then waits for the process to be reaped.
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(out, "chromiumtest: closing the browser: %v\n", err)
		}
		cancelBrowser()
		cancelAlloc()
		if tb.Failed() {
			tb.Logf("chromiumtest: browser output (without its D-Bus complaints):\n%s", withoutDBus(out.String()))
		}
	})

	// Start the browser now, so a failure is reported here and not at the
	// test's first action. The first Do binds the browser's life to its
	// context, so that context has no deadline.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("chromiumtest: starting %s: %v", Path, err)
	}
	return ctx
}

// available reports why the browser cannot run, or nil.
func available() error {
	st, err := os.Stat(Path)
	if err != nil {
		return fmt.Errorf("chromiumtest: %s is not installed (Debian package chromium; scripts/install-deps.sh): %w", Path, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("chromiumtest: %s is not an executable file", Path)
	}
	return nil
}

// skipOrFail skips tb for a missing browser, or fails it when the browser is
// required (CI set, or RequireEnv=1).
func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") != "" || os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%v (required: CI or %s=1 is set)", err, RequireEnv)
	}
	tb.Skip(err)
}

// withoutDBus drops the lines about D-Bus, which a browser without a
// desktop session prints by the dozen.
func withoutDBus(out string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(out, "\n") {
		if !strings.Contains(line, "dbus") && !strings.Contains(line, "D-Bus") {
			b.WriteString(line)
		}
	}
	return b.String()
}
